//! TLS certificate bundles: parse (PEM, DER, PKCS#12, JSON with PEM fields), validate before
//! anything is written, render the output files, issue leaf certificates from a local CA, and
//! compute renewal times.
//!
//! Validation is what makes a bundle deliverable ([`validate`]); its failures are distinct
//! [`TlsError`] variants whose [`TlsError::class`] is a metric label. Messages name
//! certificates by subject and serial, never key material. Private keys live in
//! [`SecretBytes`] (zeroized on drop, redacted `Debug`).
//!
//! PKCS#12 goes through `p12-keystore` (pure Rust): legacy PBE-SHA1-3DES / RC4 and PBES2
//! AES-256 with PBKDF2/HMAC-SHA-256, HMAC-SHA-1 to SHA-512 MACs; Key Vault exports PFX with an
//! empty password, which is tried when no password is configured. Chain checks use
//! `rustls-webpki` (the verifier rustls itself uses) with the aws-lc-rs algorithms.
//! [`inspect`] is `elastics-sec cert inspect`.
//!
//! [`reload`] is the reloadable rustls server certificate resolver used by the agent's HTTPS
//! listener and offered to services that embed this crate.

pub mod inspect;
pub mod reload;

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::secrets::SecretBytes;

/// Why a bundle is not acceptable. Each variant is one failure class.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot parse: {0}")]
    Parse(String),
    #[error("no private key in the bundle")]
    NoKey,
    #[error("no certificate in the bundle")]
    NoCertificate,
    #[error("the private key does not belong to any certificate of the bundle (leaf {0})")]
    KeyMismatch(String),
    #[error("chain: {0}")]
    Chain(String),
    #[error("not trusted: {0}")]
    Untrusted(String),
    #[error("{0} is not valid before {1}")]
    NotYetValid(String, String),
    #[error("{0} expired at {1}")]
    Expired(String, String),
    #[error("{0} expires at {1}, within the {2:?} margin")]
    ExpiresSoon(String, String, Duration),
    #[error("{0} does not cover `{1}` (its names: {2})")]
    SanMismatch(String, String, String),
    #[error("weak or unsupported key: {0}")]
    WeakKey(String),
    #[error("PKCS#12: {0}")]
    Pkcs12(String),
    #[error("cannot issue: {0}")]
    Issue(String),
}

impl TlsError {
    /// Metric and log label of the failure class.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Parse(_) | Self::NoCertificate => "parse",
            Self::NoKey => "no_key",
            Self::KeyMismatch(_) => "key_mismatch",
            Self::Chain(_) => "chain",
            Self::Untrusted(_) => "untrusted",
            Self::NotYetValid(..) => "not_yet_valid",
            Self::Expired(..) => "expired",
            Self::ExpiresSoon(..) => "expires_soon",
            Self::SanMismatch(..) => "san_mismatch",
            Self::WeakKey(_) => "weak_key",
            Self::Pkcs12(_) => "pkcs12",
            Self::Issue(_) => "issue",
        }
    }
}

/// A parsed bundle: every certificate found and the private key (PKCS#8 DER). Which
/// certificate is the leaf is decided by [`validate`] (the one the key belongs to).
#[derive(Clone, Debug)]
pub struct Bundle {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: SecretBytes,
}

/// How the source bytes are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceFormat {
    Auto,
    Pem,
    Pkcs12,
    Json,
}

/// A PEM error without the input: the decoder's own messages can quote a line or a byte of
/// the text, which may be key material.
fn pem_error(e: rustls_pki_types::pem::Error) -> TlsError {
    use rustls_pki_types::pem::Error as E;
    TlsError::Parse(
        match e {
            E::MissingSectionEnd { .. } => "PEM: a section has no END line",
            E::IllegalSectionStart { .. } => "PEM: malformed BEGIN line",
            E::Base64Decode(_) => "PEM: a section is not valid base64",
            _ => "PEM: cannot read",
        }
        .to_string(),
    )
}

/// All certificates of a PEM text (other sections ignored).
pub fn parse_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut out = Vec::new();
    for c in CertificateDer::pem_slice_iter(pem) {
        out.push(c.map_err(pem_error)?);
    }
    for c in &out {
        X509Certificate::from_der(c).map_err(|e| TlsError::Parse(format!("certificate: {e}")))?;
    }
    if out.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(out)
}

