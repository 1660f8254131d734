//! Certificates through the real binary: the local CA issues a bundle that a real rustls
//! handshake accepts; the agent renews it at 2/3 of a seconds-long lifetime; its own HTTPS
//! listener serves each new certificate without failing a handshake; a provider-held bundle
//! that fails validation (key of another certificate, expired, wrong SANs, garbage) leaves
//! the previous files in place and is counted by class.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn bin() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("elastics-sec"));
    c.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("ELASTICS_SEC_LOG", "info");
    c
}

struct Ca {
    cert_pem: String,
    key_pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn make_ca(cn: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert,
        key,
    }
}

/// A leaf signed by `ca`, valid from `from` to `to` (offsets from now in seconds), as PEM
/// cert (+ CA) and PEM key.
fn leaf(ca: &Ca, sans: &[&str], from: i64, to: i64) -> (String, String) {
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, sans[0]);
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now + time::Duration::seconds(from);
    p.not_after = now + time::Duration::seconds(to);
    let key = KeyPair::generate().unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_der(ca.cert.der(), &ca.key).unwrap();
    let cert = p.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

struct Setup {
    dir: tempfile::TempDir,
    _shm: tempfile::TempDir,
    cfg: PathBuf,
    out: PathBuf,
}

fn setup(body: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let shm = tempfile::Builder::new()
        .prefix("es-certs")
        .tempdir_in("/dev/shm")
        .unwrap();
    let out = shm.path().join("s");
    let cfg = dir.path().join("c.toml");
    std::fs::create_dir(dir.path().join("values")).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[output]\ndir = \"{}\"\n\n[providers.dev]\ntype = \"local\"\npath = \"values\"\n\n{body}",
            out.display()
        ),
    )
    .unwrap();
    Setup {
        dir,
        _shm: shm,
        cfg,
        out,
    }
}

fn spawn(s: &Setup, log: &Path) -> Child {
    bin()
        .arg("agent")
        .arg("--config")
        .arg(&s.cfg)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn stop(mut c: Child) -> i32 {
    let pid = rustix::process::Pid::from_raw(c.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    c.wait().unwrap().code().unwrap_or(-1)
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn serial_of_pem(pem: &[u8]) -> String {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem).unwrap();
    let c = p.parse_x509().unwrap();
    c.raw_serial_as_string()
}

fn roots(ca_pem: &str) -> rustls::RootCertStore {
    let mut r = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        r.add(c.unwrap()).unwrap();
    }
    r
}

use rustls_pki_types::pem::PemObject;

/// One full TLS handshake to 127.0.0.1:port as `name`; the served leaf's serial.
fn handshake(port: u16, name: &str, ca_pem: &str) -> Result<String, String> {
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots(ca_pem))
        .with_no_client_auth();
    let server = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(cfg), server).map_err(|e| e.to_string())?;
    let mut sock = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    let _ = tls.read_to_string(&mut body);
    if !body.starts_with("HTTP/1.1 200") {
        return Err(format!("unexpected response: {body:.40}"));
    }
    let leaf = conn.peer_certificates().unwrap()[0].clone();
    let (_, c) = x509_parser::parse_x509_certificate(&leaf).unwrap();
    Ok(c.raw_serial_as_string())
}

fn local_ca_body(s_dir: &Path, ca: &Ca, lifetime: &str, extra: &str) -> String {
    std::fs::write(s_dir.join("ca.pem"), &ca.cert_pem).unwrap();
    std::fs::write(s_dir.join("values/ca-key"), &ca.key_pem).unwrap();
    format!(
        "[[secret]]\nname = \"ca-key\"\nprovider = \"dev\"\nfile = false\n\n\
         [[certificate]]\nname = \"api\"\nsans = [\"api.internal\", \"127.0.0.1\"]\n\
         margin = \"1s\"\ncheck = \"1s\"\n{extra}\n\
         [certificate.local_ca]\ncert_file = \"ca.pem\"\nkey_secret = \"ca-key\"\nlifetime = \"{lifetime}\"\n"
    )
}

