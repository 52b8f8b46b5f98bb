//! The same metrics `/metrics` serves are pushed by OTLP/HTTP when an endpoint is
//! configured: an HTTP receiver on loopback gets export requests, decoded with the OTLP
//! protocol's own types (opentelemetry-proto), that carry vigil's instruments with their
//! values and attributes. (No OTLP collector is packaged where this runs: Debian's
//! Prometheus 2.42 predates its OTLP receiver, and the OpenTelemetry Collector is not in
//! Debian, PyPI or npm.)

use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::NumberDataPoint;
use prost::Message;
use std::collections::BTreeMap;
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
    let (lag, snapshot) = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some((ct, body)) = rx.recv().await {
            assert_eq!(ct, "application/x-protobuf");
            let req = ExportMetricsServiceRequest::decode(body).expect("an OTLP export request");
            let points = gauge_points(&req);
            if let (Some(lag), Some(snap)) = (
                points.get("vigil_consumer_lag"),
                points.get("vigil_state_snapshot_timestamp_seconds"),
            ) {
                return (lag.clone(), snap.clone());
            }
        }
        panic!("the receiver closed before both instruments arrived");
    })
    .await
    .expect("an OTLP export with both instruments arrived");
    assert_eq!(lag.len(), 1, "{lag:?}");
    assert_eq!(number(&lag[0]), 42.0);
    assert_eq!(
        attributes(&lag[0]),
        BTreeMap::from([
            ("partition".to_string(), "0".to_string()),
            ("topic".to_string(), "inference".to_string()),
        ])
    );
    assert_eq!(snapshot.len(), 1, "{snapshot:?}");
    assert_eq!(number(&snapshot[0]), 1.0);
    tokio::task::spawn_blocking(move || metrics.shutdown())
        .await
        .expect("shutdown");
}

/// The gauges' data points of an export request, by instrument name.
fn gauge_points(req: &ExportMetricsServiceRequest) -> BTreeMap<String, Vec<NumberDataPoint>> {
    let mut out = BTreeMap::new();
    for rm in &req.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                if let Some(Data::Gauge(g)) = &m.data {
                    out.insert(m.name.clone(), g.data_points.clone());
                }
            }
        }
    }
    out
}

fn number(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(Number::AsInt(i)) => i as f64,
        Some(Number::AsDouble(d)) => d,
        None => f64::NAN,
    }
}

/// A data point's attributes, each value as text.
fn attributes(p: &NumberDataPoint) -> BTreeMap<String, String> {
    p.attributes
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::IntValue(i)) => i.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}
