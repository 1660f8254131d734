//! AWS Secrets Manager provider against a real moto server (wire protocol, SigV4, staging
//! labels) and, for error answers moto cannot be made to give, a loopback fake that replies
//! with canned Secrets Manager error responses.
// The provider and the SDK used for seeding exist only in builds with the `aws` feature.
#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]

#[path = "support/moto.rs"]
mod moto;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::primitives::Blob;
use elastics_sec::secrets::aws::AwsProvider;
use elastics_sec::secrets::{ErrorClass, ProviderError, SecretRef, SecretSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use moto::Moto;

async fn provider(moto: &Moto) -> AwsProvider {
    AwsProvider::new(&moto.provider_config()).await.unwrap()
}

/// Creates a string secret and returns its first VersionId.
async fn create_string(moto: &Moto, name: &str, value: &str) -> String {
    let out = moto
        .client()
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    out.version_id().unwrap().to_owned()
}

/// Rotates by PutSecretValue (moves AWSCURRENT to the new version, AWSPREVIOUS to the old).
async fn put_string(moto: &Moto, name: &str, value: &str) -> String {
    let out = moto
        .client()
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    out.version_id().unwrap().to_owned()
}

fn staged(id: &str, stage: &str) -> SecretRef {
    SecretRef {
        id: id.to_owned(),
        version: None,
        stage: Some(stage.to_owned()),
    }
}

fn pinned(id: &str, version: &str) -> SecretRef {
    SecretRef {
        id: id.to_owned(),
        version: Some(version.to_owned()),
        stage: None,
    }
}

#[tokio::test]
async fn kind_is_the_config_name() {
    let moto = Moto::start();
    assert_eq!(provider(&moto).await.kind(), "aws-secrets-manager");
}

#[tokio::test]
async fn string_secret() {
    let moto = Moto::start();
    let v1 = create_string(&moto, "app/db-password", "hunter2").await;
    let p = provider(&moto).await;
    let s = SecretRef::latest("app/db-password");
    let got = p.fetch(&s).await.unwrap();
    assert_eq!(got.value.expose(), b"hunter2");
    assert!(!got.binary);
    assert_eq!(got.version, v1);
    assert_eq!(got.content_type, None);
    assert_eq!(p.current_version(&s).await.unwrap(), v1);
}

#[tokio::test]
async fn secret_by_arn() {
    let moto = Moto::start();
    let out = moto
        .client()
        .create_secret()
        .name("by-arn")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let p = provider(&moto).await;
    let s = SecretRef::latest(out.arn().unwrap());
    assert_eq!(p.fetch(&s).await.unwrap().value.expose(), b"x");
    assert_eq!(
        p.current_version(&s).await.unwrap(),
        out.version_id().unwrap()
    );
}

#[tokio::test]
async fn binary_secret() {
    let moto = Moto::start();
    let bytes: Vec<u8> = vec![0, 1, 2, 0xff, 0xfe, b'\n', 0];
    moto.client()
        .create_secret()
        .name("tls/key.der")
        .secret_binary(Blob::new(bytes.clone()))
        .send()
        .await
        .unwrap();
    let p = provider(&moto).await;
    let got = p.fetch(&SecretRef::latest("tls/key.der")).await.unwrap();
    assert!(got.binary);
    assert_eq!(got.value.expose(), &bytes[..]);
}

#[tokio::test]
async fn json_string_is_fetched_whole() {
    let moto = Moto::start();
    let json = r#"{"username":"app","password":"p@ss\"word","port":5432}"#;
    create_string(&moto, "app/db", json).await;
    let p = provider(&moto).await;
    let got = p.fetch(&SecretRef::latest("app/db")).await.unwrap();
    assert!(!got.binary);
    assert_eq!(got.value.expose(), json.as_bytes());
}

#[tokio::test]
async fn previous_stage_after_rotation() {
    let moto = Moto::start();
    let v1 = create_string(&moto, "rotating", "one").await;
    let v2 = put_string(&moto, "rotating", "two").await;
    assert_ne!(v1, v2);
    let p = provider(&moto).await;

    let prev = staged("rotating", "AWSPREVIOUS");
    let got = p.fetch(&prev).await.unwrap();
    assert_eq!(got.value.expose(), b"one");
    assert_eq!(got.version, v1);
    assert_eq!(p.current_version(&prev).await.unwrap(), v1);

    let cur = staged("rotating", "AWSCURRENT");
    let got = p.fetch(&cur).await.unwrap();
    assert_eq!(got.value.expose(), b"two");
    assert_eq!(got.version, v2);
    assert_eq!(p.current_version(&cur).await.unwrap(), v2);
}

#[tokio::test]
async fn current_version_follows_put_and_matches_fetch() {
    let moto = Moto::start();
    let v1 = create_string(&moto, "svc/token", "a").await;
    let p = provider(&moto).await;
    let s = SecretRef::latest("svc/token");
    assert_eq!(p.current_version(&s).await.unwrap(), v1);
    // Unchanged secret: the cheap check keeps answering the same version.
    assert_eq!(p.current_version(&s).await.unwrap(), v1);

    let v2 = put_string(&moto, "svc/token", "b").await;
    let now = p.current_version(&s).await.unwrap();
    assert_eq!(now, v2);
    assert_ne!(now, v1);
    let got = p.fetch(&s).await.unwrap();
    assert_eq!(got.version, now);
    assert_eq!(got.value.expose(), b"b");
}

#[tokio::test]
async fn pinned_version() {
    let moto = Moto::start();
    let v1 = create_string(&moto, "pinned", "old").await;
    put_string(&moto, "pinned", "new").await;
    let p = provider(&moto).await;

    let s = pinned("pinned", &v1);
    assert_eq!(p.current_version(&s).await.unwrap(), v1);
    let got = p.fetch(&s).await.unwrap();
    assert_eq!(got.value.expose(), b"old");
    assert_eq!(got.version, v1);

    // A version id that never existed.
    let missing = pinned("pinned", "00000000-0000-0000-0000-000000000000");
    let e = p.current_version(&missing).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::NotFound, "{e}");
    let e = p.fetch(&missing).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::NotFound, "{e}");
}

