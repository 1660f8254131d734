//! A tiny HTTPS server whose certificate follows the files in a directory, without a restart
//! and without failing a handshake: `elastics_sec::tls::reload::ReloadableResolver` watching
//! the directory, served by axum through `TlsListener`.
//!
//! ```text
//! tls_reload_server serve DIR [ADDR]   serve DIR/tls.crt + DIR/tls.key on ADDR (127.0.0.1:8443)
//! tls_reload_server demo-init DEMO     write DEMO/elastics-sec.toml (once) and DEMO/secrets.toml
//!                                      with a fresh self-signed certificate for localhost
//! ```
//!
//! With `elastics-sec agent` writing the certificate (local provider, no cloud account):
//!
//! ```sh
//! cargo build --release --example tls_reload_server
//! X=target/release/examples/tls_reload_server
//! $X demo-init /tmp/tls-demo                    # config + secrets with certificate #1
//! elastics-sec agent --config /tmp/tls-demo/elastics-sec.toml &
//! #   writes /dev/shm/elastics-sec-tls-demo/{tls.crt,tls.key} as one generation
//! $X serve /dev/shm/elastics-sec-tls-demo &
//! curl -sk https://localhost:8443/              # serial and generation being served
//! $X demo-init /tmp/tls-demo                    # new certificate in the provider
//! #   within the agent's refresh (5 s) a new generation is swapped in; the server picks it
//! #   up ~60 ms later and logs "TLS certificate reloaded"
//! curl -sk https://localhost:8443/              # new serial, generation 2
//! ```
//!
//! In production the same directory is written by the agent from AWS Secrets Manager or Azure
//! Key Vault; only the agent's `[providers]` and `[[secret]]` tables change. A rejected pair
//! (key of another certificate, a broken file) is logged and the previous certificate keeps
//! serving.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use elastics_sec::tls::reload::{server_config, ReloadableResolver, TlsListener, WatchOptions};

const USAGE: &str = "usage: tls_reload_server serve DIR [ADDR] | demo-init DEMO_DIR";

/// Agent configuration of the demo: two local-provider secrets written as `tls.crt` and
/// `tls.key` into a memory-backed directory.
const DEMO_CONFIG: &str = r#"# elastics-sec agent config for the tls_reload_server example.
environment = "development"

[output]
dir = "/dev/shm/elastics-sec-tls-demo"
mode = "0400"

[agent]
refresh = "5s"
jitter = 0.0
listen = "off"

[providers.dev]
type = "local"
path = "secrets.toml"

[[secret]]
name = "tls-crt"
provider = "dev"
file = "tls.crt"
mode = "0444"

[[secret]]
name = "tls-key"
provider = "dev"
file = "tls.key"
"#;

#[derive(Debug, thiserror::Error)]
enum ExampleError {
    #[error("{USAGE}")]
    Usage,
    #[error(transparent)]
    Reload(#[from] elastics_sec::tls::reload::ReloadError),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", dir] => serve(Path::new(dir), "127.0.0.1:8443"),
        ["serve", dir, addr] => serve(Path::new(dir), addr),
        ["demo-init", demo] => demo_init(Path::new(demo)),
        _ => Err(ExampleError::Usage),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls_reload_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(dir: &Path, addr: &str) -> Result<(), ExampleError> {
    let resolver = ReloadableResolver::from_files(dir.join("tls.crt"), dir.join("tls.key"))?;
    // Kept alive for the life of the server: dropping it stops the reloads.
    let _watcher = resolver.watch(WatchOptions::default())?;
    let mut config = server_config(&resolver)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ExampleError::Io("tokio runtime".into(), e))?;
    runtime.block_on(async move {
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| ExampleError::Io(addr.into(), std::io::ErrorKind::InvalidInput.into()))?;
        let tcp = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ExampleError::Io(format!("bind {addr}"), e))?;
        let listener = TlsListener::new(tcp, config)
            .map_err(|e| ExampleError::Io(format!("listen {addr}"), e))?;
        tracing::info!(%addr, dir = %dir.display(), "serving HTTPS");
        let app = Router::new().route("/", get(index)).with_state(resolver);
        axum::serve(listener, app)
            .await
            .map_err(|e| ExampleError::Io("serve".into(), e))
    })
}

async fn index(State(resolver): State<ReloadableResolver>) -> String {
    let s = resolver.status();
    format!(
        "certificate serial {} ({}), generation {}, not after {} (unix), reload failures {}\n",
        s.cert.serial, s.cert.subject, s.generation, s.cert.not_after, s.failures
    )
}

/// Write the demo agent config (if absent) and a local-provider secrets file holding a new
/// self-signed certificate for `localhost` and its key.
fn demo_init(demo: &Path) -> Result<(), ExampleError> {
    let io = |what: &Path| {
        let what = what.display().to_string();
        move |e| ExampleError::Io(what, e)
    };
    std::fs::create_dir_all(demo).map_err(io(demo))?;
    let config = demo.join("elastics-sec.toml");
    if !config.exists() {
        std::fs::write(&config, DEMO_CONFIG).map_err(io(&config))?;
    }
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])?;
    let serial: u64 = fastrand::u64(1 << 56..1 << 63);
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial.to_be_bytes()));
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("tls_reload_server demo {serial:x}"),
    );
    let cert = params.self_signed(&key)?;
    let secrets = format!(
        "# Demo certificate for the tls_reload_server example (self-signed, localhost).\n\
         tls-crt = '''\n{}'''\ntls-key = '''\n{}'''\n",
        cert.pem(),
        key.serialize_pem()
    );
    let path: PathBuf = demo.join("secrets.toml");
    // Written aside and renamed so the agent never reads half a file.
    let tmp = demo.join(".secrets.toml.tmp");
    std::fs::write(&tmp, secrets).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    println!(
        "wrote {} (certificate serial {serial:016x}); config {}",
        path.display(),
        config.display()
    );
    Ok(())
}
