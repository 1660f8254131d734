//! Hot reload of a rustls server certificate, tested with real TLS handshakes over loopback
//! TCP while certificates rotate on a tmpfs directory (`/dev/shm`): through the sink's
//! generations, by rename over the files, in place, and by swapping a directory symlink.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use elastics_sec::sink::{OutputFile, Sink, SinkOptions};
use elastics_sec::tls::reload::{
    server_config, ReloadError, ReloadOutcome, ReloadableResolver, WatchOptions,
};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A test CA that issues leaf certificates for `localhost` with chosen serials.
struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    der: CertificateDer<'static>,
}

fn ca() -> Ca {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "reload test CA");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().clone(),
        issuer: rcgen::Issuer::new(params, key),
    }
}

/// A leaf certificate and its key (PEM); the serial is `01` followed by `n` as two bytes, so
/// its hex form is `01%04x`.
struct Leaf {
    cert: String,
    key: String,
    serial: String,
}

fn leaf(ca: &Ca, n: u16) -> Leaf {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let [hi, lo] = n.to_be_bytes();
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&[1, hi, lo]));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("leaf {n}"));
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        cert: cert.pem(),
        key: key.serialize_pem(),
        serial: format!("01{n:04x}"),
    }
}

fn shm() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tls-reload-test")
        .tempdir_in("/dev/shm")
        .unwrap()
}

fn write_generation(sink: &mut Sink, cert: &[u8], key: &[u8]) {
    sink.write_generation(&[
        OutputFile {
            name: "tls.crt",
            contents: cert,
            mode: 0o444,
            uid: None,
            gid: None,
        },
        OutputFile {
            name: "tls.key",
            contents: key,
            mode: 0o400,
            uid: None,
            gid: None,
        },
    ])
    .unwrap();
}

/// Replace `path` by writing a temporary file and renaming it over (what most tools do).
fn rename_over(path: &Path, contents: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// An HTTPS-less TLS server: completes the handshake, writes `ok`, closes.
async fn serve(resolver: &ReloadableResolver) -> SocketAddr {
    let acceptor = TlsAcceptor::from(Arc::new(server_config(resolver).unwrap()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"ok").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    addr
}

fn connector(ca: &Ca) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut config = config;
    // Every handshake must be a full one: a resumed session presents no certificate, and the
    // client would report the one of the original session.
    config.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

/// One full handshake (verified against the CA) and the server's `ok`; the serial (hex) of
/// the certificate the server presented.
async fn handshake(addr: SocketAddr, connector: &TlsConnector) -> Result<String, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no peer certificate")?
        .clone();
    let mut buf = Vec::new();
    tls.read_to_end(&mut buf)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if buf != b"ok" {
        return Err(format!("unexpected reply {buf:?}"));
    }
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf.as_ref()).unwrap();
    Ok(cert
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Client loops doing handshakes back to back until stopped.
struct Clients {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    /// Serial → when a client first saw it.
    first_seen: Arc<Mutex<HashMap<String, Instant>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Clients {
    fn start(addr: SocketAddr, ca: &Ca, n: usize) -> Clients {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let first_seen = Arc::new(Mutex::new(HashMap::new()));
        let tasks = (0..n)
            .map(|_| {
                let (stop, ok, failures, first_seen) = (
                    stop.clone(),
                    ok.clone(),
                    failures.clone(),
                    first_seen.clone(),
                );
                let connector = connector(ca);
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        match handshake(addr, &connector).await {
                            Ok(serial) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                first_seen
                                    .lock()
                                    .unwrap()
                                    .entry(serial)
                                    .or_insert_with(Instant::now);
                            }
                            Err(e) => failures.lock().unwrap().push(e),
                        }
                    }
                })
            })
            .collect();
        Clients {
            stop,
            ok,
            failures,
            first_seen,
            tasks,
        }
    }

    /// When a client first saw `serial`, waiting up to `limit`.
    async fn wait_for(&self, serial: &str, limit: Duration) -> Option<Instant> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(t) = self.first_seen.lock().unwrap().get(serial) {
                return Some(*t);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn stop(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), failures)
    }
}

