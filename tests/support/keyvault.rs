//! In-process HTTPS Azure Key Vault test server following the data-plane REST API
//! (`../shared/azure-keyvault-rest/`): the 401 bearer challenge, an Entra token endpoint on
//! the same server (for `ClientSecretCredential` with a custom authority host), secrets
//! (get by version / latest, list versions with `maxresults` and `nextLink` paging, set),
//! certificates (get), `KeyVaultError` bodies, and fault knobs (429 + Retry-After, 500,
//! delay, 403). TLS uses a throwaway rcgen CA whose PEM the client is told to trust, because
//! the official SDK refuses to send tokens over plain http.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};
use tokio_rustls::TlsAcceptor;

pub const TENANT: &str = "00000000-0000-0000-0000-00000000c0de";
pub const CLIENT_ID: &str = "11111111-1111-1111-1111-111111111111";
pub const CLIENT_SECRET: &str = "test-client-secret";
/// Service maximum page size; also the default when `maxresults` is absent.
const MAX_RESULTS: usize = 25;

/// One stored secret version.
#[derive(Clone, Debug)]
pub struct SecretVersion {
    pub version: String,
    pub value: String,
    pub content_type: Option<String>,
    pub enabled: bool,
    pub created: i64,
    pub updated: i64,
}

/// One stored certificate version (public part only, like the real GET).
#[derive(Clone, Debug)]
pub struct CertVersion {
    pub version: String,
    pub der: Vec<u8>,
    pub created: i64,
}

/// A fault injected into the next authenticated vault request(s).
#[derive(Clone, Debug)]
pub enum Fault {
    /// 429 with `Retry-After: secs`.
    Throttle { retry_after_secs: u64 },
    /// 500 InternalServerError.
    Internal,
    /// Answer normally after sleeping.
    Delay(Duration),
}

#[derive(Default)]
pub struct State {
    pub secrets: BTreeMap<String, Vec<SecretVersion>>,
    pub certificates: BTreeMap<String, Vec<CertVersion>>,
    /// Secret names the caller may not read (403 Forbidden).
    pub forbidden: HashSet<String>,
    pub faults: VecDeque<Fault>,
    /// Faults for the token endpoint (an Entra outage), consumed one per token request.
    pub token_faults: VecDeque<Fault>,
    /// Canned responses by exact path (without query): (status, body). Served verbatim.
    pub canned: BTreeMap<String, (u16, String)>,
    tokens: HashSet<String>,
    next_id: u64,
    clock: i64,
    /// `METHOD path` of every request, in order (for wire-order assertions).
    pub log: Vec<String>,
}

impl State {
    fn tick(&mut self) -> (String, i64) {
        self.next_id += 1;
        // Strictly increasing `created`, like distinct real writes.
        self.clock = self.clock.max(1_700_000_000) + 10;
        (
            format!("{:032x}", 0xabc0_0000_u64 + self.next_id),
            self.clock,
        )
    }
}