#[test]
fn fetch_issues_a_bundle_from_the_local_ca_that_a_handshake_accepts() {
    let ca = make_ca("test CA");
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("values")).unwrap();
    let body = local_ca_body(
        d.path(),
        &ca,
        "1h",
        "pem_file = \"tls.pem\"\np12_file = \"tls.p12\"\np12_password_secret = \"p12pw\"\n",
    );
    let s = setup(&format!(
        "[[secret]]\nname = \"p12pw\"\nprovider = \"dev\"\nfile = false\n\n{body}"
    ));
    std::fs::write(s.dir.path().join("values/p12pw"), "p12-CANARY-secret").unwrap();
    std::fs::copy(d.path().join("ca.pem"), s.dir.path().join("ca.pem")).unwrap();
    std::fs::copy(
        d.path().join("values/ca-key"),
        s.dir.path().join("values/ca-key"),
    )
    .unwrap();
    let o = bin()
        .arg("fetch")
        .arg("--config")
        .arg(&s.cfg)
        .arg("--format")
        .arg("json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(!stdout.contains("PRIVATE KEY") && !stderr.contains("PRIVATE KEY"));
    for (f, mode) in [
        ("tls.crt", 0o444),
        ("tls.key", 0o400),
        ("ca.crt", 0o444),
        ("tls.pem", 0o400),
        ("tls.p12", 0o400),
    ] {
        let m = std::fs::metadata(s.out.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, mode, "{f}");
        assert!(stdout.contains(f), "{f} missing from the summary: {stdout}");
    }
    assert!(!stdout.contains("p12-CANARY-secret") && !stderr.contains("p12-CANARY-secret"));
    // tls.p12 opens with the password from the secret and holds the same leaf.
    let p12 = std::fs::read(s.out.join("tls.p12")).unwrap();
    let b = elastics_sec::tls::parse_pkcs12(&p12, Some(b"p12-CANARY-secret")).unwrap();
    assert!(elastics_sec::tls::parse_pkcs12(&p12, Some(b"wrong")).is_err());
    let crt_pem = std::fs::read(s.out.join("tls.crt")).unwrap();
    let leaf_der = elastics_sec::tls::parse_certificates(&crt_pem).unwrap();
    assert!(b.certs.iter().any(|c| c.as_ref() == leaf_der[0].as_ref()));
    // The CA key itself is never written.
    assert!(!s.out.join("ca-key").exists());
    let crt = std::fs::read(s.out.join("tls.crt")).unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(&crt).unwrap();
    let c = p.parse_x509().unwrap();
    let sans: Vec<String> = c
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert!(sans.iter().any(|n| n.contains("api.internal")), "{sans:?}");
    assert!(sans.iter().any(|n| n.contains("7f:00:00:01")), "{sans:?}");
    assert!(c.issuer().to_string().contains("test CA"));
    let life = c.validity().not_after.timestamp() - c.validity().not_before.timestamp();
    assert!((3500..=3700).contains(&life), "lifetime {life}s");
    // cert and key match: a rustls server config accepts the pair.
    let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(&crt)
        .map(|c| c.unwrap())
        .collect();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(
        &std::fs::read(s.out.join("tls.key")).unwrap(),
    )
    .unwrap();
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
}

