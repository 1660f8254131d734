//! End-to-end: the real `elastics-sec` binary against a real moto server on loopback
//! (string, JSON, binary and AWSPREVIOUS secrets; exit codes for a missing secret and an
//! unreachable endpoint; `--wait` riding out a server that comes up late), with a canary
//! value that must never reach stdout or stderr.
#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]

#[path = "support/moto.rs"]
mod moto;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::primitives::Blob;
use moto::Moto;

const CANARY: &str = "CANARY-7d2e-aws-e2e";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The binary with the test AWS environment only (no profile files, no metadata service).
fn bin() -> Command {
    moto::bin_with_test_env()
}

struct Setup {
    _cfgdir: tempfile::TempDir,
    _shm: tempfile::TempDir,
    cfg: PathBuf,
    out: PathBuf,
}

fn setup(port: u16, body: &str) -> Setup {
    let cfgdir = tempfile::tempdir().unwrap();
    let shm = tempfile::Builder::new()
        .prefix("es-e2e-aws")
        .tempdir_in("/dev/shm")
        .unwrap();
    let out = shm.path().join("s");
    let cfg = cfgdir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[output]\ndir = \"{}\"\n\n[providers.aws]\ntype = \"aws-secrets-manager\"\n\
             region = \"us-east-1\"\nendpoint_url = \"http://127.0.0.1:{port}\"\n\n{body}",
            out.display()
        ),
    )
    .unwrap();
    Setup {
        _cfgdir: cfgdir,
        _shm: shm,
        cfg,
        out,
    }
}

