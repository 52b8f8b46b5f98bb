//! How a rule's condition reads a [`WindowReport`]. Pure: a condition's verdict is a
//! function of the report alone.

use super::rule::{Baseline, Condition, Direction, Evaluation, OpsSignal, PerfMetric};
use crate::detect::stats::KsMemo;
use crate::record::{Drift, TestKind, WindowKind, WindowReport};
use serde_json::{json, Value};

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
    // A KS p-value at the memo's floor is a bound, not a value: the exact one is at most
    // that, and so is its adjustment (Bonferroni and Benjamini-Hochberg are monotone).
    let p = if d.test == TestKind::Ks && d.result.p_value <= KsMemo::P_FLOOR {
        format!("p<={:.1e}", d.p_adjusted)
    } else {
        format!("p={:.1e}", d.p_adjusted)
    };
    match d.psi {
        Some(psi) => format!(
            "{} ({} {:.3}, {p}, psi {:.2})",
            d.name,
            d.test.as_str(),
            d.result.statistic,
            psi
        ),
        // KS's statistic is a share in [0, 1]; chi-squared's is unbounded.
        None if d.test == TestKind::Ks => format!(
            "{} ({} {:.3}, {p})",
            d.name,
            d.test.as_str(),
            d.result.statistic,
        ),
        None => format!(
            "{} ({} {:.1}, {p})",
            d.name,
            d.test.as_str(),
            d.result.statistic,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::defaults::default_rules;
    use crate::record::{OpsStats, TestResult};

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

    #[test]
    fn a_floored_ks_p_value_reads_as_a_bound() {
        let row = |test, p_value, p_adjusted| Drift {
            name: "f".into(),
            test,
            result: TestResult {
                statistic: 0.5,
                p_value,
            },
            p_adjusted,
            psi: None,
            n_current: 1000,
            n_baseline: 2000,
        };
        let floor = KsMemo::P_FLOOR;
        assert_eq!(
            describe(&row(TestKind::Ks, floor, 3.0 * floor)),
            "f (ks 0.500, p<=3.0e-30)"
        );
        assert_eq!(
            describe(&row(TestKind::Ks, 2e-9, 4e-9)),
            "f (ks 0.500, p=4.0e-9)"
        );
        // Only the KS memo floors; a chi-squared p-value that small is a value.
        assert_eq!(
            describe(&row(TestKind::Chi2, 1e-40, 1e-40)),
            "f (chi2 0.5, p=1.0e-40)"
        );
    }
}