#[test]
fn agent_renews_at_two_thirds_and_its_https_listener_follows_without_failed_handshakes() {
    let ca = make_ca("rotation CA");
    let port = free_port();
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("values")).unwrap();
    let body = local_ca_body(d.path(), &ca, "9s", "renew_jitter = 0.0\n");
    let s = setup(&format!(
        "[agent]\nlisten = \"127.0.0.1:{port}\"\ntls_certificate = \"api\"\n\n{body}"
    ));
    std::fs::copy(d.path().join("ca.pem"), s.dir.path().join("ca.pem")).unwrap();
    std::fs::copy(
        d.path().join("values/ca-key"),
        s.dir.path().join("values/ca-key"),
    )
    .unwrap();
    let log = s.dir.path().join("agent.log");
    let agent = spawn(&s, &log);
    let crt = s.out.join("tls.crt");
    let t = Instant::now();
    while !crt.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no first bundle: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let first = serial_of_pem(&std::fs::read(&crt).unwrap());
    let t0 = Instant::now();
    wait_for("listener", Duration::from_secs(10), || {
        handshake(port, "api.internal", &ca.cert_pem).is_ok()
    });
    // Handshakes in a loop across two renewals (every ~6 s): none fails, and each new
    // certificate is served within 1 s of appearing on disk.
    let mut seen_on_disk: Vec<(String, Instant)> = vec![(first.clone(), t0)];
    let mut served: Vec<(String, Instant)> = Vec::new();
    let mut handshakes = 0;
    while t0.elapsed() < Duration::from_secs(14) {
        let disk = serial_of_pem(&std::fs::read(&crt).unwrap());
        if seen_on_disk.last().unwrap().0 != disk {
            seen_on_disk.push((disk, Instant::now()));
        }
        let got = handshake(port, "api.internal", &ca.cert_pem)
            .unwrap_or_else(|e| panic!("handshake failed during rotation: {e}"));
        handshakes += 1;
        if served.last().is_none_or(|(s, _)| s != &got) {
            served.push((got, Instant::now()));
        }
    }
    let logs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(stop(agent), 0, "{logs}");
    assert!(handshakes > 50, "only {handshakes} handshakes");
    assert!(
        seen_on_disk.len() >= 2,
        "no renewal in 14 s of a 9 s lifetime: {logs}"
    );
    // Renewal at 2/3 of 9 s = 6 s after issuance (no jitter), checked every <= 1 s.
    let gap = seen_on_disk[1].1.duration_since(seen_on_disk[0].1);
    assert!(gap <= Duration::from_secs(8), "renewed after {gap:?}");
    for (serial, at) in seen_on_disk.iter().skip(1) {
        let (_, when) = served
            .iter()
            .find(|(s, _)| s == serial)
            .unwrap_or_else(|| panic!("certificate {serial} never served"));
        assert!(
            when.saturating_duration_since(*at) <= Duration::from_secs(1),
            "served {:?} after it reached the disk",
            when.saturating_duration_since(*at)
        );
    }
    assert!(!logs.contains("PRIVATE KEY"));
}

/// Write a PEM bundle (cert chain + key) as the local provider's value `api-cert`.
fn put_bundle(s: &Setup, cert: &str, key: &str) {
    let tmp = s.dir.path().join("values/.api-cert.tmp");
    std::fs::write(&tmp, format!("{cert}{key}")).unwrap();
    std::fs::rename(&tmp, s.dir.path().join("values/api-cert")).unwrap();
}

fn metrics(port: u16) -> String {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut b = String::new();
    sock.read_to_string(&mut b).unwrap();
    b
}

