//! Azure Key Vault provider, built on the official SDK (`azure_security_keyvault_secrets`).
//!
//! `current_version` lists the secret's version properties (never values) and picks the
//! newest enabled one by `created`, so a steady-state refresh downloads no secret material.
//! `fetch` is one GetSecret.
//!
//! Certificates (`[[certificate]]` with this provider): GetCertificate (latest or the pinned
//! version) names the certificate's secret in `sid`; that secret holds the key and chain as
//! `application/x-pem-file` or base64 `application/x-pkcs12`, which is what is downloaded.
//! The version check is the GetCertificate alone (public material only).
//!
//! The credential chain is ours, not the SDK's developer chain: workload identity when
//! `AZURE_FEDERATED_TOKEN_FILE` is set, else a client secret when one is configured, else
//! managed identity; Azure CLI only when asked for. Both the credential and the vault
//! client share one transport, so an extra CA (private endpoints, tests) applies to both.
//!
//! The SDK's own retry policy is switched off: it would retry 429 and 5xx for tens of
//! seconds inside one call and then surface a generic error, hiding the Retry-After and the
//! class the agent's scheduler needs for its jittered backoff.

use std::sync::Arc;
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, RetryOptions, StatusCode, Transport};
use azure_identity::{
    AzureCliCredential, ClientAssertionCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_certificates::models::CertificateClientGetCertificateOptions;
use azure_security_keyvault_certificates::{CertificateClient, CertificateClientOptions};
use azure_security_keyvault_secrets::models::{
    SecretClientGetSecretOptions, SecretClientListSecretPropertiesVersionsOptions,
};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::StreamExt;

use super::{ErrorClass, Fetched, ProviderError, SecretBytes, SecretRef, SecretSource};
use crate::config::{AzureCredential, AzureProviderConfig};

const KIND: &str = "azure-key-vault";

/// Page size for version listings: the service maximum, so a secret with many versions costs
/// as few round trips as possible.
const VERSIONS_PAGE: i32 = 25;

/// A configured Key Vault.
pub struct AzureProvider {
    client: SecretClient,
    certs: CertificateClient,
    vault_url: String,
}

impl std::fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureProvider")
            .field("vault_url", &self.vault_url)
            .finish_non_exhaustive()
    }
}

fn config_err(msg: impl Into<String>) -> ProviderError {
    ProviderError::new(KIND, ErrorClass::Invalid, msg)
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl AzureProvider {
    pub fn new(cfg: &AzureProviderConfig) -> Result<Self, ProviderError> {
        let transport = match &cfg.ca_file {
            Some(path) => Some(Transport::new(Arc::new(http_client(path)?))),
            None => None,
        };
        let client_options = |cloud: Option<Arc<CloudConfiguration>>| ClientOptions {
            retry: RetryOptions::none(),
            transport: transport.clone(),
            cloud,
            ..Default::default()
        };
        let cloud = cfg.authority_host.as_ref().map(|host| {
            let mut custom = CustomConfiguration::default();
            custom.authority_host = host.clone();
            Arc::new(CloudConfiguration::Custom(custom))
        });
        let credential = build_credential(cfg, client_options(cloud))?;
        let options = SecretClientOptions {
            client_options: client_options(None),
            verify_challenge_resource: Some(cfg.verify_challenge_resource),
            ..Default::default()
        };
        let rejected = |e: azure_core::Error| {
            config_err(format!(
                "vault_url `{}` rejected by the Key Vault client: {}",
                cfg.vault_url,
                e.kind()
            ))
        };
        let client = SecretClient::new(&cfg.vault_url, credential.clone(), Some(options))
            .map_err(rejected)?;
        let cert_options = CertificateClientOptions {
            client_options: client_options(None),
            verify_challenge_resource: Some(cfg.verify_challenge_resource),
            ..Default::default()
        };
        let certs = CertificateClient::new(&cfg.vault_url, credential, Some(cert_options))
            .map_err(rejected)?;
        Ok(Self {
            client,
            certs,
            vault_url: cfg.vault_url.clone(),
        })
    }
}

/// A reqwest client trusting the system roots plus the PEM bundle at `path`.
fn http_client(path: &std::path::Path) -> Result<reqwest::Client, ProviderError> {
    let pem =
        std::fs::read(path).map_err(|e| config_err(format!("ca_file {}: {e}", path.display())))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| config_err(format!("ca_file {}: not a PEM bundle: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(config_err(format!(
            "ca_file {}: no certificate found",
            path.display()
        )));
    }
    reqwest::Client::builder()
        .tls_certs_merge(certs)
        // Bounded so a black-holed endpoint surfaces as Unavailable instead of hanging a refresh.
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| config_err(format!("HTTP client: {e}")))
}

