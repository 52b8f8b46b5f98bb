//! Telemetry, to the side of the pipeline: metrics ([`metrics`]) and the HTTP endpoints
//! (`/metrics`, `/healthz`, `/readyz`, `/api/v1/alerts`). The pipeline never calls in here;
//! the app feeds it the effects the pipeline returned.

pub mod metrics;

use crate::alert::state::ActiveAlert;
use axum::extract::{RawQuery, State};
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

/// The query parameters `/api/v1/alerts` filters on (the `generatorURL` vigil sends to
/// Alertmanager links `?fingerprint=`). Each one given must match; a repeated one matches
/// any of its values.
const ALERT_FILTERS: [&str; 6] = [
    "fingerprint",
    "rule",
    "model",
    "version",
    "state",
    "severity",
];

fn alert_field<'a>(a: &'a ActiveAlert, key: &str) -> &'a str {
    match key {
        "fingerprint" => &a.fingerprint,
        "rule" => &a.rule,
        "model" => &a.model,
        "version" => &a.version,
        "state" => a.state.as_str(),
        "severity" => a.severity.as_str(),
        _ => unreachable!("checked against ALERT_FILTERS"),
    }
}

async fn alerts(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> impl IntoResponse {
    let mut filters: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in form_urlencoded::parse(q.unwrap_or_default().as_bytes()) {
        if !ALERT_FILTERS.contains(&k.as_ref()) {
            let body = serde_json::json!({
                "status": "error",
                "errorType": "bad_data",
                "error": format!(
                    "unknown parameter {k:?}; filters are {}",
                    ALERT_FILTERS.join(", ")
                ),
            });
            return (StatusCode::BAD_REQUEST, Json(body));
        }
        match filters.iter_mut().find(|(f, _)| *f == k) {
            Some((_, vs)) => vs.push(v.into_owned()),
            None => filters.push((k.into_owned(), vec![v.into_owned()])),
        }
    }
    let list: Vec<ActiveAlert> = s
        .alerts
        .lock()
        .map(|a| {
            a.iter()
                .filter(|a| {
                    filters
                        .iter()
                        .all(|(k, vs)| vs.iter().any(|v| v == alert_field(a, k)))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let body = serde_json::json!({ "status": "success", "data": { "alerts": list } });
    (StatusCode::OK, Json(body))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rule::Severity;
    use crate::alert::state::AlertState;

    fn alert(rule: &str, version: &str, state: AlertState, fingerprint: &str) -> ActiveAlert {
        ActiveAlert {
            rule: rule.into(),
            model: "fraud".into(),
            version: version.into(),
            series: None,
            state,
            severity: Severity::Critical,
            active_at: "2026-12-01T00:00:00Z".into(),
            fired_at: None,
            summary: String::new(),
            details: serde_json::Value::Null,
            fingerprint: fingerprint.into(),
        }
    }

    #[tokio::test]
    async fn the_alert_list_filters_on_the_query_so_a_generator_url_names_one_alert() {
        let shared = Shared::new().expect("telemetry");
        shared.set_alerts(vec![
            alert("input_drift", "v2", AlertState::Firing, "aaaa"),
            alert("error_rate_regression", "v2", AlertState::Pending, "bbbb"),
            alert("input_drift", "v1", AlertState::Firing, "cccc"),
        ]);
        let stop = CancellationToken::new();
        let (addr, serving) = serve("127.0.0.1:0".parse().unwrap(), shared, stop.clone())
            .await
            .expect("bind");
        let server = tokio::spawn(serving);
        let client =
            crate::act::deliver::http_client(std::time::Duration::from_secs(10)).expect("client");
        let get = |q: &'static str| {
            let client = client.clone();
            async move {
                let r = client
                    .get(format!("http://{addr}/api/v1/alerts{q}"))
                    .send()
                    .await
                    .expect("GET");
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.expect("JSON");
                let fps: Vec<String> = body["data"]["alerts"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|a| a["fingerprint"].as_str().unwrap_or("").to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                (status, fps, body)
            }
        };
        assert_eq!(get("").await.1, ["aaaa", "bbbb", "cccc"]);
        assert_eq!(get("?fingerprint=bbbb").await.1, ["bbbb"]);
        assert_eq!(get("?rule=input_drift&version=v2").await.1, ["aaaa"]);
        assert_eq!(
            get("?version=v1&version=v2&state=firing").await.1,
            ["aaaa", "cccc"]
        );
        assert!(get("?fingerprint=zzzz").await.1.is_empty());
        let (status, _, body) = get("?fingerprnt=aaaa").await;
        assert_eq!(status, 400);
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("fingerprnt")),
            "{body}"
        );
        stop.cancel();
        server.await.expect("join").expect("served");
    }
}
