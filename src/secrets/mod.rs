//! Secret providers: one trait, one file per provider.
//!
//! A provider answers two questions about a [`SecretRef`]: "what is the current version?"
//! (cheap: AWS DescribeSecret, Key Vault version properties, a file's mtime) and "give me
//! the value" (GetSecretValue / GetSecret / read). The agent asks the first on every refresh
//! and the second only when the version changed, so a steady state costs no secret downloads.
//!
//! Errors are classified ([`ErrorClass`]) because the caller's reaction depends on the class,
//! not on the provider: throttling and outages are retried with backoff, auth and not-found
//! are reported with distinct exit codes. Error messages carry names, versions and the
//! provider's error code, never a value.

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "azure")]
pub mod azure;
pub mod local;

/// Secret bytes. Zeroed when dropped; `Debug` and `Display` never show the contents.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Takes ownership of a string's buffer (no copy, so no stray unzeroed duplicate).
    pub fn from_string(s: String) -> Self {
        Self::new(s.into_bytes())
    }

    /// The secret bytes. Named so that every read of a value is easy to find in review.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self::new(v)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted, {} bytes>)", self.0.len())
    }
}

impl fmt::Display for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Which secret to read: the provider-specific name (AWS name or ARN, Key Vault secret
/// name, local key) plus an optional pinned version or AWS staging label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    pub id: String,
    /// A pinned version id (AWS VersionId, Key Vault version). `None` = the current one.
    pub version: Option<String>,
    /// AWS staging label (`AWSCURRENT`, `AWSPENDING`, `AWSPREVIOUS`, or a custom label).
    /// `None` = AWSCURRENT. Other providers reject a stage at config validation.
    pub stage: Option<String>,
}

impl SecretRef {
    pub fn latest(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            version: None,
            stage: None,
        }
    }
}

/// A fetched value with its version.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub value: SecretBytes,
    /// The provider's version id of exactly the bytes in `value`.
    pub version: String,
    /// Key Vault `contentType`, or `None`.
    pub content_type: Option<String>,
    /// True when the provider stored binary data (AWS SecretBinary).
    pub binary: bool,
}

/// How the caller should react to an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    /// The secret (or the requested version/stage) does not exist.
    NotFound,
    /// Authenticated, but not allowed to read this secret.
    AccessDenied,
    /// Could not obtain or use credentials (bad client secret, expired token, no identity).
    Auth,
    /// The provider asked us to slow down (AWS ThrottlingException, Key Vault 429).
    Throttled,
    /// Network error, timeout, 5xx: worth retrying.
    Unavailable,
    /// The request or the stored value is wrong in a way retrying will not fix.
    Invalid,
}

impl ErrorClass {
    /// Stable label used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AccessDenied => "access_denied",
            Self::Auth => "auth",
            Self::Throttled => "throttled",
            Self::Unavailable => "unavailable",
            Self::Invalid => "invalid",
        }
    }

    /// Whether a later attempt may succeed without anyone changing anything.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Unavailable)
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified provider error. `message` names the secret and the provider's error code;
/// it must never contain secret material (providers build it from names and codes only).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{provider}: {message}")]
pub struct ProviderError {
    pub class: ErrorClass,
    /// Provider kind, e.g. `aws-secrets-manager`.
    pub provider: &'static str,
    pub message: String,
    /// Server-requested delay before the next attempt (Retry-After), when given.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    pub fn new(provider: &'static str, class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            provider,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.retry_after = d;
        self
    }
}

/// One configured provider instance.
#[async_trait::async_trait]
pub trait SecretSource: Send + Sync {
    /// Provider kind as written in the config (`aws-secrets-manager`, `azure-key-vault`, `local`).
    fn kind(&self) -> &'static str;

    /// The version id that [`SecretSource::fetch`] would return now, without downloading the
    /// value where the provider allows it. A pinned `version` is returned after checking it
    /// exists.
    async fn current_version(&self, secret: &SecretRef) -> Result<String, ProviderError>;

    /// Download the value.
    async fn fetch(&self, secret: &SecretRef) -> Result<Fetched, ProviderError>;

    /// The version of a `[[certificate]]` held by this provider. Most providers store a
    /// certificate bundle as a secret; Key Vault has certificate objects of its own.
    async fn current_certificate_version(&self, cert: &SecretRef) -> Result<String, ProviderError> {
        self.current_version(cert).await
    }

    /// Download a certificate bundle (cert, chain and key), with its content type if known.
    async fn fetch_certificate(&self, cert: &SecretRef) -> Result<Fetched, ProviderError> {
        self.fetch(cert).await
    }
}

/// Build every configured provider. This is the one place that maps a config `type` to
/// its implementation.
pub async fn build_providers(
    cfg: &crate::config::Config,
) -> Result<std::collections::BTreeMap<String, std::sync::Arc<dyn SecretSource>>, ProviderError> {
    use crate::config::ProviderConfig;
    let mut out: std::collections::BTreeMap<String, std::sync::Arc<dyn SecretSource>> =
        std::collections::BTreeMap::new();
    for (name, p) in &cfg.providers {
        let source: std::sync::Arc<dyn SecretSource> = match p {
            ProviderConfig::Local(c) => std::sync::Arc::new(local::LocalProvider::new(c)),
            #[cfg(feature = "aws")]
            ProviderConfig::Aws(c) => std::sync::Arc::new(aws::AwsProvider::new(c).await?),
            #[cfg(feature = "azure")]
            ProviderConfig::Azure(c) => std::sync::Arc::new(azure::AzureProvider::new(c)?),
            #[allow(unreachable_patterns)]
            other => {
                return Err(ProviderError::new(
                    "config",
                    ErrorClass::Invalid,
                    format!(
                        "provider `{name}`: this build has no `{}` support",
                        other.kind()
                    ),
                ))
            }
        };
        out.insert(name.clone(), source);
    }
    Ok(out)
}
