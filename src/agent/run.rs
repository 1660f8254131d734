//! The long-running agent (`agent`) and the process wrapper (`exec`).
//!
//! Shape: one refresh task per secret (jittered interval; asks the provider for the current
//! version and downloads only on change; full-jitter backoff on errors, honouring
//! Retry-After) sends updates to one writer loop, which batches updates that arrive together
//! into one generation, swaps it in, then notifies once. The writer loop also owns signals
//! (SIGTERM/SIGINT stop, SIGHUP reloads the config), the health/metrics server's view of
//! freshness, and in `exec` mode the child process.
//!
//! Stale-while-error: a failing refresh never removes files; after `max_staleness` without
//! success the secret is reported not ready (`/readyz` 503, `elastics_sec_secret_ready` 0).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::certs::{self, CertState};
use super::fetch::{self, RetryPolicy};
use super::metrics::{now_secs, Metrics};
use super::{notify, open_sink, FetchFailure};
use crate::config::{CertSource, CertificateConfig, Config, OnChange, SecretConfig};
use crate::secrets::{ErrorClass, Fetched, ProviderError, SecretSource};

/// Freshness as seen by `/readyz` and the metrics.
#[derive(Default)]
pub struct Health {
    /// Last successful refresh per secret (version check or download).
    pub last_ok: BTreeMap<String, Instant>,
    pub required: Vec<String>,
    pub max_staleness: Duration,
}

impl Health {
    /// Required secrets that are missing or stale.
    pub fn not_ready(&self) -> Vec<String> {
        self.required
            .iter()
            .filter(|n| {
                self.last_ok
                    .get(*n)
                    .is_none_or(|t| t.elapsed() > self.max_staleness)
            })
            .cloned()
            .collect()
    }
}

pub type SharedHealth = Arc<Mutex<Health>>;

enum Update {
    /// The provider confirmed the version we hold.
    Fresh(String),
    /// A new version was downloaded.
    Changed(String, Box<Fetched>),
    /// A new certificate bundle was validated.
    Cert(String, Box<CertState>),
}

