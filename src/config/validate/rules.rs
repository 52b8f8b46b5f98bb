//! `[[rules]]`: names, severities, holds and conditions.

use super::{hold, Errors};
use crate::alert::rule::{Baseline, Condition, Direction, OpsSignal, PerfMetric, Rule, Severity};
use crate::config::raw::{RawCondition, RawRule};
use crate::detect::stats::KsMemo;

pub(super) fn rule(errs: &mut Errors, path: &str, r: &RawRule) -> Option<Rule> {
    let before = errs.0.len();
    if r.name.is_empty() {
        errs.push(format!("{path}.name"), "is required");
    }
    let severity = match r.severity.as_deref().unwrap_or("warning") {
        "info" => Severity::Info,
        "warning" => Severity::Warning,
        "critical" => Severity::Critical,
        s => {
            errs.push(
                format!("{path}.severity"),
                format!("unknown {s:?}; expected info, warning or critical"),
            );
            Severity::Warning
        }
    };
    let for_ = hold(
        errs,
        &format!("{path}.for"),
        r.for_.as_deref().unwrap_or("2 windows"),
    );
    let keep = hold(
        errs,
        &format!("{path}.keep_firing_for"),
        r.keep_firing_for.as_deref().unwrap_or("1 window"),
    );
    let when = match &r.when {
        Some(c) => condition(errs, &format!("{path}.when"), c),
        None => {
            errs.push(format!("{path}.when"), "is required");
            None
        }
    };
    let resolve = r
        .resolve_when
        .as_ref()
        .and_then(|c| condition(errs, &format!("{path}.resolve_when"), c));
    if let (Some(w), Some(res)) = (&when, &resolve) {
        if w.reads() != res.reads() {
            errs.push(
                format!("{path}.resolve_when"),
                format!(
                    "reads {} windows but `when` reads {} windows",
                    res.reads().as_str(),
                    w.reads().as_str()
                ),
            );
        }
    }
    let rollback = r.rollback.unwrap_or(false);
    // Judged on the raw condition so that the error shows even when the condition has
    // other errors of its own.
    if let (true, Some(c)) = (rollback, &r.when) {
        let compares = matches!(
            c.kind.as_str(),
            "prediction_drift" | "ops_ratio" | "ops_drop" | "performance"
        ) && matches!(c.against.as_deref(), None | Some("previous_version"));
        if !compares {
            errs.push(
                format!("{path}.rollback"),
                "only rules that compare a version with the previous version \
                 (against = \"previous_version\") may drive a rollback: rolling back \
                 cannot fix input drift",
            );
        }
    }
    if errs.0.len() > before {
        return None;
    }
    Some(Rule {
        name: r.name.clone(),
        severity,
        summary: r.summary.clone(),
        condition: when?,
        resolve,
        for_: for_?,
        keep_firing_for: keep?,
        rollback,
    })
}

/// The smallest p-value threshold a rule may use. KS p-values below 1e-30 are reported as
/// [`KsMemo::P_FLOOR`], and a Benjamini-Hochberg adjustment can multiply that by
/// the number of tests, so thresholds are kept well above the floor.
const MIN_P_THRESHOLD: f64 = 1e-20;

fn probability(errs: &mut Errors, path: String, v: Option<f64>) -> Option<f64> {
    if let Some(p) = v {
        if !(p > 0.0 && p < 1.0) {
            errs.push(path, format!("must be in (0, 1), got {p}"));
        } else if p < MIN_P_THRESHOLD {
            errs.push(
                path,
                format!(
                    "must be at least {MIN_P_THRESHOLD:e}, got {p:e} (KS p-values below {:e} \
                     are reported as {:e})",
                    KsMemo::P_FLOOR,
                    KsMemo::P_FLOOR
                ),
            );
        }
    }
    v
}