/// A PEM text with certificates and one private key, in any order.
pub fn parse_pem(pem: &[u8]) -> Result<Bundle, TlsError> {
    let mut certs = Vec::new();
    let mut key: Option<PrivateKeyDer<'static>> = None;
    for item in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(pem) {
        let (kind, der) = item.map_err(pem_error)?;
        match kind {
            SectionKind::Certificate => certs.push(CertificateDer::from(der)),
            SectionKind::PrivateKey => {
                key = Some(PrivateKeyDer::Pkcs8(der.into()));
            }
            SectionKind::RsaPrivateKey => key = Some(PrivateKeyDer::Pkcs1(der.into())),
            SectionKind::EcPrivateKey => key = Some(PrivateKeyDer::Sec1(der.into())),
            _ => {}
        }
    }
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    for c in &certs {
        X509Certificate::from_der(c).map_err(|e| TlsError::Parse(format!("certificate: {e}")))?;
    }
    let key = key.ok_or(TlsError::NoKey)?;
    let pkcs8 = to_pkcs8(&key, &certs)?;
    Ok(Bundle { certs, key: pkcs8 })
}

/// A PKCS#12 (PFX) store. `None` tries the empty password (Key Vault's export).
pub fn parse_pkcs12(der: &[u8], password: Option<&[u8]>) -> Result<Bundle, TlsError> {
    let pw = match password {
        Some(p) => std::str::from_utf8(p)
            .map_err(|_| TlsError::Pkcs12("the password is not UTF-8".into()))?,
        None => "",
    };
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(der, pw).map_err(|e| {
        TlsError::Pkcs12(format!(
            "cannot open ({e}); wrong password, or not a PKCS#12 file"
        ))
    })?;
    let mut keys = archive.keys.into_iter();
    let key = keys.next().ok_or(TlsError::NoKey)?;
    if keys.next().is_some() {
        return Err(TlsError::Pkcs12(
            "more than one private key; a bundle holds exactly one".into(),
        ));
    }
    let certs: Vec<CertificateDer<'static>> = archive
        .certs
        .iter()
        .map(|b| CertificateDer::from(b.cert.as_der().to_vec()))
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let der = PrivateKeyDer::Pkcs8(key.key.as_der().to_vec().into());
    let pkcs8 = to_pkcs8(&der, &certs)?;
    Ok(Bundle { certs, key: pkcs8 })
}

