//! Azure Key Vault provider against the in-process HTTPS test server, through the official
//! SDK: client-secret credential with a custom authority on the same loopback server,
//! challenge auth, versions, paging, error classes and redaction.
#![cfg(feature = "azure")]
#![allow(clippy::unwrap_used)]

#[path = "support/keyvault.rs"]
mod keyvault;
mod support;

use std::time::Duration;

use elastics_sec::config::{AzureCredential, AzureProviderConfig};
use elastics_sec::secrets::azure::AzureProvider;
use elastics_sec::secrets::{ErrorClass, SecretRef, SecretSource};
use keyvault::{Fault, KeyVault, CLIENT_ID, CLIENT_SECRET, TENANT};

const CANARY: &str = "canary-7f3a9c-do-not-print";

fn config(kv: &KeyVault, secret: &str) -> (AzureProviderConfig, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("client-secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let cfg = AzureProviderConfig {
        vault_url: kv.url.clone(),
        credential: AzureCredential::ClientSecret,
        tenant_id: Some(TENANT.to_string()),
        client_id: Some(CLIENT_ID.to_string()),
        client_secret_file: Some(secret_file),
        authority_host: Some(kv.authority()),
        ca_file: Some(kv.ca_file.clone()),
        // The challenge resource (vault.azure.net) cannot match 127.0.0.1.
        verify_challenge_resource: false,
    };
    (cfg, dir)
}

async fn setup() -> (KeyVault, AzureProvider, tempfile::TempDir) {
    let kv = KeyVault::start().await;
    let (cfg, dir) = config(&kv, CLIENT_SECRET);
    let p = AzureProvider::new(&cfg).unwrap();
    (kv, p, dir)
}

#[tokio::test]
async fn latest_and_pinned_fetch() {
    let (kv, p, _d) = setup().await;
    assert_eq!(p.kind(), "azure-key-vault");
    let v1 = kv.set_secret("db-password", "one");
    let v2 = kv.set_secret("db-password", "two");
    let f = p.fetch(&SecretRef::latest("db-password")).await.unwrap();
    assert_eq!(f.value.expose(), b"two");
    assert_eq!(f.version, v2);
    assert_eq!(f.content_type, None);

    let pinned = SecretRef {
        version: Some(v1.clone()),
        ..SecretRef::latest("db-password")
    };
    let f = p.fetch(&pinned).await.unwrap();
    assert_eq!(f.value.expose(), b"one");
    assert_eq!(f.version, v1);
    assert_eq!(p.current_version(&pinned).await.unwrap(), v1);

    // Wire order of the first call: unauthenticated GET (trailing slash = latest), the
    // challenge, the token request, the authenticated GET.
    let log = kv.log();
    assert_eq!(
        log[..3],
        [
            "GET /secrets/db-password/".to_string(),
            format!("POST /{TENANT}/oauth2/v2.0/token"),
            "GET /secrets/db-password/".to_string(),
        ]
    );
}

#[tokio::test]
async fn new_version_changes_current_version() {
    let (kv, p, _d) = setup().await;
    let v1 = kv.set_secret("api-key", "a");
    let r = SecretRef::latest("api-key");
    assert_eq!(p.current_version(&r).await.unwrap(), v1);
    let v2 = kv.set_secret("api-key", "b");
    assert_ne!(v1, v2);
    assert_eq!(p.current_version(&r).await.unwrap(), v2);
    // A disabled newest version is skipped.
    kv.state.lock().unwrap().secrets.get_mut("api-key").unwrap()[1].enabled = false;
    assert_eq!(p.current_version(&r).await.unwrap(), v1);
}

#[tokio::test]
async fn versions_are_paged() {
    let (kv, p, _d) = setup().await;
    let mut last = String::new();
    for i in 0..60 {
        last = kv.set_secret("many", &format!("v{i}"));
    }
    let r = SecretRef::latest("many");
    assert_eq!(p.current_version(&r).await.unwrap(), last);
    let pages = kv
        .log()
        .iter()
        .filter(|l| l.as_str() == "GET /secrets/many/versions")
        .count();
    // 60 versions at 25 per page = 3 pages (+ the unauthenticated first try).
    assert_eq!(pages, 4, "{:?}", kv.log());
}

