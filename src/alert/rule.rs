//! Alert rules: what a rule is (typed, validated by `config`), how its condition reads a
//! [`WindowReport`], and the built-in rules that `vigil replay` without a config and every
//! config without `[[rules]]` use. Pure: conditions are functions of the report alone.

use crate::record::{Drift, OpsStats, Performance, WindowKind, WindowReport};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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
    fn as_str(self) -> &'static str {
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

    fn fmt_value(self, v: f64) -> String {
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

impl Condition {
    /// Whether the condition compares a version with its predecessor: only such rules may
    /// drive a rollback, since rolling back cannot fix input drift.
    pub fn compares_versions(&self) -> bool {
        matches!(
            self,
            Condition::PredictionDrift {
                against: Baseline::PreviousVersion,
                ..
            } | Condition::OpsRatio {
                against: Baseline::PreviousVersion,
                ..
            } | Condition::OpsDrop {
                against: Baseline::PreviousVersion,
                ..
            } | Condition::Performance {
                against: Baseline::PreviousVersion,
                ..
            }
        )
    }

    /// The kind of window this condition reads. A rule is evaluated only on windows of its
    /// kind: a window of another kind is neither a hit nor a quiet window for it.
    pub fn reads(&self) -> WindowKind {
        match self {
            Condition::FeatureDrift { .. }
            | Condition::PredictionDrift { .. }
            | Condition::OpsRatio { .. }
            | Condition::OpsAbove { .. }
            | Condition::OpsDrop { .. }
            | Condition::MultivariateDrift { .. }
            | Condition::ModelAnomaly { .. } => WindowKind::Inference,
            Condition::Performance { .. } => WindowKind::Labels,
            Condition::MetricAnomaly { .. } => WindowKind::Metric,
            Condition::ChangePoint { stream, .. } if stream.starts_with("label_") => {
                WindowKind::Labels
            }
            Condition::ChangePoint { .. } => WindowKind::Inference,
        }
    }

    /// Evaluates the condition on a window. A condition that cannot be evaluated (no
    /// previous version, no latency logged) does not hold.
    pub fn evaluate(&self, r: &WindowReport) -> Evaluation {
        match *self {
            Condition::FeatureDrift {
                p_below,
                psi_above,
                at_least,
            } => {
                let drifting: Vec<&Drift> = r
                    .features
                    .iter()
                    .filter(|d| drifts(d, p_below, psi_above))
                    .collect();
                let holds = drifting.len() >= at_least as usize;
                let mut names: Vec<String> = drifting.iter().take(5).map(|d| describe(d)).collect();
                if drifting.len() > 5 {
                    names.push(format!("and {} more", drifting.len() - 5));
                }
                Evaluation {
                    holds,
                    summary: format!(
                        "{} of {} input features drifted from the reference{}{}",
                        drifting.len(),
                        r.features.len(),
                        if names.is_empty() { "" } else { ": " },
                        names.join(", ")
                    ),
                    details: json!({
                        "features_tested": r.features.len(),
                        "features_drifted": drifting.len(),
                        "at_least": at_least,
                        "drifted": drifting.iter().map(drift_json).collect::<Vec<_>>(),
                    }),
                }
            }
            Condition::PredictionDrift {
                against,
                p_below,
                psi_above,
            } => {
                let rows = match against {
                    Baseline::Reference => &r.prediction_vs_reference,
                    Baseline::PreviousVersion => &r.prediction_vs_previous,
                };
                let drifting: Vec<&Drift> = rows
                    .iter()
                    .filter(|d| drifts(d, p_below, psi_above))
                    .collect();
                let vs = match (against, &r.previous_version) {
                    (Baseline::PreviousVersion, Some(v)) => format!("previous version {v}"),
                    (b, _) => b.as_str().to_string(),
                };
                Evaluation {
                    holds: !drifting.is_empty(),
                    summary: if drifting.is_empty() {
                        format!("prediction unchanged against the {vs}")
                    } else {
                        format!(
                            "prediction shifted against the {vs}: {}",
                            drifting
                                .iter()
                                .map(|d| describe(d))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                    details: json!({
                        "against": against.as_str(),
                        "previous_version": r.previous_version,
                        "tests": rows.iter().map(|d| drift_json(&d)).collect::<Vec<_>>(),
                    }),
                }
            }
            Condition::OpsRatio {
                signal,
                against,
                ratio,
                min_value,
                max_p,
            } => {
                let base_ops = match against {
                    Baseline::Reference => r.ops_reference.as_ref(),
                    Baseline::PreviousVersion => r.ops_previous.as_ref(),
                };
                let cur = signal.of(&r.ops);
                let base = base_ops.and_then(|b| signal.of(b));
                let p = match (signal, against) {
                    (OpsSignal::ErrorRate, Baseline::Reference) => r.error_rate_p_vs_reference,
                    (OpsSignal::ErrorRate, Baseline::PreviousVersion) => r.error_rate_p_vs_previous,
                    _ => None,
                };
                let holds = match (cur, base) {
                    (Some(c), Some(b)) => {
                        c > ratio * b
                            && c >= min_value
                            && match (signal, max_p) {
                                (OpsSignal::ErrorRate, Some(m)) => p.is_some_and(|p| p < m),
                                _ => true,
                            }
                    }
                    _ => false,
                };
                let vs = match (against, &r.previous_version) {
                    (Baseline::PreviousVersion, Some(v)) => format!("previous version {v}"),
                    (b, _) => b.as_str().to_string(),
                };
                let summary = match (cur, base) {
                    (Some(c), Some(b)) => format!(
                        "{} {} vs {} on the {vs} ({}x{})",
                        signal.as_str(),
                        signal.fmt_value(c),
                        signal.fmt_value(b),
                        if b > 0.0 {
                            format!("{:.2}", c / b)
                        } else {
                            "inf".into()
                        },
                        p.map(|p| format!(", p={p:.2e}")).unwrap_or_default()
                    ),
                    _ => format!("{} not comparable with the {vs}", signal.as_str()),
                };
                Evaluation {
                    holds,
                    summary,
                    details: json!({
                        "signal": signal.as_str(),
                        "against": against.as_str(),
                        "previous_version": r.previous_version,
                        "current": cur,
                        "baseline": base,
                        "ratio": cur.zip(base).and_then(|(c, b)| (b > 0.0).then(|| c / b)),
                        "required_ratio": ratio,
                        "min_value": min_value,
                        "p_value": p,
                        "records": r.ops.records,
                        "baseline_records": base_ops.map(|b| b.records),
                    }),
                }
            }
            Condition::OpsDrop {
                signal,
                against,
                drop,
            } => {
                let base = match against {
                    Baseline::Reference => r.ops_reference.as_ref(),
                    Baseline::PreviousVersion => r.ops_previous.as_ref(),
                }
                .and_then(|b| signal.of(b));
                let cur = signal.of(&r.ops);
                let vs = baseline_name(against, r);
                Evaluation {
                    holds: cur.zip(base).is_some_and(|(c, b)| c < b - drop),
                    summary: match cur.zip(base) {
                        Some((c, b)) => format!(
                            "{} {} vs {} on the {vs} (drop {:.4})",
                            signal.as_str(),
                            signal.fmt_value(c),
                            signal.fmt_value(b),
                            b - c
                        ),
                        None => format!("{} not comparable with the {vs}", signal.as_str()),
                    },
                    details: json!({
                        "signal": signal.as_str(),
                        "against": against.as_str(),
                        "current": cur,
                        "baseline": base,
                        "required_drop": drop,
                        "records": r.ops.records,
                    }),
                }
            }
            Condition::Performance {
                metric,
                against,
                drop,
                ratio,
                max_p,
            } => performance(r, metric, against, drop, ratio, max_p),
            Condition::ChangePoint {
                ref stream,
                direction,
                min_change,
            } => {
                let hits: Vec<&crate::record::ChangeReport> = r
                    .changes
                    .iter()
                    .filter(|c| &c.stream == stream)
                    .filter(|c| {
                        let d = c.mean_after - c.mean_before;
                        match direction {
                            Direction::Up => d >= min_change && d > 0.0,
                            Direction::Down => -d >= min_change && d < 0.0,
                            Direction::Any => d.abs() >= min_change,
                        }
                    })
                    .collect();
                Evaluation {
                    holds: !hits.is_empty(),
                    summary: match hits.first() {
                        Some(c) => format!(
                            "{} found a change in {}: mean {:.4} -> {:.4}",
                            c.detector, c.stream, c.mean_before, c.mean_after
                        ),
                        None => format!("no change point in {stream}"),
                    },
                    details: json!({ "stream": stream, "changes": hits }),
                }
            }
            Condition::MultivariateDrift { p_below } => {
                let hits: Vec<&Drift> = r
                    .multivariate
                    .iter()
                    .filter(|d| d.p_adjusted < p_below)
                    .collect();
                Evaluation {
                    holds: !hits.is_empty(),
                    summary: if hits.is_empty() {
                        "the features combine as in the reference".into()
                    } else {
                        format!(
                            "the features combine differently from the reference: {}",
                            hits.iter()
                                .map(|d| describe(d))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                    details: json!({
                        "p_below": p_below,
                        "tests": r.multivariate.iter().map(|d| drift_json(&d)).collect::<Vec<_>>(),
                    }),
                }
            }
            Condition::ModelAnomaly {
                ref detector,
                p_below,
            } => {
                let mine = |d: &&Drift| match detector {
                    None => true,
                    Some(n) => {
                        let base = format!("onnx.{n}");
                        d.name == base || d.name == format!("{base}.far_share")
                    }
                };
                let rows: Vec<&Drift> = r.model_scores.iter().filter(mine).collect();
                let hits: Vec<&&Drift> = rows.iter().filter(|d| d.p_adjusted < p_below).collect();
                Evaluation {
                    holds: !hits.is_empty(),
                    summary: if hits.is_empty() {
                        "the anomaly model scores the window as it scored the reference".into()
                    } else {
                        format!(
                            "the anomaly model scores the window differently from the reference: {}",
                            hits.iter().map(|d| describe(d)).collect::<Vec<_>>().join(", ")
                        )
                    },
                    details: json!({
                        "p_below": p_below,
                        "tests": rows.iter().map(drift_json).collect::<Vec<_>>(),
                    }),
                }
            }
            Condition::MetricAnomaly { ref metric, above } => {
                let Some(m) = &r.metric else {
                    return Evaluation {
                        holds: false,
                        summary: "not a metric sample".into(),
                        details: Value::Null,
                    };
                };
                let matches = match metric.as_deref() {
                    None => true,
                    Some(p) => match p.strip_suffix('*') {
                        Some(prefix) => m.name.starts_with(prefix),
                        None => m.name == p,
                    },
                };
                let top = m
                    .scores
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(k, v)| format!(", {k} {v:.3}"))
                    .unwrap_or_default();
                Evaluation {
                    holds: matches && m.anomaly >= above,
                    summary: format!(
                        "{} = {} is anomalous (score {:.3}{top})",
                        m.series, m.value, m.anomaly
                    ),
                    details: json!({
                        "series": m.series,
                        "value": m.value,
                        "anomaly": m.anomaly,
                        "scores": m.scores,
                        "above": above,
                    }),
                }
            }
            Condition::OpsAbove { signal, above } => {
                let cur = signal.of(&r.ops);
                Evaluation {
                    holds: cur.is_some_and(|c| c > above),
                    summary: match cur {
                        Some(c) => format!(
                            "{} {} (threshold {})",
                            signal.as_str(),
                            signal.fmt_value(c),
                            signal.fmt_value(above)
                        ),
                        None => format!("{} not reported", signal.as_str()),
                    },
                    details: json!({
                        "signal": signal.as_str(),
                        "current": cur,
                        "above": above,
                        "records": r.ops.records,
                    }),
                }
            }
        }
    }
}

fn baseline_name(against: Baseline, r: &WindowReport) -> String {
    match (against, &r.previous_version) {
        (Baseline::PreviousVersion, Some(v)) => format!("previous version {v}"),
        (b, _) => b.as_str().to_string(),
    }
}

fn performance(
    r: &WindowReport,
    metric: PerfMetric,
    against: Baseline,
    drop: Option<f64>,
    ratio: Option<f64>,
    max_p: Option<f64>,
) -> Evaluation {
    let Some(p) = &r.performance else {
        return Evaluation {
            holds: false,
            summary: "no labels".into(),
            details: Value::Null,
        };
    };
    let base = match against {
        Baseline::Reference => p.reference.as_ref(),
        Baseline::PreviousVersion => p.previous.as_ref(),
    };
    let cur = metric.of(&p.current);
    let b = base.and_then(|b| metric.of(b));
    let pval = match (metric, against) {
        (PerfMetric::Error, Baseline::Reference) => p.error_p_vs_reference,
        (PerfMetric::Error, Baseline::PreviousVersion) => p.error_p_vs_previous,
        _ => None,
    };
    let worse = |c: f64, b: f64| {
        let by_drop = drop.is_none_or(|d| {
            if metric.higher_is_better() {
                b - c > d
            } else {
                c - b > d
            }
        });
        let by_ratio = ratio.is_none_or(|k| c > k * b);
        let significant = max_p.is_none_or(|m| pval.is_some_and(|p| p < m));
        by_drop && by_ratio && significant && c != b
    };
    let vs = baseline_name(against, r);
    Evaluation {
        holds: cur.zip(b).is_some_and(|(c, b)| worse(c, b)),
        summary: match cur.zip(b) {
            Some((c, b)) => format!(
                "{} {c:.4} on labelled traffic vs {b:.4} on the {vs}{}",
                metric.as_str(),
                pval.map(|p| format!(" (p={p:.2e})")).unwrap_or_default()
            ),
            None => format!("{} not comparable with the {vs}", metric.as_str()),
        },
        details: json!({
            "metric": metric.as_str(),
            "against": against.as_str(),
            "task": p.task,
            "current": cur,
            "baseline": b,
            "p_value": pval,
            "labelled": p.current.labelled,
            "baseline_labelled": base.map(|b| b.labelled),
            "estimated_accuracy": p.estimated_accuracy,
            "estimate_error": p.estimate_error,
        }),
    }
}

fn drifts(d: &Drift, p_below: Option<f64>, psi_above: Option<f64>) -> bool {
    let p_ok = p_below.is_none_or(|t| d.p_adjusted < t);
    let psi_ok = match (psi_above, d.psi) {
        (None, _) => true,
        (Some(t), Some(psi)) => psi > t,
        // No PSI for this series (categorical): judged on the p-value when there is one.
        (Some(_), None) => p_below.is_some(),
    };
    p_ok && psi_ok
}

fn describe(d: &Drift) -> String {
    match d.psi {
        Some(psi) => format!(
            "{} ({} {:.3}, p={:.1e}, psi {:.2})",
            d.name,
            d.test.as_str(),
            d.result.statistic,
            d.p_adjusted,
            psi
        ),
        None => format!(
            "{} ({} {:.1}, p={:.1e})",
            d.name,
            d.test.as_str(),
            d.result.statistic,
            d.p_adjusted
        ),
    }
}

fn drift_json(d: &&Drift) -> Value {
    json!({
        "name": d.name,
        "test": d.test.as_str(),
        "statistic": d.result.statistic,
        "p_value": d.result.p_value,
        "p_adjusted": d.p_adjusted,
        "psi": d.psi,
        "n_current": d.n_current,
        "n_baseline": d.n_baseline,
    })
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

/// The built-in rules (documented in the README):
///
/// | rule | severity | condition | for | rollback |
/// |---|---|---|---|---|
/// | `input_drift` | warning | a feature's adjusted p < 1e-4 (held while p < 1e-2) | 2 windows | no |
/// | `prediction_drift` | warning | prediction vs reference, p < 1e-6 | 3 windows | no |
/// | `prediction_shift_vs_previous` | warning | prediction vs previous version, p < 1e-6 | 2 windows | no |
/// | `error_rate_regression` | critical | error rate > 2x previous version, >= 2%, p < 1e-4 | 2 windows | yes |
/// | `latency_regression` | critical | p99 latency > 1.5x previous version | 2 windows | yes |
/// | `error_rate_high` | warning | error rate > 3x reference, >= 5%, p < 1e-6 | 3 windows | no |
/// | `estimated_accuracy_drop` | warning | expected accuracy (from confidences) 0.05 below the reference's | 3 windows | no |
/// | `concept_drift` | warning | a change point: the label-joined error rises (held while the error is 10% above the reference's) | 1 label window | no |
/// | `performance_vs_reference` | warning | labelled error > 1.25x the reference period's, p < 1e-4 | 2 label windows | no |
/// | `performance_regression` | critical | labelled error > 1.25x the previous version's, p < 1e-3 | 2 label windows | yes |
/// | `model_anomaly` | warning | one of the model's ONNX anomaly models: adjusted p < 1e-4 (score KS or share beyond the reference's 0.99 quantile) | 2 windows | no |
/// | `multivariate_drift` | warning | a multivariate test's adjusted p < 1e-4 (when the model has `kind = "multivariate"`) | 2 windows | no |
/// | `metric_anomaly` | warning | a serving metric's combined anomaly score >= 0.9 (held 10 min) | 1 sample | no |
///
/// A retrained model is expected to score differently from its predecessor, so prediction
/// shifts warn but never roll back by default; errors and latency do.
pub fn default_rules() -> Vec<Rule> {
    let rule = |name: &str, severity, condition, for_, rollback| Rule {
        name: name.to_string(),
        severity,
        summary: None,
        condition,
        resolve: None,
        for_: Hold::Windows(for_),
        keep_firing_for: Hold::Windows(1),
        rollback,
    };
    let mut input = rule(
        "input_drift",
        Severity::Warning,
        Condition::FeatureDrift {
            p_below: Some(1e-4),
            psi_above: None,
            at_least: 1,
        },
        2,
        false,
    );
    input.resolve = Some(Condition::FeatureDrift {
        p_below: Some(1e-2),
        psi_above: None,
        at_least: 1,
    });
    // Concept drift: an online detector sees the label-joined error rise. It keeps firing
    // while the error stays 10% above the reference period's.
    let mut concept = rule(
        "concept_drift",
        Severity::Warning,
        Condition::ChangePoint {
            stream: "label_error".into(),
            direction: Direction::Up,
            min_change: 0.0,
        },
        1,
        false,
    );
    concept.keep_firing_for = Hold::Windows(2);
    concept.resolve = Some(Condition::Performance {
        metric: PerfMetric::Error,
        against: Baseline::Reference,
        drop: None,
        ratio: Some(1.1),
        max_p: None,
    });
    // Serving metrics: the combined score is an onset score (it reports an incident once,
    // then is damped while the detectors adapt), so the alert fires at once and stays
    // firing for ten minutes of event time after the last anomalous sample.
    let mut metric_anomaly = rule(
        "metric_anomaly",
        Severity::Warning,
        Condition::MetricAnomaly {
            metric: None,
            above: 0.9,
        },
        1,
        false,
    );
    metric_anomaly.keep_firing_for = Hold::Duration(10 * 60 * 1000);
    vec![
        input,
        rule(
            "prediction_drift",
            Severity::Warning,
            Condition::PredictionDrift {
                against: Baseline::Reference,
                p_below: Some(1e-6),
                psi_above: None,
            },
            3,
            false,
        ),
        rule(
            "prediction_shift_vs_previous",
            Severity::Warning,
            Condition::PredictionDrift {
                against: Baseline::PreviousVersion,
                p_below: Some(1e-6),
                psi_above: None,
            },
            2,
            false,
        ),
        rule(
            "error_rate_regression",
            Severity::Critical,
            Condition::OpsRatio {
                signal: OpsSignal::ErrorRate,
                against: Baseline::PreviousVersion,
                ratio: 2.0,
                min_value: 0.02,
                max_p: Some(1e-4),
            },
            2,
            true,
        ),
        rule(
            "latency_regression",
            Severity::Critical,
            Condition::OpsRatio {
                signal: OpsSignal::LatencyP99,
                against: Baseline::PreviousVersion,
                ratio: 1.5,
                min_value: 1.0,
                max_p: None,
            },
            2,
            true,
        ),
        rule(
            "error_rate_high",
            Severity::Warning,
            Condition::OpsRatio {
                signal: OpsSignal::ErrorRate,
                against: Baseline::Reference,
                ratio: 3.0,
                min_value: 0.05,
                max_p: Some(1e-6),
            },
            3,
            false,
        ),
        rule(
            "estimated_accuracy_drop",
            Severity::Warning,
            Condition::OpsDrop {
                signal: OpsSignal::EstimatedAccuracy,
                against: Baseline::Reference,
                drop: 0.05,
            },
            3,
            false,
        ),
        concept,
        rule(
            "performance_vs_reference",
            Severity::Warning,
            Condition::Performance {
                metric: PerfMetric::Error,
                against: Baseline::Reference,
                drop: None,
                ratio: Some(1.25),
                max_p: Some(1e-4),
            },
            2,
            false,
        ),
        metric_anomaly,
        rule(
            "model_anomaly",
            Severity::Warning,
            Condition::ModelAnomaly {
                detector: None,
                p_below: 1e-4,
            },
            2,
            false,
        ),
        rule(
            "multivariate_drift",
            Severity::Warning,
            Condition::MultivariateDrift { p_below: 1e-4 },
            2,
            false,
        ),
        rule(
            "performance_regression",
            Severity::Critical,
            Condition::Performance {
                metric: PerfMetric::Error,
                against: Baseline::PreviousVersion,
                drop: None,
                ratio: Some(1.25),
                max_p: Some(1e-3),
            },
            2,
            true,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{TestKind, TestResult};

    fn report() -> WindowReport {
        let drift = |name: &str, p: f64, psi: Option<f64>| Drift {
            name: name.into(),
            test: if psi.is_some() {
                TestKind::Ks
            } else {
                TestKind::Chi2
            },
            result: TestResult {
                statistic: 0.2,
                p_value: p,
            },
            p_adjusted: p,
            psi,
            n_current: 1000,
            n_baseline: 2000,
        };
        WindowReport {
            kind: crate::record::WindowKind::Inference,
            model: "m".into(),
            version: "v2".into(),
            window: 3,
            start: 0,
            end: 1000,
            features: vec![
                drift("a", 1e-9, Some(0.4)),
                drift("b", 1e-5, Some(0.05)),
                drift("c", 1e-7, None),
                drift("d", 0.5, Some(0.01)),
            ],
            prediction_vs_reference: vec![],
            prediction_vs_previous: vec![drift("prediction.score", 1e-8, None)],
            ops: OpsStats {
                records: 1000,
                with_status: 1000,
                errors: 80,
                error_rate: Some(0.08),
                latency_p99: Some(90.0),
                ..OpsStats::default()
            },
            ops_reference: None,
            ops_previous: Some(OpsStats {
                records: 1000,
                with_status: 1000,
                errors: 10,
                error_rate: Some(0.01),
                latency_p99: Some(80.0),
                ..OpsStats::default()
            }),
            previous_version: Some("v1".into()),
            error_rate_p_vs_previous: Some(1e-12),
            error_rate_p_vs_reference: None,
            performance: None,
            changes: Vec::new(),
            metric: None,
            multivariate: Vec::new(),
            model_scores: Vec::new(),
        }
    }

    #[test]
    fn feature_drift_counts_features_past_every_threshold() {
        let r = report();
        let c = |p, psi, n| Condition::FeatureDrift {
            p_below: p,
            psi_above: psi,
            at_least: n,
        };
        assert!(c(Some(1e-4), None, 3).evaluate(&r).holds);
        assert!(!c(Some(1e-4), None, 4).evaluate(&r).holds);
        // a (psi 0.4) and c (categorical, judged on p) pass; b's PSI is too small.
        let e = c(Some(1e-4), Some(0.25), 2).evaluate(&r);
        assert!(e.holds, "{}", e.summary);
        assert_eq!(e.details["features_drifted"], 2);
        assert!(!c(Some(1e-4), Some(0.25), 3).evaluate(&r).holds);
        // PSI alone: categorical features are not judged.
        assert_eq!(
            c(None, Some(0.25), 1).evaluate(&r).details["features_drifted"],
            1
        );
    }

    #[test]
    fn ops_ratio_needs_ratio_floor_and_significance() {
        let r = report();
        let c = |ratio, min_value, max_p| Condition::OpsRatio {
            signal: OpsSignal::ErrorRate,
            against: Baseline::PreviousVersion,
            ratio,
            min_value,
            max_p,
        };
        assert!(c(2.0, 0.02, Some(1e-4)).evaluate(&r).holds);
        assert!(!c(10.0, 0.02, Some(1e-4)).evaluate(&r).holds);
        assert!(!c(2.0, 0.1, None).evaluate(&r).holds);
        let mut weak = r.clone();
        weak.error_rate_p_vs_previous = Some(0.01);
        assert!(!c(2.0, 0.02, Some(1e-4)).evaluate(&weak).holds);
        // Against the reference there is none here: not comparable, does not hold.
        let vs_ref = Condition::OpsRatio {
            signal: OpsSignal::ErrorRate,
            against: Baseline::Reference,
            ratio: 1.0,
            min_value: 0.0,
            max_p: None,
        };
        assert!(!vs_ref.evaluate(&r).holds);
        let lat = Condition::OpsRatio {
            signal: OpsSignal::LatencyP99,
            against: Baseline::PreviousVersion,
            ratio: 1.5,
            min_value: 1.0,
            max_p: None,
        };
        assert!(!lat.evaluate(&r).holds, "90 ms is not 1.5x 80 ms");
        let e = c(2.0, 0.02, Some(1e-4)).evaluate(&r);
        assert!(
            e.summary.contains("8.00%") && e.summary.contains("v1"),
            "{}",
            e.summary
        );
    }

    #[test]
    fn only_version_comparisons_may_roll_back() {
        for r in default_rules() {
            if r.rollback {
                assert!(r.condition.compares_versions(), "{}", r.name);
            }
        }
        let c = Condition::FeatureDrift {
            p_below: Some(0.1),
            psi_above: None,
            at_least: 1,
        };
        assert!(!c.compares_versions());
    }
}
