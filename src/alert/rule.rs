//! Alert rules: what a rule is, typed and validated by `config`. How a condition reads a
//! [`WindowReport`](crate::record::WindowReport) is in [`super::evaluate`]; the built-in
//! rules are in [`super::defaults`].

use crate::record::{OpsStats, Performance};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How severe an alert is (the `severity` label on-call routing uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For dashboards and tickets.
    Info,
    /// Look at it during working hours.
    Warning,
    /// Page someone.
    Critical,
}

impl Severity {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `for` or `keep_firing_for`: a number of consecutive windows or an event-time span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Consecutive evaluated windows.
    Windows(u32),
    /// Event time in milliseconds.
    Duration(i64),
}

/// What a version is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// The model's reference profile.
    Reference,
    /// The previous version's most recent tested window.
    PreviousVersion,
}

impl Baseline {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Baseline::Reference => "reference",
            Baseline::PreviousVersion => "previous version",
        }
    }
}

/// An operational signal of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsSignal {
    /// Share of requests with an error status.
    ErrorRate,
    /// Median latency (ms).
    LatencyP50,
    /// 95th percentile latency (ms).
    LatencyP95,
    /// 99th percentile latency (ms).
    LatencyP99,
    /// Mean of the numeric prediction.
    ScoreMean,
    /// Expected accuracy from the predictions' confidences (no labels needed).
    EstimatedAccuracy,
}

impl OpsSignal {
    /// The name used in config and details.
    pub fn as_str(self) -> &'static str {
        match self {
            OpsSignal::ErrorRate => "error_rate",
            OpsSignal::LatencyP50 => "latency_p50",
            OpsSignal::LatencyP95 => "latency_p95",
            OpsSignal::LatencyP99 => "latency_p99",
            OpsSignal::ScoreMean => "score_mean",
            OpsSignal::EstimatedAccuracy => "estimated_accuracy",
        }
    }

    /// This signal's value in `ops`.
    pub fn of(self, ops: &OpsStats) -> Option<f64> {
        match self {
            OpsSignal::ErrorRate => ops.error_rate,
            OpsSignal::LatencyP50 => ops.latency_p50,
            OpsSignal::LatencyP95 => ops.latency_p95,
            OpsSignal::LatencyP99 => ops.latency_p99,
            OpsSignal::ScoreMean => ops.score_mean,
            OpsSignal::EstimatedAccuracy => ops.estimated_accuracy,
        }
    }

    pub(crate) fn fmt_value(self, v: f64) -> String {
        match self {
            OpsSignal::ErrorRate => format!("{:.2}%", v * 100.0),
            OpsSignal::ScoreMean | OpsSignal::EstimatedAccuracy => format!("{v:.4}"),
            _ => format!("{v:.1} ms"),
        }
    }
}

/// A performance metric of label windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerfMetric {
    /// Mean per-request error: the misclassification rate, or the mean absolute error.
    Error,
    /// Accuracy.
    Accuracy,
    /// Precision.
    Precision,
    /// Recall.
    Recall,
    /// F1.
    F1,
    /// ROC AUC.
    RocAuc,
    /// Log loss.
    LogLoss,
    /// Mean absolute error.
    Mae,
    /// Root mean squared error.
    Rmse,
    /// Mean absolute percentage error.
    Mape,
}

impl PerfMetric {
    /// Every metric, for parsing and docs.
    pub const ALL: [PerfMetric; 10] = [
        PerfMetric::Error,
        PerfMetric::Accuracy,
        PerfMetric::Precision,
        PerfMetric::Recall,
        PerfMetric::F1,
        PerfMetric::RocAuc,
        PerfMetric::LogLoss,
        PerfMetric::Mae,
        PerfMetric::Rmse,
        PerfMetric::Mape,
    ];

    /// The name used in config and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            PerfMetric::Error => "error",
            PerfMetric::Accuracy => "accuracy",
            PerfMetric::Precision => "precision",
            PerfMetric::Recall => "recall",
            PerfMetric::F1 => "f1",
            PerfMetric::RocAuc => "roc_auc",
            PerfMetric::LogLoss => "log_loss",
            PerfMetric::Mae => "mae",
            PerfMetric::Rmse => "rmse",
            PerfMetric::Mape => "mape",
        }
    }

    /// Whether larger values are better.
    pub fn higher_is_better(self) -> bool {
        matches!(
            self,
            PerfMetric::Accuracy
                | PerfMetric::Precision
                | PerfMetric::Recall
                | PerfMetric::F1
                | PerfMetric::RocAuc
        )
    }

    /// The metric's value.
    pub fn of(self, p: &Performance) -> Option<f64> {
        match self {
            PerfMetric::Error => p.error,
            PerfMetric::Accuracy => p.accuracy,
            PerfMetric::Precision => p.precision,
            PerfMetric::Recall => p.recall,
            PerfMetric::F1 => p.f1,
            PerfMetric::RocAuc => p.roc_auc,
            PerfMetric::LogLoss => p.log_loss,
            PerfMetric::Mae => p.mae,
            PerfMetric::Rmse => p.rmse,
            PerfMetric::Mape => p.mape,
        }
    }
}

