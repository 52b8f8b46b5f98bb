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
    /// Gauge: latency quantile of the latest window in ms, by `model`, `version`, `quantile`.
    pub const LATENCY: &str = "vigil_latency_milliseconds";
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
    /// Counter: notifications delivered, by `notifier` (the configured name).
    pub const NOTIFICATIONS_SENT: &str = "vigil_notifications_sent_total";
    /// Counter: notifications that failed permanently or ran out of retries, by `notifier`.
    pub const NOTIFICATIONS_FAILED: &str = "vigil_notifications_failed_total";
    /// Counter: notifications dropped on a full queue, by `notifier`.
    pub const NOTIFICATIONS_DROPPED: &str = "vigil_notifications_dropped_total";
    /// Counter: notification retry attempts, by `notifier`.
    pub const NOTIFICATIONS_RETRIED: &str = "vigil_notifications_retried_total";
}

/// The instruments.
#[derive(Debug)]
pub struct Metrics {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
    records: Counter<u64>,
    rejected: Counter<u64>,
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
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .without_units()
            .scope_info_enabled(false)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
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
                "Latency quantile of the latest window (ms).",
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
        meter
            .u64_gauge(names::BUILD_INFO)
            .with_description("Build information.")
            .build()
            .record(1, &[KeyValue::new("version", env!("CARGO_PKG_VERSION"))]);
        for r in RejectReason::ALL {
            m.rejected.add(0, &[KeyValue::new("reason", r.as_str())]);
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
        if let Some(m) = &fx.reference_completed {
            self.reference_ready
                .record(1, &[KeyValue::new("model", m.clone())]);
        }
        for r in &fx.reports {
            self.report(r);
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
        let mv = [
            KeyValue::new("model", r.model.clone()),
            KeyValue::new("version", r.version.clone()),
        ];
        self.windows.add(1, &mv);
        let rows = r
            .features
            .iter()
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
        for (q, v) in [
            ("0.5", r.ops.latency_p50),
            ("0.95", r.ops.latency_p95),
            ("0.99", r.ops.latency_p99),
        ] {
            if let Some(v) = v {
                let mut l = mv.to_vec();
                l.push(KeyValue::new("quantile", q));
                self.latency.record(v, &l);
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
