#![allow(clippy::unwrap_used)]
//! Notifications: signals by pid file and by process name, commands (env, timeout, exit
//! status) and the loopback HTTP POST.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use elastics_sec::agent::notify::{kind, notify};
use elastics_sec::config::{NotifyConfig, Signal, SignalTarget};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const GEN: &str = "..123_4";

async fn wait_exit(child: &mut tokio::process::Child) -> std::process::ExitStatus {
    tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("child did not exit")
        .unwrap()
}

#[tokio::test]
async fn signal_by_pid_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new("sleep")
        .arg("30")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid_file = dir.path().join("app.pid");
    std::fs::write(&pid_file, format!("{}\n", child.id().unwrap())).unwrap();
    let n = NotifyConfig::Signal {
        signal: Signal::Term,
        target: SignalTarget::PidFile(pid_file),
    };
    assert_eq!(kind(&n), "signal");
    notify(&n, GEN).await.unwrap();
    let status = wait_exit(&mut child).await;
    assert_eq!(status.signal(), Some(libc_sigterm()));
}

fn libc_sigterm() -> i32 {
    rustix::process::Signal::TERM.as_raw()
}

#[tokio::test]
async fn signal_by_process_name() {
    signal_named(&format!("es-nt-{}", std::process::id())).await;
}

/// Longer than the 15 bytes the kernel keeps in `comm`.
#[tokio::test]
async fn signal_by_long_process_name() {
    signal_named(&format!("es-notify-test-long-{}", std::process::id())).await;
}

async fn signal_named(name: &str) {
    let name = name.to_string();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join(&name);
    let sleep = which_sleep();
    std::os::unix::fs::symlink(&sleep, &link).unwrap();
    let mut child = tokio::process::Command::new(&link)
        .arg("30")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Give exec a moment so comm reflects the new name.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let n = NotifyConfig::Signal {
        signal: Signal::Term,
        target: SignalTarget::Process(name),
    };
    notify(&n, GEN).await.unwrap();
    let status = wait_exit(&mut child).await;
    assert_eq!(status.signal(), Some(libc_sigterm()));
}

fn which_sleep() -> PathBuf {
    ["/bin/sleep", "/usr/bin/sleep"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("no sleep binary")
}

#[tokio::test]
async fn no_process_with_name_is_an_error() {
    let n = NotifyConfig::Signal {
        signal: Signal::Hup,
        target: SignalTarget::Process("es-none-such-9".into()),
    };
    let e = notify(&n, GEN).await.unwrap_err().to_string();
    assert!(e.contains("es-none-such-9"), "{e}");
}

#[tokio::test]
async fn missing_and_bad_pid_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pid");
    let n = NotifyConfig::Signal {
        signal: Signal::Hup,
        target: SignalTarget::PidFile(missing.clone()),
    };
    let e = notify(&n, GEN).await.unwrap_err().to_string();
    assert!(e.contains("missing.pid"), "{e}");
    for bad in ["0", "-1", "abc", ""] {
        let p = dir.path().join("bad.pid");
        std::fs::write(&p, bad).unwrap();
        let n = NotifyConfig::Signal {
            signal: Signal::Hup,
            target: SignalTarget::PidFile(p),
        };
        assert!(notify(&n, GEN).await.is_err(), "pid `{bad}` accepted");
    }
}

#[tokio::test]
async fn command_gets_generation() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen.txt");
    let n = NotifyConfig::Command {
        argv: vec![
            "sh".into(),
            "-c".into(),
            format!(
                "printf %s \"$ELASTICS_SEC_GENERATION\" > '{}'",
                out.display()
            ),
        ],
        timeout: Duration::from_secs(10),
    };
    assert_eq!(kind(&n), "command");
    notify(&n, GEN).await.unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), GEN);
}

#[tokio::test]
async fn command_timeout_kills() {
    let n = NotifyConfig::Command {
        argv: vec!["sleep".into(), "30".into()],
        timeout: Duration::from_millis(300),
    };
    let start = Instant::now();
    let e = notify(&n, GEN).await.unwrap_err().to_string();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(e.contains("sleep") && e.contains("killed"), "{e}");
}

#[tokio::test]
async fn command_failure_is_an_error_without_args() {
    let canary = "CANARY-s3cr3t-token";
    let n = NotifyConfig::Command {
        argv: vec!["sh".into(), "-c".into(), format!("exit 3 # {canary}")],
        timeout: Duration::from_secs(10),
    };
    let e = notify(&n, GEN).await.unwrap_err().to_string();
    assert!(e.contains("code 3"), "{e}");
    assert!(!e.contains(canary), "{e}");
    let n = NotifyConfig::Command {
        argv: vec!["/nonexistent/es-prog".into()],
        timeout: Duration::from_secs(10),
    };
    let e = notify(&n, GEN).await.unwrap_err().to_string();
    assert!(e.contains("/nonexistent/es-prog"), "{e}");
}

/// A one-shot HTTP server: returns the request it saw, answering `status`.
async fn serve_once(status: &'static str) -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req).to_string();
            if let Some(i) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                if req.len() >= i + 4 + len {
                    break;
                }
            }
        }
        s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
            .await
            .unwrap();
        String::from_utf8(req).unwrap()
    });
    (format!("http://127.0.0.1:{port}/reload?token=CANARY-q"), h)
}

#[tokio::test]
async fn http_post_ok() {
    let (url, h) = serve_once("204 No Content").await;
    let n = NotifyConfig::Http {
        url,
        timeout: Duration::from_secs(5),
    };
    assert_eq!(kind(&n), "http");
    notify(&n, GEN).await.unwrap();
    let req = h.await.unwrap();
    assert!(
        req.starts_with("POST /reload?token=CANARY-q HTTP/1.1\r\n"),
        "{req}"
    );
    assert!(req.contains("Content-Type: application/json\r\n"), "{req}");
    let body = req.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v, serde_json::json!({ "generation": GEN }));
}

#[tokio::test]
async fn http_500_is_an_error() {
    let (url, h) = serve_once("500 Internal Server Error").await;
    let n = NotifyConfig::Http {
        url,
        timeout: Duration::from_secs(5),
    };
    let e = notify(&n, GEN).await.unwrap_err().to_string();
    assert!(e.contains("500") && e.contains("/reload"), "{e}");
    assert!(!e.contains("CANARY"), "{e}");
    h.await.unwrap();
}

#[tokio::test]
async fn http_connection_refused_is_an_error() {
    // Bind then drop to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let n = NotifyConfig::Http {
        url: format!("http://127.0.0.1:{port}/reload"),
        timeout: Duration::from_secs(5),
    };
    let e = notify(&n, GEN).await.unwrap_err().to_string();
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[tokio::test]
async fn http_timeout_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(s);
    });
    let n = NotifyConfig::Http {
        url: format!("http://127.0.0.1:{port}/"),
        timeout: Duration::from_millis(300),
    };
    let start = Instant::now();
    assert!(notify(&n, GEN).await.is_err());
    assert!(start.elapsed() < Duration::from_secs(3));
    h.abort();
}
