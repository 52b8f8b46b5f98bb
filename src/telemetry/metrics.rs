//! Every metric vigil exports, named in one place. Instruments are OpenTelemetry ones,
//! read by the Prometheus exporter for `/metrics` (the same meter provider can push OTLP).
//! Label values come from bounded sets only: model and version (capped by `limits`),
//! feature names (capped per model), rule names (from config), closed enums (reason, test,
//! state). Never request ids, raw error text or offsets.

use crate::act::deliver::{DeliveryObserver, Outcome};
use crate::act::policy::Decision;
use crate::alert::state::AlertEvent;
use crate::pipeline::Effects;
use crate::record::{Drift, RejectReason, WindowReport};
use opentelemetry::metrics::{Counter, Gauge, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, TextEncoder};

/// Names of every exported series (as Prometheus shows them). Dashboards and docs use these.
pub mod names {
    /// Counter: records consumed, by `kind`.
    pub const RECORDS: &str = "vigil_records_total";
    /// Counter: records rejected, by `reason`.
    pub const REJECTED: &str = "vigil_records_rejected_total";
    /// Counter: feature values of accepted records that were not monitored, by `model`,
    /// `reason` (`type_mismatch`: not the type of the feature's series; `too_many_features`:
    /// a feature beyond `limits.max_features_per_model`; `not_in_reference`: a feature the
    /// model's complete reference does not have).
    pub const FEATURE_VALUES_DROPPED: &str = "vigil_feature_values_dropped_total";
    /// Counter: idle models and metric series forgotten to make room for new ones at
    /// `limits.max_models` / `limits.max_metric_series`, by `kind` (`model`,
    /// `metric_series`; no name label: the names that push them out may be junk).
    pub const EVICTED: &str = "vigil_evicted_total";
    /// Counter: windows evaluated, by `model`, `version`.
    pub const WINDOWS: &str = "vigil_windows_evaluated_total";
    /// Gauge: test statistic of the latest window, by `model`, `version`, `feature`, `test`,
    /// `baseline` (`reference` | `previous_version`).
    pub const DRIFT_STATISTIC: &str = "vigil_drift_statistic";
    /// Gauge: raw p-value, same labels.
    pub const DRIFT_P_VALUE: &str = "vigil_drift_p_value";
    /// Gauge: p-value after false-alarm control, same labels.
    pub const DRIFT_P_ADJUSTED: &str = "vigil_drift_p_value_adjusted";
    /// Gauge: population stability index, same labels.
    pub const DRIFT_PSI: &str = "vigil_drift_psi";
    /// Gauge: error rate of the latest window, by `model`, `version`.
    pub const ERROR_RATE: &str = "vigil_error_rate";
    /// Gauge: a latency percentile of the latest window in seconds (Prometheus' base unit),
    /// by `model`, `version`, `percentile` (50, 95, 99). Not `quantile`: that label belongs
    /// to summaries, which this is not.
    pub const LATENCY: &str = "vigil_latency_seconds";
    /// Gauge: alert state (0 inactive, 1 pending, 2 firing), by `rule`, `model`, `version`,
    /// `severity`.
    pub const ALERT_STATE: &str = "vigil_alert_state";
    /// Counter: alert transitions, by `rule`, `state`.
    pub const ALERT_TRANSITIONS: &str = "vigil_alert_transitions_total";
    /// Counter: rollback commands issued, by `model`, `dry_run`.
    pub const ROLLBACKS: &str = "vigil_rollback_commands_total";
    /// Counter: rollbacks held back by a guardrail, by `model`, `reason`.
    pub const ROLLBACKS_SUPPRESSED: &str = "vigil_rollback_suppressed_total";
    /// Gauge: consumer lag in messages, by `topic`, `partition`.
    pub const CONSUMER_LAG: &str = "vigil_consumer_lag";
    /// Gauge: 1 once a model's reference profile is complete, by `model`.
    pub const REFERENCE_READY: &str = "vigil_reference_ready";
    /// Gauge: 1, with the build's `version`.
    pub const BUILD_INFO: &str = "vigil_build_info";
    /// Gauge: 1 when the latest window's adjusted p-value of a series is below
    /// [`super::DRIFT_FLAG_P`] (the built-in `input_drift` threshold), else 0; same labels
    /// as the drift statistics.
    pub const DRIFT_FLAG: &str = "vigil_drift_flag";
    /// Counter: inference records in evaluated windows, by `model`, `version` (counted when
    /// a window closes).
    pub const INFERENCE_RECORDS: &str = "vigil_inference_records_total";
    /// Gauge: Unix time of the latest state snapshot written (seconds).
    pub const SNAPSHOT_TIMESTAMP: &str = "vigil_state_snapshot_timestamp_seconds";
    /// The process collector's series (Linux): resident memory and CPU time.
    pub const PROCESS_RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
    /// See [`PROCESS_RESIDENT_MEMORY`].
    pub const PROCESS_CPU: &str = "process_cpu_seconds_total";