/// JSON: `{"certificate": PEM, "private_key": PEM, "chain": PEM}`; `cert`/`tls.crt`, `key`/
/// `tls.key`, `ca`/`ca.crt` are accepted as aliases. All PEM strings are concatenated.
pub fn parse_json(text: &[u8]) -> Result<Bundle, TlsError> {
    let v: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| TlsError::Parse(format!("JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| TlsError::Parse("JSON: not an object".into()))?;
    let field = |names: &[&str]| -> Option<String> {
        names
            .iter()
            .find_map(|n| obj.get(*n).and_then(|x| x.as_str()).map(str::to_string))
    };
    let cert = field(&["certificate", "cert", "tls.crt"])
        .ok_or_else(|| TlsError::Parse("JSON: no `certificate` field".into()))?;
    let key = field(&["private_key", "key", "tls.key"]).ok_or(TlsError::NoKey)?;
    let chain = field(&["chain", "ca", "ca.crt"]).unwrap_or_default();
    let joined = SecretBytes::from(format!("{cert}\n{chain}\n{key}\n").into_bytes());
    parse_pem(joined.expose())
}

/// Parse certificate material as it came from a provider.
pub fn parse_bundle(
    bytes: &[u8],
    content_type: Option<&str>,
    binary: bool,
    format: SourceFormat,
    password: Option<&[u8]>,
) -> Result<Bundle, TlsError> {
    use base64::Engine as _;
    let b64 = |b: &[u8]| {
        let s: Vec<u8> = b
            .iter()
            .copied()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(SecretBytes::from)
            .map_err(|_| TlsError::Parse("PKCS#12 text is not base64".into()))
    };
    let trimmed = bytes.trim_ascii_start();
    match format {
        SourceFormat::Pem => parse_pem(bytes),
        SourceFormat::Json => parse_json(bytes),
        SourceFormat::Pkcs12 if binary => parse_pkcs12(bytes, password),
        SourceFormat::Pkcs12 => parse_pkcs12(b64(bytes)?.expose(), password),
        SourceFormat::Auto => match content_type {
            Some("application/x-pkcs12") => parse_pkcs12(b64(bytes)?.expose(), password),
            Some("application/x-pem-file") => parse_pem(bytes),
            _ if is_pem(bytes) => parse_pem(bytes),
            _ if trimmed.starts_with(b"{") => parse_json(bytes),
            _ if trimmed.first() == Some(&0x30) => parse_pkcs12(bytes, password),
            _ => match b64(bytes) {
                Ok(d) if d.expose().first() == Some(&0x30) => parse_pkcs12(d.expose(), password),
                _ => Err(TlsError::Parse(
                    "not PEM, JSON or PKCS#12 (set `format` if the source is one of them)".into(),
                )),
            },
        },
    }
}

/// PEM text, possibly with explanatory text before the first block (as OpenSSL writes
/// "Bag Attributes", or a comment).
pub fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

// --- PKCS#8 --------------------------------------------------------------------------

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

fn der_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

fn der_tlv(tag: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    der_len(body.len(), out);
    out.extend_from_slice(body);
}

/// PKCS#8 `PrivateKeyInfo` around a PKCS#1 (RSA) or SEC1 (EC) key, so `tls.key` is always
/// PKCS#8 whatever the source used. The EC curve comes from the SEC1 key's parameters or, if
/// absent, from the certificate whose public key it is.
fn to_pkcs8(
    key: &PrivateKeyDer<'_>,
    certs: &[CertificateDer<'_>],
) -> Result<SecretBytes, TlsError> {
    let (alg, params, inner): (&[u8], Option<Vec<u8>>, &[u8]) = match key {
        PrivateKeyDer::Pkcs8(k) => {
            return Ok(SecretBytes::from(k.secret_pkcs8_der().to_vec()));
        }
        PrivateKeyDer::Pkcs1(k) => (OID_RSA, None, k.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(k) => {
            let curve = sec1_curve(k.secret_sec1_der()).or_else(|| {
                certs.iter().find_map(|c| {
                    let (_, x) = X509Certificate::from_der(c).ok()?;
                    let p = x.public_key().algorithm.parameters.as_ref()?;
                    Some(p.as_bytes().to_vec())
                })
            });
            let curve = curve.ok_or_else(|| TlsError::Parse("EC key without a curve".into()))?;
            (OID_EC, Some(curve), k.secret_sec1_der())
        }
        _ => return Err(TlsError::Parse("unsupported private key encoding".into())),
    };
    let mut algid = Vec::new();
    der_tlv(0x06, alg, &mut algid);
    match params {
        Some(curve) => der_tlv(0x06, &curve, &mut algid),
        None => algid.extend_from_slice(&[0x05, 0x00]),
    }
    let mut body = vec![0x02, 0x01, 0x00];
    der_tlv(0x30, &algid, &mut body);
    der_tlv(0x04, inner, &mut body);
    let mut out = Vec::new();
    der_tlv(0x30, &body, &mut out);
    zeroize::Zeroize::zeroize(&mut body);
    Ok(SecretBytes::from(out))
}

/// The named-curve OID bytes in a SEC1 `ECPrivateKey` (`[0] parameters`), if present.
fn sec1_curve(der: &[u8]) -> Option<Vec<u8>> {
    // SEQUENCE { INTEGER 1, OCTET STRING key, [0] OID curve OPTIONAL, [1] BIT STRING OPTIONAL }
    let (_, seq) = x509_parser::der_parser::der::parse_der(der).ok()?;
    let items = seq.as_sequence().ok()?;
    for it in items {
        if it.header.raw_tag() == Some(&[0xa0]) {
            let raw = it.as_slice().ok()?;
            let (_, oid) = x509_parser::der_parser::der::parse_der_oid(raw).ok()?;
            return oid.as_oid().ok().map(|o| o.as_bytes().to_vec());
        }
    }
    None
}

// --- validation ------------------------------------------------------------------------

/// What a bundle must satisfy.
#[derive(Clone, Debug)]
pub struct ValidationPolicy {
    /// Roots the chain must build to; empty = the chain must be self-consistent.
    pub trust_roots: Vec<CertificateDer<'static>>,
    /// DNS names or IP addresses the leaf must cover.
    pub required_sans: Vec<String>,
    /// Refuse a certificate that expires within this margin.
    pub margin: Duration,
    pub now: SystemTime,
}

/// Facts about a validated bundle.
#[derive(Clone, Debug)]
pub struct ValidatedBundle {
    /// Leaf first, then intermediates in order (no self-signed root).
    pub chain: Vec<CertificateDer<'static>>,
    /// The root that ends the chain (configured or bundled), for `ca.crt`.
    pub roots: Vec<CertificateDer<'static>>,
    pub serial: String,
    pub subject: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub key: KeyDescription,
}

/// The leaf's public key, e.g. "ECDSA P-256".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDescription(pub String);

fn x509<'a>(c: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>, TlsError> {
    X509Certificate::from_der(c)
        .map(|(_, x)| x)
        .map_err(|e| TlsError::Parse(format!("certificate: {e}")))
}

/// `CN=…, serial …` for messages.
pub fn describe(x: &X509Certificate<'_>) -> String {
    format!("`{}` (serial {})", x.subject(), x.raw_serial_as_string())
}

fn system_time(t: x509_parser::time::ASN1Time) -> SystemTime {
    let s = t.timestamp();
    if s >= 0 {
        UNIX_EPOCH + Duration::from_secs(s as u64)
    } else {
        UNIX_EPOCH
    }
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Check the key type and size of a certificate's public key.
pub fn key_description(x: &X509Certificate<'_>) -> Result<KeyDescription, TlsError> {
    use x509_parser::public_key::PublicKey;
    let spki = x.public_key();
    let oid = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = rsa.key_size();
            if bits < 2048 {
                return Err(TlsError::WeakKey(format!(
                    "RSA {bits} bits (at least 2048)"
                )));
            }
            Ok(KeyDescription(format!("RSA {bits}")))
        }
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                "1.2.840.10045.3.1.7" => Ok(KeyDescription("ECDSA P-256".into())),
                "1.3.132.0.34" => Ok(KeyDescription("ECDSA P-384".into())),
                other => Err(TlsError::WeakKey(format!(
                    "EC curve {other} (P-256 or P-384 only)"
                ))),
            }
        }
        _ if oid == "1.3.101.112" => Ok(KeyDescription("Ed25519".into())),
        _ => Err(TlsError::WeakKey(format!("key algorithm {oid}"))),
    }
}

