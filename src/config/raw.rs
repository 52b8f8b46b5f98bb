//! The config file as written: serde types with `deny_unknown_fields` (every struct defaulted,
//! which lets `schema` take a bad key out and go on), strings where the user
//! writes durations and window specs. Nothing here is trusted; `validate` turns it
//! into the typed [`super::Config`], collecting every error with its path.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `[kafka]`: only needed by `vigil run`.
    pub kafka: Option<RawKafka>,
    /// `[http]`.
    pub http: RawHttp,
    /// `[state]`.
    pub state: RawState,
    /// `[limits]`.
    pub limits: RawLimits,
    /// `[defaults]`: monitoring settings for every model.
    pub defaults: RawModel,
    /// `[models.NAME]`: per-model overrides of `[defaults]`.
    pub models: BTreeMap<String, RawModel>,
    /// `[[rules]]`: alert rules. Absent means the built-in rules.
    pub rules: Option<Vec<RawRule>>,
    /// `[labels]`: the label join.
    pub labels: RawJoin,
    /// `[notify]`: Alertmanager and webhooks.
    pub notify: RawNotify,
    /// `[telemetry]`: OTLP push.
    pub telemetry: RawTelemetry,
    /// `[metrics]`: serving-metric anomaly detection (`enabled` plus the detector
    /// settings); validated by hand so that every error carries its path.
    pub metrics: Option<toml::Table>,
}

/// `[notify]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNotify {
    /// `[[notify.alertmanager]]`.
    pub alertmanager: Vec<RawAlertmanager>,
    /// `[[notify.webhooks]]`.
    pub webhooks: Vec<RawWebhook>,
}

/// One `[[notify.alertmanager]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAlertmanager {
    /// Notifier name (metric label).
    pub name: Option<String>,
    /// Alertmanager URLs; each gets every alert.
    pub urls: Vec<String>,
    /// Labels added to every alert.
    pub static_labels: BTreeMap<String, String>,
    /// This vigil's base URL for `generatorURL`.
    pub generator_url: Option<String>,
    /// Dashboard link template.
    pub dashboard_url: Option<String>,
    /// Re-send interval for firing alerts.
    pub resend_interval: Option<String>,
    /// How long resolved alerts keep being re-sent.
    pub resolved_retention: Option<String>,
    /// Per-request timeout.
    pub timeout: Option<String>,
    /// Queue capacity per URL (batches).
    pub queue: Option<u64>,
    /// Alerts per request.
    pub max_batch: Option<u64>,
}

/// One `[[notify.webhooks]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWebhook {
    /// Notifier name (metric label).
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// `alerts` or `commands`.
    pub kind: Option<String>,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// Environment variable holding the signing secret.
    pub secret_env: Option<String>,
    /// File holding the signing secret.
    pub secret_file: Option<String>,
    /// Alert states sent (alerts webhooks).
    pub states: Option<Vec<String>>,
    /// Per-request timeout.
    pub timeout: Option<String>,
    /// Queue capacity.
    pub queue: Option<u64>,
}

/// `[telemetry]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTelemetry {
    /// OTLP/HTTP metrics endpoint, e.g. `http://collector:4318/v1/metrics`.
    pub otlp_endpoint: Option<String>,
    /// Push interval.
    pub otlp_interval: Option<String>,
}

/// `[labels]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawJoin {
    /// Largest event-time distance between a prediction and its label.
    pub ttl: Option<String>,
    /// Predictions and labels waiting at most, all models together.
    pub max_pending: Option<u64>,
}

/// `labels` table of a model.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLabels {
    /// Keep predictions for joining.
    pub enabled: Option<bool>,
    /// `binary`, `multiclass`, `regression`.
    pub task: Option<String>,
    /// Positive class of a binary classifier.
    pub positive_class: Option<String>,
    /// `positive_class` or `predicted_label`.
    pub score: Option<String>,
    /// Decision threshold when a prediction has no label.
    pub threshold: Option<f64>,
    /// `"500 labels"` or an event-time span.
    pub window: Option<String>,
    /// Labels in the reference period.
    pub reference_labels: Option<u64>,
    /// Smallest label window compared with.
    pub min_window_labels: Option<u64>,
    /// The change detector on the label stream: a table with a `kind`, or `"none"`.
    pub change_detector: Option<toml::Value>,
    /// `label_error` or `label_loss`.
    pub change_stream: Option<String>,
}

/// `[kafka]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawKafka {
    /// `bootstrap.servers`.
    pub brokers: Option<String>,
    /// Consumer group id.
    pub group_id: Option<String>,
    /// Topics to consume, each with the kind of record it carries.
    pub topics: Vec<RawTopic>,
    /// Topic for alert transitions (optional).
    pub alerts_topic: Option<String>,
    /// Topic for rollback commands (optional; without it commands only go to the log).
    pub commands_topic: Option<String>,
    /// Topic for rejected records.
    pub dead_letter_topic: Option<String>,
    /// How often effects are flushed, state is snapshotted and offsets are committed.
    pub commit_interval: Option<String>,
    /// Any librdkafka property, passed through (security.protocol, sasl.*, ssl.*, ...).
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties for the consumer only (session.timeout.ms, fetch.*, ...).
    pub consumer_properties: BTreeMap<String, String>,
    /// librdkafka properties for the producer only (compression.type, ...).
    pub producer_properties: BTreeMap<String, String>,
}

