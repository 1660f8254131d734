//! `elastics-sec cert inspect FILE...`: what a certificate file holds and whether it would be
//! accepted as a bundle. Reads PEM (certificates, with or without a key), DER and PKCS#12;
//! reports subject, SANs, issuer, serial, validity and time left, key type and size, whether
//! the private key matches, the chain check and the SHA-256 fingerprint. Never prints key
//! material.
//!
//! Exit codes (see `main.rs`): 0 every input is good, 1 a problem was found (expired, not yet
//! valid, key mismatch, chain or trust failure, weak key, missing SAN), 2 an input could not be
//! read or parsed.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{
    key_description, parse_certificates, parse_pem, parse_pkcs12, rfc3339, sans, validate,
    validate_certs, Bundle, TlsError, ValidationPolicy,
};

/// Options of one `cert inspect` run.
#[derive(Clone, Debug, Default)]
pub struct InspectOptions {
    /// PKCS#12 password (`None` tries the empty password).
    pub password: Option<Vec<u8>>,
    /// A separate private key file (PEM).
    pub key: Option<PathBuf>,
    /// Trust roots (PEM).
    pub ca: Option<PathBuf>,
    /// Names the leaf must cover.
    pub sans: Vec<String>,
}

/// The report on one input.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub file: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// Negative once expired.
    pub seconds_left: i64,
    pub key_type: String,
    /// `None` when the input has no private key and none was given.
    pub key_match: Option<bool>,
    /// `ok`, or why the chain check failed.
    pub chain: String,
    /// Certificates in the input.
    pub certificates: usize,
    pub sha256: String,
    /// Everything wrong; empty when the bundle would be accepted.
    pub problems: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// An input that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {error}")]
pub struct InspectError {
    pub file: String,
    pub error: String,
}

fn sha256(der: &[u8]) -> String {
    let hash = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .map(|s| s.common.hash_provider.hash(der));
    match hash {
        Some(h) => h
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
        None => String::new(),
    }
}

/// Certificates and, when present, the key of one input file.
fn load(
    bytes: &[u8],
    opts: &InspectOptions,
) -> Result<(Vec<CertificateDer<'static>>, Option<Bundle>), TlsError> {
    if super::is_pem(bytes) {
        return match parse_pem(bytes) {
            Ok(b) => Ok((b.certs.clone(), Some(b))),
            Err(TlsError::NoKey) => Ok((parse_certificates(bytes)?, None)),
            Err(e) => Err(e),
        };
    }
    // DER certificate, else PKCS#12.
    if X509Certificate::from_der(bytes).is_ok_and(|(rest, _)| rest.is_empty()) {
        return Ok((vec![CertificateDer::from(bytes.to_vec())], None));
    }
    let b = parse_pkcs12(bytes, opts.password.as_deref())?;
    Ok((b.certs.clone(), Some(b)))
}