    /// Gauge: realised performance of the latest label window, by `model`, `version`,
    /// `metric` (`error`, `accuracy`, `precision`, `recall`, `f1`, `roc_auc`, `log_loss`,
    /// `mae`, `rmse`, `mape`).
    pub const PERFORMANCE: &str = "vigil_performance";
    /// Gauge: expected accuracy from the predictions' confidences (no labels needed) of the
    /// latest inference window, by `model`, `version`.
    pub const ESTIMATED_ACCURACY: &str = "vigil_estimated_accuracy";
    /// Gauge: estimated minus realised accuracy of the latest label window, by `model`,
    /// `version`.
    pub const ESTIMATE_ERROR: &str = "vigil_estimate_error";
    /// Gauge: the latest anomaly score of a serving-metric series, by `series` (capped by
    /// `limits.max_metric_series`), its `metric` name, `model` and `version` (its labels of
    /// those names, empty if it has none) and `detector` (`anomaly` for the combined score,
    /// `robust_z`, `ewma`, `seasonal`, `pattern`, `novelty`, `sustained`).
    pub const METRIC_ANOMALY: &str = "vigil_metric_anomaly_score";
    /// Counter: labels joined to their predictions.
    pub const LABELS_JOINED: &str = "vigil_labels_joined_total";
    /// Counter: predictions and labels that left the join store unjoined, by `side`
    /// (`prediction`, `label`) and `cause` (`expired`: past the TTL; `evicted`: the store
    /// was full).
    pub const LABELS_UNJOINED: &str = "vigil_labels_unjoined_total";
    /// Counter: notifications delivered, by `notifier` (its configured name).
    pub const NOTIFICATIONS_SENT: &str = "vigil_notifications_sent_total";
    /// Counter: notifications that failed for good (after retries), by `notifier`.
    pub const NOTIFICATIONS_FAILED: &str = "vigil_notifications_failed_total";
    /// Counter: notifications dropped because the notifier's queue was full, by `notifier`.
    pub const NOTIFICATIONS_DROPPED: &str = "vigil_notifications_dropped_total";
    /// Counter: notification retry attempts, by `notifier`.
    pub const NOTIFICATIONS_RETRIED: &str = "vigil_notifications_retried_total";

