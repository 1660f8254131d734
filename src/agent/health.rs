//! Health and metrics endpoint: `/healthz` (the process is alive), `/readyz` (every
//! required secret has a value fresher than `max_staleness`), `/metrics` (Prometheus).
//! Listens on loopback by default; bodies name secrets, never values. With
//! `agent.tls_certificate` it serves HTTPS through [`crate::tls::reload::ReloadableResolver`],
//! so a rotated certificate is served from the next handshake on.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use super::run::{update_freshness, SharedHealth};

#[derive(Clone)]
struct AppState {
    health: SharedHealth,
    metrics: Arc<Metrics>,
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    health: SharedHealth,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(AppState { health, metrics });
    let stop = async move { shutdown.cancelled().await };
    let r = match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
        Some(config) => match crate::tls::reload::TlsListener::new(listener, config) {
            Ok(l) => axum::serve(l, app).with_graceful_shutdown(stop).await,
            Err(e) => Err(e),
        },
    };
    if let Err(e) = r {
        tracing::error!("health server stopped: {e}");
    }
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let not_ready = s.health.lock().map(|h| h.not_ready()).unwrap_or_default();
    if not_ready.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready (missing or stale): {}\n", not_ready.join(", ")),
        )
    }
}

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    update_freshness(&s.health, &s.metrics);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}