/// The DNS names and IPs a certificate covers.
pub fn sans(x: &X509Certificate<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(Some(ext)) = x.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => out.push(d.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => out.push(
                        IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default()).to_string(),
                    ),
                    16 => out.push(
                        IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default()).to_string(),
                    ),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    out
}

/// Whether `have` (a SAN, maybe `*.example.com`) covers `want`.
fn san_covers(have: &str, want: &str) -> bool {
    if let (Ok(a), Ok(b)) = (have.parse::<IpAddr>(), want.parse::<IpAddr>()) {
        return a == b;
    }
    let (have, want) = (have.to_ascii_lowercase(), want.to_ascii_lowercase());
    if have == want {
        return true;
    }
    match (have.strip_prefix("*."), want.split_once('.')) {
        (Some(suffix), Some((label, rest))) => !label.is_empty() && rest == suffix,
        _ => false,
    }
}

/// The certificate of `certs` the private key belongs to, by comparing public keys.
fn leaf_index(certs: &[CertificateDer<'_>], key: &SecretBytes) -> Result<usize, TlsError> {
    let der = PrivateKeyDer::Pkcs8(key.expose().to_vec().into());
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der)
        .map_err(|e| TlsError::WeakKey(format!("private key not usable: {e}")))?;
    let public = signing
        .public_key()
        .ok_or_else(|| TlsError::Parse("cannot derive the public key".into()))?;
    for (i, c) in certs.iter().enumerate() {
        let x = x509(c)?;
        if x.public_key().raw == public.as_ref() {
            return Ok(i);
        }
    }
    let first = x509(&certs[0])?;
    Err(TlsError::KeyMismatch(describe(&first)))
}

/// Validate a bundle: the key picks the leaf, then its key type, validity with the margin,
/// SANs, chain order, and signatures up to the trust roots, in that order.
pub fn validate(bundle: &Bundle, policy: &ValidationPolicy) -> Result<ValidatedBundle, TlsError> {
    if bundle.certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let li = leaf_index(&bundle.certs, &bundle.key)?;
    validate_certs(&bundle.certs, li, policy)
}

