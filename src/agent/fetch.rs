//! One complete fetch: every configured secret from its provider (bounded concurrency,
//! retries with full-jitter backoff that honour Retry-After), rendered, and written as one
//! generation. `elastics-sec fetch` is exactly this; the agent runs it first.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::certs::{self, CertState};
use super::FetchFailure;
use crate::config::{Config, Format, SecretConfig};
use crate::render;
use crate::secrets::{ErrorClass, Fetched, ProviderError, SecretBytes, SecretSource};
use crate::sink::{OutputFile, Sink};

/// How hard to try before giving up on a provider.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    /// Keep retrying retryable errors until this instant (`--wait`), whatever `attempts` says.
    pub deadline: Option<Instant>,
    pub base: Duration,
    pub cap: Duration,
    pub timeout: Duration,
}

impl RetryPolicy {
    pub fn from_config(cfg: &Config, wait: Option<Duration>) -> Self {
        Self {
            attempts: cfg.fetch.attempts,
            deadline: wait.map(|w| Instant::now() + w),
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            timeout: cfg.fetch.timeout,
        }
    }

    /// Full jitter (AWS architecture blog "Exponential Backoff And Jitter"): a uniform delay
    /// in [0, min(cap, base * 2^n)], never less than what the server asked for.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let jittered = exp.mul_f64(fastrand::f64());
        retry_after.map_or(jittered, |r| r.max(jittered))
    }
}

/// What was fetched for one secret.
pub struct Outcome {
    pub name: String,
    pub result: Result<Fetched, ProviderError>,
}

/// Fetch one secret, retrying retryable errors under `policy`.
pub async fn fetch_one(
    source: &dyn SecretSource,
    s: &SecretConfig,
    policy: RetryPolicy,
) -> Result<Fetched, ProviderError> {
    with_retries(policy, source.kind(), &s.reference.id, &s.name, || {
        source.fetch(&s.reference)
    })
    .await
}

/// Run a provider call under `policy`: a timeout per call, and retries with full-jitter
/// backoff (honouring Retry-After) for retryable classes until the attempts or the deadline
/// run out. `id` is the provider-side name (in messages), `name` the config name (in logs).
pub async fn with_retries<T, F, Fut>(
    policy: RetryPolicy,
    kind: &'static str,
    id: &str,
    name: &str,
    mut call: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = 0u32;
    loop {
        let err = match tokio::time::timeout(policy.timeout, call()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => e,
            Err(_) => ProviderError::new(
                kind,
                ErrorClass::Unavailable,
                format!("get `{id}`: timed out after {:?}", policy.timeout),
            ),
        };
        attempt += 1;
        let delay = policy.delay(attempt, err.retry_after);
        let more = match policy.deadline {
            Some(d) => Instant::now() + delay < d,
            None => attempt < policy.attempts,
        };
        if !err.class.is_retryable() || !more {
            return Err(err);
        }
        tracing::warn!(secret = %name, class = %err.class, attempt, delay_ms = delay.as_millis() as u64, "fetch failed, retrying: {err}");
        tokio::time::sleep(delay).await;
    }
}

/// Fetch every secret of `cfg`, `cfg.fetch.concurrency` at a time.
pub async fn fetch_all(
    cfg: &Config,
    providers: &BTreeMap<String, Arc<dyn SecretSource>>,
    policy: RetryPolicy,
) -> Vec<Outcome> {
    let sem = Arc::new(Semaphore::new(cfg.fetch.concurrency));
    let mut set = JoinSet::new();
    for (i, s) in cfg.secrets.iter().enumerate() {
        let Some(src) = providers.get(&s.provider).cloned() else {
            continue;
        };
        let s = s.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let result = fetch_one(&*src, &s, policy).await;
            (
                i,
                Outcome {
                    name: s.name,
                    result,
                },
            )
        });
    }
    let mut out: Vec<Option<Outcome>> = (0..cfg.secrets.len()).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        if let Ok((i, o)) = joined {
            out[i] = Some(o);
        }
    }
    out.into_iter().flatten().collect()
}

/// One line of the summary: what was written where (never a value).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Written {
    pub secret: String,
    pub file: Option<String>,
    pub version: String,
    pub mode: String,
    pub bytes: usize,
}