#[tokio::test]
async fn unknown_stage_is_not_found() {
    let moto = Moto::start();
    create_string(&moto, "staged", "v").await;
    let p = provider(&moto).await;
    let s = staged("staged", "NO-SUCH-LABEL");
    let e = p.current_version(&s).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::NotFound, "{e}");
    assert!(e.message.contains("NO-SUCH-LABEL"), "{e}");
    let e = p.fetch(&s).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::NotFound, "{e}");
}

#[tokio::test]
async fn missing_secret_is_not_found() {
    let moto = Moto::start();
    let p = provider(&moto).await;
    let s = SecretRef::latest("does/not/exist");
    for e in [
        p.current_version(&s).await.unwrap_err(),
        p.fetch(&s).await.unwrap_err(),
    ] {
        assert_eq!(e.class, ErrorClass::NotFound, "{e}");
        assert_eq!(e.provider, "aws-secrets-manager");
        assert!(e.message.contains("does/not/exist"), "{e}");
        assert!(e.message.contains("ResourceNotFoundException"), "{e}");
    }
}

#[tokio::test]
async fn secret_scheduled_for_deletion_is_not_found() {
    let moto = Moto::start();
    create_string(&moto, "doomed", "v").await;
    moto.client()
        .delete_secret()
        .secret_id("doomed")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let p = provider(&moto).await;
    let s = SecretRef::latest("doomed");
    let e = p.current_version(&s).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::NotFound, "{e}");
    let e = p.fetch(&s).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::NotFound, "{e}");
}

#[tokio::test]
async fn reset_forgets_secrets() {
    let moto = Moto::start();
    create_string(&moto, "ephemeral", "v").await;
    moto.reset();
    let p = provider(&moto).await;
    let e = p.fetch(&SecretRef::latest("ephemeral")).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::NotFound, "{e}");
}

#[tokio::test]
async fn killed_server_is_unavailable_quickly() {
    let mut moto = Moto::start();
    create_string(&moto, "k", "v").await;
    let p = provider(&moto).await;
    let s = SecretRef::latest("k");
    p.fetch(&s).await.unwrap();
    moto.kill();

    let t = Instant::now();
    let e = p.fetch(&s).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Unavailable, "{e}");
    assert!(e.class.is_retryable());
    let e = p.current_version(&s).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Unavailable, "{e}");
    // The SDK's own retries are off: a refused connection fails in one attempt.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

/// A loopback server that answers every request with the same canned HTTP response and
/// counts the requests (to check the SDK does not retry behind the agent's back).
struct Fake {
    endpoint: String,
    requests: Arc<AtomicUsize>,
}

async fn fake(status: &str, headers: &[(&str, &str)], body: &str) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let mut response = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        response.push_str(&format!("{k}: {v}\r\n"));
    }
    response.push_str(&format!(
        "Content-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let response = response.clone();
            let count = count.clone();
            tokio::spawn(async move {
                if read_request(&mut sock).await {
                    count.fetch_add(1, Ordering::SeqCst);
                    sock.write_all(response.as_bytes()).await.ok();
                    sock.shutdown().await.ok();
                }
            });
        }
    });
    Fake { endpoint, requests }
}

/// Reads one HTTP/1.1 request (headers and a Content-Length body). False on EOF.
async fn read_request(sock: &mut tokio::net::TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return true;
            }
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn fake_error(status: &str, headers: &[(&str, &str)], body: &str) -> (ProviderError, Fake) {
    moto::test_env();
    let f = fake(status, headers, body).await;
    let p = AwsProvider::new(&moto::provider_config(&f.endpoint))
        .await
        .unwrap();
    let e = p.fetch(&SecretRef::latest("app/x")).await.unwrap_err();
    (e, f)
}

