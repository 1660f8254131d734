//! `elastics-sec agent` and `exec` through the real binary with the local provider on a real
//! tmpfs: new versions picked up and swapped in, health/readiness/metrics on loopback,
//! signals to the child, exit code propagation, graceful stop, wipe_on_exit, and a canary
//! value that never reaches logs or metrics.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CANARY: &str = "CANARY-91c4-agent-value";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Setup {
    _cfgdir: tempfile::TempDir,
    _shm: tempfile::TempDir,
    cfg: PathBuf,
    values: PathBuf,
    out: PathBuf,
    port: u16,
}

fn setup(extra: &str) -> Setup {
    let cfgdir = tempfile::tempdir().unwrap();
    let shm = tempfile::Builder::new()
        .prefix("es-agent")
        .tempdir_in("/dev/shm")
        .unwrap();
    let out = shm.path().join("s");
    let values = cfgdir.path().join("values.toml");
    std::fs::write(&values, format!("api = \"{CANARY}-v1\"\n")).unwrap();
    let port = free_port();
    let cfg = cfgdir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[output]\ndir = \"{}\"\nwipe_on_exit = true\n\n[agent]\nrefresh = \"1s\"\njitter = 0.0\nlisten = \"127.0.0.1:{port}\"\n\n\
             [providers.dev]\ntype = \"local\"\npath = \"values.toml\"\n\n\
             [[secret]]\nname = \"api\"\nprovider = \"dev\"\nfile = \"api_key\"\n{extra}",
            out.display()
        ),
    )
    .unwrap();
    Setup {
        _cfgdir: cfgdir,
        _shm: shm,
        cfg,
        values,
        out,
        port,
    }
}

