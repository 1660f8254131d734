//! The secrets pipeline's runtime: `fetch` (once, then exit) and, built on the same pieces,
//! the long-running agent. Failures are classified once here ([`FetchFailure`]) and mapped
//! to the documented exit codes ([`FetchFailure::exit_code`]).

pub mod certs;
pub mod exec;
pub mod fetch;
pub mod health;
pub mod metrics;
pub mod notify;
pub mod run;

use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::secrets::{ErrorClass, ProviderError};
use crate::sink::{Sink, SinkError, SinkOptions};

/// Exit codes of `fetch` (and of `agent`/`exec` when they cannot start), documented in
/// README "Exit codes".
pub mod exit {
    pub const OK: u8 = 0;
    pub const CONFIG: u8 = 3;
    pub const AUTH: u8 = 4;
    pub const NOT_FOUND: u8 = 5;
    pub const UNAVAILABLE: u8 = 6;
    pub const OUTPUT: u8 = 7;
    pub const INVALID_VALUE: u8 = 8;
}

#[derive(Debug, thiserror::Error)]
pub enum FetchFailure {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("secret `{secret}`: {error}")]
    Provider {
        secret: String,
        error: ProviderError,
    },
    #[error("provider setup: {0}")]
    Setup(ProviderError),
    #[error("output refused: {0}")]
    Output(SinkError),
    #[error("secret `{secret}`: cannot render: {message}")]
    Render { secret: String, message: String },
    #[error("{0}")]
    Certificate(certs::CertFailure),
}

impl FetchFailure {
    pub fn exit_code(&self) -> u8 {
        let by_class = |c: ErrorClass| match c {
            ErrorClass::Auth => exit::AUTH,
            ErrorClass::NotFound | ErrorClass::AccessDenied => exit::NOT_FOUND,
            ErrorClass::Throttled | ErrorClass::Unavailable => exit::UNAVAILABLE,
            ErrorClass::Invalid => exit::INVALID_VALUE,
        };
        match self {
            Self::Config(_) => exit::CONFIG,
            Self::Provider { error, .. } => by_class(error.class),
            Self::Setup(e) if e.class == ErrorClass::Invalid => exit::CONFIG,
            Self::Setup(e) => by_class(e.class),
            Self::Output(_) => exit::OUTPUT,
            Self::Render { .. } => exit::INVALID_VALUE,
            Self::Certificate(certs::CertFailure::Provider { error, .. }) => by_class(error.class),
            Self::Certificate(certs::CertFailure::Invalid { .. }) => exit::INVALID_VALUE,
        }
    }
}

/// Open the output directory, with the warning the issue asks for on every start when the
/// tmpfs check is switched off.
pub fn open_sink(cfg: &Config) -> Result<Sink, FetchFailure> {
    if cfg.output.allow_non_tmpfs {
        tracing::warn!(dir = %cfg.output.dir.display(), "allow_non_tmpfs = true: secrets may be written to a disk-backed directory");
    }
    Sink::open(
        &cfg.output.dir,
        &SinkOptions {
            allow_non_tmpfs: cfg.output.allow_non_tmpfs,
        },
    )
    .map_err(FetchFailure::Output)
}

/// Result of a completed `fetch`.
pub struct FetchReport {
    pub generation: String,
    pub written: Vec<fetch::Written>,
}

/// `elastics-sec fetch`: everything once, one generation, done.
pub async fn run_fetch(cfg: &Config, wait: Option<Duration>) -> Result<FetchReport, FetchFailure> {
    // Refuse a bad output directory before any secret is downloaded.
    let mut sink = open_sink(cfg)?;
    let providers = crate::secrets::build_providers(cfg)
        .await
        .map_err(FetchFailure::Setup)?;
    let policy = fetch::RetryPolicy::from_config(cfg, wait);
    let outcomes = fetch::fetch_all(cfg, &providers, policy).await;
    let values = fetch::collect(cfg, outcomes)?;
    let certs = fetch::obtain_certificates(cfg, &providers, &values, policy).await?;
    let (generation, written) = fetch::write_generation(cfg, &mut sink, &values, &certs)?;
    Ok(FetchReport {
        generation,
        written,
    })
}

/// Make the process a worse place to look for secrets: no core dumps or ptrace attach by
/// other users (`PR_SET_DUMPABLE` 0), no core file, and all memory locked when the memlock
/// limit is unlimited (locking under a small limit would make later allocations fail, so it
/// is skipped and said so at debug level).
pub fn harden_process() {
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        tracing::debug!("PR_SET_DUMPABLE failed: {e}");
    }
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    );
    let lim = rustix::process::getrlimit(rustix::process::Resource::Memlock);
    if lim.current.is_none() {
        use rustix::mm::MlockAllFlags;
        match rustix::mm::mlockall(
            MlockAllFlags::CURRENT | MlockAllFlags::FUTURE | MlockAllFlags::ONFAULT,
        ) {
            Ok(()) => tracing::debug!("memory locked (mlockall)"),
            Err(e) => tracing::debug!("mlockall failed: {e}"),
        }
    } else {
        tracing::debug!("RLIMIT_MEMLOCK is limited; memory not locked");
    }
}