/// Inspect one file.
pub fn inspect(path: &Path, opts: &InspectOptions) -> Result<Report, InspectError> {
    let file = path.display().to_string();
    let fail = |e: String| InspectError {
        file: file.clone(),
        error: e,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let (certs, mut bundle) = load(&bytes, opts).map_err(|e| fail(e.to_string()))?;
    if let (None, Some(k)) = (&bundle, &opts.key) {
        let key = std::fs::read(k).map_err(|e| fail(format!("key {}: {e}", k.display())))?;
        let mut joined = Vec::new();
        for c in &certs {
            super::pem("CERTIFICATE", c, &mut joined);
        }
        joined.extend_from_slice(&key);
        bundle = Some(parse_pem(&joined).map_err(|e| fail(format!("key {}: {e}", k.display())))?);
    }
    let roots = match &opts.ca {
        None => Vec::new(),
        Some(p) => {
            let pem = std::fs::read(p).map_err(|e| fail(format!("ca {}: {e}", p.display())))?;
            parse_certificates(&pem).map_err(|e| fail(format!("ca {}: {e}", p.display())))?
        }
    };
    let now = SystemTime::now();
    let policy = ValidationPolicy {
        trust_roots: roots,
        required_sans: opts.sans.clone(),
        margin: Duration::ZERO,
        now,
    };
    let mut problems = Vec::new();
    // The leaf: the key's certificate, else the first certificate that issued no other.
    let (result, key_match, leaf_idx) = match &bundle {
        Some(b) => match validate(b, &policy) {
            Err(TlsError::KeyMismatch(m)) => {
                let r = validate_certs(&certs, 0, &policy);
                (r.map_err(|e| (e, Some(m))), Some(false), 0)
            }
            r => {
                let li = r
                    .as_ref()
                    .ok()
                    .and_then(|v| certs.iter().position(|c| c == &v.chain[0]))
                    .unwrap_or(0);
                (r.map_err(|e| (e, None)), Some(true), li)
            }
        },
        None => {
            let li = leaf_of(&certs);
            (
                validate_certs(&certs, li, &policy).map_err(|e| (e, None)),
                None,
                li,
            )
        }
    };
    if key_match == Some(false) {
        problems.push("the private key does not belong to the certificate".to_string());
    }
    let chain = match &result {
        Ok(_) => "ok".to_string(),
        Err((e, _)) => {
            problems.push(e.to_string());
            match e {
                TlsError::Chain(m) | TlsError::Untrusted(m) => m.clone(),
                _ => "not checked (see problems)".to_string(),
            }
        }
    };
    let leaf = &certs[leaf_idx];
    let (_, x) = X509Certificate::from_der(leaf).map_err(|e| fail(format!("certificate: {e}")))?;
    let key_type = match key_description(&x) {
        Ok(k) => k.0,
        Err(e) => e.to_string(),
    };
    let nb = x.validity().not_before.timestamp();
    let na = x.validity().not_after.timestamp();
    let now_s = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let at = |t: i64| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64));
    Ok(Report {
        file,
        subject: x.subject().to_string(),
        issuer: x.issuer().to_string(),
        serial: x.raw_serial_as_string(),
        sans: sans(&x),
        not_before: at(nb),
        not_after: at(na),
        seconds_left: na - now_s,
        key_type,
        key_match,
        chain,
        certificates: certs.len(),
        sha256: sha256(leaf),
        problems,
    })
}

/// Without a key, the leaf is a certificate that is no other one's issuer.
fn leaf_of(certs: &[CertificateDer<'static>]) -> usize {
    let parsed: Vec<Option<X509Certificate<'_>>> = certs
        .iter()
        .map(|c| X509Certificate::from_der(c).ok().map(|(_, x)| x))
        .collect();
    (0..certs.len())
        .find(|i| {
            let Some(me) = &parsed[*i] else { return false };
            !parsed.iter().enumerate().any(|(j, o)| {
                j != *i
                    && o.as_ref()
                        .is_some_and(|o| o.issuer().as_raw() == me.subject().as_raw())
            })
        })
        .unwrap_or(0)
}

/// Human-readable report.
pub fn text(r: &Report) -> String {
    let left = if r.seconds_left >= 0 {
        format!(
            "{} left",
            humantime::format_duration(Duration::from_secs(r.seconds_left as u64))
        )
    } else {
        format!(
            "expired {} ago",
            humantime::format_duration(Duration::from_secs(r.seconds_left.unsigned_abs()))
        )
    };
    let mut s = format!(
        "{}\n  subject      {}\n  issuer       {}\n  serial       {}\n  names        {}\n  valid        {} .. {} ({left})\n  key          {}\n  key match    {}\n  chain        {} ({} certificate(s))\n  sha256       {}\n",
        r.file,
        r.subject,
        r.issuer,
        r.serial,
        if r.sans.is_empty() { "(none)".to_string() } else { r.sans.join(", ") },
        r.not_before,
        r.not_after,
        r.key_type,
        match r.key_match {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "no key given",
        },
        r.chain,
        r.certificates,
        r.sha256,
    );
    if r.problems.is_empty() {
        s.push_str("  status       ok\n");
    } else {
        for p in &r.problems {
            s.push_str(&format!("  PROBLEM      {p}\n"));
        }
    }
    s
}