/// [`validate`] without a private key: `leaf` is the index of the end-entity certificate in
/// `certs` (used by `cert inspect` on certificate-only files).
pub fn validate_certs(
    certs: &[CertificateDer<'static>],
    leaf: usize,
    policy: &ValidationPolicy,
) -> Result<ValidatedBundle, TlsError> {
    let li = leaf;
    let bundle = Bundle {
        certs: certs.to_vec(),
        key: SecretBytes::default(),
    };
    let leaf = x509(&bundle.certs[li])?;
    let who = describe(&leaf);
    let key = key_description(&leaf)?;

    // Validity, with the margin.
    let nb = system_time(leaf.validity().not_before);
    let na = system_time(leaf.validity().not_after);
    if policy.now < nb {
        return Err(TlsError::NotYetValid(who, rfc3339(nb)));
    }
    if policy.now >= na {
        return Err(TlsError::Expired(who, rfc3339(na)));
    }
    if policy.now + policy.margin >= na {
        return Err(TlsError::ExpiresSoon(who, rfc3339(na), policy.margin));
    }

    // Names.
    let names = sans(&leaf);
    for want in &policy.required_sans {
        if !names.iter().any(|h| san_covers(h, want)) {
            return Err(TlsError::SanMismatch(who, want.clone(), names.join(", ")));
        }
    }

    // Order: follow issuer -> subject links from the leaf.
    let mut rest: Vec<usize> = (0..bundle.certs.len()).filter(|i| *i != li).collect();
    let mut chain = vec![bundle.certs[li].clone()];
    let mut bundled_root = None;
    let mut cur = li;
    loop {
        let c = x509(&bundle.certs[cur])?;
        if c.subject().as_raw() == c.issuer().as_raw() {
            break;
        }
        let Some(pos) = rest.iter().position(|i| {
            x509(&bundle.certs[*i]).is_ok_and(|x| x.subject().as_raw() == c.issuer().as_raw())
        }) else {
            break;
        };
        let next = rest.remove(pos);
        let nx = x509(&bundle.certs[next])?;
        if nx.subject().as_raw() == nx.issuer().as_raw() {
            bundled_root = Some(bundle.certs[next].clone());
            break;
        }
        chain.push(bundle.certs[next].clone());
        cur = next;
    }
    if let Some(stray) = rest.first() {
        let x = x509(&bundle.certs[*stray])?;
        return Err(TlsError::Chain(format!(
            "{} is not on the path from the leaf {who}",
            describe(&x)
        )));
    }

    // Signatures and trust, with the verifier rustls uses.
    let anchors_der: Vec<CertificateDer<'static>> = if !policy.trust_roots.is_empty() {
        policy.trust_roots.clone()
    } else if let Some(r) = &bundled_root {
        vec![r.clone()]
    } else if chain.len() > 1 {
        // No root anywhere: the top of the chain is the anchor, which still checks every
        // signature below it.
        vec![chain[chain.len() - 1].clone()]
    } else {
        Vec::new()
    };
    if !anchors_der.is_empty() {
        let mut anchors = Vec::new();
        for a in &anchors_der {
            anchors.push(
                webpki::anchor_from_trusted_cert(a)
                    .map_err(|e| TlsError::Parse(format!("trust root: {e}")))?,
            );
        }
        let top_is_anchor =
            policy.trust_roots.is_empty() && bundled_root.is_none() && chain.len() > 1;
        let intermediates: &[CertificateDer<'static>] = if top_is_anchor {
            &chain[1..chain.len() - 1]
        } else {
            &chain[1..]
        };
        let ee = webpki::EndEntityCert::try_from(&chain[0])
            .map_err(|e| TlsError::Parse(format!("leaf: {e}")))?;
        let secs = policy
            .now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let algs = rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .all;
        ee.verify_for_usage(
            algs,
            &anchors,
            intermediates,
            UnixTime::since_unix_epoch(Duration::from_secs(secs)),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| match e {
            webpki::Error::UnknownIssuer => TlsError::Untrusted(format!(
                "{who} does not chain to the {} root(s)",
                if policy.trust_roots.is_empty() {
                    "bundled"
                } else {
                    "configured"
                }
            )),
            webpki::Error::InvalidSignatureForPublicKey => {
                TlsError::Chain(format!("bad signature on the path of {who}"))
            }
            other => TlsError::Chain(format!("{who}: {other:?}")),
        })?;
    }
    let roots = if !policy.trust_roots.is_empty() {
        policy.trust_roots.clone()
    } else {
        bundled_root.into_iter().collect()
    };
    Ok(ValidatedBundle {
        serial: leaf
            .raw_serial_as_string()
            .replace(':', "")
            .to_ascii_lowercase(),
        subject: leaf.subject().to_string(),
        not_before: nb,
        not_after: na,
        key,
        chain,
        roots,
    })
}