/// What `check-config` prints: everything about the plan, nothing about values.
#[derive(Debug, serde::Serialize)]
pub struct Plan {
    pub environment: String,
    pub output_dir: String,
    pub providers: Vec<PlanProvider>,
    pub secrets: Vec<PlanSecret>,
    pub certificates: Vec<PlanCertificate>,
    pub notify: Vec<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct PlanCertificate {
    pub name: String,
    /// `provider NAME id ID`, `local CA (files)` or `ephemeral local CA`.
    pub source: String,
    pub sans: Vec<String>,
    pub files: Vec<String>,
    pub renew: String,
    pub check: String,
    pub required: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct PlanProvider {
    pub name: String,
    pub kind: &'static str,
}

#[derive(Debug, serde::Serialize)]
pub struct PlanSecret {
    pub name: String,
    pub provider: String,
    pub id: String,
    pub version: Option<String>,
    pub stage: Option<String>,
    pub format: &'static str,
    pub file: Option<String>,
    pub mode: String,
    pub owner: String,
    pub refresh: String,
    pub required: bool,
}

pub fn plan(cfg: &Config) -> Plan {
    use crate::config::{Format, NotifyConfig, SignalTarget};
    Plan {
        environment: format!("{:?}", cfg.environment).to_lowercase(),
        output_dir: cfg.output.dir.display().to_string(),
        providers: cfg
            .providers
            .iter()
            .map(|(n, p)| PlanProvider {
                name: n.clone(),
                kind: p.kind(),
            })
            .collect(),
        secrets: cfg
            .secrets
            .iter()
            .map(|s| PlanSecret {
                name: s.name.clone(),
                provider: s.provider.clone(),
                id: s.reference.id.clone(),
                version: s.reference.version.clone(),
                stage: s.reference.stage.clone(),
                format: match s.format {
                    Format::Raw => "raw",
                    Format::Base64Decode => "base64-decode",
                    Format::JsonKey(_) => "json-key",
                    Format::Dotenv => "dotenv",
                    Format::Template(_) => "template",
                },
                file: s.file.clone(),
                mode: format!("{:04o}", s.mode),
                owner: format!(
                    "{}:{}",
                    s.uid.map_or("-".into(), |u| u.to_string()),
                    s.gid.map_or("-".into(), |g| g.to_string())
                ),
                refresh: humantime::format_duration(s.refresh).to_string(),
                required: s.required,
            })
            .collect(),
        certificates: cfg
            .certificates
            .iter()
            .map(|c| {
                use crate::config::{CertSource, Material, Renewal};
                PlanCertificate {
                    name: c.name.clone(),
                    source: match &c.source {
                        CertSource::Provider {
                            provider,
                            reference,
                            ..
                        } => {
                            format!("provider {provider} id {}", reference.id)
                        }
                        CertSource::LocalCa {
                            ca_cert: Material::Ephemeral,
                            lifetime,
                            ..
                        } => {
                            format!(
                                "ephemeral local CA, lifetime {}",
                                humantime::format_duration(*lifetime)
                            )
                        }
                        CertSource::LocalCa { lifetime, .. } => {
                            format!(
                                "local CA, lifetime {}",
                                humantime::format_duration(*lifetime)
                            )
                        }
                    },
                    sans: c.sans.clone(),
                    files: [
                        (&c.files.cert, c.cert_mode),
                        (&c.files.key, c.key_mode),
                        (&c.files.ca, c.cert_mode),
                        (&c.files.p12, c.key_mode),
                        (&c.files.pem, c.key_mode),
                    ]
                    .into_iter()
                    .filter_map(|(f, m)| f.as_ref().map(|f| format!("{f} ({m:04o})")))
                    .collect(),
                    renew: match c.renew {
                        Renewal::Fraction(f) => format!("at {:.0}% of the lifetime", f * 100.0),
                        Renewal::Before(d) => {
                            format!("{} before expiry", humantime::format_duration(d))
                        }
                    },
                    check: humantime::format_duration(c.check).to_string(),
                    required: c.required,
                }
            })
            .collect(),
        notify: cfg
            .notify
            .iter()
            .map(|n| match n {
                NotifyConfig::Signal {
                    signal,
                    target: SignalTarget::PidFile(p),
                } => {
                    format!("signal {} to the pid in {}", signal.name(), p.display())
                }
                NotifyConfig::Signal {
                    signal,
                    target: SignalTarget::Process(p),
                } => {
                    format!("signal {} to processes named {p}", signal.name())
                }
                NotifyConfig::Command { argv, timeout } => {
                    format!(
                        "run {:?} (timeout {})",
                        argv,
                        humantime::format_duration(*timeout)
                    )
                }
                NotifyConfig::Http { url, timeout } => {
                    format!(
                        "POST {url} (timeout {})",
                        humantime::format_duration(*timeout)
                    )
                }
            })
            .collect(),
    }
}
