//! Certificates in the secrets pipeline (`[[certificate]]`): obtain a bundle (from a provider
//! or issued by the local CA), prove it good, render its files, and decide when to look again.
//!
//! A bundle only ever reaches the sink after [`crate::tls`] validation passed (key matches the
//! leaf, chain order and trust, validity with the configured margin, SANs, key strength), and
//! its files (`tls.crt`, `tls.key`, `ca.crt`, optional `tls.p12` / `tls.pem`) go into the same
//! generation as everything else, so an application never sees a certificate with another
//! certificate's key. A bundle that fails keeps the previous one in place; the caller logs the
//! failure class and counts it (never any key material).
//!
//! Schedule: a provider-held certificate is checked every `check` (jittered) and downloaded
//! only when the provider's version changes; once the certificate being served is inside its
//! renewal window, it is checked four times as often, and when the provider's newest version is
//! itself inside the window the agent says so (log + `elastics_sec_certificate_renewal_overdue`):
//! someone has to renew it at the source. A local-CA certificate is re-issued at its renewal
//! time (a fraction of the lifetime, default 2/3, or `renew_before`, with jitter).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;

use super::fetch::RetryPolicy;
use crate::config::{CertFormat, CertSource, CertificateConfig, LeafKeyType, Material, Renewal};
use crate::secrets::{Fetched, ProviderError, SecretBytes, SecretSource};
use crate::tls;

/// Why a certificate could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum CertFailure {
    #[error("certificate `{name}`: {error}")]
    Provider { name: String, error: ProviderError },
    #[error("certificate `{name}`: {message}")]
    Invalid {
        name: String,
        /// Metric label: `parse`, `key_mismatch`, `chain`, `untrusted`, `expired`, ...
        class: &'static str,
        message: String,
    },
}

impl CertFailure {
    pub fn class(&self) -> &'static str {
        match self {
            Self::Provider { error, .. } => error.class.as_str(),
            Self::Invalid { class, .. } => class,
        }
    }
}

/// One rendered output file of a bundle.
#[derive(Clone, Debug)]
pub struct CertFile {
    pub name: String,
    pub contents: SecretBytes,
    pub mode: u32,
}

/// A validated bundle ready to be written.
#[derive(Clone, Debug)]
pub struct CertState {
    /// Provider version id, or the serial of a certificate the local CA issued.
    pub version: String,
    pub serial: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// When to renew (local CA) or start looking harder for a new version (provider).
    pub renew_at: SystemTime,
    pub files: Vec<CertFile>,
}

impl CertState {
    pub fn in_renewal_window(&self, now: SystemTime) -> bool {
        now >= self.renew_at
    }
}

fn invalid(c: &CertificateConfig, e: &tls::TlsError) -> CertFailure {
    CertFailure::Invalid {
        name: c.name.clone(),
        class: e.class(),
        message: e.to_string(),
    }
}

fn material_error(c: &CertificateConfig, message: String) -> CertFailure {
    CertFailure::Invalid {
        name: c.name.clone(),
        class: "material",
        message,
    }
}

/// Bytes of a file or of a configured secret's current value.
fn material(
    c: &CertificateConfig,
    what: &str,
    m: &Material,
    values: &BTreeMap<String, Fetched>,
) -> Result<SecretBytes, CertFailure> {
    match m {
        Material::File(p) => std::fs::read(p)
            .map(SecretBytes::from)
            .map_err(|e| material_error(c, format!("{what} {}: {e}", p.display()))),
        Material::Secret(s) => values
            .get(s)
            .map(|f| f.value.clone())
            .ok_or_else(|| material_error(c, format!("{what}: secret `{s}` has no value"))),
        Material::Ephemeral => Err(material_error(c, format!("{what}: generated, not read"))),
    }
}