// --- outputs -----------------------------------------------------------------------------

/// The files of a bundle.
pub struct Rendered {
    /// Leaf + intermediates, PEM.
    pub cert_chain: SecretBytes,
    /// PKCS#8 PEM.
    pub key: SecretBytes,
    /// Roots (configured or bundled); the top of the chain when there is no root.
    pub ca: SecretBytes,
    /// Key + chain, PEM.
    pub combined: SecretBytes,
    /// PKCS#12 (PBES2 AES-256, PBKDF2 and HMAC-SHA-256), when a password is given.
    pub p12: Option<SecretBytes>,
}

pub(crate) fn pem(label: &str, der: &[u8], out: &mut Vec<u8>) {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    out.extend_from_slice(format!("-----BEGIN {label}-----\n").as_bytes());
    for line in b.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(format!("-----END {label}-----\n").as_bytes());
}

/// Render the output files of a validated bundle.
pub fn render(
    v: &ValidatedBundle,
    key: &SecretBytes,
    p12_password: Option<&[u8]>,
) -> Result<Rendered, TlsError> {
    let mut chain = Vec::new();
    for c in &v.chain {
        pem("CERTIFICATE", c, &mut chain);
    }
    let mut ca = Vec::new();
    let ca_certs = if v.roots.is_empty() {
        v.chain.last().into_iter().cloned().collect::<Vec<_>>()
    } else {
        v.roots.clone()
    };
    for c in &ca_certs {
        pem("CERTIFICATE", c, &mut ca);
    }
    let mut key_pem = Vec::new();
    pem("PRIVATE KEY", key.expose(), &mut key_pem);
    let mut combined = key_pem.clone();
    combined.extend_from_slice(&chain);
    let p12 = match p12_password {
        None => None,
        Some(pw) => {
            let pw = std::str::from_utf8(pw)
                .map_err(|_| TlsError::Pkcs12("the p12 password is not UTF-8".into()))?;
            let pk = p12_keystore::PrivateKey::from_der(key.expose())
                .map_err(|e| TlsError::Pkcs12(format!("key: {e}")))?;
            let mut certs = Vec::new();
            for c in v.chain.iter().chain(v.roots.iter()) {
                certs.push(
                    p12_keystore::Certificate::from_der(c)
                        .map_err(|e| TlsError::Pkcs12(format!("certificate: {e}")))?,
                );
            }
            let mut ks = p12_keystore::KeyStore::new();
            let chain = p12_keystore::PrivateKeyChain::new(v.serial.as_bytes(), pk, certs);
            ks.add_entry("tls", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
            let der = ks
                .writer(pw)
                .encryption_algorithm(p12_keystore::EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
                .mac_algorithm(p12_keystore::MacAlgorithm::HmacSha256)
                .write()
                .map_err(|e| TlsError::Pkcs12(format!("write: {e}")))?;
            Some(SecretBytes::from(der))
        }
    };
    Ok(Rendered {
        cert_chain: SecretBytes::from(chain),
        key: SecretBytes::from(key_pem),
        ca: SecretBytes::from(ca),
        combined: SecretBytes::from(combined),
        p12,
    })
}

// --- local CA ----------------------------------------------------------------------------

/// Key type of issued leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

/// A CA certificate and key that issue leaf certificates.
pub struct LocalCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    cert: CertificateDer<'static>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa").finish_non_exhaustive()
    }
}

