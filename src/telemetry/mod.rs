//! Telemetry, to the side of the pipeline: metrics ([`metrics`]) and the HTTP endpoints
//! (`/metrics`, `/healthz`, `/readyz`, `/api/v1/alerts`). The pipeline never calls in here;
//! the app feeds it the effects the pipeline returned.

pub mod metrics;

use crate::alert::state::ActiveAlert;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// What the HTTP endpoints read.
#[derive(Debug)]
pub struct Shared {
    /// The instruments.
    pub metrics: metrics::Metrics,
    /// Set once the source is consuming (Kafka partitions assigned, or the file opened).
    pub ready: AtomicBool,
    /// Pending and firing alerts, refreshed by the app after each alert transition.
    pub alerts: Mutex<Vec<ActiveAlert>>,
    /// Messages handled by this process so far (tests and the demo await it).
    pub handled: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    /// Fresh shared state.
    pub fn new() -> Result<Arc<Shared>, metrics::TelemetryError> {
        Shared::with_otlp(None)
    }

    /// Fresh shared state whose metrics are also pushed by OTLP when `otlp` is given.
    pub fn with_otlp(
        otlp: Option<&crate::config::OtlpConfig>,
    ) -> Result<Arc<Shared>, metrics::TelemetryError> {
        Ok(Arc::new(Shared {
            metrics: metrics::Metrics::with_otlp(otlp)?,
            ready: AtomicBool::new(false),
            alerts: Mutex::new(Vec::new()),
            handled: tokio::sync::watch::Sender::new(0),
        }))
    }

    /// Replaces the alert list served at `/api/v1/alerts`.
    pub fn set_alerts(&self, alerts: Vec<ActiveAlert>) {
        if let Ok(mut a) = self.alerts.lock() {
            *a = alerts;
        }
    }
}

async fn metrics_handler(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

async fn readyz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn alerts(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let list = s.alerts.lock().map(|a| a.clone()).unwrap_or_default();
    Json(serde_json::json!({ "status": "success", "data": { "alerts": list } }))
}

/// The HTTP router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/alerts", get(alerts))
        .with_state(shared)
}

/// Binds `addr` (so a port clash fails at start, not later) and returns the bound address
/// and a future that serves until `stop` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>>,
)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let fut = async move {
        axum::serve(listener, router(shared))
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    };
    Ok((bound, fut))
}