/// The in-memory CA of a certificate with `local_ca.ephemeral = true`: made on first use and
/// kept for the life of the process, so renewals are signed by the CA clients already trust.
fn ephemeral_ca(c: &CertificateConfig) -> Result<(SecretBytes, SecretBytes), CertFailure> {
    use std::sync::{Mutex, OnceLock};
    type Cas = Mutex<BTreeMap<String, (SecretBytes, SecretBytes)>>;
    static CAS: OnceLock<Cas> = OnceLock::new();
    let cas = CAS.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut cas = cas.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((cert, key)) = cas.get(&c.name) {
        return Ok((cert.clone(), key.clone()));
    }
    let (cert, key) = tls::new_ca(
        &format!("elastics-sec ephemeral CA ({})", c.name),
        Duration::from_secs(397 * 24 * 3600),
    )
    .map_err(|e| invalid(c, &e))?;
    let cert = SecretBytes::from(cert.into_bytes());
    cas.insert(c.name.clone(), (cert.clone(), key.clone()));
    Ok((cert, key))
}

fn secret_value(
    c: &CertificateConfig,
    what: &str,
    name: &Option<String>,
    values: &BTreeMap<String, Fetched>,
) -> Result<Option<SecretBytes>, CertFailure> {
    match name {
        None => Ok(None),
        Some(n) => material(c, what, &Material::Secret(n.clone()), values).map(Some),
    }
}

fn trust_roots(
    c: &CertificateConfig,
    values: &BTreeMap<String, Fetched>,
) -> Result<Vec<CertificateDer<'static>>, CertFailure> {
    let Some(m) = &c.trust_roots else {
        return Ok(Vec::new());
    };
    let pem = material(c, "trust roots", m, values)?;
    tls::parse_certificates(pem.expose()).map_err(|e| invalid(c, &e))
}

/// Renewal time of a certificate valid from `nb` to `na` under the config's policy.
pub fn renewal_time(c: &CertificateConfig, nb: SystemTime, na: SystemTime) -> SystemTime {
    let policy = match c.renew {
        Renewal::Fraction(f) => tls::RenewPolicy::Fraction(f),
        Renewal::Before(d) => tls::RenewPolicy::Before(d),
    };
    tls::renewal_time(nb, na, policy, c.renew_jitter, fastrand::f64())
}

/// Validate `bundle` against the config and render its files.
fn finish(
    c: &CertificateConfig,
    bundle: &tls::Bundle,
    version: Option<String>,
    roots: Option<Vec<CertificateDer<'static>>>,
    values: &BTreeMap<String, Fetched>,
    now: SystemTime,
) -> Result<CertState, CertFailure> {
    let trust_roots = match roots {
        Some(r) => r,
        None => trust_roots(c, values)?,
    };
    let policy = tls::ValidationPolicy {
        trust_roots: trust_roots.clone(),
        required_sans: c.sans.clone(),
        margin: c.margin,
        now,
    };
    let info = tls::validate(bundle, &policy).map_err(|e| invalid(c, &e))?;
    let p12_password = secret_value(c, "p12 password", &c.p12_password_secret, values)?;
    let out = tls::render(
        &info,
        &bundle.key,
        p12_password.as_ref().map(|p| p.expose()),
    )
    .map_err(|e| invalid(c, &e))?;
    let mut files = Vec::new();
    let mut push = |name: &Option<String>, contents: Option<SecretBytes>, mode: u32| {
        if let (Some(name), Some(contents)) = (name, contents) {
            files.push(CertFile {
                name: name.clone(),
                contents,
                mode,
            });
        }
    };
    push(&c.files.cert, Some(out.cert_chain), c.cert_mode);
    push(&c.files.key, Some(out.key), c.key_mode);
    push(&c.files.ca, Some(out.ca), c.cert_mode);
    push(&c.files.p12, out.p12, c.key_mode);
    push(&c.files.pem, Some(out.combined), c.key_mode);
    Ok(CertState {
        version: version.unwrap_or_else(|| info.serial.clone()),
        renew_at: renewal_time(c, info.not_before, info.not_after),
        serial: info.serial,
        not_before: info.not_before,
        not_after: info.not_after,
        files,
    })
}

