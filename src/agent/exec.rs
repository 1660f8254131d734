//! The child process of `exec`: spawned after the first generation is written, signalled
//! or restarted on change, stopped gracefully (signal, then SIGKILL after a timeout). Its exit
//! code becomes ours (128 + signal number when it died by a signal, as shells report it).

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use rustix::process::{Pid, Signal};

#[derive(Debug, thiserror::Error)]
#[error("cannot start `{program}`: {source}")]
pub struct SpawnError {
    program: String,
    source: std::io::Error,
}

pub struct Child {
    argv: Vec<String>,
    inner: tokio::process::Child,
}

impl Child {
    pub fn spawn(argv: &[String]) -> Result<Self, SpawnError> {
        let inner = start(argv)?;
        tracing::info!(program = %argv[0], pid = inner.id().unwrap_or(0), "child started");
        Ok(Self {
            argv: argv.to_vec(),
            inner,
        })
    }

    pub fn signal(&self, sig: Signal) {
        if let Some(pid) = self.inner.id().and_then(|p| Pid::from_raw(p as i32)) {
            if let Err(e) = rustix::process::kill_process(pid, sig) {
                tracing::warn!("signal to child failed: {e}");
            }
        }
    }

    /// Exit code once the child has exited.
    pub async fn wait(&mut self) -> u8 {
        match self.inner.wait().await {
            Ok(st) => code_of(st),
            Err(_) => 1,
        }
    }

    /// Send `sig`, wait up to `timeout`, then SIGKILL; the child's exit code.
    pub async fn stop(&mut self, sig: Signal, timeout: Duration) -> u8 {
        self.signal(sig);
        match tokio::time::timeout(timeout, self.inner.wait()).await {
            Ok(Ok(st)) => code_of(st),
            _ => {
                let _ = self.inner.kill().await;
                self.inner.wait().await.map_or(1, code_of)
            }
        }
    }

    pub async fn restart(&mut self, timeout: Duration) -> Result<(), SpawnError> {
        let code = self.stop(Signal::TERM, timeout).await;
        tracing::info!(code, "child stopped for restart");
        self.inner = start(&self.argv)?;
        tracing::info!(pid = self.inner.id().unwrap_or(0), "child restarted");
        Ok(())
    }
}

fn start(argv: &[String]) -> Result<tokio::process::Child, SpawnError> {
    let program = argv.first().cloned().unwrap_or_default();
    tokio::process::Command::new(&program)
        .args(&argv[1.min(argv.len())..])
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| SpawnError { program, source })
}

fn code_of(st: std::process::ExitStatus) -> u8 {
    match (st.code(), st.signal()) {
        (Some(c), _) => (c & 0xff) as u8,
        (None, Some(s)) => (128 + s).clamp(0, 255) as u8,
        _ => 1,
    }
}