    /// Every name above: dashboards may query only these (tests/integration/dashboards.rs).
    pub const ALL: &[&str] = &[
        NOTIFICATIONS_SENT,
        NOTIFICATIONS_FAILED,
        NOTIFICATIONS_DROPPED,
        NOTIFICATIONS_RETRIED,
        PERFORMANCE,
        ESTIMATED_ACCURACY,
        ESTIMATE_ERROR,
        LABELS_JOINED,
        LABELS_UNJOINED,
        METRIC_ANOMALY,
        RECORDS,
        REJECTED,
        EVICTED,
        FEATURE_VALUES_DROPPED,
        WINDOWS,
        DRIFT_STATISTIC,
        DRIFT_P_VALUE,
        DRIFT_P_ADJUSTED,
        DRIFT_PSI,
        ERROR_RATE,
        LATENCY,
        ALERT_STATE,
        ALERT_TRANSITIONS,
        ROLLBACKS,
        ROLLBACKS_SUPPRESSED,
        CONSUMER_LAG,
        REFERENCE_READY,
        BUILD_INFO,
        DRIFT_FLAG,
        INFERENCE_RECORDS,
        SNAPSHOT_TIMESTAMP,
        PROCESS_RESIDENT_MEMORY,
        PROCESS_CPU,
    ];
}

/// The adjusted p-value below which `vigil_drift_flag` is 1.
pub const DRIFT_FLAG_P: f64 = 1e-4;

/// The instruments.
#[derive(Debug)]
pub struct Metrics {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
    records: Counter<u64>,
    rejected: Counter<u64>,
    feature_values_dropped: Counter<u64>,
    evicted: Counter<u64>,
    windows: Counter<u64>,
    statistic: Gauge<f64>,
    p_value: Gauge<f64>,
    p_adjusted: Gauge<f64>,
    psi: Gauge<f64>,
    error_rate: Gauge<f64>,
    latency: Gauge<f64>,
    alert_state: Gauge<u64>,
    transitions: Counter<u64>,
    rollbacks: Counter<u64>,
    suppressed: Counter<u64>,
    lag: Gauge<i64>,
    reference_ready: Gauge<u64>,
    drift_flag: Gauge<u64>,
    inference_records: Counter<u64>,
    snapshot_ts: Gauge<f64>,
    performance: Gauge<f64>,
    estimated_accuracy: Gauge<f64>,
    estimate_error: Gauge<f64>,
    labels_joined: Counter<u64>,
    metric_anomaly: Gauge<f64>,
    labels_unjoined: Counter<u64>,
    notifications_sent: Counter<u64>,
    notifications_failed: Counter<u64>,
    notifications_dropped: Counter<u64>,
    notifications_retried: Counter<u64>,
}

/// Errors setting up telemetry.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The exporter could not be built.
    #[error("prometheus exporter: {0}")]
    Exporter(String),
}

fn strip(name: &str) -> &str {
    // OpenTelemetry names counters without the `_total` the exporter appends.
    name.strip_suffix("_total").unwrap_or(name)
}

impl Metrics {
    /// Builds the meter provider and every instrument.
    pub fn new() -> Result<Metrics, TelemetryError> {
        Metrics::with_otlp(None)
    }

