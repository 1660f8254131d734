//! Prometheus metrics of the agent (prometheus-client, OpenMetrics text on `/metrics`).
//!
//! Names follow the Prometheus conventions: `elastics_sec_` prefix, base units (seconds),
//! `_total` counters. Labels carry secret names, provider kinds and error classes, which are
//! all from the config or fixed sets, so cardinality is bounded by the config.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

pub struct Metrics {
    registry: Mutex<Registry>,
    pub fetches: Family<Labels, Counter>,
    pub errors: Family<Labels, Counter>,
    pub version_checks: Family<Labels, Counter>,
    pub versions_changed: Family<Labels, Counter>,
    pub last_success: Family<Labels, Gauge<f64, AtomicU64>>,
    pub staleness: Family<Labels, Gauge<f64, AtomicU64>>,
    pub ready: Family<Labels, Gauge>,
    pub notifications: Family<Labels, Counter>,
    pub generations: Counter,
    pub task_restarts: Family<Labels, Counter>,
    pub cert_not_after: Family<Labels, Gauge<f64, AtomicU64>>,
    pub cert_renew_at: Family<Labels, Gauge<f64, AtomicU64>>,
    pub cert_rotations: Family<Labels, Counter>,
    pub cert_failures: Family<Labels, Counter>,
    pub cert_renewal_overdue: Family<Labels, Gauge>,
}

pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("elastics_sec");
        let m = Self {
            registry: Mutex::new(Registry::default()),
            fetches: Family::default(),
            errors: Family::default(),
            version_checks: Family::default(),
            versions_changed: Family::default(),
            last_success: Family::default(),
            staleness: Family::default(),
            ready: Family::default(),
            notifications: Family::default(),
            generations: Counter::default(),
            task_restarts: Family::default(),
            cert_not_after: Family::default(),
            cert_renew_at: Family::default(),
            cert_rotations: Family::default(),
            cert_failures: Family::default(),
            cert_renewal_overdue: Family::default(),
        };
        r.register(
            "secret_fetches",
            "Secret value downloads by provider and secret",
            m.fetches.clone(),
        );
        r.register(
            "provider_errors",
            "Failed provider calls by provider, secret and error class",
            m.errors.clone(),
        );
        r.register(
            "version_checks",
            "Current-version checks by provider and secret",
            m.version_checks.clone(),
        );
        r.register(
            "secret_versions_changed",
            "New secret versions picked up",
            m.versions_changed.clone(),
        );
        r.register(
            "secret_last_success_timestamp_seconds",
            "Unix time of the last successful refresh",
            m.last_success.clone(),
        );
        r.register(
            "secret_staleness_seconds",
            "Seconds since the last successful refresh",
            m.staleness.clone(),
        );
        r.register(
            "secret_ready",
            "1 when the secret has a value fresher than max_staleness",
            m.ready.clone(),
        );
        r.register(
            "notifications",
            "Notifications after a new generation, by kind and result",
            m.notifications.clone(),
        );
        r.register(
            "generations",
            "Generations written to the output directory",
            m.generations.clone(),
        );
        r.register(
            "refresh_task_restarts",
            "Refresh tasks restarted after a panic, by secret",
            m.task_restarts.clone(),
        );
        r.register(
            "certificate_not_after_timestamp_seconds",
            "Unix time at which the delivered certificate expires",
            m.cert_not_after.clone(),
        );
        r.register(
            "certificate_renewal_timestamp_seconds",
            "Unix time at which the certificate is renewed (local CA) or looked for harder",
            m.cert_renew_at.clone(),
        );
        r.register(
            "certificate_rotations",
            "New certificates delivered, by certificate",
            m.cert_rotations.clone(),
        );
        r.register(
            "certificate_failures",
            "Certificates refused or not obtained, by certificate and class",
            m.cert_failures.clone(),
        );
        r.register(
            "certificate_renewal_overdue",
            "1 when the provider's newest certificate is itself inside its renewal window",
            m.cert_renewal_overdue.clone(),
        );
        *m.registry.lock().unwrap_or_else(|p| p.into_inner()) = r;
        m
    }

    pub fn secret(name: &str) -> Labels {
        vec![("secret", name.to_string())]
    }

    pub fn certificate(name: &str) -> Labels {
        vec![("certificate", name.to_string())]
    }

    pub fn provider_secret(provider: &str, secret: &str) -> Labels {
        vec![
            ("provider", provider.to_string()),
            ("secret", secret.to_string()),
        ]
    }

    /// OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Encoding into a String cannot fail except on fmt errors, which a String never gives.
        let _ = encode(&mut out, &r);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every registered metric is in README's metrics reference, with its exposed name.
    #[test]
    fn readme_documents_every_metric() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let m = Metrics::new();
        let l = Metrics::secret("s");
        m.fetches.get_or_create(&l).inc();
        m.errors.get_or_create(&l).inc();
        m.version_checks.get_or_create(&l).inc();
        m.versions_changed.get_or_create(&l).inc();
        m.last_success.get_or_create(&l).set(1.0);
        m.staleness.get_or_create(&l).set(1.0);
        m.ready.get_or_create(&l).set(1);
        m.notifications.get_or_create(&l).inc();
        m.task_restarts.get_or_create(&l).inc();
        m.cert_not_after.get_or_create(&l).set(1.0);
        m.cert_renew_at.get_or_create(&l).set(1.0);
        m.cert_rotations.get_or_create(&l).inc();
        m.cert_failures.get_or_create(&l).inc();
        m.cert_renewal_overdue.get_or_create(&l).set(1);
        let text = m.encode();
        let mut n = 0;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("# TYPE ") else {
                continue;
            };
            let mut it = rest.split_whitespace();
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            let exposed = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            };
            assert!(
                readme.contains(&format!("`{exposed}`")),
                "{exposed} is not in README"
            );
            n += 1;
        }
        assert!(n >= 15, "only {n} metrics registered");
    }
}