/// The direction of a change point that a rule cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The mean rose.
    Up,
    /// The mean fell.
    Down,
    /// Either.
    Any,
}

/// A rule's condition over one window.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// At least `at_least` input features drift against the reference. A feature drifts
    /// when its adjusted p-value is below `p_below` (if set) and its PSI is above
    /// `psi_above` (if set; categorical features have no PSI and are judged on `p_below`
    /// alone, or not at all when only `psi_above` is set).
    FeatureDrift {
        /// Adjusted p-value threshold.
        p_below: Option<f64>,
        /// PSI threshold.
        psi_above: Option<f64>,
        /// Features that must drift.
        at_least: u32,
    },
    /// The prediction (score or label) drifts against the reference or the previous version.
    PredictionDrift {
        /// Compared with.
        against: Baseline,
        /// Adjusted p-value threshold.
        p_below: Option<f64>,
        /// PSI threshold (reference only).
        psi_above: Option<f64>,
    },
    /// `signal > ratio * baseline` and `signal >= min_value`; for the error rate, when
    /// `max_p` is set, the one-sided two-proportion test must also give p < `max_p`.
    OpsRatio {
        /// The signal.
        signal: OpsSignal,
        /// Compared with.
        against: Baseline,
        /// Required ratio.
        ratio: f64,
        /// Absolute floor for the current value.
        min_value: f64,
        /// Significance required for error-rate ratios.
        max_p: Option<f64>,
    },
    /// `signal > above`.
    OpsAbove {
        /// The signal.
        signal: OpsSignal,
        /// Threshold.
        above: f64,
    },
    /// `signal < baseline - drop` (for signals where lower is worse, such as the estimated
    /// accuracy).
    OpsDrop {
        /// The signal.
        signal: OpsSignal,
        /// Compared with.
        against: Baseline,
        /// Absolute drop.
        drop: f64,
    },
    /// A label window's performance is worse than the baseline's: by more than `drop`
    /// (absolute, in the metric's worse direction) and/or more than `ratio` times the
    /// baseline (lower-is-better metrics); for `error`, when `max_p` is set, the one-sided
    /// test that the error is higher must give p < `max_p`.
    Performance {
        /// The metric.
        metric: PerfMetric,
        /// Compared with.
        against: Baseline,
        /// Absolute worsening.
        drop: Option<f64>,
        /// Relative worsening (lower-is-better metrics).
        ratio: Option<f64>,
        /// Significance required (`error` only).
        max_p: Option<f64>,
    },
    /// A multivariate test (k-means far share, cluster mix, distance KS, MMD) of the window
    /// against the reference has an adjusted p-value below `p_below`: a drift in how
    /// features combine, which per-feature tests can miss.
    MultivariateDrift {
        /// Adjusted p-value threshold.
        p_below: f64,
    },
    /// One of the model's own ONNX anomaly models scores the window differently from the
    /// reference (KS of the scores, or more records beyond the reference quantile): adjusted
    /// p below `p_below`, for the named detector or any.
    ModelAnomaly {
        /// The detector's name; `None` for any.
        detector: Option<String>,
        /// Adjusted p-value threshold.
        p_below: f64,
    },
    /// A serving-metric sample's combined anomaly score is at least `above` (series whose
    /// metric name matches `metric`, all when `None`; a trailing `*` matches a prefix).
    MetricAnomaly {
        /// Metric name or prefix pattern.
        metric: Option<String>,
        /// Threshold on the combined score in [0, 1].
        above: f64,
    },
    /// An online change detector found a change point in `stream` during the window, in
    /// `direction`, of at least `min_change` between the means before and after.
    ChangePoint {
        /// The stream (`label_error`, `label_loss`, `score`, `latency`, `error`,
        /// `feature:NAME`).
        stream: String,
        /// Which way.
        direction: Direction,
        /// Smallest change of the mean.
        min_change: f64,
    },
}

/// What a condition concluded about one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Whether the condition holds.
    pub holds: bool,
    /// One line for humans (the alert's summary when the rule has none).
    pub summary: String,
    /// The statistics behind it.
    pub details: Value,
}

/// One alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name (the `alertname`).
    pub name: String,
    /// Severity.
    pub severity: Severity,
    /// Fixed summary; `None` uses the condition's generated one.
    pub summary: Option<String>,
    /// The firing condition.
    pub condition: Condition,
    /// A looser condition that keeps a firing alert firing (hysteresis); `None` uses
    /// `condition`.
    pub resolve: Option<Condition>,
    /// How long `condition` must hold while pending before the alert fires.
    pub for_: Hold,
    /// How long a firing alert stays firing after its condition stops holding.
    pub keep_firing_for: Hold,
    /// Whether a firing alert of this rule may become a rollback command.
    pub rollback: bool,
}