/// A running server. Dropping it stops serving.
pub struct KeyVault {
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT/` (the vault URL and, without the slash, the authority host).
    pub url: String,
    pub ca_pem: String,
    /// The CA PEM on disk, for `ca_file`.
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KeyVault {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KeyVault {
    pub async fn start() -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "keyvault test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

        let server_cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), ca_cert.der().clone()],
                rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(server_cfg));
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let url = format!("https://{addr}/");
        let state = Arc::new(Mutex::new(State::default()));
        let app = {
            let state = state.clone();
            let base = format!("https://{addr}");
            axum::Router::new().fallback(
                move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                    let state = state.clone();
                    let base = base.clone();
                    async move { handle(state, base, method, uri, headers, body).await }
                },
            )
        };
        let listener = TlsListener { tcp, acceptor };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let dir = tempfile::tempdir().unwrap();
        let ca_pem = ca_cert.pem();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &ca_pem).unwrap();
        Self {
            addr,
            url,
            ca_pem,
            ca_file,
            _dir: dir,
            state,
            task,
        }
    }

    /// The authority host for `CloudConfiguration::Custom` (same server).
    pub fn authority(&self) -> String {
        self.url.trim_end_matches('/').to_string()
    }

    /// Adds a version and returns its id.
    pub fn set_secret(&self, name: &str, value: &str) -> String {
        let mut s = self.state.lock().unwrap();
        let (version, now) = s.tick();
        s.secrets
            .entry(name.to_string())
            .or_default()
            .push(SecretVersion {
                version: version.clone(),
                value: value.to_string(),
                content_type: None,
                enabled: true,
                created: now,
                updated: now,
            });
        version
    }

    pub fn add_certificate(&self, name: &str, der: Vec<u8>) -> String {
        let mut s = self.state.lock().unwrap();
        let (version, now) = s.tick();
        s.certificates
            .entry(name.to_string())
            .or_default()
            .push(CertVersion {
                version: version.clone(),
                der,
                created: now,
            });
        version
    }

    /// Like Key Vault's certificate import: a certificate version (public part) and the
    /// secret of the same name and version holding key and chain, as `content_type`
    /// (`application/x-pem-file`, or base64 `application/x-pkcs12`).
    #[allow(dead_code)]
    pub fn import_certificate(
        &self,
        name: &str,
        der: Vec<u8>,
        secret_value: &str,
        content_type: &str,
    ) -> String {
        let mut s = self.state.lock().unwrap();
        let (version, now) = s.tick();
        s.certificates
            .entry(name.to_string())
            .or_default()
            .push(CertVersion {
                version: version.clone(),
                der,
                created: now,
            });
        s.secrets
            .entry(name.to_string())
            .or_default()
            .push(SecretVersion {
                version: version.clone(),
                value: secret_value.to_string(),
                content_type: Some(content_type.to_string()),
                enabled: true,
                created: now,
                updated: now,
            });
        version
    }

    pub fn fault(&self, f: Fault, times: usize) {
        let mut s = self.state.lock().unwrap();
        for _ in 0..times {
            s.faults.push_back(f.clone());
        }
    }

    pub fn forbid(&self, name: &str) {
        self.state
            .lock()
            .unwrap()
            .forbidden
            .insert(name.to_string());
    }

    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, peer)) = self.tcp.accept().await else {
                continue;
            };
            // A failed handshake (a client that does not trust the CA) is that client's
            // problem; keep serving the others.
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn kv_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        json!({"error": {"code": code, "message": message}}).to_string(),
    )
        .into_response()
}

fn json_ok(v: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json; charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

fn query_pairs(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect()
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => out.push(v),
                    Err(_) => out.extend_from_slice(&b[i..i + 3]),
                }
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn secret_bundle(base: &str, name: &str, v: &SecretVersion, with_value: bool) -> Value {
    let mut o = json!({
        "id": format!("{base}/secrets/{name}/{}", v.version),
        "attributes": {
            "enabled": v.enabled,
            "created": v.created,
            "updated": v.updated,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90
        }
    });
    if with_value {
        o["value"] = json!(v.value);
    }
    if let Some(ct) = &v.content_type {
        o["contentType"] = json!(ct);
    }
    o
}

async fn handle(
    state: Arc<Mutex<State>>,
    base: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = query_pairs(uri.query().unwrap_or(""));
    state.lock().unwrap().log.push(format!("{method} {path}"));
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();

    // Entra token endpoint: POST /{tenant}/oauth2/v2.0/token.
    if method == Method::POST && segs.len() == 4 && segs[1..] == ["oauth2", "v2.0", "token"] {
        let fault = state.lock().unwrap().token_faults.pop_front();
        match fault {
            Some(Fault::Internal) => {
                return entra_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "temporarily_unavailable",
                    50001,
                    "AADSTS50001: The service is temporarily unavailable.",
                )
            }
            Some(Fault::Throttle { retry_after_secs }) => {
                let mut r = entra_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    50196,
                    "AADSTS50196: Too many requests.",
                );
                r.headers_mut().insert(
                    "retry-after",
                    HeaderValue::from_str(&retry_after_secs.to_string()).unwrap(),
                );
                return r;
            }
            Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
            None => {}
        }
        let form = query_pairs(&String::from_utf8_lossy(&body));
        if segs[0] != TENANT {
            return entra_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90002,
                "AADSTS90002: Tenant not found.",
            );
        }
        if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
            || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
        {
            return entra_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
            );
        }
        let mut s = state.lock().unwrap();
        let (id, _) = s.tick();
        let token = format!("tok-{id}");
        s.tokens.insert(token.clone());
        return json_ok(json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token,
        }));
    }

    // Vault: bearer or challenge.
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let authorized = bearer
        .as_ref()
        .is_some_and(|t| state.lock().unwrap().tokens.contains(t));
    if !authorized {
        let mut r = kv_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
        );
        let challenge = format!(
            "Bearer authorization=\"{base}/{TENANT}\", resource=\"https://vault.azure.net\""
        );
        r.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_str(&challenge).unwrap(),
        );
        return r;
    }

    let fault = state.lock().unwrap().faults.pop_front();
    match fault {
        Some(Fault::Throttle { retry_after_secs }) => {
            let mut r = kv_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Throttled",
                "Request was not processed because too many requests were received.",
            );
            r.headers_mut().insert(
                "retry-after",
                HeaderValue::from_str(&retry_after_secs.to_string()).unwrap(),
            );
            return r;
        }
        Some(Fault::Internal) => {
            return kv_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "An unexpected error occurred.",
            )
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }

    if let Some((status, body)) = state.lock().unwrap().canned.get(&path).cloned() {
        return (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/json; charset=utf-8")],
            body,
        )
            .into_response();
    }

    match (method.clone(), segs.as_slice()) {
        (Method::GET, ["secrets", name, "versions"]) => list_versions(&state, &base, name, &query),
        (Method::GET, ["secrets", name, version]) => get_secret(&state, &base, name, version),
        (Method::GET, ["secrets", name]) => get_secret(&state, &base, name, ""),
        (Method::PUT, ["secrets", name]) => {
            let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                return kv_error(
                    StatusCode::BAD_REQUEST,
                    "BadParameter",
                    "Invalid JSON body.",
                );
            };
            let Some(value) = v["value"].as_str() else {
                return kv_error(
                    StatusCode::BAD_REQUEST,
                    "BadParameter",
                    "Property value is required.",
                );
            };
            let mut s = state.lock().unwrap();
            if s.forbidden.contains(*name) {
                return forbidden(name);
            }
            let (version, now) = s.tick();
            let sv = SecretVersion {
                version,
                value: value.to_string(),
                content_type: v["contentType"].as_str().map(str::to_string),
                enabled: v["attributes"]["enabled"].as_bool().unwrap_or(true),
                created: now,
                updated: now,
            };
            let out = secret_bundle(&base, name, &sv, true);
            s.secrets.entry(name.to_string()).or_default().push(sv);
            json_ok(out)
        }
        (Method::GET, ["certificates", name, version]) => get_cert(&state, &base, name, version),
        (Method::GET, ["certificates", name]) => get_cert(&state, &base, name, ""),
        _ => kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "The request URI is not supported by this test server.",
        ),
    }
}

fn entra_error(status: StatusCode, error: &str, code: i64, description: &str) -> Response {
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        json!({
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": "2026-01-01 00:00:00Z",
            "trace_id": "00000000-0000-0000-0000-000000000000",
            "correlation_id": "00000000-0000-0000-0000-000000000000",
        })
        .to_string(),
    )
        .into_response()
}

fn forbidden(name: &str) -> Response {
    kv_error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!(
            "The user, group or application does not have secrets get permission on key vault for secret {name}."
        ),
    )
}

fn not_found(name: &str) -> Response {
    kv_error(
        StatusCode::NOT_FOUND,
        "SecretNotFound",
        &format!("A secret with (name/id) {name} was not found in this key vault."),
    )
}

fn get_secret(state: &Mutex<State>, base: &str, name: &str, version: &str) -> Response {
    let s = state.lock().unwrap();
    if s.forbidden.contains(name) {
        return forbidden(name);
    }
    let Some(versions) = s.secrets.get(name) else {
        return not_found(name);
    };
    let found = if version.is_empty() {
        // Latest = the most recently created version, enabled or not (as the service does;
        // a disabled latest answers 403 there, which this server does not model).
        versions.iter().max_by_key(|v| v.created)
    } else {
        versions.iter().find(|v| v.version == version)
    };
    match found {
        Some(v) => json_ok(secret_bundle(base, name, v, true)),
        None => not_found(&format!("{name}/{version}")),
    }
}

fn list_versions(
    state: &Mutex<State>,
    base: &str,
    name: &str,
    query: &BTreeMap<String, String>,
) -> Response {
    let s = state.lock().unwrap();
    if s.forbidden.contains(name) {
        return forbidden(name);
    }
    let Some(versions) = s.secrets.get(name) else {
        return not_found(name);
    };
    let max = match query.get("maxresults").map(|m| m.parse::<usize>()) {
        None => MAX_RESULTS,
        Some(Ok(m)) if (1..=MAX_RESULTS).contains(&m) => m,
        Some(_) => {
            return kv_error(
                StatusCode::BAD_REQUEST,
                "BadParameter",
                "maxresults must be between 1 and 25.",
            )
        }
    };
    let skip: usize = query
        .get("$skiptoken")
        .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = versions
        .iter()
        .skip(skip)
        .take(max)
        .map(|v| secret_bundle(base, name, v, false))
        .collect();
    let next = if skip + max < versions.len() {
        let token = base64::engine::general_purpose::STANDARD.encode((skip + max).to_string());
        let token: String = token
            .replace('=', "%3D")
            .replace('+', "%2B")
            .replace('/', "%2F");
        json!(format!(
            "{base}/secrets/{name}/versions?api-version=2025-07-01&$skiptoken={token}&maxresults={max}"
        ))
    } else {
        Value::Null
    };
    json_ok(json!({"value": page, "nextLink": next}))
}

fn get_cert(state: &Mutex<State>, base: &str, name: &str, version: &str) -> Response {
    let s = state.lock().unwrap();
    let Some(versions) = s.certificates.get(name) else {
        return kv_error(
            StatusCode::NOT_FOUND,
            "CertificateNotFound",
            &format!("A certificate with (name/id) {name} was not found in this key vault."),
        );
    };
    let found = if version.is_empty() {
        versions.iter().max_by_key(|v| v.created)
    } else {
        versions.iter().find(|v| v.version == version)
    };
    let Some(v) = found else {
        return kv_error(
            StatusCode::NOT_FOUND,
            "CertificateNotFound",
            &format!(
                "A certificate with (name/id) {name}/{version} was not found in this key vault."
            ),
        );
    };
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let thumb = sha1_like(&v.der);
    json_ok(json!({
        "id": format!("{base}/certificates/{name}/{}", v.version),
        "kid": format!("{base}/keys/{name}/{}", v.version),
        "sid": format!("{base}/secrets/{name}/{}", v.version),
        "x5t": URL_SAFE_NO_PAD.encode(thumb),
        // Standard (not URL-safe) base64: the SDK decodes `cer` that way.
        "cer": STANDARD.encode(&v.der),
        "attributes": {
            "enabled": true,
            "created": v.created,
            "updated": v.created,
            "recoveryLevel": "Recoverable+Purgeable"
        },
        "policy": {
            "id": format!("{base}/certificates/{name}/policy"),
            "secret_props": {"contentType": "application/x-pem-file"}
        }
    }))
}

/// A stable 20-byte fingerprint of the DER. The real x5t is a SHA-1 thumbprint; clients
/// treat it as opaque, so a simple mixing hash keeps this server free of a hash crate.
fn sha1_like(der: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 20];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, b) in der.iter().enumerate() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        out[i % 20] ^= (h >> 24) as u8;
    }
    out
}