fn condition(errs: &mut Errors, path: &str, c: &RawCondition) -> Option<Condition> {
    let before = errs.0.len();
    let p_below = probability(errs, format!("{path}.p_below"), c.p_below);
    let max_p = probability(errs, format!("{path}.max_p"), c.max_p);
    let against = |errs: &mut Errors| match c.against.as_deref() {
        Some("reference") => Some(Baseline::Reference),
        Some("previous_version") | None => Some(Baseline::PreviousVersion),
        Some(s) => {
            errs.push(
                format!("{path}.against"),
                format!("unknown {s:?}; expected reference or previous_version"),
            );
            None
        }
    };
    let signal = |errs: &mut Errors| match c.signal.as_deref() {
        Some("error_rate") => Some(OpsSignal::ErrorRate),
        Some("latency_p50") => Some(OpsSignal::LatencyP50),
        Some("latency_p95") => Some(OpsSignal::LatencyP95),
        Some("latency_p99") => Some(OpsSignal::LatencyP99),
        Some("score_mean") => Some(OpsSignal::ScoreMean),
        Some("estimated_accuracy") => Some(OpsSignal::EstimatedAccuracy),
        Some(s) => {
            errs.push(
                format!("{path}.signal"),
                format!(
                    "unknown {s:?}; expected error_rate, latency_p50, latency_p95, \
                     latency_p99, score_mean or estimated_accuracy"
                ),
            );
            None
        }
        None => {
            errs.push(format!("{path}.signal"), "is required");
            None
        }
    };
    let out = match c.kind.as_str() {
        "feature_drift" | "prediction_drift" => {
            if p_below.is_none() && c.psi_above.is_none() {
                errs.push(path, "needs p_below, psi_above or both");
            }
            if c.kind == "feature_drift" {
                let at_least = c.at_least.unwrap_or(1);
                if at_least == 0 {
                    errs.push(format!("{path}.at_least"), "must be >= 1");
                }
                Condition::FeatureDrift {
                    p_below,
                    psi_above: c.psi_above,
                    at_least: at_least.min(u32::MAX as u64) as u32,
                }
            } else {
                Condition::PredictionDrift {
                    against: against(errs)?,
                    p_below,
                    psi_above: c.psi_above,
                }
            }
        }
        "ops_ratio" => {
            let ratio = c.ratio.unwrap_or_else(|| {
                errs.push(format!("{path}.ratio"), "is required");
                1.0
            });
            if !(ratio >= 1.0 && ratio.is_finite()) {
                // signal > ratio x baseline: below 1 it holds on a signal that got better.
                errs.push(
                    format!("{path}.ratio"),
                    format!(
                        "must be at least 1, got {ratio} (the condition is signal > ratio x \
                         baseline; for a fall, use ops_drop)"
                    ),
                );
            }
            Condition::OpsRatio {
                signal: signal(errs)?,
                against: against(errs)?,
                ratio,
                min_value: c.min_value.unwrap_or(0.0),
                max_p,
            }
        }
        "ops_above" => {
            let signal = signal(errs)?;
            let above = c.above.unwrap_or_else(|| {
                errs.push(format!("{path}.above"), "is required");
                0.0
            });
            // Shares are in [0, 1]: a threshold at or past 1 could never be crossed.
            let share = matches!(signal, OpsSignal::ErrorRate | OpsSignal::EstimatedAccuracy);
            if share && !(0.0..1.0).contains(&above) {
                errs.push(
                    format!("{path}.above"),
                    format!(
                        "must be in [0, 1) for {}, a share (0.05 is 5%), got {above}",
                        signal.as_str()
                    ),
                );
            }
            Condition::OpsAbove { signal, above }
        }
        "ops_drop" => Condition::OpsDrop {
            signal: signal(errs)?,
            against: against(errs)?,
            drop: match c.drop {
                Some(d) if d >= 0.0 && d.is_finite() => d,
                Some(d) => {
                    errs.push(format!("{path}.drop"), format!("must be >= 0, got {d}"));
                    0.0
                }
                None => {
                    errs.push(format!("{path}.drop"), "is required");
                    0.0
                }
            },
        },
        "performance" => {
            let metric = match c.metric.as_deref() {
                None => {
                    errs.push(format!("{path}.metric"), "is required");
                    return None;
                }
                Some(m) => match PerfMetric::ALL.iter().find(|x| x.as_str() == m) {
                    Some(x) => *x,
                    None => {
                        let names: Vec<_> = PerfMetric::ALL.iter().map(|x| x.as_str()).collect();
                        errs.push(
                            format!("{path}.metric"),
                            format!("unknown {m:?}; expected one of {}", names.join(", ")),
                        );
                        return None;
                    }
                },
            };
            if c.drop.is_none() && c.ratio.is_none() {
                errs.push(path, "needs drop, ratio or both");
            }
            if let Some(d) = c.drop {
                if !(d >= 0.0 && d.is_finite()) {
                    errs.push(format!("{path}.drop"), format!("must be >= 0, got {d}"));
                }
            }
            if let Some(r) = c.ratio {
                if metric.higher_is_better() {
                    errs.push(
                        format!("{path}.ratio"),
                        format!(
                            "applies to metrics where lower is better; use drop for {}",
                            metric.as_str()
                        ),
                    );
                } else if !(r > 0.0 && r.is_finite()) {
                    errs.push(format!("{path}.ratio"), "must be > 0");
                }
            }
            if max_p.is_some() && metric != PerfMetric::Error {
                errs.push(
                    format!("{path}.max_p"),
                    "applies to metric = \"error\" only",
                );
            }
            Condition::Performance {
                metric,
                against: against(errs)?,
                drop: c.drop,
                ratio: c.ratio,
                max_p,
            }
        }
        "model_anomaly" => match p_below {
            Some(p) => Condition::ModelAnomaly {
                detector: c.name.clone(),
                p_below: p,
            },
            None => {
                errs.push(format!("{path}.p_below"), "is required");
                return None;
            }
        },
        "multivariate_drift" => match p_below {
            Some(p) => Condition::MultivariateDrift { p_below: p },
            None => {
                errs.push(format!("{path}.p_below"), "is required");
                return None;
            }
        },
        "metric_anomaly" => {
            let above = c.above.unwrap_or(0.9);
            if !(0.0..=1.0).contains(&above) {
                errs.push(
                    format!("{path}.above"),
                    format!("must be in [0, 1], got {above}"),
                );
            }
            Condition::MetricAnomaly {
                metric: c.name.clone(),
                above,
            }
        }
        "change_point" => {
            let stream = match c.stream.as_deref() {
                Some(s)
                    if ["label_error", "label_loss", "score", "latency", "error"].contains(&s)
                        || s.strip_prefix("feature:").is_some_and(|f| !f.is_empty()) =>
                {
                    s.to_string()
                }
                Some(s) => {
                    errs.push(
                        format!("{path}.stream"),
                        format!(
                            "unknown {s:?}; expected label_error, label_loss, score, latency, \
                             error or feature:NAME"
                        ),
                    );
                    return None;
                }
                None => "label_error".to_string(),
            };
            let direction = match c.direction.as_deref().unwrap_or("up") {
                "up" => Direction::Up,
                "down" => Direction::Down,
                "any" => Direction::Any,
                d => {
                    errs.push(
                        format!("{path}.direction"),
                        format!("unknown {d:?}; expected up, down or any"),
                    );
                    Direction::Up
                }
            };
            Condition::ChangePoint {
                stream,
                direction,
                min_change: c.min_change.unwrap_or(0.0),
            }
        }
        other => {
            errs.push(
                format!("{path}.kind"),
                format!(
                    "unknown condition {other:?}; expected feature_drift, prediction_drift, \
                     ops_ratio, ops_above, ops_drop, performance, change_point, \
                     multivariate_drift, model_anomaly or metric_anomaly"
                ),
            );
            return None;
        }
    };
    (errs.0.len() == before).then_some(out)
}