fn build_credential(
    cfg: &AzureProviderConfig,
    client_options: ClientOptions,
) -> Result<Arc<dyn TokenCredential>, ProviderError> {
    let tenant = cfg
        .tenant_id
        .clone()
        .or_else(|| env_nonempty("AZURE_TENANT_ID"));
    let client_id = cfg
        .client_id
        .clone()
        .or_else(|| env_nonempty("AZURE_CLIENT_ID"));
    let kind = match cfg.credential {
        AzureCredential::Auto if env_nonempty("AZURE_FEDERATED_TOKEN_FILE").is_some() => {
            AzureCredential::WorkloadIdentity
        }
        AzureCredential::Auto
            if cfg.client_secret_file.is_some()
                || env_nonempty("AZURE_CLIENT_SECRET").is_some() =>
        {
            AzureCredential::ClientSecret
        }
        AzureCredential::Auto => AzureCredential::ManagedIdentity,
        other => other,
    };
    let cred_err = |what: &str, e: azure_core::Error| {
        ProviderError::new(KIND, ErrorClass::Auth, format!("{what}: {}", e.kind()))
    };
    match kind {
        AzureCredential::WorkloadIdentity => {
            let options = WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions { client_options },
                client_id,
                tenant_id: tenant,
                token_file_path: None,
            };
            let c = WorkloadIdentityCredential::new(Some(options))
                .map_err(|e| cred_err("workload identity credential", e))?;
            Ok(c)
        }
        AzureCredential::ClientSecret => {
            let tenant = tenant.ok_or_else(|| {
                config_err("client-secret credential needs tenant_id or AZURE_TENANT_ID")
            })?;
            let client_id = client_id.ok_or_else(|| {
                config_err("client-secret credential needs client_id or AZURE_CLIENT_ID")
            })?;
            let secret = match &cfg.client_secret_file {
                Some(path) => {
                    let s = std::fs::read_to_string(path).map_err(|e| {
                        config_err(format!("client_secret_file {}: {e}", path.display()))
                    })?;
                    // Files written by editors and `echo` end in a newline that is not part
                    // of the secret.
                    s.trim_end_matches(['\r', '\n']).to_string()
                }
                None => env_nonempty("AZURE_CLIENT_SECRET").ok_or_else(|| {
                    config_err(
                        "client-secret credential needs client_secret_file or AZURE_CLIENT_SECRET",
                    )
                })?,
            };
            let c = ClientSecretCredential::new(
                &tenant,
                client_id,
                Secret::new(secret),
                Some(ClientSecretCredentialOptions { client_options }),
            )
            .map_err(|e| cred_err("client-secret credential", e))?;
            Ok(c)
        }
        AzureCredential::ManagedIdentity => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.map(UserAssignedId::ClientId),
                client_options,
            };
            let c = ManagedIdentityCredential::new(Some(options))
                .map_err(|e| cred_err("managed identity credential", e))?;
            Ok(c)
        }
        AzureCredential::AzureCli => {
            let options = azure_identity::AzureCliCredentialOptions {
                tenant_id: tenant,
                ..Default::default()
            };
            let c = AzureCliCredential::new(Some(options))
                .map_err(|e| cred_err("azure cli credential", e))?;
            Ok(c)
        }
        AzureCredential::Auto => Err(config_err("credential chain unresolved")),
    }
}

