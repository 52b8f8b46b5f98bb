//! The shared vocabulary of the pipeline: decoded records, series keys, and the verdicts
//! detectors produce. Every stage may use these types; this module depends on nothing
//! downstream (no Kafka, no HTTP, no clock, no metrics registry).

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Event time in milliseconds since the Unix epoch (UTC). Every window, `for` duration and
/// cooldown in vigil is measured on this, never on the wall clock.
pub type Ts = i64;

/// Formats an event time as RFC 3339 with millisecond precision (`2026-11-28T19:37:38.000Z`).
pub fn ts_to_rfc3339(ts: Ts) -> String {
    match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ts) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => ts.to_string(),
    }
}

/// What a topic, a file line or a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// One prediction logged by a model server.
    Inference,
    /// A ground-truth label that arrives later for an earlier prediction.
    Label,
    /// One sample of a serving metric (latency, error rate, GPU use, queue depth...).
    Metric,
}

impl RecordKind {
    /// The bounded label value used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Inference => "inference",
            RecordKind::Label => "label",
            RecordKind::Metric => "metric",
        }
    }
}

/// The value of one input feature.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValue<'a> {
    /// A finite number: tested with KS and PSI.
    Num(f64),
    /// A string category: tested with chi-squared.
    Cat(Cow<'a, str>),
    /// A boolean: treated as the categories `"true"` / `"false"`.
    Bool(bool),
    /// An explicit null: counted as missing, not tested.
    Null,
}

/// The model's output, normalised to an optional numeric score and an optional label.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prediction<'a> {
    /// Numeric output: a regression value, a score, or the highest class probability.
    pub score: Option<f64>,
    /// Categorical output: a class label, or the arg-max index of `probs`.
    pub label: Option<Cow<'a, str>>,
    /// The model's probability for its own prediction: the highest of `probs`, or for a
    /// score in [0, 1] read as a binary probability, `max(score, 1 - score)`. Its mean is
    /// the expected accuracy of a calibrated classifier (confidence-based estimation).
    pub confidence: Option<f64>,
}

/// How the serving layer reported the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Served successfully.
    Ok,
    /// Failed (status `"error"`, or a numeric/string code that is not a success code).
    Error,
}

/// One prediction, borrowed from the message it was decoded from.
#[derive(Debug, Clone, PartialEq)]
pub struct InferenceRecord<'a> {
    /// Event time.
    pub ts: Ts,
    /// Model name.
    pub model: Cow<'a, str>,
    /// Model version.
    pub version: Cow<'a, str>,
    /// Request id (used to join labels in a later stage).
    pub request_id: Cow<'a, str>,
    /// Input features in message order.
    pub features: Vec<(Cow<'a, str>, FeatureValue<'a>)>,
    /// The model's output.
    pub prediction: Prediction<'a>,
    /// Serving latency in milliseconds, when logged.
    pub latency_ms: Option<f64>,
    /// Outcome of the request, when logged.
    pub status: Option<Status>,
}

/// A ground-truth label for an earlier prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRecord<'a> {
    /// Event time of the label.
    pub ts: Ts,
    /// Model name.
    pub model: Cow<'a, str>,
    /// Request id of the prediction it labels.
    pub request_id: Cow<'a, str>,
    /// The label: a number (regression) or a class.
    pub label: FeatureValue<'a>,
}

/// One sample of a serving metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSample<'a> {
    /// Event time.
    pub ts: Ts,
    /// Metric name, e.g. `latency_p99_ms` or `gpu_utilization`.
    pub name: Cow<'a, str>,
    /// Labels; `model` and `version` when they apply.
    pub labels: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The sample value (finite).
    pub value: f64,
}

/// A decoded record of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Record<'a> {
    /// See [`InferenceRecord`].
    Inference(InferenceRecord<'a>),
    /// See [`LabelRecord`].
    Label(LabelRecord<'a>),
    /// See [`MetricSample`].
    Metric(MetricSample<'a>),
}

impl Record<'_> {
    /// The record's event time.
    pub fn ts(&self) -> Ts {
        match self {
            Record::Inference(r) => r.ts,
            Record::Label(r) => r.ts,
            Record::Metric(r) => r.ts,
        }
    }
}

/// Why a record was rejected. The set is closed so that the `reason` metric label stays
/// bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The bytes are not a JSON object.
    NotJson,
    /// The message is larger than `limits.max_record_bytes`.
    TooLarge,
    /// A required field (`ts`, `model`, ...) is absent.
    MissingField,
    /// A field has the wrong JSON type.
    WrongType,
    /// A number is NaN or infinite (or out of range).
    NonFinite,
    /// `ts` is unparseable or too far from the stream's event time.
    BadTimestamp,
    /// The kind could not be told from the line's shape, or `kind` is unknown.
    UnknownKind,
    /// The model would exceed `limits.max_models`.
    TooManyModels,
    /// The version would exceed `limits.max_versions_per_model`.
    TooManyVersions,
    /// The record has more features than `limits.max_features_per_model` allows.
    TooManyFeatures,
    /// The metric series would exceed `limits.max_metric_series`.
    TooManySeries,
}