/// Wait until a fresh handshake returns `serial`.
async fn wait_served(
    addr: SocketAddr,
    connector: &TlsConnector,
    serial: &str,
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if handshake(addr, connector).await.as_deref() == Ok(serial) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

fn events_only() -> WatchOptions {
    // No polling: every reload in these tests must come from a directory event.
    WatchOptions {
        poll_interval: None,
        ..WatchOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_sink_rotations_under_handshake_load() {
    let ca = ca();
    let leaves: Vec<Leaf> = (0..=100).map(|n| leaf(&ca, n)).collect();
    let tmp = shm();
    let dir = tmp.path().join("tls");
    let mut sink = Sink::open(&dir, &SinkOptions::default()).unwrap();
    write_generation(
        &mut sink,
        leaves[0].cert.as_bytes(),
        leaves[0].key.as_bytes(),
    );

    let resolver =
        ReloadableResolver::from_files(dir.join("tls.crt"), dir.join("tls.key")).unwrap();
    let mut generations = resolver.subscribe();
    let watcher = resolver.watch(events_only()).unwrap();
    let addr = serve(&resolver).await;
    let clients = Clients::start(addr, &ca, 2);
    assert!(clients
        .wait_for(&leaves[0].serial, Duration::from_secs(2))
        .await
        .is_some());

    let mut latencies = Vec::new();
    for l in &leaves[1..] {
        let swapped = Instant::now();
        write_generation(&mut sink, l.cert.as_bytes(), l.key.as_bytes());
        let seen = clients
            .wait_for(&l.serial, Duration::from_secs(1))
            .await
            .unwrap_or_else(|| panic!("serial {} not served within 1 s", l.serial));
        latencies.push(seen.saturating_duration_since(swapped));
    }
    let (ok, failures) = clients.stop().await;
    assert!(
        failures.is_empty(),
        "{} failed handshakes: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(ok > 200, "only {ok} handshakes");
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    eprintln!(
        "{ok} handshakes, 0 failed; swap-to-served median {median:?}, max {:?}",
        latencies.last().unwrap()
    );
    let status = resolver.status();
    assert_eq!(status.generation, 101, "{status:?}");
    assert_eq!(status.failures, 0);
    assert_eq!(status.cert.serial, leaves[100].serial);
    assert!(generations.has_changed().unwrap());
    assert_eq!(*generations.borrow_and_update(), 101);
    watcher.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_generations_keep_the_old_certificate() {
    let ca = ca();
    let good = leaf(&ca, 1);
    let other = leaf(&ca, 2);
    let next = leaf(&ca, 3);
    let tmp = shm();
    let dir = tmp.path().join("tls");
    let mut sink = Sink::open(&dir, &SinkOptions::default()).unwrap();
    write_generation(&mut sink, good.cert.as_bytes(), good.key.as_bytes());
    let resolver =
        ReloadableResolver::from_files(dir.join("tls.crt"), dir.join("tls.key")).unwrap();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let reports_cb = reports.clone();
    let _watcher = resolver
        .watch(WatchOptions {
            on_reload: Some(Arc::new(move |r: &Result<u64, ReloadError>| {
                reports_cb
                    .lock()
                    .unwrap()
                    .push(r.as_ref().map(|g| *g).map_err(|e| e.to_string()));
            })),
            ..events_only()
        })
        .unwrap();
    let addr = serve(&resolver).await;
    let conn = connector(&ca);
    assert_eq!(handshake(addr, &conn).await.unwrap(), good.serial);

    let bad: [(&str, &[u8], &[u8], &str); 4] = [
        (
            "mismatched key",
            other.cert.as_bytes(),
            good.key.as_bytes(),
            "does not match",
        ),
        (
            "garbage cert",
            b"garbage",
            good.key.as_bytes(),
            "no PEM CERTIFICATE",
        ),
        (
            "garbage key",
            good.cert.as_bytes(),
            b"not a key",
            "no PEM private key",
        ),
        ("empty files", b"", b"", "no PEM CERTIFICATE"),
    ];
    for (i, (what, cert, key, expect)) in bad.into_iter().enumerate() {
        write_generation(&mut sink, cert, key);
        let deadline = Instant::now() + Duration::from_secs(2);
        while resolver.status().failures < i as u64 + 1 {
            assert!(Instant::now() < deadline, "{what}: not rejected");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let status = resolver.status();
        let err = status.last_error.clone().unwrap();
        assert!(err.contains(expect), "{what}: {err}");
        assert!(!err.contains("PRIVATE KEY-----"), "{what}: {err}");
        assert_eq!(status.generation, 1, "{what}");
        assert_eq!(handshake(addr, &conn).await.unwrap(), good.serial, "{what}");
    }
    // A good generation after the bad ones is served.
    write_generation(&mut sink, next.cert.as_bytes(), next.key.as_bytes());
    assert!(wait_served(addr, &conn, &next.serial, Duration::from_secs(1)).await);
    let status = resolver.status();
    assert_eq!((status.generation, status.failures), (2, 4));
    assert!(status.last_error.is_none());
    let reports = reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 5, "{reports:?}");
    assert!(reports[..4].iter().all(|r| r.is_err()), "{reports:?}");
    assert_eq!(reports[4], Ok(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_files_rename_over_and_in_place() {
    let ca = ca();
    let leaves: Vec<Leaf> = (1..=6).map(|n| leaf(&ca, n)).collect();
    let tmp = shm();
    let cert = tmp.path().join("server.crt");
    let key = tmp.path().join("server.key");
    std::fs::write(&cert, &leaves[0].cert).unwrap();
    std::fs::write(&key, &leaves[0].key).unwrap();
    let resolver = ReloadableResolver::from_files(&cert, &key).unwrap();
    let _watcher = resolver.watch(events_only()).unwrap();
    let addr = serve(&resolver).await;
    let conn = connector(&ca);
    let clients = Clients::start(addr, &ca, 1);

    for (i, l) in leaves[1..].iter().enumerate() {
        if i % 2 == 0 {
            // Key first, then certificate: in between, the pair mismatches and is rejected.
            rename_over(&key, l.key.as_bytes());
            rename_over(&cert, l.cert.as_bytes());
        } else {
            // An editor saving in place (truncate and write).
            std::fs::write(&cert, &l.cert).unwrap();
            std::fs::write(&key, &l.key).unwrap();
        }
        assert!(
            wait_served(addr, &conn, &l.serial, Duration::from_secs(1)).await,
            "rotation {i}: {} not served; {:?}",
            l.serial,
            resolver.status()
        );
    }
    let (_, failures) = clients.stop().await;
    assert!(failures.is_empty(), "{failures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combined_file_and_replaced_directory() {
    let ca = ca();
    let leaves: Vec<Leaf> = (1..=4).map(|n| leaf(&ca, n)).collect();
    let tmp = shm();
    // `current` is a symlink to a directory; the watch follows it, so swapping the symlink
    // leaves the watch on the old directory until the watcher notices and re-adds it.
    let dir_for = |n: usize| -> PathBuf {
        let d = tmp.path().join(format!("d{n}"));
        std::fs::create_dir(&d).unwrap();
        let pem = format!("{}{}", leaves[n].cert, leaves[n].key);
        std::fs::write(d.join("tls.pem"), pem).unwrap();
        d
    };
    let current = tmp.path().join("current");
    std::os::unix::fs::symlink(dir_for(0), &current).unwrap();
    let pem = current.join("tls.pem");
    let resolver = ReloadableResolver::from_files(&pem, &pem).unwrap();
    let _watcher = resolver
        .watch(WatchOptions {
            poll_interval: Some(Duration::from_millis(100)),
            ..WatchOptions::default()
        })
        .unwrap();
    let addr = serve(&resolver).await;
    let conn = connector(&ca);
    assert_eq!(handshake(addr, &conn).await.unwrap(), leaves[0].serial);

    for n in [1, 2] {
        let next = dir_for(n);
        let tmp_link = tmp.path().join("current.tmp");
        std::os::unix::fs::symlink(&next, &tmp_link).unwrap();
        std::fs::rename(&tmp_link, &current).unwrap();
        assert!(
            wait_served(addr, &conn, &leaves[n].serial, Duration::from_secs(1)).await,
            "directory swap {n}"
        );
    }
    // The re-added watch sees changes inside the new directory.
    rename_over(
        &current.join("tls.pem"),
        format!("{}{}", leaves[3].cert, leaves[3].key).as_bytes(),
    );
    assert!(wait_served(addr, &conn, &leaves[3].serial, Duration::from_secs(1)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_watcher_and_manual_reload() {
    let ca = ca();
    let leaves: Vec<Leaf> = (1..=3).map(|n| leaf(&ca, n)).collect();
    let tmp = shm();
    let dir = tmp.path().join("tls");
    let mut sink = Sink::open(&dir, &SinkOptions::default()).unwrap();
    write_generation(
        &mut sink,
        leaves[0].cert.as_bytes(),
        leaves[0].key.as_bytes(),
    );
    let resolver =
        ReloadableResolver::from_files(dir.join("tls.crt"), dir.join("tls.key")).unwrap();
    let watcher = resolver.watch(WatchOptions::default()).unwrap();
    drop(watcher);
    write_generation(
        &mut sink,
        leaves[1].cert.as_bytes(),
        leaves[1].key.as_bytes(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        resolver.status().generation,
        1,
        "a dropped watcher still reloads"
    );
    assert_eq!(
        resolver.reload().unwrap(),
        ReloadOutcome::Reloaded { generation: 2 }
    );
    assert_eq!(resolver.reload().unwrap(), ReloadOutcome::Unchanged);
    assert_eq!(resolver.status().cert.serial, leaves[1].serial);

    // A generation for other files in the same directory does not count as a reload.
    sink.write_generation(&[
        OutputFile {
            name: "tls.crt",
            contents: leaves[1].cert.as_bytes(),
            mode: 0o444,
            uid: None,
            gid: None,
        },
        OutputFile {
            name: "tls.key",
            contents: leaves[1].key.as_bytes(),
            mode: 0o400,
            uid: None,
            gid: None,
        },
        OutputFile {
            name: "db-password",
            contents: b"x",
            mode: 0o400,
            uid: None,
            gid: None,
        },
    ])
    .unwrap();
    let _watcher = resolver.watch(WatchOptions::default()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(resolver.status().generation, 2);

    // Missing files: the error names the path, the old certificate stays.
    sink.wipe().unwrap();
    let err = resolver.reload().unwrap_err();
    assert!(matches!(err, ReloadError::Read { .. }), "{err}");
    assert!(err.to_string().contains("tls.crt"), "{err}");
    assert_eq!(resolver.status().cert.serial, leaves[1].serial);
    write_generation(
        &mut sink,
        leaves[2].cert.as_bytes(),
        leaves[2].key.as_bytes(),
    );
    let deadline = Instant::now() + Duration::from_secs(1);
    while resolver.status().cert.serial != leaves[2].serial {
        assert!(Instant::now() < deadline, "{:?}", resolver.status());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_over_tls_listener_follows_rotation() {
    use elastics_sec::tls::reload::TlsListener;
    let ca = ca();
    let (one, two) = (leaf(&ca, 1), leaf(&ca, 2));
    let resolver = ReloadableResolver::from_pem(one.cert.as_bytes(), one.key.as_bytes()).unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener::new(tcp, Arc::new(server_config(&resolver).unwrap())).unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    // A client that connects and never sends a byte must not block others.
    let _idle = TcpStream::connect(addr).await.unwrap();
    let get = |conn: TlsConnector| async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = conn
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut resp = Vec::new();
        tls.read_to_end(&mut resp).await.unwrap();
        (String::from_utf8_lossy(&resp).into_owned(), leaf)
    };
    let (resp, first) = get(connector(&ca)).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("hello"), "{resp}");
    resolver
        .update_pem(two.cert.as_bytes(), two.key.as_bytes())
        .unwrap();
    let (resp, second) = get(connector(&ca)).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_ne!(first, second);
    assert_eq!(second, resolver.current().cert[0]);
}
