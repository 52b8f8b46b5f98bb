//! vigil's integration tests, in one test binary: one link of the whole stack instead of
//! one per file (each is ~100 MB in the dev profile), which saves CI minutes and gigabytes.
//!
//! - `kafka_pipeline`: the daemon against librdkafka's in-process mock cluster;
//! - `replay`: the `vigil` binary on JSONL logs;
//! - `notify_alertmanager`, `otlp`: delivery to a real Alertmanager and an OTLP receiver;
//! - `dashboards`: the shipped Grafana dashboards against the exported metric names;
//! - `reference_*`: detectors against values the scripts under `scripts/` computed with
//!   scipy, scikit-learn, River and onnxruntime (fixtures in `testdata/fixtures/`).

mod common;
mod reference;

mod dashboards;
mod kafka_pipeline;
mod notify_alertmanager;
mod otlp;
mod reference_multivariate;
mod reference_online;
mod reference_onnx;
mod reference_performance;
mod reference_values;
mod replay;