impl RejectReason {
    /// Every reason, for pre-registering metrics.
    pub const ALL: [RejectReason; 11] = [
        RejectReason::NotJson,
        RejectReason::TooLarge,
        RejectReason::MissingField,
        RejectReason::WrongType,
        RejectReason::NonFinite,
        RejectReason::BadTimestamp,
        RejectReason::UnknownKind,
        RejectReason::TooManyModels,
        RejectReason::TooManyVersions,
        RejectReason::TooManyFeatures,
        RejectReason::TooManySeries,
    ];

    /// The bounded label value used in metrics and dead-letter records.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NotJson => "not_json",
            RejectReason::TooLarge => "too_large",
            RejectReason::MissingField => "missing_field",
            RejectReason::WrongType => "wrong_type",
            RejectReason::NonFinite => "non_finite",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::UnknownKind => "unknown_kind",
            RejectReason::TooManyModels => "too_many_models",
            RejectReason::TooManyVersions => "too_many_versions",
            RejectReason::TooManyFeatures => "too_many_features",
            RejectReason::TooManySeries => "too_many_series",
        }
    }
}

/// A rejected record: the reason (bounded) and a human-readable detail (not a metric label).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    /// Bounded reason.
    pub reason: RejectReason,
    /// What exactly was wrong, e.g. `features.age: expected number, string, bool or null`.
    pub detail: String,
}

impl Rejection {
    /// Builds a rejection.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}

/// Result of a two-sample test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// The test statistic (KS D, chi-squared X^2).
    pub statistic: f64,
    /// The raw p-value.
    pub p_value: f64,
}

/// Which test a [`Drift`] row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    /// Two-sample Kolmogorov-Smirnov (numeric).
    Ks,
    /// Chi-squared test of homogeneity (categorical).
    Chi2,
    /// Maximum mean discrepancy with a permutation test (multivariate).
    Mmd,
    /// Beta-binomial test of the share of records far from every k-means centroid.
    FarShare,
}

impl TestKind {
    /// Bounded label value.
    pub fn as_str(self) -> &'static str {
        match self {
            TestKind::Ks => "ks",
            TestKind::Chi2 => "chi2",
            TestKind::Mmd => "mmd",
            TestKind::FarShare => "far_share",
        }
    }
}

/// Drift of one series (a feature, or the prediction) in one window against one baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// Feature name, or `prediction.score` / `prediction.label`.
    pub name: String,
    /// The test used.
    pub test: TestKind,
    /// Statistic and raw p-value.
    pub result: TestResult,
    /// The p-value after the model's false-alarm control across all rows of the window
    /// (Bonferroni or Benjamini-Hochberg); equal to `result.p_value` when control is off.
    pub p_adjusted: f64,
    /// Population stability index (numeric series only).
    pub psi: Option<f64>,
    /// Sample size of the current window used by the test.
    pub n_current: u64,
    /// Sample size of the baseline used by the test.
    pub n_baseline: u64,
}

/// Operational statistics of one window (or of a baseline).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct OpsStats {
    /// Records in the window.
    pub records: u64,
    /// Records that carried a `status`.
    pub with_status: u64,
    /// Records whose status was an error.
    pub errors: u64,
    /// `errors / with_status`, when `with_status > 0`.
    pub error_rate: Option<f64>,
    /// Latency quantiles in ms (numpy's linear interpolation over the window's sample).
    pub latency_p50: Option<f64>,
    /// See `latency_p50`.
    pub latency_p95: Option<f64>,
    /// See `latency_p50`.
    pub latency_p99: Option<f64>,
    /// Mean of the numeric prediction score.
    pub score_mean: Option<f64>,
    /// Mean confidence of the predictions: the expected accuracy of a calibrated
    /// classifier, known before any label arrives (confidence-based performance estimation).
    #[serde(default)]
    pub estimated_accuracy: Option<f64>,
}

/// Realised performance metrics of a set of labelled predictions; each `None` when
/// undefined for the task or the data.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Performance {
    /// Labelled predictions.
    pub labelled: u64,
    /// Mean per-request error: 0/1 for classifiers (1 - accuracy), absolute error for
    /// regressors (MAE).
    pub error: Option<f64>,
    /// Mean of the squared per-request error (for the test of a difference in error).
    pub error_sq: Option<f64>,
    /// Classification accuracy.
    pub accuracy: Option<f64>,
    /// Precision (binary) or macro precision.
    pub precision: Option<f64>,
    /// Recall (binary) or macro recall.
    pub recall: Option<f64>,
    /// F1 (binary) or macro F1.
    pub f1: Option<f64>,
    /// Binary ROC AUC.
    pub roc_auc: Option<f64>,
    /// Mean log loss.
    pub log_loss: Option<f64>,
    /// Mean absolute error (regression).
    pub mae: Option<f64>,
    /// Root mean squared error (regression).
    pub rmse: Option<f64>,
    /// Mean absolute percentage error, as a fraction (regression).
    pub mape: Option<f64>,
}

