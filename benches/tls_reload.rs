//! TLS hot-reload benchmark (`cargo bench --bench tls_reload`; numbers in BENCHMARKS.md).
//!
//! A loopback TLS server serves through [`ReloadableResolver`] watching a sink directory on
//! tmpfs (`/dev/shm`), exactly as the agent's HTTPS listener does. Then:
//!
//! 1. Latency: ROTATIONS new generations are written with the sink while CLIENTS tasks do
//!    full handshakes in a loop; after each swap a probe does handshakes until it is served
//!    the new certificate. Reports the swap-to-served time (median, p95, max) and the number
//!    of failed handshakes of the load clients (target 0).
//! 2. CPU per rotation: the same rotations with no clients, waiting for the resolver's
//!    generation counter instead of probing; process CPU time (user + system) over the phase
//!    divided by the rotations. It covers the sink write, the file events, and the reload
//!    (read, parse, key check, swap).
//!
//! `cargo test --all-targets` runs this binary with no arguments; it then does a tiny run
//! (5 rotations) so the bench stays working without slowing the suite.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use elastics_sec::sink::{OutputFile, Sink, SinkOptions};
use elastics_sec::tls::reload::{server_config, ReloadableResolver, WatchOptions};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    der: CertificateDer<'static>,
}

fn ca() -> Result<Ca, Error> {
    let key = rcgen::KeyPair::generate()?;
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "bench CA");
    p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let cert = p.self_signed(&key)?;
    Ok(Ca {
        der: cert.der().clone(),
        issuer: rcgen::Issuer::new(p, key),
    })
}

/// (cert PEM, key PEM) with serial `n`.
fn leaf(ca: &Ca, n: u32) -> Result<(String, String), Error> {
    let key = rcgen::KeyPair::generate()?;
    let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()])?;
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&n.to_be_bytes()));
    let c = p.signed_by(&key, &ca.issuer)?;
    Ok((c.pem(), key.serialize_pem()))
}

fn write(sink: &mut Sink, cert: &str, key: &str) -> Result<(), Error> {
    sink.write_generation(&[
        OutputFile {
            name: "tls.crt",
            contents: cert.as_bytes(),
            mode: 0o444,
            uid: None,
            gid: None,
        },
        OutputFile {
            name: "tls.key",
            contents: key.as_bytes(),
            mode: 0o400,
            uid: None,
            gid: None,
        },
    ])?;
    Ok(())
}

/// One full handshake; the served leaf's serial as a number.
async fn handshake(connector: &TlsConnector, addr: std::net::SocketAddr) -> Result<u32, Error> {
    let tcp = TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (_, conn) = tls.get_ref();
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no certificate")?;
    let (_, x) = x509_parser::parse_x509_certificate(leaf)?;
    let raw = x.raw_serial();
    let mut n = 0u32;
    for b in raw.iter().rev().take(4).rev() {
        n = (n << 8) | u32::from(*b);
    }
    Ok(n)
}

/// Process CPU time (all threads, user + system) from `/proc/self/stat`, in seconds; the
/// kernel reports it in USER_HZ ticks, which is 100 on Linux.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 of the whole line are 12 and 13 after the command name.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(rotations: u32, clients: usize) -> Result<(), Error> {
    let ca = ca()?;
    let dir = tempfile::Builder::new()
        .prefix("es-bench-tls")
        .tempdir_in("/dev/shm")?;
    let out = dir.path().join("tls");
    let mut sink = Sink::open(&out, &SinkOptions::default())?;
    let (c, k) = leaf(&ca, 1)?;
    write(&mut sink, &c, &k)?;
    let resolver = ReloadableResolver::from_files(out.join("tls.crt"), out.join("tls.key"))?;
    let _watcher = resolver.watch(WatchOptions::default())?;
    let acceptor = TlsAcceptor::from(Arc::new(server_config(&resolver)?));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der.clone())?;
    let connector = TlsConnector::from(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ));

    // Phase 1: latency under load.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..clients {
        let (stop, ok, failed, connector) =
            (stop.clone(), ok.clone(), failed.clone(), connector.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match handshake(&connector, addr).await {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let mut lat = Vec::new();
    for n in 2..2 + rotations {
        let (c, k) = leaf(&ca, n)?;
        write(&mut sink, &c, &k)?;
        let t0 = Instant::now();
        loop {
            if handshake(&connector, addr).await? == n {
                break;
            }
            if t0.elapsed() > Duration::from_secs(5) {
                return Err(format!("certificate {n} not served after 5 s").into());
            }
        }
        lat.push(t0.elapsed());
        tokio::time::sleep(Duration::from_millis(fastrand::u64(10..40))).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        let _ = t.await;
    }
    lat.sort();

    // Phase 2: CPU per rotation, no clients.
    let mut gen = resolver.subscribe();
    let cpu0 = cpu_seconds();
    let wall0 = Instant::now();
    for n in 10_000..10_000 + rotations {
        let (c, k) = leaf(&ca, n)?;
        let before = *gen.borrow_and_update();
        write(&mut sink, &c, &k)?;
        while *gen.borrow_and_update() == before {
            tokio::time::timeout(Duration::from_secs(5), gen.changed()).await??;
        }
    }
    // Leaf generation (key pair + signature) is the benchmark's, not the agent's, cost:
    // measure it alone and subtract it.
    let cpu_gen0 = cpu_seconds();
    for n in 0..rotations {
        let _ = leaf(&ca, 20_000 + n)?;
    }
    let gen_cpu = cpu_seconds() - cpu_gen0;
    let cpu = (cpu_gen0 - cpu0 - gen_cpu).max(0.0);
    let wall = wall0.elapsed();

    let median = pct(&lat, 0.5);
    println!("rotations: {rotations}, load clients: {clients}, debounce: default");
    println!(
        "swap -> served: median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        median.as_secs_f64() * 1e3,
        pct(&lat, 0.95).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3
    );
    println!(
        "load handshakes: {} ok, {} failed",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    println!(
        "CPU per rotation (sink write + events + reload): {:.3} ms ({} rotations in {:.2} s)",
        cpu / f64::from(rotations) * 1e3,
        rotations,
        wall.as_secs_f64()
    );
    if failed.load(Ordering::Relaxed) > 0 {
        return Err("failed handshakes during rotation".into());
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    // `cargo bench` passes `--bench`; `cargo test` runs the binary without it.
    let full = std::env::args().any(|a| a == "--bench");
    let (rotations, clients) = if full { (200, 4) } else { (5, 1) };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tls_reload: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(rotations, clients)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls_reload: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