    /// Builds the meter provider, every instrument, and, when `otlp` is given, a periodic
    /// OTLP/HTTP push of the same metrics beside the Prometheus exposition.
    pub fn with_otlp(otlp: Option<&crate::config::OtlpConfig>) -> Result<Metrics, TelemetryError> {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .without_units()
            .scope_info_enabled(false)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let mut builder = SdkMeterProvider::builder().with_reader(exporter);
        if let Some(o) = otlp {
            use opentelemetry_otlp::WithExportConfig;
            crate::act::deliver::install_tls_provider();
            let push = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_endpoint(o.endpoint.clone())
                .build()
                .map_err(|e| TelemetryError::Exporter(format!("otlp {}: {e}", o.endpoint)))?;
            let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(push)
                .with_interval(o.interval)
                .build();
            builder = builder.with_reader(reader);
        }
        let provider = builder.build();
        let meter = provider.meter("vigil");
        let counter = |n: &str, d: &'static str| {
            meter
                .u64_counter(strip(n).to_string())
                .with_description(d)
                .build()
        };
        let gauge =
            |n: &str, d: &'static str| meter.f64_gauge(n.to_string()).with_description(d).build();
        let m = Metrics {
            records: counter(names::RECORDS, "Records consumed, by kind."),
            rejected: counter(
                names::REJECTED,
                "Records rejected and sent to the dead-letter sink, by reason.",
            ),
            feature_values_dropped: counter(
                names::FEATURE_VALUES_DROPPED,
                "Feature values of accepted records not monitored, by model and reason.",
            ),
            evicted: counter(
                names::EVICTED,
                "Idle models and metric series forgotten to make room for new ones, by kind.",
            ),
            windows: counter(names::WINDOWS, "Windows evaluated."),
            statistic: gauge(
                names::DRIFT_STATISTIC,
                "Two-sample test statistic of the latest window.",
            ),
            p_value: gauge(names::DRIFT_P_VALUE, "Raw p-value of the latest window."),
            p_adjusted: gauge(
                names::DRIFT_P_ADJUSTED,
                "p-value after false-alarm control across the window's tests.",
            ),
            psi: gauge(
                names::DRIFT_PSI,
                "Population stability index of the latest window.",
            ),
            error_rate: gauge(names::ERROR_RATE, "Error rate of the latest window."),
            latency: gauge(
                names::LATENCY,
                "Latency percentile of the latest window (seconds).",
            ),
            alert_state: meter
                .u64_gauge(names::ALERT_STATE)
                .with_description("Alert state: 0 inactive, 1 pending, 2 firing.")
                .build(),
            transitions: counter(names::ALERT_TRANSITIONS, "Alert state transitions."),
            rollbacks: counter(names::ROLLBACKS, "Rollback commands issued."),
            suppressed: counter(
                names::ROLLBACKS_SUPPRESSED,
                "Rollbacks held back by a guardrail.",
            ),
            lag: meter
                .i64_gauge(names::CONSUMER_LAG)
                .with_description("Consumer lag in messages.")
                .build(),
            reference_ready: meter
                .u64_gauge(names::REFERENCE_READY)
                .with_description("1 once the model's reference profile is complete.")
                .build(),
            drift_flag: meter
                .u64_gauge(names::DRIFT_FLAG)
                .with_description("1 when the latest window's adjusted p-value is below 1e-4.")
                .build(),
            inference_records: counter(
                names::INFERENCE_RECORDS,
                "Inference records in evaluated windows (counted when a window closes).",
            ),
            snapshot_ts: gauge(
                names::SNAPSHOT_TIMESTAMP,
                "Unix time of the latest state snapshot (seconds).",
            ),
            performance: gauge(
                names::PERFORMANCE,
                "Realised performance of the latest label window.",
            ),
            estimated_accuracy: gauge(
                names::ESTIMATED_ACCURACY,
                "Expected accuracy from the predictions' confidences.",
            ),
            estimate_error: gauge(
                names::ESTIMATE_ERROR,
                "Estimated minus realised accuracy of the latest label window.",
            ),
            labels_joined: counter(names::LABELS_JOINED, "Labels joined to their predictions."),
            metric_anomaly: gauge(
                names::METRIC_ANOMALY,
                "Latest anomaly score of a serving-metric series, by detector.",
            ),
            labels_unjoined: counter(
                names::LABELS_UNJOINED,
                "Predictions and labels that left the join store unjoined.",
            ),
            notifications_sent: counter(names::NOTIFICATIONS_SENT, "Notifications delivered."),
            notifications_failed: counter(
                names::NOTIFICATIONS_FAILED,
                "Notifications that failed permanently or ran out of retries.",
            ),
            notifications_dropped: counter(
                names::NOTIFICATIONS_DROPPED,
                "Notifications dropped because the notifier's queue was full.",
            ),
            notifications_retried: counter(
                names::NOTIFICATIONS_RETRIED,
                "Notification retry attempts after transient failures.",
            ),
            provider,
            registry,
        };
        m.labels_joined.add(0, &[]);
        for side in ["prediction", "label"] {
            for cause in ["expired", "evicted", "too_long"] {
                m.labels_unjoined.add(
                    0,
                    &[KeyValue::new("side", side), KeyValue::new("cause", cause)],
                );
            }
        }
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            // Registration fails only if the collector is registered twice on this fresh
            // registry, which cannot happen here.
            let _ = m.registry.register(Box::new(pc));
        }
        meter
            .u64_gauge(names::BUILD_INFO)
            .with_description("Build information.")
            .build()
            .record(1, &[KeyValue::new("version", env!("CARGO_PKG_VERSION"))]);
        for r in RejectReason::ALL {
            m.rejected.add(0, &[KeyValue::new("reason", r.as_str())]);
        }
        // Counters whose labels are known up front exist from the start, so that rate()
        // over them is 0, not empty, while nothing happens.
        for kind in ["model", "metric_series"] {
            m.evicted.add(0, &[KeyValue::new("kind", kind)]);
        }
        Ok(m)
    }

    /// Counts and records everything one record caused.
    pub fn observe(&self, fx: &Effects) {
        if let Some(k) = fx.accepted {
            self.records.add(1, &[KeyValue::new("kind", k.as_str())]);
        }
        if let Some(r) = &fx.rejection {
            self.rejected
                .add(1, &[KeyValue::new("reason", r.reason.as_str())]);
        }
        if let Some((model, d)) = &fx.dropped_values {
            for (reason, n) in [
                ("type_mismatch", d.mismatched),
                ("too_many_features", d.beyond_cap),
                ("not_in_reference", d.not_in_reference),
            ] {
                if n > 0 {
                    self.feature_values_dropped.add(
                        n,
                        &[
                            KeyValue::new("model", model.clone()),
                            KeyValue::new("reason", reason),
                        ],
                    );
                }
            }
        }
        if fx.evicted_series {
            self.evicted
                .add(1, &[KeyValue::new("kind", "metric_series")]);
        }
        if let Some(m) = &fx.reference_completed {
            self.reference_ready
                .record(1, &[KeyValue::new("model", m.clone())]);
        }
        if let Some((m, ready)) = &fx.evicted_model {
            self.evicted.add(1, &[KeyValue::new("kind", "model")]);
            // Only a model that had the series (a junk name gets none).
            if *ready {
                self.reference_ready
                    .record(0, &[KeyValue::new("model", m.clone())]);
            }
        }
        for r in &fx.reports {
            self.report(r);
        }
        let l = &fx.labels;
        if l.joined > 0 {
            self.labels_joined.add(l.joined, &[]);
        }
        let e = &l.expired;
        for (side, cause, n) in [
            ("prediction", "expired", e.predictions),
            ("label", "expired", e.labels),
            ("prediction", "evicted", e.evicted_predictions),
            ("label", "evicted", e.evicted_labels),
            ("prediction", "too_long", e.too_long_predictions),
            ("label", "too_long", e.too_long_labels),
        ] {
            if n > 0 {
                self.labels_unjoined.add(
                    n,
                    &[KeyValue::new("side", side), KeyValue::new("cause", cause)],
                );
            }
        }
        for a in &fx.alerts {
            self.alert(a);
        }
        for d in &fx.decisions {
            match d {
                Decision::Issue(c) => self.rollbacks.add(
                    1,
                    &[
                        KeyValue::new("model", c.model.clone()),
                        KeyValue::new("dry_run", c.dry_run),
                    ],
                ),
                Decision::Suppressed { model, reason, .. } => self.suppressed.add(
                    1,
                    &[
                        KeyValue::new("model", model.clone()),
                        KeyValue::new("reason", reason.as_str()),
                    ],
                ),
            }
        }
    }

    fn report(&self, r: &WindowReport) {
        if let Some(m) = &r.metric {
            // `series` identifies it; `metric`, `model` and `version` (empty when the
            // sample had none) are there to select on.
            let labels = |detector: &str| {
                [
                    KeyValue::new("series", m.series.clone()),
                    KeyValue::new("metric", m.name.clone()),
                    KeyValue::new("model", r.model.clone()),
                    KeyValue::new("version", r.version.clone()),
                    KeyValue::new("detector", detector.to_string()),
                ]
            };
            self.metric_anomaly.record(m.anomaly, &labels("anomaly"));
            for (d, v) in &m.scores {
                self.metric_anomaly.record(*v, &labels(d));
            }
            return;
        }
        let mv = [
            KeyValue::new("model", r.model.clone()),
            KeyValue::new("version", r.version.clone()),
        ];
        let mut mvk = mv.to_vec();
        mvk.push(KeyValue::new("kind", r.kind.as_str()));
        self.windows.add(1, &mvk);
        if let Some(p) = &r.performance {
            for metric in crate::alert::rule::PerfMetric::ALL {
                if let Some(v) = metric.of(&p.current) {
                    let mut l = mv.to_vec();
                    l.push(KeyValue::new("metric", metric.as_str()));
                    self.performance.record(v, &l);
                }
            }
            if let Some(e) = p.estimate_error {
                self.estimate_error.record(e, &mv);
            }
        }
        if r.kind != crate::record::WindowKind::Inference {
            return;
        }
        self.inference_records.add(r.ops.records, &mv);
        if let Some(a) = r.ops.estimated_accuracy {
            self.estimated_accuracy.record(a, &mv);
        }
        let rows = r
            .features
            .iter()
            .chain(&r.multivariate)
            .chain(&r.model_scores)
            .chain(&r.prediction_vs_reference)
            .map(|d| (d, "reference"))
            .chain(
                r.prediction_vs_previous
                    .iter()
                    .map(|d| (d, "previous_version")),
            );
        for (d, baseline) in rows {
            self.drift(&mv, d, baseline);
        }
        if let Some(e) = r.ops.error_rate {
            self.error_rate.record(e, &mv);
        }
        for (p, ms) in [
            ("50", r.ops.latency_p50),
            ("95", r.ops.latency_p95),
            ("99", r.ops.latency_p99),
        ] {
            if let Some(ms) = ms {
                let mut l = mv.to_vec();
                l.push(KeyValue::new("percentile", p));
                self.latency.record(ms / 1000.0, &l);
            }
        }
    }

    fn drift(&self, mv: &[KeyValue; 2], d: &Drift, baseline: &'static str) {
        let l = [
            mv[0].clone(),
            mv[1].clone(),
            KeyValue::new("feature", d.name.clone()),
            KeyValue::new("test", d.test.as_str()),
            KeyValue::new("baseline", baseline),
        ];
        self.statistic.record(d.result.statistic, &l);
        self.p_value.record(d.result.p_value, &l);
        self.p_adjusted.record(d.p_adjusted, &l);
        if let Some(p) = d.psi {
            self.psi.record(p, &l);
        }
        self.drift_flag
            .record((d.p_adjusted < DRIFT_FLAG_P) as u64, &l);
    }

    /// Records that a state snapshot was written at `unix_seconds` (wall clock).
    pub fn snapshot_written(&self, unix_seconds: f64) {
        self.snapshot_ts.record(unix_seconds, &[]);
    }

    fn alert(&self, a: &AlertEvent) {
        let state = a.state.gauge();
        self.alert_state.record(
            state,
            &[
                KeyValue::new("rule", a.rule.clone()),
                KeyValue::new("model", a.model.clone()),
                KeyValue::new("version", a.version.clone()),
                KeyValue::new("severity", a.severity.as_str()),
            ],
        );
        self.transitions.add(
            1,
            &[
                KeyValue::new("rule", a.rule.clone()),
                KeyValue::new("state", a.state.as_str()),
            ],
        );
    }

    /// Records one partition's consumer lag.
    pub fn consumer_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.lag.record(
            lag,
            &[
                KeyValue::new("topic", topic.to_string()),
                KeyValue::new("partition", partition as i64),
            ],
        );
    }

    /// Counts `n` notifications of `notifier` (a configured name) with `outcome`.
    pub fn notifications(&self, notifier: &str, outcome: Outcome, n: u64) {
        let c = match outcome {
            Outcome::Sent => &self.notifications_sent,
            Outcome::Failed => &self.notifications_failed,
            Outcome::Dropped => &self.notifications_dropped,
            Outcome::Retried => &self.notifications_retried,
        };
        c.add(n, &[KeyValue::new("notifier", notifier.to_string())]);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let families = self.registry.gather();
        if TextEncoder::new().encode(&families, &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Flushes and stops the meter provider.
    pub fn shutdown(&self) {
        let _ = self.provider.shutdown();
    }
}

impl DeliveryObserver for Metrics {
    fn record(&self, notifier: &str, outcome: Outcome, count: u64) {
        self.notifications(notifier, outcome, count);
    }
}

impl DeliveryObserver for super::Shared {
    fn record(&self, notifier: &str, outcome: Outcome, count: u64) {
        self.metrics.notifications(notifier, outcome, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::act::policy::{RollbackCommand, SuppressReason};
    use crate::alert::rule::Severity;
    use crate::alert::state::AlertState;
    use crate::record::{OpsStats, TestKind, TestResult};

    fn effects() -> Effects {
        let drift = Drift {
            name: "amount".into(),
            test: TestKind::Ks,
            result: TestResult {
                statistic: 0.3,
                p_value: 1e-9,
            },
            p_adjusted: 1e-8,
            psi: Some(0.4),
            n_current: 1000,
            n_baseline: 2000,
        };
        let report = WindowReport {
            kind: crate::record::WindowKind::Inference,
            model: "fraud".into(),
            version: "v2".into(),
            window: 0,
            start: 0,
            end: 1,
            features: vec![drift.clone()],
            prediction_vs_reference: vec![],
            prediction_vs_previous: vec![drift],
            ops: OpsStats {
                records: 1000,
                with_status: 1000,
                errors: 10,
                error_rate: Some(0.01),
                latency_p50: Some(10.0),
                latency_p95: Some(20.0),
                latency_p99: Some(30.0),
                score_mean: Some(0.2),
                estimated_accuracy: Some(0.9),
            },
            ops_reference: None,
            ops_previous: None,
            previous_version: Some("v1".into()),
            error_rate_p_vs_previous: None,
            error_rate_p_vs_reference: None,
            performance: None,
            changes: Vec::new(),
            metric: None,
            multivariate: Vec::new(),
            model_scores: Vec::new(),
        };
        let alert = AlertEvent {
            rule: "r".into(),
            model: "fraud".into(),
            version: "v2".into(),
            series: None,
            state: AlertState::Firing,
            severity: Severity::Critical,
            at: "t".into(),
            active_at: "t".into(),
            starts_at: "t".into(),
            ends_at: None,
            summary: "s".into(),
            details: serde_json::Value::Null,
            previous_version: None,
            fingerprint: "f".into(),
        };
        let cmd = RollbackCommand {
            kind: "rollback".into(),
            model: "fraud".into(),
            from_version: "v2".into(),
            to_version: "v1".into(),
            reason: "r".into(),
            rule: "r".into(),
            incident: "f".into(),
            idempotency_key: "k".into(),
            issued_at: "t".into(),
            dry_run: true,
        };
        let perf = crate::record::Performance {
            labelled: 500,
            error: Some(0.2),
            accuracy: Some(0.8),
            ..Default::default()
        };
        let labels = WindowReport {
            kind: crate::record::WindowKind::Labels,
            model: "fraud".into(),
            version: "v2".into(),
            performance: Some(crate::record::PerformanceSection {
                task: "binary".into(),
                current: perf,
                estimated_accuracy: Some(0.82),
                estimate_error: Some(0.02),
                ..Default::default()
            }),
            ..Default::default()
        };
        let metric = WindowReport {
            kind: crate::record::WindowKind::Metric,
            model: "fraud".into(),
            metric: Some(crate::record::MetricSection {
                series: "gpu_utilization{model=\"fraud\"}".into(),
                name: "gpu_utilization".into(),
                value: 0.9,
                scores: [("robust_z".to_string(), 0.2)].into_iter().collect(),
                anomaly: 0.2,
                ..Default::default()
            }),
            ..Default::default()
        };
        Effects {
            accepted: Some(crate::record::RecordKind::Inference),
            reports: vec![report, labels, metric],
            alerts: vec![alert],
            decisions: vec![
                Decision::Issue(cmd),
                Decision::Suppressed {
                    model: "fraud".into(),
                    version: "v2".into(),
                    rule: "r".into(),
                    reason: SuppressReason::Cooldown,
                },
            ],
            reference_completed: Some("fraud".into()),
            evicted_model: Some(("idle".into(), true)),
            dropped_values: Some((
                "fraud".into(),
                crate::route::DroppedValues {
                    mismatched: 2,
                    ..Default::default()
                },
            )),
            ..Effects::default()
        }
    }

    #[test]
    fn latency_is_in_seconds_by_percentile_and_metric_scores_select_by_model() {
        let m = Metrics::new().expect("metrics");
        m.observe(&effects());
        let text = m.render();
        let line = |name: &str, has: &[&str]| {
            text.lines()
                .find(|l| l.starts_with(&format!("{name}{{")) && has.iter().all(|h| l.contains(h)))
                .unwrap_or_else(|| panic!("no {name} with {has:?} in:\n{text}"))
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .expect("a value")
        };
        // The fixture's window has p99 30 ms.
        assert_eq!(
            line(names::LATENCY, &["percentile=\"99\"", "version=\"v2\""]),
            0.03
        );
        assert!(!text.contains("quantile="), "{text}");
        let score = line(
            names::METRIC_ANOMALY,
            &[
                "metric=\"gpu_utilization\"",
                "model=\"fraud\"",
                "detector=\"robust_z\"",
            ],
        );
        assert_eq!(score, 0.2);
    }

    #[test]
    fn every_exported_family_is_named_in_one_place() {
        let m = Metrics::new().expect("metrics");
        m.observe(&effects());
        m.consumer_lag("inference", 0, 5);
        m.snapshot_written(1.0);
        let text = m.render();
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert!(families.len() >= 15, "{text}");
        for f in &families {
            let counter = format!("{f}_total");
            assert!(
                f.starts_with("process_")
                    || names::ALL.contains(f)
                    || names::ALL.contains(&counter.as_str()),
                "{f} is exported but not listed in names::ALL"
            );
        }
        for n in names::ALL {
            if n.starts_with("vigil_notifications_")
                || (n.starts_with("process_") && !cfg!(target_os = "linux"))
            {
                continue; // registered by the notifiers, per configured notifier
            }
            let bare = n.strip_suffix("_total").unwrap_or(n);
            assert!(
                families.iter().any(|f| *f == *n || *f == bare),
                "{n} is not exported:\n{text}"
            );
        }
        assert!(text.contains(r#"vigil_drift_flag{baseline="reference",feature="amount",model="fraud",test="ks",version="v2"} 1"#), "{text}");
        assert!(
            text.contains(
                r#"vigil_feature_values_dropped_total{model="fraud",reason="type_mismatch"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"vigil_evicted_total{kind="model"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"vigil_reference_ready{model="idle"} 0"#),
            "{text}"
        );
        // A reason with nothing dropped is not a series.
        assert!(
            !text.contains(
                r#"vigil_feature_values_dropped_total{model="fraud",reason="too_many_features"}"#
            ),
            "{text}"
        );
    }
}