/// Run the agent until SIGTERM/SIGINT, or in `exec` mode until the child exits. Returns
/// the process exit code.
pub async fn run(mut cfg: Config, exec: Option<Vec<String>>) -> Result<u8, FetchFailure> {
    let metrics = Arc::new(Metrics::new());
    let mut sink = open_sink(&cfg)?;
    let mut providers = crate::secrets::build_providers(&cfg)
        .await
        .map_err(FetchFailure::Setup)?;

    // First generation: exactly `fetch`, so a container never starts without its secrets.
    let outcomes = fetch::fetch_all(&cfg, &providers, RetryPolicy::from_config(&cfg, None)).await;
    let mut values = fetch::collect(&cfg, outcomes)?;
    let mut certs = fetch::obtain_certificates(
        &cfg,
        &providers,
        &values,
        RetryPolicy::from_config(&cfg, None),
    )
    .await?;
    let (generation, _) = fetch::write_generation(&cfg, &mut sink, &values, &certs)?;
    metrics.generations.inc();
    tracing::info!(%generation, secrets = values.len(), certificates = certs.len(), dir = %cfg.output.dir.display(), "first generation written");
    for (name, c) in &certs {
        cert_metrics(&metrics, name, c);
    }

    let health: SharedHealth = Arc::new(Mutex::new(Health {
        last_ok: values
            .keys()
            .chain(certs.keys())
            .map(|k| (k.clone(), Instant::now()))
            .collect(),
        required: required_names(&cfg),
        max_staleness: cfg.agent.max_staleness,
    }));
    for (name, f) in &values {
        metrics
            .last_success
            .get_or_create(&Metrics::secret(name))
            .set(now_secs());
        metrics
            .fetches
            .get_or_create(&Metrics::provider_secret(
                provider_kind(&cfg, &providers, name),
                name,
            ))
            .inc();
        let _ = f;
    }

    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut resolver: Option<crate::tls::reload::ReloadableResolver> = None;
    let mut _watcher: Option<crate::tls::reload::Watcher> = None;
    if let Some(addr) = cfg.agent.listen {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            FetchFailure::Setup(ProviderError::new(
                "agent",
                ErrorClass::Invalid,
                format!("cannot listen on {addr}: {e}"),
            ))
        })?;
        let tls = match &cfg.agent.tls_certificate {
            None => None,
            Some(name) => {
                let (r, w, config) = https_resolver(&cfg, name)?;
                resolver = Some(r);
                _watcher = Some(w);
                Some(config)
            }
        };
        tracing::info!(%addr, https = tls.is_some(), "health and metrics listening");
        tracker.spawn(super::health::serve(
            listener,
            tls,
            health.clone(),
            metrics.clone(),
            shutdown.clone(),
        ));
    }

    let mut child = match &exec {
        Some(argv) => Some(super::exec::Child::spawn(argv).map_err(|e| {
            FetchFailure::Setup(ProviderError::new(
                "exec",
                ErrorClass::Invalid,
                e.to_string(),
            ))
        })?),
        None => None,
    };

    let (tx, mut rx) = mpsc::channel::<Update>(256);
    let mut refresh = CancellationToken::new();
    spawn_refreshers(&cfg, &providers, &values, &tx, &refresh, &tracker, &metrics);
    let mut cert_tasks = CancellationToken::new();
    spawn_cert_tasks(
        &cfg,
        &providers,
        &values,
        &certs,
        &tx,
        &cert_tasks,
        &tracker,
        &metrics,
    );

    let mut sigterm = signal(SignalKind::terminate()).map_err(sig_err)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(sig_err)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(sig_err)?;
    let mut forwarded: Vec<(tokio::signal::unix::Signal, rustix::process::Signal)> = Vec::new();
    if child.is_some() {
        for (k, s) in [
            (SignalKind::quit(), rustix::process::Signal::QUIT),
            (SignalKind::user_defined1(), rustix::process::Signal::USR1),
            (SignalKind::user_defined2(), rustix::process::Signal::USR2),
            (SignalKind::window_change(), rustix::process::Signal::WINCH),
        ] {
            forwarded.push((signal(k).map_err(sig_err)?, s));
        }
    }
    let mut tick = tokio::time::interval(Duration::from_secs(5));

    let code = loop {
        let fwd = async {
            if forwarded.is_empty() {
                return std::future::pending::<rustix::process::Signal>().await;
            }
            let futs = forwarded.iter_mut().map(|(s, sig)| {
                Box::pin(async move {
                    s.recv().await;
                    *sig
                })
            });
            futures_select(futs).await
        };
        tokio::select! {
            _ = sigterm.recv() => {
                if let Some(c) = &mut child { break c.stop(rustix::process::Signal::TERM, cfg.exec.stop_timeout).await; }
                break 0;
            }
            _ = sigint.recv() => {
                if let Some(c) = &mut child { break c.stop(rustix::process::Signal::INT, cfg.exec.stop_timeout).await; }
                break 0;
            }
            _ = sighup.recv() => {
                match Config::load(&cfg.path) {
                    Ok(new) => {
                        match crate::secrets::build_providers(&new).await {
                            Ok(p) => {
                                tracing::info!(secrets = new.secrets.len(), "config reloaded");
                                if new.output.dir != cfg.output.dir || new.agent.listen != cfg.agent.listen {
                                    tracing::warn!("output.dir and agent.listen changes take effect at the next start");
                                }
                                refresh.cancel();
                                refresh = CancellationToken::new();
                                values.retain(|k, _| new.secrets.iter().any(|s| &s.name == k));
                                // A certificate whose config changed is obtained again.
                                certs.retain(|k, _| {
                                    let old = cfg.certificates.iter().find(|c| &c.name == k);
                                    let now = new.certificates.iter().find(|c| &c.name == k);
                                    matches!((old, now), (Some(a), Some(b)) if a == b)
                                });
                                cfg = new;
                                providers = p;
                                if let Ok(mut h) = health.lock() {
                                    h.required = required_names(&cfg);
                                    h.max_staleness = cfg.agent.max_staleness;
                                }
                                spawn_refreshers(&cfg, &providers, &values, &tx, &refresh, &tracker, &metrics);
                                cert_tasks.cancel();
                                cert_tasks = CancellationToken::new();
                                spawn_cert_tasks(&cfg, &providers, &values, &certs, &tx, &cert_tasks, &tracker, &metrics);
                            }
                            Err(e) => tracing::error!("config reload: providers: {e}; keeping the old config"),
                        }
                    }
                    Err(e) => tracing::error!("config reload failed, keeping the old config: {e}"),
                }
            }
            sig = fwd => {
                if let Some(c) = &child { c.signal(sig); }
            }
            status = async { match &mut child { Some(c) => c.wait().await, None => std::future::pending().await } } => {
                tracing::info!(code = status, "child exited");
                break status;
            }
            _ = tick.tick() => {
                update_freshness(&health, &metrics);
            }
            Some(first) = rx.recv() => {
                // Batch what arrives together (several secrets rotated at once) into one
                // generation, so the application is told once.
                let mut batch = vec![first];
                let until = tokio::time::Instant::now() + Duration::from_millis(100);
                while let Ok(Some(u)) = tokio::time::timeout_at(until, rx.recv()).await {
                    batch.push(u);
                }
                let mut changed = false;
                let mut changed_secrets = Vec::new();
                for u in batch {
                    match u {
                        Update::Fresh(name) => {
                            touch(&health, &metrics, &name);
                        }
                        Update::Changed(name, f) => {
                            touch(&health, &metrics, &name);
                            metrics.versions_changed.get_or_create(&Metrics::secret(&name)).inc();
                            tracing::info!(secret = %name, version = %f.version, "new version");
                            changed_secrets.push(name.clone());
                            values.insert(name, *f);
                            changed = true;
                        }
                        Update::Cert(name, c) => {
                            touch(&health, &metrics, &name);
                            metrics.cert_rotations.get_or_create(&Metrics::certificate(&name)).inc();
                            cert_metrics(&metrics, &name, &c);
                            tracing::info!(certificate = %name, serial = %c.serial, version = %c.version, "new certificate");
                            certs.insert(name, *c);
                            changed = true;
                        }
                    }
                }
                // Certificates built from a secret that changed (a CA key, a password, trust
                // roots) are obtained again with the new value.
                let stale: Vec<String> = cfg
                    .certificates
                    .iter()
                    .filter(|c| cert_deps(c).iter().any(|d| changed_secrets.contains(d)))
                    .map(|c| c.name.clone())
                    .collect();
                if !stale.is_empty() {
                    for n in &stale {
                        certs.remove(n);
                    }
                    cert_tasks.cancel();
                    cert_tasks = CancellationToken::new();
                    spawn_cert_tasks(&cfg, &providers, &values, &certs, &tx, &cert_tasks, &tracker, &metrics);
                }
                if changed {
                    match fetch::write_generation(&cfg, &mut sink, &values, &certs) {
                        Ok((generation, _)) => {
                            metrics.generations.inc();
                            tracing::info!(%generation, "generation written");
                            // The listener's certificate follows at once; the file watcher is
                            // the fallback (and serves embedders that do not write the files).
                            if let Some(r) = &resolver {
                                if let Err(e) = r.reload() {
                                    tracing::warn!("HTTPS listener keeps its certificate: {e}");
                                }
                            }
                            for n in &cfg.notify {
                                let result = notify::notify(n, &generation).await;
                                let ok = result.is_ok();
                                if let Err(e) = result {
                                    tracing::warn!(kind = notify::kind(n), "notification failed: {e}");
                                }
                                metrics.notifications.get_or_create(&vec![("kind", notify::kind(n).to_string()), ("result", if ok { "ok" } else { "error" }.to_string())]).inc();
                            }
                            if let Some(c) = &mut child {
                                match cfg.exec.on_change {
                                    OnChange::Signal => c.signal(cfg.exec.signal.to_rustix()),
                                    OnChange::Restart => {
                                        if let Err(e) = c.restart(cfg.exec.stop_timeout).await {
                                            tracing::error!("restart failed: {e}");
                                        }
                                    }
                                    OnChange::None => {}
                                }
                            }
                        }
                        // The old generation stays in place; the next change retries.
                        Err(e) => tracing::error!("new generation not written: {e}"),
                    }
                }
            }
        }
    };

    refresh.cancel();
    cert_tasks.cancel();
    shutdown.cancel();
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await;
    if cfg.output.wipe_on_exit {
        match sink.wipe() {
            Ok(()) => tracing::info!("output wiped"),
            Err(e) => tracing::error!("wipe_on_exit: {e}"),
        }
    }
    Ok(code)
}

