//! Telling the application that a new generation of secrets is in place: a signal (to the
//! pid in a pid file, or to every process with a given name), a command, or a loopback HTTP
//! POST. Errors name the target (pid file, process name, program, URL without its query) and
//! never carry a secret value or the full argv, which may hold tokens.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{NotifyConfig, Signal, SignalTarget};

/// Environment variable carrying the generation name to a notify command.
pub const GENERATION_ENV: &str = "ELASTICS_SEC_GENERATION";

/// Longest HTTP response head we read before giving up on finding the status line.
const MAX_RESPONSE_HEAD: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notify signal: cannot read pid file {}: {source}", path.display())]
    PidFileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("notify signal: pid file {} does not hold a positive process id", path.display())]
    PidFileInvalid { path: PathBuf },
    #[error("notify signal: {signal} to pid {pid} failed: {source}")]
    Kill {
        signal: &'static str,
        pid: i32,
        source: rustix::io::Errno,
    },
    #[error("notify signal: no process named `{name}`")]
    NoProcess { name: String },
    #[error("notify signal: cannot list processes: {0}")]
    ProcScan(std::io::Error),
    #[error("notify command `{program}`: cannot start: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("notify command `{program}`: did not finish within {}; killed", humantime::format_duration(*timeout))]
    CommandTimeout { program: String, timeout: Duration },
    #[error("notify command `{program}`: {status}")]
    CommandFailed { program: String, status: String },
    #[error("notify command `{program}`: waiting failed: {source}")]
    Wait {
        program: String,
        source: std::io::Error,
    },
    #[error("notify command: empty argv")]
    EmptyArgv,
    #[error("notify http {url}: not an http:// URL")]
    BadUrl { url: String },
    #[error("notify http {url}: {source}")]
    Io { url: String, source: std::io::Error },
    #[error("notify http {url}: no answer within {}", humantime::format_duration(*timeout))]
    HttpTimeout { url: String, timeout: Duration },
    #[error("notify http {url}: malformed response")]
    BadResponse { url: String },
    #[error("notify http {url}: status {status}")]
    HttpStatus { url: String, status: u16 },
}

/// Label for metrics: "signal" | "command" | "http".
pub fn kind(n: &NotifyConfig) -> &'static str {
    match n {
        NotifyConfig::Signal { .. } => "signal",
        NotifyConfig::Command { .. } => "command",
        NotifyConfig::Http { .. } => "http",
    }
}

/// Run one notification for a new generation `generation` (a dir name like "..123_4").
pub async fn notify(n: &NotifyConfig, generation: &str) -> Result<(), NotifyError> {
    match n {
        NotifyConfig::Signal { signal, target } => send_signal(*signal, target).await,
        NotifyConfig::Command { argv, timeout } => run_command(argv, *timeout, generation).await,
        NotifyConfig::Http { url, timeout } => post(url, *timeout, generation).await,
    }
}

async fn send_signal(signal: Signal, target: &SignalTarget) -> Result<(), NotifyError> {
    let pids = match target {
        SignalTarget::PidFile(path) => vec![read_pid_file(path).await?],
        SignalTarget::Process(name) => {
            let name = name.clone();
            // /proc scanning is blocking filesystem work.
            let pids = tokio::task::spawn_blocking({
                let name = name.clone();
                move || find_processes(&name)
            })
            .await
            .map_err(|e| NotifyError::ProcScan(std::io::Error::other(e)))?
            .map_err(NotifyError::ProcScan)?;
            if pids.is_empty() {
                return Err(NotifyError::NoProcess { name });
            }
            pids
        }
    };
    for raw in pids {
        let pid = rustix::process::Pid::from_raw(raw).ok_or(NotifyError::Kill {
            signal: signal.name(),
            pid: raw,
            source: rustix::io::Errno::INVAL,
        })?;
        rustix::process::kill_process(pid, signal.to_rustix()).map_err(|source| {
            NotifyError::Kill {
                signal: signal.name(),
                pid: raw,
                source,
            }
        })?;
        tracing::debug!(pid = raw, signal = signal.name(), "notify: signal sent");
    }
    Ok(())
}

async fn read_pid_file(path: &std::path::Path) -> Result<i32, NotifyError> {
    let text =
        tokio::fs::read_to_string(path)
            .await
            .map_err(|source| NotifyError::PidFileRead {
                path: path.to_path_buf(),
                source,
            })?;
    // 0 and negatives would signal a process group or everything we may signal.
    match text.trim().parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(NotifyError::PidFileInvalid {
            path: path.to_path_buf(),
        }),
    }
}