/// Parses `Retry-After` (delta-seconds; Key Vault does not send HTTP dates in practice, and an
/// unparsable value is better ignored than guessed).
fn retry_after(e: &azure_core::Error) -> Option<Duration> {
    let ErrorKind::HttpResponse {
        raw_response: Some(raw),
        ..
    } = e.kind()
    else {
        return None;
    };
    let headers = raw.headers();
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = headers
            .get_optional_str(&azure_core::http::headers::HeaderName::from_static(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            return Some(Duration::from_millis(ms));
        }
    }
    headers
        .get_optional_str(&azure_core::http::headers::RETRY_AFTER)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Maps an SDK error to our classes. The message is built from the operation, the secret
/// name, the status and the service's error code only; the SDK's own Display is not used
/// because it may embed response bodies.
fn classify(op: &str, name: &str, e: &azure_core::Error) -> ProviderError {
    let (class, detail) = match e.kind() {
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => {
            let class = match *status {
                StatusCode::NotFound => ErrorClass::NotFound,
                StatusCode::Forbidden => ErrorClass::AccessDenied,
                StatusCode::Unauthorized => ErrorClass::Auth,
                StatusCode::TooManyRequests => ErrorClass::Throttled,
                StatusCode::RequestTimeout => ErrorClass::Unavailable,
                s if u16::from(s) >= 500 => ErrorClass::Unavailable,
                _ => ErrorClass::Invalid,
            };
            let code = error_code.as_deref().unwrap_or("-");
            (class, format!("HTTP {} ({code})", u16::from(*status)))
        }
        ErrorKind::Credential => credential_detail(e),
        ErrorKind::Connection | ErrorKind::Io => (ErrorClass::Unavailable, format!("{}", e.kind())),
        ErrorKind::DataConversion => (
            ErrorClass::Invalid,
            "response could not be decoded".to_string(),
        ),
        _ => (ErrorClass::Invalid, format!("{}", e.kind())),
    };
    ProviderError::new(KIND, class, format!("{op} `{name}`: {detail}")).with_retry_after(
        if class == ErrorClass::Throttled {
            retry_after(e)
        } else {
            None
        },
    )
}

/// A credential failure: the token endpoint's status when the SDK kept it (in the chain of
/// sources), without the token endpoint's free-text description. An identity endpoint that is
/// down or throttling is an outage, not bad credentials, so those keep their retryable class.
fn credential_detail(e: &azure_core::Error) -> (ErrorClass, String) {
    let mut src: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|r| r as _);
    while let Some(s) = src {
        if let Some(inner) = s.downcast_ref::<azure_core::Error>() {
            match inner.kind() {
                ErrorKind::HttpResponse {
                    status, error_code, ..
                } => {
                    let code = error_code.as_deref().unwrap_or("-");
                    let n = u16::from(*status);
                    let class = match n {
                        429 => ErrorClass::Throttled,
                        500.. => ErrorClass::Unavailable,
                        _ => ErrorClass::Auth,
                    };
                    return (
                        class,
                        format!("credential: token request HTTP {n} ({code})"),
                    );
                }
                ErrorKind::Io | ErrorKind::Connection => {
                    return (
                        ErrorClass::Unavailable,
                        "credential: token endpoint unreachable".to_string(),
                    );
                }
                _ => {}
            }
        }
        src = s.source();
    }
    (
        ErrorClass::Auth,
        "credential: could not obtain a token".to_string(),
    )
}

/// The last path segment of a Key Vault id (`https://v/secrets/NAME/VERSION`).
fn version_of(id: &str) -> Option<&str> {
    id.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
}

/// `(name, version)` of a Key Vault secret id (`https://v/secrets/NAME/VERSION`).
fn secret_of_sid(sid: &str) -> Option<(&str, &str)> {
    let mut it = sid.trim_end_matches('/').rsplit('/');
    let version = it.next().filter(|s| !s.is_empty())?;
    let name = it.next().filter(|s| !s.is_empty())?;
    (it.next() == Some("secrets")).then_some((name, version))
}

impl AzureProvider {
    /// GetCertificate: the version id and the `sid` of the certificate's secret.
    async fn certificate(&self, cert: &SecretRef) -> Result<(String, String), ProviderError> {
        let op = "get certificate";
        let options = CertificateClientGetCertificateOptions {
            certificate_version: cert.version.clone(),
            ..Default::default()
        };
        let rsp = self
            .certs
            .get_certificate(&cert.id, Some(options))
            .await
            .map_err(|e| classify(op, &cert.id, &e))?;
        let c = rsp.into_model().map_err(|e| classify(op, &cert.id, &e))?;
        let invalid = |what: &str| {
            ProviderError::new(
                KIND,
                ErrorClass::Invalid,
                format!("{op} `{}`: {what}", cert.id),
            )
        };
        if c.attributes.as_ref().and_then(|a| a.enabled) == Some(false) {
            return Err(invalid("the certificate version is disabled"));
        }
        let version =
            c.id.as_deref()
                .and_then(version_of)
                .ok_or_else(|| invalid("response has no id"))?
                .to_string();
        let sid = c
            .sid
            .ok_or_else(|| invalid("response has no sid (no secret with the key)"))?;
        Ok((version, sid))
    }