#[tokio::test]
async fn throttling_is_throttled_without_sdk_retries() {
    let (e, f) = fake_error(
        "400 Bad Request",
        &[("x-amzn-ErrorType", "ThrottlingException")],
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
    )
    .await;
    assert_eq!(e.class, ErrorClass::Throttled, "{e}");
    assert_eq!(e.retry_after, None);
    assert!(e.message.contains("ThrottlingException"), "{e}");
    assert!(e.message.contains("Rate exceeded"), "{e}");
    assert!(e.message.contains("GetSecretValue app/x"), "{e}");
    assert_eq!(f.requests.load(Ordering::SeqCst), 1, "the SDK retried");
}

#[tokio::test]
async fn throttling_with_retry_after() {
    let (e, _f) = fake_error(
        "429 Too Many Requests",
        &[
            ("x-amzn-ErrorType", "TooManyRequestsException"),
            ("Retry-After", "7"),
        ],
        r#"{"__type":"TooManyRequestsException","message":"slow down"}"#,
    )
    .await;
    assert_eq!(e.class, ErrorClass::Throttled, "{e}");
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn internal_error_is_unavailable() {
    let (e, f) = fake_error(
        "500 Internal Server Error",
        &[("x-amzn-ErrorType", "InternalServiceError")],
        r#"{"__type":"InternalServiceError","message":"boom"}"#,
    )
    .await;
    assert_eq!(e.class, ErrorClass::Unavailable, "{e}");
    assert!(e.class.is_retryable());
    assert_eq!(f.requests.load(Ordering::SeqCst), 1, "the SDK retried");
}

#[tokio::test]
async fn bare_5xx_is_unavailable() {
    let (e, _f) = fake_error("503 Service Unavailable", &[], "").await;
    assert_eq!(e.class, ErrorClass::Unavailable, "{e}");
}

#[tokio::test]
async fn access_denied() {
    let (e, _f) = fake_error(
        "400 Bad Request",
        &[("x-amzn-ErrorType", "AccessDeniedException")],
        r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/x is not authorized to perform: secretsmanager:GetSecretValue"}"#,
    )
    .await;
    assert_eq!(e.class, ErrorClass::AccessDenied, "{e}");
    assert!(!e.class.is_retryable());
    assert!(e.message.contains("not authorized"), "{e}");
}

#[tokio::test]
async fn bad_credentials_are_auth() {
    let (e, _f) = fake_error(
        "400 Bad Request",
        &[("x-amzn-ErrorType", "UnrecognizedClientException")],
        r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
    )
    .await;
    assert_eq!(e.class, ErrorClass::Auth, "{e}");
}

#[tokio::test]
async fn decryption_failure_is_invalid() {
    let (e, _f) = fake_error(
        "400 Bad Request",
        &[("x-amzn-ErrorType", "DecryptionFailure")],
        r#"{"__type":"DecryptionFailure","message":"KMS key unusable"}"#,
    )
    .await;
    assert_eq!(e.class, ErrorClass::Invalid, "{e}");
}

#[tokio::test]
async fn errors_never_show_the_value() {
    const CANARY: &str = "CANARY-7f3a9c-do-not-print";
    let mut moto = Moto::start();
    let v1 = create_string(&moto, "canary", CANARY).await;
    put_string(&moto, "canary", &format!("{CANARY}-2")).await;
    moto.client()
        .create_secret()
        .name("canary-bin")
        .secret_binary(Blob::new(CANARY.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
    let p = provider(&moto).await;

    let got = p.fetch(&SecretRef::latest("canary")).await.unwrap();
    assert!(!format!("{got:?}").contains(CANARY));
    assert!(!format!("{}", got.value).contains(CANARY));

    let mut errors = Vec::new();
    let refs = [
        staged("canary", "NO-SUCH-LABEL"),
        pinned("canary", "00000000-0000-0000-0000-000000000000"),
        SecretRef {
            id: "canary".into(),
            version: Some(v1),
            stage: Some("AWSCURRENT".into()),
        },
        staged("canary-bin", "AWSPENDING"),
    ];
    for r in &refs {
        errors.push(p.current_version(r).await.unwrap_err());
        errors.push(p.fetch(r).await.unwrap_err());
    }
    moto.kill();
    errors.push(p.fetch(&SecretRef::latest("canary")).await.unwrap_err());
    errors.push(
        p.current_version(&SecretRef::latest("canary"))
            .await
            .unwrap_err(),
    );
    for e in &errors {
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(CANARY), "value leaked: {shown}");
        assert!(!shown.contains("CANARY"), "value leaked: {shown}");
    }
}
