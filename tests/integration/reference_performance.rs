//! vigil's performance metrics against reference values computed by scikit-learn and numpy
//! (`scripts/perf_fixtures.py` writes `testdata/fixtures/performance.json`; regenerate it
//! with the pinned packages in `scripts/requirements.txt`). Tolerance: 1e-6 relative; ROC
//! AUC, computed exactly on the sample it is given (here the whole case), to 1e-12.

use crate::reference;

use serde_json::Value;
use vigil::detect::join::{Joined, LabelValue, PredictionSummary};
use vigil::detect::perf::{
    error_of, loss_of, roc_auc, CbpeWindow, PerfConfig, PerfWindow, PerformanceReport,
    ScoreMeaning, Task,
};

const REL: f64 = 1e-6;

fn close(got: Option<f64>, want: &Value, what: &str) {
    match (got, want.as_f64()) {
        (None, None) => {}
        (Some(g), Some(w)) => reference::close(g, w, REL, what),
        (g, _) => panic!("{what}: got {g:?}, reference {want}"),
    }
}

fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().expect("array")
}

fn label(v: &Value) -> LabelValue {
    match v {
        Value::Number(n) => LabelValue::Num(n.as_f64().expect("number")),
        Value::String(s) => LabelValue::Class(s.as_str().into()),
        other => panic!("label {other}"),
    }
}

/// The case's config and joined pairs.
fn case(c: &Value) -> (PerfConfig, Vec<Joined>) {
    let n = arr(&c["y_true"]).len();
    let task = match c["task"].as_str().expect("task") {
        "binary" => Task::Binary,
        "multiclass" => Task::Multiclass,
        _ => Task::Regression,
    };
    let config = PerfConfig {
        task,
        positive_class: c["positive_class"].as_str().map(str::to_string),
        score: match c["score_meaning"].as_str() {
            Some("predicted_label") => ScoreMeaning::PredictedLabel,
            _ => ScoreMeaning::PositiveClass,
        },
        auc_sample_size: n,
        ..PerfConfig::default()
    };
    let joined = (0..n)
        .map(|i| {
            let prediction = PredictionSummary {
                version: "v1".into(),
                ts: i as i64,
                score: c["score"].get(i).and_then(Value::as_f64),
                label: c["y_pred"].get(i).and_then(Value::as_str).map(Into::into),
                probs: c["probs"]
                    .get(i)
                    .map(|row| arr(row).iter().map(|x| x.as_f64().expect("prob")).collect()),
            };
            Joined {
                prediction,
                label: label(&c["y_true"][i]),
                label_ts: i as i64 + 1,
            }
        })
        .collect();
    (config, joined)
}

fn report(config: &PerfConfig, joined: &[Joined]) -> PerformanceReport {
    let mut w = PerfWindow::new(config, 42);
    for j in joined {
        assert!(
            w.observe(config, j).is_some(),
            "every fixture pair is scorable"
        );
    }
    w.finish()
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn metrics_match_sklearn() {
    let f = fixtures();
    let cases = arr(&f["cases"]);
    assert!(cases.len() >= 12, "{} cases", cases.len());
    let mut checked = 0;
    for c in cases {
        let name = c["name"].as_str().expect("name");
        let (config, joined) = case(c);
        let r = report(&config, &joined);
        assert_eq!(r.scored, joined.len() as u64, "{name}");
        let want = c["expected"].as_object().expect("expected");
        for (metric, value) in want {
            let got = match metric.as_str() {
                "accuracy" => r.accuracy,
                "precision" => r.precision,
                "recall" => r.recall,
                "f1" => r.f1,
                "log_loss" => r.log_loss,
                "mae" => r.mae,
                "rmse" => r.rmse,
                "mape" => r.mape,
                "roc_auc" => {
                    assert_eq!(r.auc_sample, joined.len() as u64, "{name}: whole sample");
                    if let (Some(g), Some(w)) = (r.roc_auc, value.as_f64()) {
                        assert!((g - w).abs() <= 1e-12, "{name}: auc {g} vs {w}");
                    }
                    r.roc_auc
                }
                other => panic!("{name}: unknown metric {other}"),
            };
            close(got, value, &format!("{name}: {metric}"));
            checked += 1;
        }
        // The per-request indicators average to the window's metrics.
        if let Some(acc) = r.accuracy {
            let e = mean(joined.iter().map(|j| error_of(&config, j).expect("error")));
            assert!((e - (1.0 - acc)).abs() < 1e-12, "{name}: mean 0/1 error");
        }
        if let Some(mae) = r.mae {
            let e = mean(joined.iter().map(|j| error_of(&config, j).expect("error")));
            close(
                Some(e),
                &Value::from(mae),
                &format!("{name}: mean abs error"),
            );
        }
        if let Some(ll) = r.log_loss {
            let l = mean(joined.iter().map(|j| loss_of(&config, j).expect("loss")));
            close(Some(l), &Value::from(ll), &format!("{name}: mean loss"));
        }
    }
    assert!(checked >= 60, "{checked} values checked");
}

#[test]
fn cbpe_matches_numpy() {
    let f = fixtures();
    let mut checked = 0;
    for c in arr(&f["cases"]).iter().filter(|c| c.get("cbpe").is_some()) {
        let name = c["name"].as_str().expect("name");
        let (config, joined) = case(c);
        let mut w = CbpeWindow::new();
        for j in &joined {
            w.observe(&config, &j.prediction);
        }
        let est = w.finish();
        assert_eq!((est.predictions, est.skipped), (joined.len() as u64, 0));
        let want = &c["cbpe"];
        close(
            est.accuracy,
            &want["accuracy"],
            &format!("{name}: cbpe accuracy"),
        );
        close(
            est.precision,
            &want["precision"],
            &format!("{name}: cbpe precision"),
        );
        close(est.recall, &want["recall"], &format!("{name}: cbpe recall"));
        close(est.f1, &want["f1"], &format!("{name}: cbpe f1"));
        let err = est.error_against(&report(&config, &joined));
        let realised = c["expected"]["accuracy"].as_f64().expect("accuracy");
        let want_err = want["accuracy"].as_f64().expect("cbpe") - realised;
        let got_err = err.accuracy.expect("both defined");
        assert!((got_err - want_err).abs() < 1e-9, "{name}: estimate error");
        checked += 1;
    }
    assert!(checked >= 8, "{checked} cases");
}

#[test]
fn auc_is_exact_on_the_given_sample() {
    // Ties count one half: (1 + 0.5 + 1 + 1) / 4 pairs.
    let s = [0.1, 0.4, 0.4, 0.8];
    let y = [false, false, true, true];
    assert_eq!(roc_auc(&s, &y), Some(0.875));
    assert_eq!(roc_auc(&s, &[true; 4]), None);
    assert_eq!(roc_auc(&[], &[]), None);
}

fn fixtures() -> Value {
    reference::fixture("performance.json", "perf_fixtures.py")
}