/// One `[[kafka.topics]]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTopic {
    /// Topic name.
    pub name: String,
    /// `inference`, `label` or `metric`.
    pub kind: String,
}

/// `[http]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHttp {
    /// Listen address, default `127.0.0.1:9464`.
    pub listen: Option<String>,
}

/// `[state]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawState {
    /// Directory for snapshots and the command log.
    pub dir: Option<String>,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    /// Models tracked at once.
    pub max_models: Option<u64>,
    /// At `max_models` / `max_metric_series`, a model or series silent this long (event
    /// time) makes room for a new one.
    pub evict_idle_after: Option<String>,
    /// Versions tracked per model at once.
    pub max_versions_per_model: Option<u64>,
    /// Features per model (reference and windows).
    pub max_features_per_model: Option<u64>,
    /// Distinct categories kept per categorical feature.
    pub max_categories: Option<u64>,
    /// Largest accepted message.
    pub max_record_bytes: Option<u64>,
    /// How far a record's `ts` may lie from the newest event time seen.
    pub max_timestamp_skew: Option<String>,
    /// Serving-metric series tracked at once.
    pub max_metric_series: Option<u64>,
}

/// Per-model monitoring settings (`[defaults]` and `[models.NAME]`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawModel {
    /// `"1000 records"` or an event-time duration such as `"5m"`.
    pub window: Option<String>,
    /// Records that form the reference when no baseline file is given.
    pub reference_size: Option<u64>,
    /// Values kept per feature in the reference.
    pub reference_sample_size: Option<u64>,
    /// Values kept per feature in a window.
    pub window_sample_size: Option<u64>,
    /// Windows with fewer records are not tested.
    pub min_window_records: Option<u64>,
    /// PSI bins.
    pub psi_bins: Option<u64>,
    /// `none`, `bonferroni`, `benjamini_hochberg`.
    pub correction: Option<String>,
    /// Baseline profile file built by `vigil baseline`.
    pub baseline: Option<String>,
    /// Features not to monitor.
    pub exclude_features: Option<Vec<String>>,
    /// Rollback policy.
    pub rollback: Option<RawRollback>,
    /// Labels.
    pub labels: Option<RawLabels>,
    /// `[[models.X.detectors]]`: extra detectors, each a table with a `kind`; validated by
    /// hand so that every error carries its path.
    pub detectors: Option<Vec<toml::Table>>,
}

/// `rollback` table of a model.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRollback {
    /// Whether rollback commands are issued at all.
    pub enabled: Option<bool>,
    /// Commands are marked `dry_run` and the serving layer must not act on them.
    pub dry_run: Option<bool>,
    /// Windows an eligible alert must have been firing.
    pub min_firing_windows: Option<u64>,
    /// Records each of those windows must hold.
    pub min_window_records: Option<u64>,
    /// Consecutive quiet windows before a version is a known-good target.
    pub healthy_windows: Option<u64>,
    /// The alert must have become pending within this many windows of the version's first.
    pub onset_windows: Option<u64>,
    /// Event-time cooldown per model.
    pub cooldown: Option<String>,
    /// Commands per model per event-time hour.
    pub max_per_hour: Option<u64>,
}

/// One `[[rules]]` entry.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRule {
    /// Unique rule name.
    pub name: String,
    /// `info`, `warning`, `critical`.
    pub severity: Option<String>,
    /// Fixed summary text (else generated from the statistics).
    pub summary: Option<String>,
    /// How long the condition must hold: `"3 windows"` or `"10m"`.
    #[serde(rename = "for")]
    pub for_: Option<String>,
    /// Quiet time before a firing alert resolves.
    pub keep_firing_for: Option<String>,
    /// Whether this rule may drive a rollback.
    pub rollback: Option<bool>,
    /// The firing condition.
    pub when: Option<RawCondition>,
    /// Optional looser condition that keeps a firing alert firing (hysteresis).
    pub resolve_when: Option<RawCondition>,
}

/// A condition, tagged by `kind`; validated by hand so that every error carries its path.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCondition {
    /// `feature_drift`, `prediction_drift`, `ops_ratio`, `ops_above`.
    pub kind: String,
    /// Adjusted p-value threshold.
    pub p_below: Option<f64>,
    /// PSI threshold.
    pub psi_above: Option<f64>,
    /// Features that must drift.
    pub at_least: Option<u64>,
    /// `reference` or `previous_version`.
    pub against: Option<String>,
    /// `error_rate`, `latency_p50`, `latency_p95`, `latency_p99`, `score_mean`.
    pub signal: Option<String>,
    /// Ratio to the baseline.
    pub ratio: Option<f64>,
    /// Absolute floor for the current value.
    pub min_value: Option<f64>,
    /// Significance required for error-rate ratios.
    pub max_p: Option<f64>,
    /// Absolute threshold for `ops_above`.
    pub above: Option<f64>,
    /// Absolute worsening for `ops_drop` and `performance`.
    pub drop: Option<f64>,
    /// Metric for `performance`.
    pub metric: Option<String>,
    /// Stream for `change_point`.
    pub stream: Option<String>,
    /// `up`, `down` or `any` for `change_point`.
    pub direction: Option<String>,
    /// Smallest change of the mean for `change_point`.
    pub min_change: Option<f64>,
    /// Metric name (or `prefix*`) for `metric_anomaly`.
    pub name: Option<String>,
}