impl LocalCa {
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let cert = parse_certificates(cert_pem)?
            .into_iter()
            .next()
            .ok_or(TlsError::NoCertificate)?;
        let x = x509(&cert)?;
        if !x.is_ca() {
            return Err(TlsError::Issue(format!(
                "{} is not a CA certificate",
                describe(&x)
            )));
        }
        let key_text = std::str::from_utf8(key_pem)
            .map_err(|_| TlsError::Parse("CA key is not PEM text".into()))?;
        let key = rcgen::KeyPair::from_pem(key_text)
            .map_err(|e| TlsError::Parse(format!("CA key: {e}")))?;
        if key.public_key_raw() != x.public_key().subject_public_key.data.as_ref() {
            return Err(TlsError::KeyMismatch(describe(&x)));
        }
        let issuer = rcgen::Issuer::from_ca_cert_der(&cert, key)
            .map_err(|e| TlsError::Issue(format!("CA: {e}")))?;
        Ok(Self { issuer, cert })
    }

    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// Issue a leaf for `sans` (DNS names or IPs) valid for `lifetime` from now (backdated by
    /// a little for clock skew: at most a minute, at most 5% of the lifetime).
    pub fn issue(
        &self,
        sans: &[String],
        common_name: Option<&str>,
        lifetime: Duration,
        key_type: KeyType,
    ) -> Result<Bundle, TlsError> {
        let alg = match key_type {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
        };
        let key = rcgen::KeyPair::generate_for(alg).map_err(|e| TlsError::Issue(e.to_string()))?;
        let mut p = rcgen::CertificateParams::new(sans.to_vec())
            .map_err(|e| TlsError::Issue(format!("names: {e}")))?;
        let cn = common_name
            .map(str::to_string)
            .or_else(|| sans.first().cloned())
            .unwrap_or_else(|| "elastics-sec".into());
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let skew = (lifetime / 20).min(Duration::from_secs(60));
        let now = time::OffsetDateTime::now_utc();
        let skew_t = time::Duration::try_from(skew).map_err(|e| TlsError::Issue(e.to_string()))?;
        let life_t =
            time::Duration::try_from(lifetime).map_err(|e| TlsError::Issue(e.to_string()))?;
        p.not_before = now - skew_t;
        p.not_after = now - skew_t + life_t;
        let mut serial = [0u8; 16];
        for b in &mut serial {
            *b = fastrand::u8(..);
        }
        serial[0] &= 0x7f;
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        p.use_authority_key_identifier_extension = true;
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = p
            .signed_by(&key, &self.issuer)
            .map_err(|e| TlsError::Issue(e.to_string()))?;
        Ok(Bundle {
            certs: vec![cert.der().clone(), self.cert.clone()],
            key: SecretBytes::from(key.serialize_der()),
        })
    }
}

/// A new self-signed CA (ECDSA P-256) for development: `(cert PEM, key PEM)`.
pub fn new_ca(common_name: &str, lifetime: Duration) -> Result<(String, SecretBytes), TlsError> {
    let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Issue(e.to_string()))?;
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| TlsError::Issue(e.to_string()))?;
    p.distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::minutes(1);
    p.not_after =
        now + time::Duration::try_from(lifetime).map_err(|e| TlsError::Issue(e.to_string()))?;
    let cert = p
        .self_signed(&key)
        .map_err(|e| TlsError::Issue(e.to_string()))?;
    Ok((
        cert.pem(),
        SecretBytes::from(key.serialize_pem().into_bytes()),
    ))
}

// --- renewal -----------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RenewPolicy {
    /// At this fraction of the lifetime.
    Fraction(f64),
    /// This long before expiry (never before `not_before`).
    Before(Duration),
}

