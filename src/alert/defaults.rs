//! The built-in rules that `vigil replay` without a config and every config without
//! `[[rules]]` use.

use super::rule::{Baseline, Condition, Direction, Hold, OpsSignal, PerfMetric, Rule, Severity};

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