#[test]
fn a_bundle_that_fails_validation_leaves_the_previous_one_in_place() {
    let ca = make_ca("provider CA");
    let other = make_ca("another CA");
    let port = free_port();
    let s = setup(&format!(
        "[agent]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [[certificate]]\nname = \"api\"\nprovider = \"dev\"\nid = \"api-cert\"\n\
         sans = [\"api.internal\"]\ntrust_roots_file = \"roots.pem\"\nmargin = \"1m\"\ncheck = \"1s\"\n"
    ));
    std::fs::write(s.dir.path().join("roots.pem"), &ca.cert_pem).unwrap();
    let (good_cert, good_key) = leaf(&ca, &["api.internal"], -60, 3600);
    put_bundle(&s, &good_cert, &good_key);
    let log = s.dir.path().join("agent.log");
    let agent = spawn(&s, &log);
    let crt = s.out.join("tls.crt");
    wait_for("first bundle", Duration::from_secs(30), || crt.exists());
    let good = std::fs::read(&crt).unwrap();
    let good_key_file = std::fs::read(s.out.join("tls.key")).unwrap();

    let (c2, _) = leaf(&ca, &["api.internal"], -60, 3600);
    let (_, k3) = leaf(&ca, &["api.internal"], -60, 3600);
    let (expired_c, expired_k) = leaf(&ca, &["api.internal"], -7200, -3600);
    let (soon_c, soon_k) = leaf(&ca, &["api.internal"], -60, 30);
    let (wrong_c, wrong_k) = leaf(&ca, &["other.internal"], -60, 3600);
    let (untrusted_c, untrusted_k) = leaf(&other, &["api.internal"], -60, 3600);
    let (future_c, future_k) = leaf(&ca, &["api.internal"], 600, 7200);
    // An unrelated certificate in the bundle: not on the leaf's path.
    let (stray_c, _) = leaf(&other, &["stray.internal"], -60, 3600);
    let (chain_c, chain_k) = leaf(&ca, &["api.internal"], -60, 3600);
    let cases: Vec<(&str, String, String)> = vec![
        ("key_mismatch", c2, k3),
        ("expired", expired_c, expired_k),
        ("expires_soon", soon_c, soon_k),
        ("san_mismatch", wrong_c, wrong_k),
        ("untrusted", untrusted_c, untrusted_k),
        ("not_yet_valid", future_c, future_k),
        ("chain", format!("{chain_c}{stray_c}"), chain_k),
        // RSA-1024, made by Python cryptography.
        (
            "weak_key",
            std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/tls/rsa1024.pem"
            ))
            .unwrap(),
            String::new(),
        ),
        ("no_key", good_cert.clone(), String::new()),
        (
            "parse",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
            good_key.clone(),
        ),
    ];
    for (failures_before, (class, cert, key)) in cases.iter().enumerate() {
        put_bundle(&s, cert, key);
        wait_for(
            &format!("a refusal of class {class}"),
            Duration::from_secs(15),
            || {
                let m = metrics(port);
                let n = m
                    .lines()
                    .filter(|l| l.starts_with("elastics_sec_certificate_failures_total"))
                    .count();
                n > failures_before
            },
        );
        assert_eq!(
            std::fs::read(&crt).unwrap(),
            good,
            "{class}: tls.crt replaced"
        );
        assert_eq!(
            std::fs::read(s.out.join("tls.key")).unwrap(),
            good_key_file,
            "{class}: tls.key replaced"
        );
    }
    let m = metrics(port);
    let logs = std::fs::read_to_string(&log).unwrap();
    // Every class was counted under its own label.
    let classes: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("elastics_sec_certificate_failures_total{"))
        .collect();
    assert_eq!(classes.len(), cases.len(), "{classes:?}\n{logs}");
    // And a good bundle is taken again.
    let (new_c, new_k) = leaf(&ca, &["api.internal"], -60, 7200);
    put_bundle(&s, &new_c, &new_k);
    wait_for("the next good bundle", Duration::from_secs(15), || {
        std::fs::read(&crt).unwrap() != good
    });
    assert_eq!(stop(agent), 0);
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(!logs.contains("PRIVATE KEY"), "key material in the log");
    assert!(!m.contains("PRIVATE KEY"));
}

#[test]
fn a_provider_certificate_inside_its_renewal_window_is_reported_overdue() {
    let ca = make_ca("overdue CA");
    let port = free_port();
    let s = setup(&format!(
        "[agent]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [[certificate]]\nname = \"api\"\nprovider = \"dev\"\nid = \"api-cert\"\n\
         sans = [\"api.internal\"]\ntrust_roots_file = \"roots.pem\"\nmargin = \"10s\"\ncheck = \"1s\"\n"
    ));
    std::fs::write(s.dir.path().join("roots.pem"), &ca.cert_pem).unwrap();
    // 300 s lifetime, 2/3 renewal point 200 s after not_before: already passed.
    let (c, k) = leaf(&ca, &["api.internal"], -250, 50);
    put_bundle(&s, &c, &k);
    let log = s.dir.path().join("agent.log");
    let agent = spawn(&s, &log);
    wait_for("renewal overdue metric", Duration::from_secs(20), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
            && metrics(port)
                .contains("elastics_sec_certificate_renewal_overdue{certificate=\"api\"} 1")
    });
    // A renewed certificate at the source clears it.
    let (c2, k2) = leaf(&ca, &["api.internal"], -10, 3600);
    put_bundle(&s, &c2, &k2);
    wait_for("overdue cleared", Duration::from_secs(20), || {
        metrics(port).contains("elastics_sec_certificate_renewal_overdue{certificate=\"api\"} 0")
    });
    wait_for("the rotation counted", Duration::from_secs(10), || {
        metrics(port).contains("elastics_sec_certificate_rotations_total{certificate=\"api\"} 1")
    });
    let m = metrics(port);
    assert!(m.contains("elastics_sec_certificate_not_after_timestamp_seconds{certificate=\"api\"}"));
    assert_eq!(stop(agent), 0);
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("inside its renewal window"), "{logs}");
}