/// When to renew a certificate valid from `nb` to `na`. Jitter only moves the point earlier
/// (by up to `jitter` of the lifetime, `r` in 0..1), so a renewal is never later than the
/// policy says.
pub fn renewal_time(
    nb: SystemTime,
    na: SystemTime,
    policy: RenewPolicy,
    jitter: f64,
    r: f64,
) -> SystemTime {
    let life = na.duration_since(nb).unwrap_or_default();
    let point = match policy {
        RenewPolicy::Fraction(f) => nb + life.mul_f64(f.clamp(0.0, 1.0)),
        RenewPolicy::Before(d) => na.checked_sub(d).unwrap_or(nb).max(nb),
    };
    let early = life.mul_f64((jitter * r).clamp(0.0, 1.0));
    point.checked_sub(early).unwrap_or(nb).max(nb)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn renewal_points() {
        let nb = UNIX_EPOCH + Duration::from_secs(1000);
        let na = nb + Duration::from_secs(900);
        assert_eq!(
            renewal_time(nb, na, RenewPolicy::Fraction(2.0 / 3.0), 0.0, 0.5),
            nb + Duration::from_secs(600)
        );
        assert_eq!(
            renewal_time(
                nb,
                na,
                RenewPolicy::Before(Duration::from_secs(100)),
                0.0,
                0.5
            ),
            nb + Duration::from_secs(800)
        );
        // Before longer than the lifetime: renew at once.
        assert_eq!(
            renewal_time(
                nb,
                na,
                RenewPolicy::Before(Duration::from_secs(5000)),
                0.0,
                0.5
            ),
            nb
        );
        // Jitter only moves earlier, by at most jitter * lifetime.
        let j = renewal_time(nb, na, RenewPolicy::Fraction(2.0 / 3.0), 0.1, 1.0);
        assert_eq!(j, nb + Duration::from_secs(510));
    }

    #[test]
    fn pem_errors_never_quote_the_input() {
        let canary = "S3CRETKEYBYTES";
        for text in [
            format!("-----BEGIN PRIVATE KEY-----\n{canary}!!!\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            format!("-----BEGIN CERTIFICATE-----\n{canary}\n"),
        ] {
            let e = parse_pem(text.as_bytes()).unwrap_err().to_string();
            assert!(!e.contains(canary) && !e.contains("S3"), "{e}");
            let e = parse_certificates(text.as_bytes()).unwrap_err().to_string();
            assert!(!e.contains(canary), "{e}");
        }
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(san_covers("*.example.com", "a.example.com"));
        assert!(!san_covers("*.example.com", "a.b.example.com"));
        assert!(!san_covers("*.example.com", "example.com"));
        assert!(san_covers("API.internal", "api.internal"));
        assert!(san_covers("::1", "0:0:0:0:0:0:0:1"));
        assert!(!san_covers("127.0.0.1", "127.0.0.2"));
    }

    #[test]
    fn local_ca_issues_a_bundle_that_validates() {
        let (ca_pem, ca_key) = new_ca("unit CA", Duration::from_secs(3600)).unwrap();
        let ca = LocalCa::from_pem(ca_pem.as_bytes(), ca_key.expose()).unwrap();
        let b = ca
            .issue(
                &["svc.internal".into(), "10.0.0.1".into()],
                None,
                Duration::from_secs(600),
                KeyType::EcdsaP256,
            )
            .unwrap();
        let policy = ValidationPolicy {
            trust_roots: vec![ca.certificate().clone()],
            required_sans: vec!["svc.internal".into(), "10.0.0.1".into()],
            margin: Duration::from_secs(60),
            now: SystemTime::now(),
        };
        let v = validate(&b, &policy).unwrap();
        assert_eq!(v.chain.len(), 1);
        assert_eq!(v.key, KeyDescription("ECDSA P-256".into()));
        let r = render(&v, &b.key, Some(b"pw")).unwrap();
        assert!(std::str::from_utf8(r.key.expose())
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        // Our PKCS#12 reads back with the password.
        let back = parse_pkcs12(r.p12.unwrap().expose(), Some(b"pw")).unwrap();
        assert_eq!(back.key.expose(), b.key.expose());
        // Re-parsing the combined PEM gives the same bundle.
        let again = parse_pem(r.combined.expose()).unwrap();
        validate(&again, &policy).unwrap();
    }

    #[test]
    fn sec1_and_pkcs1_keys_become_pkcs8() {
        // An EC key in SEC1 form (as `openssl ec` writes it) wraps to the same PKCS#8 as the
        // original: aws-lc parses the wrapped key and derives the same public key.
        let kp = rcgen::KeyPair::generate().unwrap();
        let pkcs8 = kp.serialize_der();
        // SEC1 is the OCTET STRING inside PKCS#8's privateKey.
        let (_, info) = x509_parser::der_parser::der::parse_der(&pkcs8).unwrap();
        let seq = info.as_sequence().unwrap();
        let sec1 = seq[2].as_slice().unwrap().to_vec();
        let mut p = rcgen::CertificateParams::new(vec!["x.internal".to_string()]).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, "x");
        let cert = p.self_signed(&kp).unwrap();
        let certs = vec![cert.der().clone()];
        let wrapped = to_pkcs8(&PrivateKeyDer::Sec1(sec1.into()), &certs).unwrap();
        assert_eq!(leaf_index(&certs, &wrapped).unwrap(), 0);
    }
}