#[tokio::test]
async fn not_found_and_forbidden() {
    let (kv, p, _d) = setup().await;
    let e = p.fetch(&SecretRef::latest("missing")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::NotFound, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("missing") && msg.contains("404") && msg.contains("SecretNotFound"),
        "{msg}"
    );
    let e = p
        .current_version(&SecretRef::latest("missing"))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::NotFound, "{e}");

    kv.set_secret("locked", CANARY);
    kv.forbid("locked");
    let e = p.fetch(&SecretRef::latest("locked")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::AccessDenied, "{e}");
    assert!(e.to_string().contains("403"), "{e}");
}

#[tokio::test]
async fn wrong_client_secret_is_auth() {
    let kv = KeyVault::start().await;
    kv.set_secret("s", CANARY);
    let (cfg, _d) = config(&kv, "wrong-secret");
    let p = AzureProvider::new(&cfg).unwrap();
    let e = p.fetch(&SecretRef::latest("s")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Auth, "{e}");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("wrong-secret"), "{shown}");
    assert!(!shown.contains(CANARY), "{shown}");
}

#[tokio::test]
async fn throttled_with_retry_after() {
    let (kv, p, _d) = setup().await;
    kv.set_secret("s", "v");
    // Authenticate first so the fault hits the data request.
    p.fetch(&SecretRef::latest("s")).await.unwrap();
    kv.fault(
        Fault::Throttle {
            retry_after_secs: 7,
        },
        1,
    );
    let e = p.fetch(&SecretRef::latest("s")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Throttled, "{e}");
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert!(e.to_string().contains("429"), "{e}");
    // No SDK-level retry consumed a second attempt behind our back.
    p.fetch(&SecretRef::latest("s")).await.unwrap();
}

#[tokio::test]
async fn server_error_is_unavailable() {
    let (kv, p, _d) = setup().await;
    kv.set_secret("s", "v");
    p.fetch(&SecretRef::latest("s")).await.unwrap();
    kv.fault(Fault::Internal, 1);
    let e = p
        .current_version(&SecretRef::latest("s"))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Unavailable, "{e}");
    assert!(e.class.is_retryable());
    kv.fault(Fault::Delay(Duration::from_millis(50)), 1);
    p.fetch(&SecretRef::latest("s")).await.unwrap();
}

#[tokio::test]
async fn canary_never_in_errors() {
    let (kv, p, _d) = setup().await;
    kv.set_secret("c", CANARY);
    let ok = p.fetch(&SecretRef::latest("c")).await.unwrap();
    assert_eq!(ok.value.expose(), CANARY.as_bytes());
    assert!(!format!("{ok:?}").contains(CANARY));
    let mut errors = Vec::new();
    kv.fault(Fault::Internal, 1);
    errors.push(p.fetch(&SecretRef::latest("c")).await.unwrap_err());
    kv.fault(
        Fault::Throttle {
            retry_after_secs: 1,
        },
        1,
    );
    errors.push(p.fetch(&SecretRef::latest("c")).await.unwrap_err());
    let bad = SecretRef {
        version: Some("nope".into()),
        ..SecretRef::latest("c")
    };
    errors.push(p.fetch(&bad).await.unwrap_err());
    kv.forbid("c");
    errors.push(p.fetch(&SecretRef::latest("c")).await.unwrap_err());
    for e in errors {
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(CANARY), "{shown}");
    }
}

/// The spec's recorded GetSecret example, served verbatim, parses through the SDK.
#[tokio::test]
async fn recorded_example_parses() {
    let (kv, p, _d) = setup().await;
    let example = std::fs::read_to_string(support::shared(
        "azure-keyvault-rest/2025-07-01/examples/GetSecret-example.json",
    ))
    .unwrap();
    let example: serde_json::Value = serde_json::from_str(&example).unwrap();
    let body = &example["responses"]["200"]["body"];
    let name = example["parameters"]["secret-name"].as_str().unwrap();
    let version = example["parameters"]["secret-version"].as_str().unwrap();
    kv.state.lock().unwrap().canned.insert(
        format!("/secrets/{name}/{version}"),
        (200, body.to_string()),
    );
    let r = SecretRef {
        version: Some(version.to_string()),
        ..SecretRef::latest(name)
    };
    let f = p.fetch(&r).await.unwrap();
    assert_eq!(f.value.expose(), body["value"].as_str().unwrap().as_bytes());
    assert_eq!(f.version, version);
}