    async fn get(&self, secret: &SecretRef) -> Result<Fetched, ProviderError> {
        let options = SecretClientGetSecretOptions {
            secret_version: secret.version.clone(),
            ..Default::default()
        };
        let op = "get secret";
        let rsp = self
            .client
            .get_secret(&secret.id, Some(options))
            .await
            .map_err(|e| classify(op, &secret.id, &e))?;
        let s = rsp.into_model().map_err(|e| classify(op, &secret.id, &e))?;
        let version =
            s.id.as_deref()
                .and_then(version_of)
                .map(str::to_string)
                .ok_or_else(|| {
                    ProviderError::new(
                        KIND,
                        ErrorClass::Invalid,
                        format!("{op} `{}`: response has no id", secret.id),
                    )
                })?;
        let value = s.value.ok_or_else(|| {
            ProviderError::new(
                KIND,
                ErrorClass::Invalid,
                format!("{op} `{}`: response has no value", secret.id),
            )
        })?;
        Ok(Fetched {
            value: SecretBytes::from_string(value),
            version,
            content_type: s.content_type,
            binary: false,
        })
    }
}

#[async_trait::async_trait]
impl SecretSource for AzureProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn current_version(&self, secret: &SecretRef) -> Result<String, ProviderError> {
        if secret.version.is_some() {
            // Key Vault has no "properties of one version" call that skips the value; a pinned
            // version never changes, so this runs once per schedule and is cheap enough.
            return self.get(secret).await.map(|f| f.version);
        }
        let op = "list secret versions";
        let options = SecretClientListSecretPropertiesVersionsOptions {
            maxresults: Some(VERSIONS_PAGE),
            ..Default::default()
        };
        let mut pager = self
            .client
            .list_secret_properties_versions(&secret.id, Some(options))
            .map_err(|e| classify(op, &secret.id, &e))?;
        let mut best: Option<(azure_core::time::OffsetDateTime, String)> = None;
        while let Some(item) = pager.next().await {
            let props = item.map_err(|e| classify(op, &secret.id, &e))?;
            let Some(attrs) = props.attributes.as_ref() else {
                continue;
            };
            if attrs.enabled == Some(false) {
                continue;
            }
            let (Some(created), Some(version)) =
                (attrs.created, props.id.as_deref().and_then(version_of))
            else {
                continue;
            };
            if best.as_ref().is_none_or(|(t, _)| created > *t) {
                best = Some((created, version.to_string()));
            }
        }
        best.map(|(_, v)| v).ok_or_else(|| {
            ProviderError::new(
                KIND,
                ErrorClass::NotFound,
                format!("{op} `{}`: no enabled version", secret.id),
            )
        })
    }

    async fn fetch(&self, secret: &SecretRef) -> Result<Fetched, ProviderError> {
        self.get(secret).await
    }

    async fn current_certificate_version(&self, cert: &SecretRef) -> Result<String, ProviderError> {
        self.certificate(cert).await.map(|(v, _)| v)
    }

    async fn fetch_certificate(&self, cert: &SecretRef) -> Result<Fetched, ProviderError> {
        let (version, sid) = self.certificate(cert).await?;
        let Some((name, secret_version)) = secret_of_sid(&sid) else {
            return Err(ProviderError::new(
                KIND,
                ErrorClass::Invalid,
                format!("get certificate `{}`: sid is not a secret id", cert.id),
            ));
        };
        let mut f = self
            .get(&SecretRef {
                id: name.to_string(),
                version: Some(secret_version.to_string()),
                stage: None,
            })
            .await?;
        // The certificate's version names the bundle: it is what rotates.
        f.version = version;
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::{secret_of_sid, version_of};

    #[test]
    fn sid_names_the_secret() {
        assert_eq!(
            secret_of_sid("https://v.vault.azure.net/secrets/api-tls/0123abcd"),
            Some(("api-tls", "0123abcd"))
        );
        assert_eq!(secret_of_sid("https://v/keys/api-tls/0123"), None);
        assert_eq!(secret_of_sid("0123"), None);
    }

    #[test]
    fn version_is_last_segment() {
        assert_eq!(
            version_of("https://v.vault.azure.net/secrets/db/4387e9f3d6e14c459867679a90fd0f79"),
            Some("4387e9f3d6e14c459867679a90fd0f79")
        );
        assert_eq!(version_of("https://v/secrets/db/abc/"), Some("abc"));
        assert_eq!(version_of(""), None);
    }
}