fn sig_err(e: std::io::Error) -> FetchFailure {
    FetchFailure::Setup(ProviderError::new(
        "agent",
        ErrorClass::Invalid,
        format!("signal handler: {e}"),
    ))
}

/// First of several futures, without pulling in a futures crate for one call.
async fn futures_select<F: std::future::Future<Output = T> + Unpin, T>(
    futs: impl Iterator<Item = F>,
) -> T {
    let mut futs: Vec<F> = futs.collect();
    std::future::poll_fn(move |cx| {
        for f in futs.iter_mut() {
            if let std::task::Poll::Ready(v) = std::future::Future::poll(std::pin::Pin::new(f), cx)
            {
                return std::task::Poll::Ready(v);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

fn provider_kind<'a>(
    cfg: &Config,
    providers: &'a BTreeMap<String, Arc<dyn SecretSource>>,
    secret: &str,
) -> &'a str {
    cfg.secrets
        .iter()
        .find(|s| s.name == secret)
        .and_then(|s| providers.get(&s.provider))
        .map_or("unknown", |p| p.kind())
}

fn touch(health: &SharedHealth, metrics: &Metrics, name: &str) {
    if let Ok(mut h) = health.lock() {
        h.last_ok.insert(name.to_string(), Instant::now());
    }
    metrics
        .last_success
        .get_or_create(&Metrics::secret(name))
        .set(now_secs());
}

pub fn update_freshness(health: &SharedHealth, metrics: &Metrics) {
    let Ok(h) = health.lock() else { return };
    for (name, t) in &h.last_ok {
        let age = t.elapsed();
        metrics
            .staleness
            .get_or_create(&Metrics::secret(name))
            .set(age.as_secs_f64());
        metrics
            .ready
            .get_or_create(&Metrics::secret(name))
            .set(i64::from(age <= h.max_staleness));
    }
    for name in &h.required {
        if !h.last_ok.contains_key(name) {
            metrics.ready.get_or_create(&Metrics::secret(name)).set(0);
        }
    }
}

fn spawn_refreshers(
    cfg: &Config,
    providers: &BTreeMap<String, Arc<dyn SecretSource>>,
    values: &BTreeMap<String, Fetched>,
    tx: &mpsc::Sender<Update>,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
    metrics: &Arc<Metrics>,
) {
    for s in &cfg.secrets {
        let Some(src) = providers.get(&s.provider).cloned() else {
            continue;
        };
        let known = values.get(&s.name).map(|f| f.version.clone());
        let backoff = RetryPolicy {
            attempts: 1,
            deadline: None,
            base: Duration::from_secs(1),
            // Never wait longer than a normal refresh would: after an outage the secret is
            // back on its usual schedule at the latest (throttling still honours Retry-After).
            cap: cfg
                .agent
                .max_backoff
                .min(s.refresh)
                .max(Duration::from_secs(1)),
            timeout: cfg.fetch.timeout,
        };
        tracker.spawn(supervise(
            s.clone(),
            src,
            known,
            cfg.agent.jitter,
            backoff,
            tx.clone(),
            cancel.clone(),
            metrics.clone(),
        ));
    }
}

/// Runs one secret's refresh loop and restarts it if it panics. A refresh loop only ends on
/// cancellation or when the main loop is gone; a panic (a bug in a provider SDK or in our
/// code) must not silently stop a secret from being refreshed while the agent looks healthy.
#[allow(clippy::too_many_arguments)]
async fn supervise(
    s: SecretConfig,
    src: Arc<dyn SecretSource>,
    known: Option<String>,
    jitter: f64,
    backoff: RetryPolicy,
    tx: mpsc::Sender<Update>,
    cancel: CancellationToken,
    metrics: Arc<Metrics>,
) {
    let mut restarts = 0u32;
    loop {
        let task = tokio::spawn(refresh_loop(
            s.clone(),
            src.clone(),
            known.clone(),
            jitter,
            backoff,
            tx.clone(),
            cancel.clone(),
            metrics.clone(),
        ));
        match task.await {
            Ok(()) => return,
            Err(e) => {
                restarts += 1;
                metrics
                    .task_restarts
                    .get_or_create(&Metrics::secret(&s.name))
                    .inc();
                tracing::error!(secret = %s.name, restarts, "refresh task failed ({}); restarting it", if e.is_panic() { "panic" } else { "cancelled" });
                let pause = backoff.delay(restarts, None).max(Duration::from_secs(1));
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn refresh_loop(
    s: SecretConfig,
    src: Arc<dyn SecretSource>,
    mut known: Option<String>,
    jitter: f64,
    backoff: RetryPolicy,
    tx: mpsc::Sender<Update>,
    cancel: CancellationToken,
    metrics: Arc<Metrics>,
) {
    let labels = Metrics::provider_secret(src.kind(), &s.name);
    let mut failures = 0u32;
    loop {
        let delay = if failures > 0 {
            backoff
                .delay(failures, None)
                .max(Duration::from_millis(200))
        } else if known.is_none() {
            Duration::ZERO
        } else {
            let j = 1.0 + jitter * (2.0 * fastrand::f64() - 1.0);
            s.refresh.mul_f64(j)
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        metrics.version_checks.get_or_create(&labels).inc();
        let result = async {
            // One attempt each (the loop itself backs off), under the call timeout.
            let v = fetch::with_retries(backoff, src.kind(), &s.reference.id, &s.name, || {
                src.current_version(&s.reference)
            })
            .await?;
            if known.as_deref() == Some(v.as_str()) {
                return Ok(None);
            }
            metrics.fetches.get_or_create(&labels).inc();
            fetch::with_retries(backoff, src.kind(), &s.reference.id, &s.name, || {
                src.fetch(&s.reference)
            })
            .await
            .map(Some)
        }
        .await;
        let update = match result {
            Ok(None) => Update::Fresh(s.name.clone()),
            Ok(Some(f)) => {
                known = Some(f.version.clone());
                Update::Changed(s.name.clone(), Box::new(f))
            }
            Err(e) => {
                failures += 1;
                let mut l = labels.clone();
                l.push(("class", e.class.as_str().to_string()));
                metrics.errors.get_or_create(&l).inc();
                tracing::warn!(secret = %s.name, class = %e.class, failures, "refresh failed, keeping the last good value: {e}");
                if let Some(ra) = e.retry_after {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(ra) => {}
                    }
                }
                continue;
            }
        };
        failures = 0;
        if tx.send(update).await.is_err() {
            return;
        }
    }
}

/// The resolver, its file watcher and the server config of the HTTPS health listener.
fn https_resolver(
    cfg: &Config,
    name: &str,
) -> Result<
    (
        crate::tls::reload::ReloadableResolver,
        crate::tls::reload::Watcher,
        Arc<rustls::ServerConfig>,
    ),
    FetchFailure,
> {
    use crate::tls::reload::{server_config, ReloadableResolver, WatchOptions};
    let setup =
        |m: String| FetchFailure::Setup(ProviderError::new("agent", ErrorClass::Unavailable, m));
    let c = cfg
        .certificates
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| setup(format!("agent.tls_certificate `{name}` is not configured")))?;
    let (Some(cert), Some(key)) = (&c.files.cert, &c.files.key) else {
        return Err(setup(format!(
            "certificate `{name}` writes no cert_file/key_file"
        )));
    };
    let r = ReloadableResolver::from_files(cfg.output.dir.join(cert), cfg.output.dir.join(key))
        .map_err(|e| setup(format!("HTTPS listener: certificate `{name}`: {e}")))?;
    let w = r
        .watch(WatchOptions::default())
        .map_err(|e| setup(format!("HTTPS listener: watch: {e}")))?;
    let config = server_config(&r).map_err(|e| setup(format!("HTTPS listener: {e}")))?;
    Ok((r, w, Arc::new(config)))
}

/// Names `/readyz` requires: required secrets and required certificates.
fn required_names(cfg: &Config) -> Vec<String> {
    cfg.secrets
        .iter()
        .filter(|s| s.required)
        .map(|s| s.name.clone())
        .chain(
            cfg.certificates
                .iter()
                .filter(|c| c.required)
                .map(|c| c.name.clone()),
        )
        .collect()
}

fn cert_metrics(metrics: &Metrics, name: &str, c: &CertState) {
    let l = Metrics::certificate(name);
    metrics
        .cert_not_after
        .get_or_create(&l)
        .set(certs::unix(c.not_after));
    metrics
        .cert_renew_at
        .get_or_create(&l)
        .set(certs::unix(c.renew_at));
}

/// Secrets a certificate is built from.
fn cert_deps(c: &CertificateConfig) -> Vec<String> {
    use crate::config::Material;
    let mut d = Vec::new();
    let mut m = |x: &Material| {
        if let Material::Secret(s) = x {
            d.push(s.clone());
        }
    };
    if let CertSource::LocalCa {
        ca_cert, ca_key, ..
    } = &c.source
    {
        m(ca_cert);
        m(ca_key);
    }
    if let Some(r) = &c.trust_roots {
        m(r);
    }
    if let CertSource::Provider {
        password_secret: Some(p),
        ..
    } = &c.source
    {
        d.push(p.clone());
    }
    if let Some(p) = &c.p12_password_secret {
        d.push(p.clone());
    }
    d
}

#[allow(clippy::too_many_arguments)]
fn spawn_cert_tasks(
    cfg: &Config,
    providers: &BTreeMap<String, Arc<dyn SecretSource>>,
    values: &BTreeMap<String, Fetched>,
    certs: &BTreeMap<String, CertState>,
    tx: &mpsc::Sender<Update>,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
    metrics: &Arc<Metrics>,
) {
    if cfg.certificates.is_empty() {
        return;
    }
    // One snapshot of the secret values shared by all certificate tasks: they only read it,
    // and a change to a value they use restarts them with a new snapshot.
    let values = Arc::new(values.clone());
    let policy = RetryPolicy {
        attempts: 1,
        deadline: None,
        base: Duration::from_secs(1),
        cap: cfg.agent.max_backoff,
        timeout: cfg.fetch.timeout,
    };
    for c in &cfg.certificates {
        tracker.spawn(cert_loop(
            c.clone(),
            providers.clone(),
            values.clone(),
            certs.get(&c.name).cloned(),
            policy,
            tx.clone(),
            cancel.clone(),
            metrics.clone(),
        ));
    }
}

/// One certificate's schedule (see [`certs`] for the policy).
#[allow(clippy::too_many_arguments)]
async fn cert_loop(
    c: CertificateConfig,
    providers: BTreeMap<String, Arc<dyn SecretSource>>,
    values: Arc<BTreeMap<String, Fetched>>,
    mut held: Option<CertState>,
    policy: RetryPolicy,
    tx: mpsc::Sender<Update>,
    cancel: CancellationToken,
    metrics: Arc<Metrics>,
) {
    let labels = Metrics::certificate(&c.name);
    let mut failures = 0u32;
    loop {
        let delay = if failures > 0 {
            policy
                .delay(failures, None)
                .max(Duration::from_millis(200))
                .min(c.check)
        } else {
            let d = certs::next_check(&c, held.as_ref(), std::time::SystemTime::now());
            d.mul_f64(1.0 + 0.1 * (2.0 * fastrand::f64() - 1.0))
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        let now = std::time::SystemTime::now();
        let result: Result<Option<CertState>, certs::CertFailure> = match &c.source {
            CertSource::LocalCa { .. } => match &held {
                Some(h) if !h.in_renewal_window(now) => Ok(None),
                _ => certs::issue(&c, &values, now).map(Some),
            },
            CertSource::Provider {
                provider,
                reference,
                ..
            } => match providers.get(provider) {
                None => return,
                Some(src) => {
                    let checked =
                        fetch::with_retries(policy, src.kind(), &reference.id, &c.name, || {
                            src.current_certificate_version(reference)
                        })
                        .await;
                    match checked {
                        Err(error) => Err(certs::CertFailure::Provider {
                            name: c.name.clone(),
                            error,
                        }),
                        Ok(v) if certs::unchanged(held.as_ref(), &v) => Ok(None),
                        Ok(_) => certs::download(&c, &**src, &values, policy).await.map(Some),
                    }
                }
            },
        };
        let update = match result {
            Ok(None) => {
                if let (CertSource::Provider { .. }, Some(h)) = (&c.source, &held) {
                    // The provider still has only the certificate we hold, and it is due.
                    let overdue = h.in_renewal_window(now);
                    metrics
                        .cert_renewal_overdue
                        .get_or_create(&labels)
                        .set(i64::from(overdue));
                    if overdue {
                        let left = h.not_after.duration_since(now).unwrap_or_default();
                        tracing::warn!(certificate = %c.name, serial = %h.serial, expires_in_s = left.as_secs(), "the provider's newest certificate is inside its renewal window; renew it at the source");
                    }
                }
                Update::Fresh(c.name.clone())
            }
            Ok(Some(new)) => {
                let overdue = new.in_renewal_window(now);
                metrics
                    .cert_renewal_overdue
                    .get_or_create(&labels)
                    .set(i64::from(
                        overdue && matches!(c.source, CertSource::Provider { .. }),
                    ));
                held = Some(new.clone());
                Update::Cert(c.name.clone(), Box::new(new))
            }
            Err(e) => {
                failures += 1;
                let mut l = labels.clone();
                l.push(("class", e.class().to_string()));
                metrics.cert_failures.get_or_create(&l).inc();
                tracing::warn!(certificate = %c.name, class = e.class(), failures, "certificate not renewed, keeping the current one: {e}");
                continue;
            }
        };
        failures = 0;
        if tx.send(update).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::secrets::{SecretBytes, SecretRef};
    use std::path::Path;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Panics on its first version check, then serves version "v1".
    struct PanicsOnce(AtomicU32);

    #[async_trait::async_trait]
    impl SecretSource for PanicsOnce {
        fn kind(&self) -> &'static str {
            "local"
        }
        async fn current_version(&self, _: &SecretRef) -> Result<String, ProviderError> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("provider bug");
            }
            Ok("v1".into())
        }
        async fn fetch(&self, _: &SecretRef) -> Result<Fetched, ProviderError> {
            Ok(Fetched {
                value: SecretBytes::from(b"x".to_vec()),
                version: "v1".into(),
                content_type: None,
                binary: false,
            })
        }
    }

    #[tokio::test]
    async fn a_panicking_refresh_task_is_restarted() {
        let cfg = Config::parse(
            Path::new("t.toml"),
            "[output]\ndir = \"/dev/shm/x\"\n[providers.l]\ntype = \"local\"\npath = \"/nonexistent\"\n\
             [[secret]]\nname = \"a\"\nprovider = \"l\"\nrefresh = \"1s\"\n",
        )
        .unwrap();
        let metrics = Arc::new(Metrics::new());
        let (tx, mut rx) = mpsc::channel(4);
        let cancel = CancellationToken::new();
        let src: Arc<dyn SecretSource> = Arc::new(PanicsOnce(AtomicU32::new(0)));
        let task = tokio::spawn(supervise(
            cfg.secrets[0].clone(),
            src,
            Some("v1".into()),
            0.0,
            RetryPolicy {
                attempts: 1,
                deadline: None,
                base: Duration::from_secs(1),
                cap: Duration::from_secs(2),
                timeout: Duration::from_secs(5),
            },
            tx,
            cancel.clone(),
            metrics.clone(),
        ));
        // The first loop panics at its first check; the restarted one reports the version.
        let u = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(u, Update::Fresh(ref n) if n == "a"));
        assert!(metrics
            .encode()
            .contains("elastics_sec_refresh_task_restarts_total{secret=\"a\"} 1"));
        cancel.cancel();
        task.await.unwrap();
    }
}