/// Render the current values and write them as one generation. `values` holds the last good
/// value of every secret that has one; optional secrets without a value are left out.
pub fn write_generation(
    cfg: &Config,
    sink: &mut Sink,
    values: &BTreeMap<String, Fetched>,
    certs: &BTreeMap<String, CertState>,
) -> Result<(String, Vec<Written>), FetchFailure> {
    // Templates see the rendered values of the other secrets, so they combine exactly what
    // would be in the files: render everything else first.
    let empty = BTreeMap::new();
    let mut plain: BTreeMap<String, SecretBytes> = BTreeMap::new();
    for s in cfg
        .secrets
        .iter()
        .filter(|s| !matches!(s.format, Format::Template(_)))
    {
        if let Some(v) = values.get(&s.name) {
            let bytes =
                render::render(&s.format, &v.value, &empty).map_err(|e| FetchFailure::Render {
                    secret: s.name.clone(),
                    message: e.to_string(),
                })?;
            plain.insert(s.name.clone(), bytes);
        }
    }
    let mut rendered = Vec::new();
    let mut written = Vec::new();
    for s in &cfg.secrets {
        let Some(v) = values.get(&s.name) else {
            continue;
        };
        let Some(file) = &s.file else {
            written.push(Written {
                secret: s.name.clone(),
                file: None,
                version: v.version.clone(),
                mode: String::new(),
                bytes: 0,
            });
            continue;
        };
        let bytes = match (&s.format, plain.get(&s.name)) {
            (Format::Template(_), _) | (_, None) => render::render(&s.format, &v.value, &plain)
                .map_err(|e| FetchFailure::Render {
                    secret: s.name.clone(),
                    message: e.to_string(),
                })?,
            (_, Some(b)) => b.clone(),
        };
        written.push(Written {
            secret: s.name.clone(),
            file: Some(file.clone()),
            version: v.version.clone(),
            mode: format!("{:04o}", s.mode),
            bytes: bytes.len(),
        });
        rendered.push((s, file, bytes));
    }
    let mut files: Vec<OutputFile<'_>> = rendered
        .iter()
        .map(|(s, file, bytes)| OutputFile {
            name: file.as_str(),
            contents: bytes.expose(),
            mode: s.mode,
            uid: s.uid,
            gid: s.gid,
        })
        .collect();
    // Certificate files go into the same generation: cert and key always match, and they
    // match the secrets written with them.
    for c in &cfg.certificates {
        let Some(state) = certs.get(&c.name) else {
            continue;
        };
        for f in &state.files {
            written.push(Written {
                secret: c.name.clone(),
                file: Some(f.name.clone()),
                version: state.version.clone(),
                mode: format!("{:04o}", f.mode),
                bytes: f.contents.len(),
            });
            files.push(OutputFile {
                name: f.name.as_str(),
                contents: f.contents.expose(),
                mode: f.mode,
                uid: c.uid,
                gid: c.gid,
            });
        }
    }
    let info = sink
        .write_generation(&files)
        .map_err(FetchFailure::Output)?;
    Ok((info.name, written))
}

/// Split outcomes into values and the failure that decides the exit code: required secrets
/// must all succeed; an optional one that fails is logged and left out.
pub fn collect(
    cfg: &Config,
    outcomes: Vec<Outcome>,
) -> Result<BTreeMap<String, Fetched>, FetchFailure> {
    let mut values = BTreeMap::new();
    let mut worst: Option<(String, ProviderError)> = None;
    for o in outcomes {
        match o.result {
            Ok(f) => {
                values.insert(o.name, f);
            }
            Err(e) => {
                let required = cfg.secrets.iter().any(|s| s.name == o.name && s.required);
                if required {
                    tracing::error!(secret = %o.name, class = %e.class, "fetch failed: {e}");
                    // Report the first failure in config order; all are logged.
                    if worst.is_none() {
                        worst = Some((o.name, e));
                    }
                } else {
                    tracing::warn!(secret = %o.name, class = %e.class, "optional secret not fetched: {e}");
                }
            }
        }
    }
    match worst {
        Some((secret, error)) => Err(FetchFailure::Provider { secret, error }),
        None => Ok(values),
    }
}

/// Obtain every configured certificate (after the secrets, which may hold CA keys, passwords
/// and trust roots). A required certificate that fails decides the exit code; an optional one
/// is logged and left out.
pub async fn obtain_certificates(
    cfg: &Config,
    providers: &BTreeMap<String, Arc<dyn SecretSource>>,
    values: &BTreeMap<String, Fetched>,
    policy: RetryPolicy,
) -> Result<BTreeMap<String, CertState>, FetchFailure> {
    let mut out = BTreeMap::new();
    for c in &cfg.certificates {
        match certs::obtain(c, providers, values, policy).await {
            Ok(state) => {
                tracing::info!(certificate = %c.name, serial = %state.serial, version = %state.version, "certificate validated");
                out.insert(c.name.clone(), state);
            }
            Err(e) if c.required => {
                tracing::error!(certificate = %c.name, class = e.class(), "certificate refused: {e}");
                return Err(FetchFailure::Certificate(e));
            }
            Err(e) => {
                tracing::warn!(certificate = %c.name, class = e.class(), "optional certificate not delivered: {e}");
            }
        }
    }
    Ok(out)
}