fn spawn(args: &[&str], cfg: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_elastics-sec"))
        .args(args.iter().take(1))
        .arg("--config")
        .arg(cfg)
        .args(args.iter().skip(1))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("ELASTICS_SEC_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
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
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn term(child: &mut Child) -> (i32, String) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    child.wait_with_output_ref()
}

trait WaitRef {
    fn wait_with_output_ref(&mut self) -> (i32, String);
}
impl WaitRef for Child {
    fn wait_with_output_ref(&mut self) -> (i32, String) {
        let st = self.wait().unwrap();
        let mut e = String::new();
        self.stderr.take().unwrap().read_to_string(&mut e).unwrap();
        let mut o = String::new();
        self.stdout.take().unwrap().read_to_string(&mut o).unwrap();
        (st.code().unwrap_or(-1), format!("{o}{e}"))
    }
}

fn rewrite(path: &Path, text: &str) {
    // A new mtime even within the same clock tick: the local provider versions by mtime+size.
    std::thread::sleep(Duration::from_millis(20));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn agent_refreshes_serves_health_and_stops_cleanly() {
    let s = setup("");
    let mut agent = spawn(&["agent"], &s.cfg);
    wait_for("healthz", Duration::from_secs(20), || {
        http_get(s.port, "/healthz").is_some_and(|r| r.0 == 200)
    });
    assert_eq!(
        std::fs::read_to_string(s.out.join("api_key")).unwrap(),
        format!("{CANARY}-v1")
    );
    assert_eq!(http_get(s.port, "/readyz").unwrap().0, 200);

    rewrite(&s.values, &format!("api = \"{CANARY}-v2-longer\"\n"));
    wait_for("new version", Duration::from_secs(10), || {
        std::fs::read_to_string(s.out.join("api_key"))
            .is_ok_and(|v| v == format!("{CANARY}-v2-longer"))
    });
    let (code, metrics) = http_get(s.port, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("elastics_sec_generations_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("elastics_sec_secret_versions_changed_total{secret=\"api\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("elastics_sec_secret_ready{secret=\"api\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("CANARY"));

    // Provider outage: the value file disappears. The last good file stays.
    std::fs::remove_file(&s.values).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        std::fs::read_to_string(s.out.join("api_key")).unwrap(),
        format!("{CANARY}-v2-longer")
    );
    let (_, metrics) = http_get(s.port, "/metrics").unwrap();
    assert!(metrics.contains("elastics_sec_provider_errors_total{provider=\"local\",secret=\"api\",class=\"not_found\"}"), "{metrics}");

    let (code, logs) = term(&mut agent);
    assert_eq!(code, 0, "{logs}");
    assert!(!logs.contains("CANARY"), "canary in logs:\n{logs}");
    assert!(logs.contains("new version"), "{logs}");
    // wipe_on_exit
    assert!(!s.out.join("api_key").exists());
}

#[test]
fn readiness_fails_when_stale() {
    let s = setup("");
    let cfg = std::fs::read_to_string(&s.cfg)
        .unwrap()
        .replace("jitter = 0.0\n", "jitter = 0.0\nmax_staleness = \"2s\"\n");
    std::fs::write(&s.cfg, cfg).unwrap();
    let mut agent = spawn(&["agent"], &s.cfg);
    wait_for("ready", Duration::from_secs(20), || {
        http_get(s.port, "/readyz").is_some_and(|r| r.0 == 200)
    });
    std::fs::remove_file(&s.values).unwrap();
    wait_for("not ready", Duration::from_secs(10), || {
        http_get(s.port, "/readyz").is_some_and(|r| r.0 == 503)
    });
    assert!(s.out.join("api_key").exists(), "stale files are kept");
    let (code, _) = term(&mut agent);
    assert_eq!(code, 0);
}

#[test]
fn exec_signals_child_on_change_and_propagates_exit_code() {
    let s = setup("\n[exec]\non_change = \"signal\"\nsignal = \"SIGUSR1\"\n");
    let marker = s.cfg.with_file_name("hups");
    let script = format!(
        "trap 'echo usr1 >> {m}' USR1; trap 'exit 42' TERM; echo started >> {m}; while true; do sleep 0.05; done",
        m = marker.display()
    );
    let mut child = spawn(&["exec", "--", "sh", "-c", &script], &s.cfg);
    wait_for("child start", Duration::from_secs(20), || marker.exists());
    rewrite(&s.values, &format!("api = \"{CANARY}-v2\"\n"));
    wait_for("signal", Duration::from_secs(10), || {
        std::fs::read_to_string(&marker).is_ok_and(|m| m.contains("usr1"))
    });
    let (code, logs) = term(&mut child);
    assert_eq!(code, 42, "the child's exit code: {logs}");
    assert!(!logs.contains("CANARY"));
}

#[test]
fn exec_restarts_child_on_change() {
    let s = setup("\n[exec]\non_change = \"restart\"\nstop_timeout = \"2s\"\n");
    let marker = s.cfg.with_file_name("starts");
    let script = format!("echo start >> {m}; exec sleep 30", m = marker.display());
    let mut child = spawn(&["exec", "--", "sh", "-c", &script], &s.cfg);
    wait_for("child start", Duration::from_secs(20), || marker.exists());
    rewrite(&s.values, &format!("api = \"{CANARY}-v2\"\n"));
    wait_for("restart", Duration::from_secs(10), || {
        std::fs::read_to_string(&marker).is_ok_and(|m| m.lines().count() == 2)
    });
    let (code, _) = term(&mut child);
    // sleep dies of SIGTERM: 128 + 15.
    assert_eq!(code, 143);
}

#[test]
fn exec_exit_code_of_a_finished_child() {
    let s = setup("");
    let mut child = spawn(
        &[
            "exec",
            "--",
            "sh",
            "-c",
            "test -s \"$0\" && exit 7",
            &s.out.join("api_key").display().to_string(),
        ],
        &s.cfg,
    );
    let (code, logs) = child.wait_with_output_ref();
    assert_eq!(
        code, 7,
        "secrets are in place before the child starts: {logs}"
    );
}

#[test]
fn sighup_reloads_config_and_bad_config_is_kept_out() {
    let s = setup("");
    let mut agent = spawn(&["agent", "--log-format", "json"], &s.cfg);
    wait_for("healthz", Duration::from_secs(20), || {
        http_get(s.port, "/healthz").is_some_and(|r| r.0 == 200)
    });
    let pid = rustix::process::Pid::from_raw(agent.id() as i32).unwrap();

    // An invalid config is refused and the agent keeps running with the old one.
    let good = std::fs::read_to_string(&s.cfg).unwrap();
    std::fs::write(&s.cfg, format!("{good}bogus_key = 1\n")).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(http_get(s.port, "/healthz").unwrap().0, 200);

    // A valid new config with one more secret: its file appears.
    rewrite(
        &s.values,
        &format!("api = \"{CANARY}-v1\"\nsecond = \"{CANARY}-2\"\n"),
    );
    std::fs::write(
        &s.cfg,
        format!("{good}\n[[secret]]\nname = \"second\"\nprovider = \"dev\"\n"),
    )
    .unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    wait_for("second file", Duration::from_secs(10), || {
        s.out.join("second").exists()
    });
    assert_eq!(
        std::fs::read_to_string(s.out.join("api_key")).unwrap(),
        format!("{CANARY}-v1")
    );

    let (code, logs) = term(&mut agent);
    assert_eq!(code, 0);
    assert!(!logs.contains("CANARY"));
    assert!(logs.contains("config reload failed"), "{logs}");
    // JSON log lines.
    let line = logs
        .lines()
        .find(|l| l.contains("config reloaded"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["level"], "INFO");
}

#[test]
fn notifications_once_per_generation_and_failures_are_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("notified");
    let s = setup(&format!(
        "\n[[notify]]\ntype = \"command\"\ncommand = [\"sh\", \"-c\", \"echo $ELASTICS_SEC_GENERATION >> {}\"]\n\n\
         [[notify]]\ntype = \"command\"\ncommand = [\"false\"]\n",
        marker.display()
    ));
    let mut agent = spawn(&["agent"], &s.cfg);
    wait_for("healthz", Duration::from_secs(20), || {
        http_get(s.port, "/healthz").is_some_and(|r| r.0 == 200)
    });
    assert!(
        !marker.exists(),
        "the first generation is written before the application starts: no notification"
    );
    rewrite(&s.values, &format!("api = \"{CANARY}-v2\"\n"));
    wait_for("notification", Duration::from_secs(10), || marker.exists());
    std::thread::sleep(Duration::from_millis(2500));
    let lines = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(lines.lines().count(), 1, "once per generation: {lines}");
    let generation = lines.trim();
    assert_eq!(
        std::fs::read_link(s.out.join("..data"))
            .unwrap()
            .to_str()
            .unwrap(),
        generation
    );
    let (_, metrics) = http_get(s.port, "/metrics").unwrap();
    assert!(
        metrics.contains("elastics_sec_notifications_total{kind=\"command\",result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("elastics_sec_notifications_total{kind=\"command\",result=\"error\"} 1"),
        "{metrics}"
    );
    let (code, logs) = term(&mut agent);
    assert_eq!(code, 0, "{logs}");
}

#[test]
fn exec_forwards_signals_to_the_child() {
    let s = setup("");
    let marker = s.cfg.with_file_name("usr2");
    let ready = s.cfg.with_file_name("ready");
    let script = format!(
        "trap 'echo usr2 >> {m}' USR2; trap 'exit 0' TERM; touch {r}; while true; do sleep 0.05; done",
        m = marker.display(),
        r = ready.display()
    );
    let mut child = spawn(&["exec", "--", "sh", "-c", &script], &s.cfg);
    wait_for("child start", Duration::from_secs(20), || ready.exists());
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::USR2).unwrap();
    wait_for("forwarded signal", Duration::from_secs(5), || {
        marker.exists()
    });
    let (code, _) = term(&mut child);
    assert_eq!(code, 0);
}