/// SDK options for direct client use: the test CA, no challenge resource check.
fn sdk_parts(
    kv: &KeyVault,
) -> (
    std::sync::Arc<dyn azure_core::credentials::TokenCredential>,
    azure_core::http::ClientOptions,
) {
    use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
    use std::sync::Arc;
    let certs = reqwest::Certificate::from_pem_bundle(kv.ca_pem.as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_merge(certs)
        .build()
        .unwrap();
    let opts = azure_core::http::ClientOptions {
        transport: Some(azure_core::http::Transport::new(Arc::new(http))),
        retry: azure_core::http::RetryOptions::none(),
        ..Default::default()
    };
    let mut custom = CustomConfiguration::default();
    custom.authority_host = kv.authority();
    let cred = azure_identity::ClientSecretCredential::new(
        TENANT,
        CLIENT_ID.to_string(),
        CLIENT_SECRET.into(),
        Some(azure_identity::ClientSecretCredentialOptions {
            client_options: azure_core::http::ClientOptions {
                cloud: Some(Arc::new(CloudConfiguration::Custom(custom))),
                ..opts.clone()
            },
        }),
    )
    .unwrap();
    (cred, opts)
}

/// PUT /secrets/{name} through the SDK (its challenge step strips and restores the body),
/// then the provider sees the new version.
#[tokio::test]
async fn sdk_set_secret_creates_version() {
    use azure_security_keyvault_secrets::{
        models::SetSecretParameters, SecretClient, SecretClientOptions,
    };
    let (kv, p, _d) = setup().await;
    let (cred, client_options) = sdk_parts(&kv);
    let client = SecretClient::new(
        &kv.url,
        cred,
        Some(SecretClientOptions {
            client_options,
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )
    .unwrap();
    let params = SetSecretParameters {
        value: Some("from-sdk".into()),
        content_type: Some("text/plain".into()),
        ..Default::default()
    };
    let set = client
        .set_secret("put-me", params.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let id = set.id.unwrap();
    let f = p.fetch(&SecretRef::latest("put-me")).await.unwrap();
    assert_eq!(f.value.expose(), b"from-sdk");
    assert_eq!(f.content_type.as_deref(), Some("text/plain"));
    assert!(id.ends_with(&f.version), "{id} vs {}", f.version);
    assert_eq!(
        p.current_version(&SecretRef::latest("put-me"))
            .await
            .unwrap(),
        f.version
    );
}

/// GET /certificates/{name}/ through the certificates SDK: `cer` decodes to the DER.
#[tokio::test]
async fn sdk_get_certificate() {
    use azure_security_keyvault_certificates::{CertificateClient, CertificateClientOptions};
    let kv = KeyVault::start().await;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["app.example".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = cert.der().to_vec();
    let version = kv.add_certificate("tls", der.clone());
    let (cred, client_options) = sdk_parts(&kv);
    let client = CertificateClient::new(
        &kv.url,
        cred,
        Some(CertificateClientOptions {
            client_options,
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )
    .unwrap();
    let c = client
        .get_certificate("tls", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(c.cer.as_deref(), Some(der.as_slice()));
    assert!(c.id.unwrap().ends_with(&version));
    assert!(c.sid.unwrap().contains("/secrets/tls/"));
}

/// `auto` with a configured client secret file picks the client-secret credential (when no
/// workload identity token file is present in the environment).
#[tokio::test]
async fn auto_credential_uses_client_secret() {
    if std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        return;
    }
    let kv = KeyVault::start().await;
    kv.set_secret("s", "v");
    let (mut cfg, _d) = config(&kv, CLIENT_SECRET);
    cfg.credential = AzureCredential::Auto;
    let p = AzureProvider::new(&cfg).unwrap();
    assert_eq!(
        p.fetch(&SecretRef::latest("s"))
            .await
            .unwrap()
            .value
            .expose(),
        b"v"
    );
}

/// An identity endpoint outage is retryable, not an auth failure.
#[tokio::test]
async fn token_endpoint_outage_is_unavailable() {
    let (kv, p, _d) = setup().await;
    kv.set_secret("s", "v");
    kv.state
        .lock()
        .unwrap()
        .token_faults
        .push_back(Fault::Internal);
    let e = p.fetch(&SecretRef::latest("s")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Unavailable, "{e}");
    // The next attempt gets a token and the value.
    assert_eq!(
        p.fetch(&SecretRef::latest("s"))
            .await
            .unwrap()
            .value
            .expose(),
        b"v"
    );
}
