//! Health and metrics endpoint: `/healthz` (the process is alive), `/readyz` (every
//! required secret has a value fresher than `max_staleness`), `/metrics` (Prometheus).
//! Listens on loopback by default; bodies name secrets, never values.

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
    health: SharedHealth,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(AppState { health, metrics });
    let r = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
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