/// Every pid (but ours) whose `comm` or argv[0] basename is exactly `name`. The kernel
/// truncates `comm` to 15 bytes, so a longer name is compared against its first 15 bytes too.
fn find_processes(name: &str) -> std::io::Result<Vec<i32>> {
    let own = rustix::process::getpid().as_raw_nonzero().get();
    let truncated = truncate_comm(name);
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        let dir = entry.path();
        // Processes come and go while we scan; unreadable entries are simply not matches.
        let comm_match = std::fs::read_to_string(dir.join("comm"))
            .map(|c| {
                let c = c.trim_end_matches('\n');
                c == name || (truncated.len() < name.len() && c == truncated)
            })
            .unwrap_or(false);
        let argv0_match = || {
            std::fs::read(dir.join("cmdline"))
                .ok()
                .and_then(|raw| {
                    let argv0 = raw.split(|b| *b == 0).next()?.to_vec();
                    let argv0 = String::from_utf8(argv0).ok()?;
                    let base = argv0.rsplit('/').next()?.to_string();
                    Some(base == name)
                })
                .unwrap_or(false)
        };
        if comm_match || argv0_match() {
            found.push(pid);
        }
    }
    found.sort_unstable();
    Ok(found)
}

fn truncate_comm(name: &str) -> &str {
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

async fn run_command(
    argv: &[String],
    timeout: Duration,
    generation: &str,
) -> Result<(), NotifyError> {
    let (program, args) = argv.split_first().ok_or(NotifyError::EmptyArgv)?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env(GENERATION_ENV, generation)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| NotifyError::Spawn {
            program: program.clone(),
            source,
        })?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Err(_) => {
            // kill_on_drop would do it too, but kill+reap now so no zombie outlives us.
            let _ = child.kill().await;
            Err(NotifyError::CommandTimeout {
                program: program.clone(),
                timeout,
            })
        }
        Ok(Err(source)) => Err(NotifyError::Wait {
            program: program.clone(),
            source,
        }),
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(NotifyError::CommandFailed {
            program: program.clone(),
            status: describe_status(status),
        }),
    }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// The URL as shown in errors: without its query or fragment, which could carry a token.
fn display_url(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or("").to_string()
}

/// Split `http://host[:port]/path?query` into (connect address, Host header, request target).
fn split_url(url: &str) -> Option<(String, String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let target = target.split('#').next().unwrap_or("/");
    let target = if target.starts_with('?') {
        format!("/{target}")
    } else if target.is_empty() {
        "/".to_string()
    } else {
        target.to_string()
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    // Port present unless the authority ends in a bare host or a bracketed v6 address.
    let has_port = match authority.rfind(']') {
        Some(close) => authority[close..].contains(':'),
        None => authority.contains(':'),
    };
    let addr = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Some((addr, authority.to_string(), target))
}

async fn post(url: &str, timeout: Duration, generation: &str) -> Result<(), NotifyError> {
    let shown = display_url(url);
    match tokio::time::timeout(timeout, post_inner(url, &shown, generation)).await {
        Ok(r) => r,
        Err(_) => Err(NotifyError::HttpTimeout {
            url: shown,
            timeout,
        }),
    }
}

async fn post_inner(url: &str, shown: &str, generation: &str) -> Result<(), NotifyError> {
    let (addr, host, target) = split_url(url).ok_or_else(|| NotifyError::BadUrl {
        url: shown.to_string(),
    })?;
    let io = |source| NotifyError::Io {
        url: shown.to_string(),
        source,
    };
    let body = serde_json::json!({ "generation": generation }).to_string();
    let request = format!(
        "POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr.as_str()).await.map_err(io)?;
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    stream.flush().await.map_err(io)?;

    // Only the status line matters; read until its end (or the peer closes).
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < MAX_RESPONSE_HEAD {
        let n = stream.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let bad = || NotifyError::BadResponse {
        url: shown.to_string(),
    };
    let line_end = head.iter().position(|b| *b == b'\n').ok_or_else(bad)?;
    let line = std::str::from_utf8(&head[..line_end]).map_err(|_| bad())?;
    let mut parts = line.trim_end_matches('\r').splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(bad)?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(NotifyError::HttpStatus {
            url: shown.to_string(),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/reload?x=1"),
            Some((
                "127.0.0.1:8080".into(),
                "127.0.0.1:8080".into(),
                "/reload?x=1".into()
            ))
        );
        assert_eq!(
            split_url("http://localhost"),
            Some(("localhost:80".into(), "localhost".into(), "/".into()))
        );
        assert_eq!(
            split_url("http://[::1]/r"),
            Some(("[::1]:80".into(), "[::1]".into(), "/r".into()))
        );
        assert_eq!(
            split_url("http://[::1]:9/r").map(|t| t.0),
            Some("[::1]:9".into())
        );
        assert_eq!(
            display_url("http://127.0.0.1/r?token=abc"),
            "http://127.0.0.1/r"
        );
        assert_eq!(truncate_comm("es-notify-test-xyz-long"), "es-notify-test-");
    }
}