/// The label-side half of a window report: performance on the labels joined in the
/// window, against the model's reference period and the previous version.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PerformanceSection {
    /// `binary`, `multiclass` or `regression`.
    pub task: String,
    /// This window's labelled predictions.
    pub current: Performance,
    /// The model's reference period (its first labelled predictions).
    pub reference: Option<Performance>,
    /// The previous version's latest label window.
    pub previous: Option<Performance>,
    /// One-sided test (z, pooled for 0/1 errors, Welch otherwise) that the error exceeds
    /// the reference's.
    pub error_p_vs_reference: Option<f64>,
    /// Same against the previous version.
    pub error_p_vs_previous: Option<f64>,
    /// Expected accuracy of these same predictions from their confidences alone.
    pub estimated_accuracy: Option<f64>,
    /// `estimated_accuracy - accuracy`: how far the label-free estimate was off.
    pub estimate_error: Option<f64>,
}

/// A change point an online detector found within a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeReport {
    /// The stream: `label_error`, `label_loss`, `score`, `latency`, `error`, or
    /// `feature:NAME`.
    pub stream: String,
    /// The detector (`adwin`, `page_hinkley`, `cusum`, `ddm`, `eddm`).
    pub detector: String,
    /// Event time of the detection.
    pub ts: Ts,
    /// Observation number (0-based) of the detection in the detector's stream.
    pub index: u64,
    /// Estimated mean of the stream before the change.
    pub mean_before: f64,
    /// Estimated mean after it.
    pub mean_after: f64,
}

/// What a window is a window of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// Inference records: drift, prediction and operational statistics.
    #[default]
    Inference,
    /// Labels joined to predictions: realised performance and concept drift.
    Labels,
    /// One sample of a serving metric, scored by the metric anomaly detectors.
    Metric,
}

impl WindowKind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Inference => "inference",
            WindowKind::Labels => "labels",
            WindowKind::Metric => "metric",
        }
    }
}

/// Everything the detectors concluded about one closed window of one (model, version).
/// Alert rules read only this; `--scores-out` writes it as one JSON line.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WindowReport {
    /// What the window is a window of.
    #[serde(default)]
    pub kind: WindowKind,
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// Sequence number of this window for this (model, version), from 0.
    pub window: u64,
    /// Event time of the window's start (inclusive).
    pub start: Ts,
    /// Event time of the window's end (exclusive for time windows; last record's ts + 1 for
    /// count windows).
    pub end: Ts,
    /// Input features against the model's reference profile.
    pub features: Vec<Drift>,
    /// The prediction (score and/or label) against the reference profile.
    pub prediction_vs_reference: Vec<Drift>,
    /// The prediction against the previous version's most recent window, when there is one.
    pub prediction_vs_previous: Vec<Drift>,
    /// This window's operational statistics.
    pub ops: OpsStats,
    /// The reference profile's operational statistics.
    pub ops_reference: Option<OpsStats>,
    /// The previous version's most recent window's operational statistics.
    pub ops_previous: Option<OpsStats>,
    /// The version this one is compared with (`None` for the model's first version).
    pub previous_version: Option<String>,
    /// One-sided two-proportion z-test p-value that this window's error rate exceeds the
    /// previous version's (`None` without a previous version or without statuses).
    pub error_rate_p_vs_previous: Option<f64>,
    /// Same against the reference profile.
    pub error_rate_p_vs_reference: Option<f64>,
    /// Label windows: performance against the reference and the previous version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance: Option<PerformanceSection>,
    /// Change points the online detectors found during the window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ChangeReport>,
    /// Multivariate tests against the reference (k-means and MMD), adjusted together with
    /// `features`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub multivariate: Vec<Drift>,
    /// The user's ONNX models: their scores of the window against the reference's (KS, and
    /// the share beyond the reference quantile), adjusted together with `features`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_scores: Vec<Drift>,
    /// Metric samples: the series and its anomaly scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricSection>,
}

/// The scores of one serving-metric sample.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MetricSection {
    /// The series: `name{label="value",...}`, labels sorted.
    pub series: String,
    /// Metric name.
    pub name: String,
    /// Its labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The sample value.
    pub value: f64,
    /// Each detector's score in [0, 1].
    pub scores: std::collections::BTreeMap<String, f64>,
    /// The combined anomaly score in [0, 1] that rules use by default.
    pub anomaly: f64,
}
