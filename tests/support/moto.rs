//! A real moto server (AWS service emulator) on loopback for Secrets Manager tests.
//!
//! Each [`Moto`] is its own `moto_server` process on a free port, killed when dropped, so
//! tests running in parallel never see each other's secrets. The binary comes from
//! `MOTO_SERVER` (set by `scripts/test.sh`) or the repository's `.venv`.
#![allow(dead_code)]

#[path = "child.rs"]
mod child;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use elastics_sec::config::AwsProviderConfig;

pub const REGION: &str = "us-east-1";

/// Static test credentials and no metadata lookups, set once per test process before any
/// SDK code runs (every test calls this first).
pub fn test_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", REGION);
        // Keep a developer's own profile files out of the tests.
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/aws-config");
        std::env::set_var(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        );
        std::env::remove_var("AWS_PROFILE");
        std::env::remove_var("AWS_SESSION_TOKEN");
    });
}

/// The elastics-sec binary with the same test AWS environment for a child process: static
/// credentials, no profile files, no metadata service, debug logs of our own code.
#[allow(dead_code)]
pub fn bin_with_test_env() -> std::process::Command {
    let mut c = child::command();
    c.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("ELASTICS_SEC_LOG", "debug");
    c
}

fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        let p = PathBuf::from(p);
        if p.exists() {
            return p;
        }
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if p.exists() {
        return p;
    }
    panic!(
        "moto_server not found (MOTO_SERVER unset and no .venv/bin/moto_server): \
         run scripts/test.sh once to install it"
    );
}

/// A port that was free a moment ago (the kernel does not hand it out again right away).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

pub struct Moto {
    child: Option<Child>,
    pub port: u16,
}

impl Moto {
    /// Starts `moto_server` and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts `moto_server` on a given port (to bring a server back where a client expects it).
    pub fn start_on(port: u16) -> Self {
        test_env();
        let child = Command::new(moto_binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        let mut moto = Self {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Some(c) = moto.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("moto_server exited early: {status}");
                }
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Forgets every resource (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        write!(
            s,
            "POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send reset");
        let mut resp = String::new();
        s.read_to_string(&mut resp).ok();
        assert!(
            resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
            "moto reset failed: {}",
            resp.lines().next().unwrap_or_default()
        );
    }

    /// Provider config pointing at this server.
    pub fn provider_config(&self) -> AwsProviderConfig {
        provider_config(&self.endpoint())
    }

    /// A plain SDK client for seeding, with static credentials.
    pub fn client(&self) -> aws_sdk_secretsmanager::Client {
        let conf = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .endpoint_url(self.endpoint())
            .build();
        aws_sdk_secretsmanager::Client::from_conf(conf)
    }

    /// Kills the server now (for outage tests).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Provider config for any loopback endpoint (moto or a fake).
pub fn provider_config(endpoint: &str) -> AwsProviderConfig {
    AwsProviderConfig {
        region: Some(REGION.to_owned()),
        endpoint_url: Some(endpoint.to_owned()),
        ..Default::default()
    }
}
