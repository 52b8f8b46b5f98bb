//! The same metrics `/metrics` serves are pushed by OTLP/HTTP when an endpoint is
//! configured: a real HTTP receiver on loopback gets protobuf export requests that carry
//! vigil's instruments.

use axum::body::Bytes;
use axum::routing::post;
use std::time::Duration;
use tokio::sync::mpsc;
use vigil::config::OtlpConfig;
use vigil::telemetry::metrics::Metrics;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_pushed_by_otlp() {
    let (tx, mut rx) = mpsc::channel::<(String, Bytes)>(16);
    let app = axum::Router::new().route(
        "/v1/metrics",
        post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let ct = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let _ = tx.send((ct, body)).await;
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let config = OtlpConfig {
        endpoint: format!("http://{addr}/v1/metrics"),
        interval: Duration::from_millis(200),
    };
    let metrics = tokio::task::spawn_blocking(move || {
        let m = Metrics::with_otlp(Some(&config)).expect("metrics");
        m.consumer_lag("inference", 0, 42);
        m.snapshot_written(1.0);
        m
    })
    .await
    .expect("build");

    // A safety net against hangs, not a timing assertion.
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some((ct, body)) = rx.recv().await {
            assert_eq!(ct, "application/x-protobuf");
            let has = |name: &[u8]| body.windows(name.len()).any(|w| w == name);
            if has(b"vigil_consumer_lag") && has(b"vigil_state_snapshot_timestamp_seconds") {
                return true;
            }
        }
        false
    })
    .await
    .expect("an OTLP export arrived");
    assert!(found);
    tokio::task::spawn_blocking(move || metrics.shutdown())
        .await
        .expect("shutdown");
}