/// Issue a new leaf from the local CA.
pub fn issue(
    c: &CertificateConfig,
    values: &BTreeMap<String, Fetched>,
    now: SystemTime,
) -> Result<CertState, CertFailure> {
    let CertSource::LocalCa {
        ca_cert,
        ca_key,
        lifetime,
        key_type,
        common_name,
    } = &c.source
    else {
        return Err(material_error(c, "not a local-CA certificate".into()));
    };
    let (cert_pem, key_pem) = if *ca_cert == Material::Ephemeral {
        ephemeral_ca(c)?
    } else {
        (
            material(c, "local_ca cert", ca_cert, values)?,
            material(c, "local_ca key", ca_key, values)?,
        )
    };
    let ca =
        tls::LocalCa::from_pem(cert_pem.expose(), key_pem.expose()).map_err(|e| invalid(c, &e))?;
    let key = match key_type {
        LeafKeyType::EcdsaP256 => tls::KeyType::EcdsaP256,
        LeafKeyType::EcdsaP384 => tls::KeyType::EcdsaP384,
        LeafKeyType::Ed25519 => tls::KeyType::Ed25519,
    };
    let bundle = ca
        .issue(&c.sans, common_name.as_deref(), *lifetime, key)
        .map_err(|e| invalid(c, &e))?;
    // The CA is the trust root of what it issues, unless other roots are configured.
    let roots = match c.trust_roots {
        Some(_) => None,
        None => Some(tls::parse_certificates(cert_pem.expose()).map_err(|e| invalid(c, &e))?),
    };
    finish(c, &bundle, None, roots, values, now)
}

/// Download and validate a provider-held certificate.
pub async fn download(
    c: &CertificateConfig,
    src: &dyn SecretSource,
    values: &BTreeMap<String, Fetched>,
    policy: RetryPolicy,
) -> Result<CertState, CertFailure> {
    let CertSource::Provider {
        reference,
        format,
        password_secret,
        ..
    } = &c.source
    else {
        return Err(material_error(c, "not a provider-held certificate".into()));
    };
    let f = super::fetch::with_retries(policy, src.kind(), &reference.id, &c.name, || {
        src.fetch_certificate(reference)
    })
    .await
    .map_err(|error| CertFailure::Provider {
        name: c.name.clone(),
        error,
    })?;
    let password = secret_value(c, "password", password_secret, values)?;
    let hint = match format {
        CertFormat::Auto => tls::SourceFormat::Auto,
        CertFormat::Pem => tls::SourceFormat::Pem,
        CertFormat::Pkcs12 => tls::SourceFormat::Pkcs12,
        CertFormat::Json => tls::SourceFormat::Json,
    };
    let bundle = tls::parse_bundle(
        f.value.expose(),
        f.content_type.as_deref(),
        f.binary,
        hint,
        password.as_ref().map(|p| p.expose()),
    )
    .map_err(|e| invalid(c, &e))?;
    finish(c, &bundle, Some(f.version), None, values, SystemTime::now())
}

/// Obtain a certificate, whichever its source.
pub async fn obtain(
    c: &CertificateConfig,
    providers: &BTreeMap<String, Arc<dyn SecretSource>>,
    values: &BTreeMap<String, Fetched>,
    policy: RetryPolicy,
) -> Result<CertState, CertFailure> {
    match &c.source {
        CertSource::LocalCa { .. } => issue(c, values, SystemTime::now()),
        CertSource::Provider { provider, .. } => {
            let Some(src) = providers.get(provider) else {
                return Err(material_error(c, format!("unknown provider `{provider}`")));
            };
            download(c, &**src, values, policy).await
        }
    }
}

/// How long to wait before the next look at a certificate we hold.
pub fn next_check(c: &CertificateConfig, held: Option<&CertState>, now: SystemTime) -> Duration {
    let base = c.check;
    match (&c.source, held) {
        (_, None) => Duration::ZERO,
        (CertSource::LocalCa { .. }, Some(s)) => {
            // Wake at the renewal time, but at least every `check` to report freshness.
            s.renew_at
                .duration_since(now)
                .unwrap_or(Duration::ZERO)
                .min(base)
        }
        (CertSource::Provider { .. }, Some(s)) if s.in_renewal_window(now) => base / 4,
        (CertSource::Provider { .. }, Some(_)) => base,
    }
}

/// Seconds since the Unix epoch, for metrics.
pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// True when `known` is the version the provider reports now.
pub fn unchanged(known: Option<&CertState>, current: &str) -> bool {
    known.is_some_and(|k| k.version == current)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::secrets::ErrorClass;

    #[test]
    fn failure_class_is_a_label() {
        let f = CertFailure::Provider {
            name: "a".into(),
            error: ProviderError::new("local", ErrorClass::NotFound, "x"),
        };
        assert_eq!(f.class(), "not_found");
    }
}