fn fetch(cfg: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("fetch")
        .arg("--config")
        .arg(cfg)
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_no_canary(o: &Output) {
    let all = text(o);
    assert!(!all.contains(CANARY), "canary leaked: {all}");
}

async fn seed(m: &Moto) {
    let c = m.client();
    c.create_secret()
        .name("app/api")
        .secret_string(format!("{CANARY}-str"))
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("app/db")
        .secret_string(format!("{{\"user\":\"app\",\"password\":\"{CANARY}-db\"}}"))
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("app/bin")
        .secret_binary(Blob::new(vec![0u8, 1, 2, 0xff, b'C']))
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("app/rot")
        .secret_string(format!("{CANARY}-old"))
        .send()
        .await
        .unwrap();
    c.put_secret_value()
        .secret_id("app/rot")
        .secret_string(format!("{CANARY}-new"))
        .send()
        .await
        .unwrap();
}

const SECRETS: &str = "[[secret]]\nname = \"api\"\nprovider = \"aws\"\nid = \"app/api\"\n\n\
    [[secret]]\nname = \"db_password\"\nprovider = \"aws\"\nid = \"app/db\"\njson_key = \"password\"\n\n\
    [[secret]]\nname = \"blob\"\nprovider = \"aws\"\nid = \"app/bin\"\nformat = \"raw\"\n\n\
    [[secret]]\nname = \"previous\"\nprovider = \"aws\"\nid = \"app/rot\"\nstage = \"AWSPREVIOUS\"\n";

#[test]
fn fetch_string_json_binary_and_previous_stage() {
    let m = Moto::start();
    rt().block_on(seed(&m));
    let s = setup(m.port, SECRETS);
    let o = fetch(&s.cfg, &[]);
    assert_no_canary(&o);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let read = |n: &str| std::fs::read(s.out.join(n)).unwrap();
    assert_eq!(read("api"), format!("{CANARY}-str").into_bytes());
    assert_eq!(read("db_password"), format!("{CANARY}-db").into_bytes());
    assert_eq!(read("blob"), vec![0u8, 1, 2, 0xff, b'C']);
    assert_eq!(read("previous"), format!("{CANARY}-old").into_bytes());
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(stdout.contains("wrote 4 file(s)"), "{stdout}");
    for n in ["api", "db_password", "blob", "previous"] {
        assert!(stdout.contains(n), "{stdout}");
    }
    assert!(stdout.to_lowercase().contains("version"), "{stdout}");
}

#[test]
fn missing_secret_exits_5() {
    let m = Moto::start();
    let s = setup(
        m.port,
        "[[secret]]\nname = \"gone\"\nprovider = \"aws\"\nid = \"app/none\"\n",
    );
    let o = fetch(&s.cfg, &[]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(!s.out.join("gone").exists());
}

#[test]
fn unreachable_endpoint_exits_6_quickly() {
    let port = moto::free_port();
    let s = setup(
        port,
        "[fetch]\nattempts = 2\n\n[[secret]]\nname = \"api\"\nprovider = \"aws\"\nid = \"app/api\"\n",
    );
    let start = Instant::now();
    let o = fetch(&s.cfg, &[]);
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn fetch_wait_rides_out_a_late_server() {
    // Reserve a port, start the fetch while nothing listens there, then bring moto up on it.
    let port = moto::free_port();
    let s = setup(
        port,
        "[[secret]]\nname = \"api\"\nprovider = \"aws\"\nid = \"app/api\"\n",
    );
    let child = bin()
        .arg("fetch")
        .arg("--config")
        .arg(&s.cfg)
        .args(["--wait", "20s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let m = Moto::start_on(port);
    rt().block_on(async {
        m.client()
            .create_secret()
            .name("app/api")
            .secret_string(format!("{CANARY}-late"))
            .send()
            .await
            .unwrap();
    });
    let o = child.wait_with_output().unwrap();
    assert_no_canary(&o);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(s.out.join("api")).unwrap(),
        format!("{CANARY}-late")
    );
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    let code = r.split(' ').nth(1)?.parse().ok()?;
    Some((
        code,
        r.split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default(),
    ))
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sum of every sample of a metric (all label sets), 0 when absent.
fn metric(port: u16, name: &str, must_contain: &str) -> f64 {
    let body = http_get(port, "/metrics").map(|r| r.1).unwrap_or_default();
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| l.contains(must_contain))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn agent_follows_versions_rides_out_an_outage_and_recovers() {
    let mut m = Moto::start();
    let port = m.port;
    let rt = rt();
    let put = |m: &Moto, v: &str, create: bool| {
        rt.block_on(async {
            let c = m.client();
            if create {
                c.create_secret()
                    .name("app/api")
                    .secret_string(v)
                    .send()
                    .await
                    .unwrap();
            } else {
                c.put_secret_value()
                    .secret_id("app/api")
                    .secret_string(v)
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    put(&m, &format!("{CANARY}-v1"), true);
    let listen = moto::free_port();
    let s = setup(
        port,
        &format!(
            "[agent]\nrefresh = \"1s\"\njitter = 0.0\nmax_backoff = \"2s\"\n\
             listen = \"127.0.0.1:{listen}\"\n\n\
             [[secret]]\nname = \"api\"\nprovider = \"aws\"\nid = \"app/api\"\n"
        ),
    );
    let mut agent = bin()
        .arg("agent")
        .arg("--config")
        .arg(&s.cfg)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let file = s.out.join("api");
    let read = || std::fs::read_to_string(&file).unwrap_or_default();
    wait_for("first value", Duration::from_secs(30), || {
        read() == format!("{CANARY}-v1")
    });

    // A new version is picked up.
    put(&m, &format!("{CANARY}-v2"), false);
    wait_for("second value", Duration::from_secs(15), || {
        read() == format!("{CANARY}-v2")
    });
    assert!(metric(listen, "elastics_sec_secret_versions_changed_total", "") >= 1.0);

    // Nothing changes: version checks go on, downloads do not.
    let checks0 = metric(listen, "elastics_sec_version_checks_total", "");
    let fetches0 = metric(listen, "elastics_sec_secret_fetches_total", "");
    std::thread::sleep(Duration::from_secs(3));
    let checks1 = metric(listen, "elastics_sec_version_checks_total", "");
    let fetches1 = metric(listen, "elastics_sec_secret_fetches_total", "");
    assert!(checks1 >= checks0 + 2.0, "checks {checks0} -> {checks1}");
    assert_eq!(fetches0, fetches1, "downloads without a new version");

    // Outage: the last value stays, readiness holds (within max_staleness), errors counted.
    m.kill();
    wait_for("unavailable errors", Duration::from_secs(15), || {
        metric(
            listen,
            "elastics_sec_provider_errors_total",
            "class=\"unavailable\"",
        ) >= 1.0
    });
    assert_eq!(read(), format!("{CANARY}-v2"));
    assert_eq!(http_get(listen, "/readyz").map(|r| r.0), Some(200));

    // Back on the same port with fresh state (max_backoff keeps the retry gap short): the agent recovers and follows the new value.
    let m2 = Moto::start_on(port);
    put(&m2, &format!("{CANARY}-v3"), true);
    let deadline = Instant::now() + Duration::from_secs(30);
    while read() != format!("{CANARY}-v3") {
        if Instant::now() > deadline {
            let _ = agent.kill();
            let o = agent.wait_with_output().unwrap();
            let log = String::from_utf8_lossy(&o.stderr);
            let lines: Vec<&str> = log.lines().filter(|l| !l.contains("DEBUG")).collect();
            panic!(
                "no recovery after the outage; agent log:\n{}",
                lines.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let pid = rustix::process::Pid::from_raw(agent.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while agent.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "agent did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = agent.wait_with_output().unwrap();
    assert_no_canary(&o);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A short outage with a short call timeout: the refresh loop must keep retrying (it once
/// went quiet after a few "connection refused" failures) and follow the restarted server.
#[test]
fn agent_recovers_from_a_short_outage_with_a_short_timeout() {
    let mut m = Moto::start();
    let port = m.port;
    let rt = rt();
    let create = |m: &Moto, v: &str| {
        rt.block_on(async {
            m.client()
                .create_secret()
                .name("app/api")
                .secret_string(v)
                .send()
                .await
                .unwrap();
        })
    };
    create(&m, &format!("{CANARY}-v1"));
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("agent.log");
    let s = setup(
        port,
        "[agent]\nrefresh = \"1s\"\nmax_backoff = \"2s\"\nlisten = \"off\"\n\n\
         [fetch]\ntimeout = \"3s\"\n\n\
         [[secret]]\nname = \"api\"\nprovider = \"aws\"\nid = \"app/api\"\n",
    );
    let mut agent = bin()
        .arg("agent")
        .arg("--config")
        .arg(&s.cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let file = s.out.join("api");
    let read = || std::fs::read_to_string(&file).unwrap_or_default();
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("first value", Duration::from_secs(30), || {
        read() == format!("{CANARY}-v1")
    });
    m.kill();
    wait_for("refresh failures", Duration::from_secs(15), || {
        logs().matches("refresh failed").count() >= 2
    });
    std::thread::sleep(Duration::from_secs(3));
    let m2 = Moto::start_on(port);
    create(&m2, &format!("{CANARY}-v2"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while read() != format!("{CANARY}-v2") {
        assert!(
            Instant::now() < deadline,
            "no recovery after the outage; agent log:\n{}",
            logs()
                .lines()
                .filter(|l| !l.contains("DEBUG"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = rustix::process::Pid::from_raw(agent.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = agent.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!logs().contains(CANARY), "canary in the agent log");
}
