//! Unit and property tests of `perf`; the reference values are checked in
//! `tests/integration/reference_performance.rs`.

use super::*;
use crate::detect::join::LabelValue;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

fn summary(score: Option<f64>, label: Option<&str>) -> PredictionSummary {
    PredictionSummary {
        version: "v1".into(),
        ts: 0,
        score,
        label: label.map(Into::into),
        probs: None,
    }
}

fn joined(score: Option<f64>, label: Option<&str>, truth: LabelValue) -> Joined {
    Joined {
        prediction: summary(score, label),
        label: truth,
        label_ts: 1,
    }
}

fn num(x: f64) -> LabelValue {
    LabelValue::Num(x)
}

fn cls(s: &str) -> LabelValue {
    LabelValue::Class(s.into())
}

#[test]
fn binary_positive_class_defaults_and_config() {
    let c = PerfConfig::default();
    assert!(c.is_positive("1") && c.is_positive("TRUE") && !c.is_positive("0"));
    // A numeric label 1 is the class "1".
    let o = c
        .outcome(&joined(Some(0.8), None, num(1.0)))
        .expect("scored");
    assert_eq!(
        o,
        Outcome::Binary {
            actual: true,
            predicted: true,
            p_positive: Some(0.8)
        }
    );
    let fraud = PerfConfig {
        positive_class: Some("fraud".into()),
        ..PerfConfig::default()
    };
    let o = fraud
        .outcome(&joined(Some(0.3), Some("legit"), cls("fraud")))
        .expect("scored");
    assert_eq!(o.error(), 1.0);
    assert!((o.loss().expect("loss") - -(0.3f64.ln())).abs() < 1e-15);
}

#[test]
fn score_meanings_and_probs_give_the_positive_probability() {
    let by_label = PerfConfig {
        score: ScoreMeaning::PredictedLabel,
        ..PerfConfig::default()
    };
    assert_eq!(
        by_label.p_positive(&summary(Some(0.9), Some("0"))),
        Some(1.0 - 0.9)
    );
    assert_eq!(
        by_label.p_positive(&summary(Some(0.9), Some("1"))),
        Some(0.9)
    );
    let c = PerfConfig::default();
    assert_eq!(c.p_positive(&summary(Some(0.9), Some("0"))), Some(0.9));
    // probs win over the score; the default positive index is 1.
    let p = summary(Some(0.7), Some("0")).with_probs(&[0.7, 0.3]);
    assert_eq!(c.p_positive(&p), Some(0.3));
    // Without a label the threshold decides.
    let t = PerfConfig {
        threshold: 0.3,
        ..PerfConfig::default()
    };
    assert_eq!(t.predicted_positive(&summary(Some(0.35), None)), Some(true));
    assert_eq!(
        c.predicted_positive(&summary(Some(0.35), None)),
        Some(false)
    );
    assert_eq!(c.predicted_positive(&summary(None, None)), None);
}

#[test]
fn unscorable_pairs_are_counted_not_scored() {
    let reg = PerfConfig {
        task: Task::Regression,
        ..PerfConfig::default()
    };
    let mut w = PerfWindow::new(&reg, 1);
    assert!(w
        .observe(&reg, &joined(Some(1.0), None, cls("cat")))
        .is_none());
    assert!(w.observe(&reg, &joined(None, None, num(1.0))).is_none());
    assert!(w
        .observe(&reg, &joined(Some(2.0), None, cls("3")))
        .is_some());
    let r = w.finish();
    assert_eq!((r.labelled, r.scored), (3, 1));
    assert_eq!(r.mae, Some(1.0));
    assert_eq!(
        error_of(&reg, &joined(Some(2.0), None, num(5.0))),
        Some(3.0)
    );
    assert_eq!(loss_of(&reg, &joined(Some(2.0), None, num(5.0))), Some(9.0));
}

#[test]
fn undefined_metrics_are_none() {
    let c = PerfConfig::default();
    let empty = PerfWindow::new(&c, 1).finish();
    assert_eq!(
        (
            empty.accuracy,
            empty.precision,
            empty.roc_auc,
            empty.log_loss,
            empty.mae
        ),
        (None, None, None, None, None)
    );
    let mut w = PerfWindow::new(&c, 1);
    for s in [0.1, 0.2, 0.3] {
        w.observe(&c, &joined(Some(s), None, num(1.0)));
    }
    let r = w.finish();
    assert_eq!(r.accuracy, Some(0.0));
    assert_eq!(r.precision, None, "no positive predictions");
    assert_eq!(r.recall, Some(0.0));
    assert_eq!(r.roc_auc, None, "one class only");
    assert!(r.log_loss.is_some());
    // A score that is not a probability still ranks, but has no log loss.
    let o = c
        .outcome(&joined(Some(3.5), Some("1"), num(1.0)))
        .expect("scored");
    assert_eq!(o.loss(), None);
}

#[test]
fn log_loss_clips_like_sklearn() {
    let c = PerfConfig::default();
    let worst = loss_of(&c, &joined(Some(0.0), None, num(1.0))).expect("loss");
    assert_eq!(worst, -LOG_LOSS_EPS.ln());
    let best = loss_of(&c, &joined(Some(1.0), None, num(1.0))).expect("loss");
    assert_eq!(best, -(1.0 - LOG_LOSS_EPS).ln());
}

#[test]
fn auc_sample_is_bounded_seeded_and_close_to_the_full_auc() {
    let c = PerfConfig {
        auc_sample_size: 1_000,
        ..PerfConfig::default()
    };
    let mut rng = Pcg64Mcg::seed_from_u64(3);
    let pairs: Vec<Joined> = (0..20_000)
        .map(|_| {
            let y = rng.random::<f64>() < 0.3;
            let s = rng.random::<f64>() + if y { 0.4 } else { 0.0 };
            joined(Some(s), None, num(f64::from(u8::from(y))))
        })
        .collect();
    let (mut a, mut b) = (PerfWindow::new(&c, 9), PerfWindow::new(&c, 9));
    for j in &pairs {
        a.observe(&c, j);
        b.observe(&c, j);
    }
    let (ra, rb) = (a.finish(), b.finish());
    assert_eq!(ra, rb, "same seed, same sample");
    assert_eq!(ra.auc_sample, 1_000);
    let scores: Vec<f64> = pairs
        .iter()
        .map(|j| j.prediction.score.expect("s"))
        .collect();
    let ys: Vec<bool> = pairs.iter().map(|j| j.label == num(1.0)).collect();
    let full = roc_auc(&scores, &ys).expect("both classes");
    let sampled = ra.roc_auc.expect("both classes");
    // Sampling error of the AUC of 1,000 pairs: sd ~0.01.
    assert!((sampled - full).abs() < 0.04, "{sampled} vs {full}");
}

#[test]
fn auc_pairs_stay_aligned_in_the_sample() {
    // Perfectly separable at every size: any misalignment of scores and labels in the
    // sample would break it.
    let c = PerfConfig {
        auc_sample_size: 50,
        ..PerfConfig::default()
    };
    let mut w = PerfWindow::new(&c, 5);
    for i in 0..10_000 {
        let y = i % 3 == 0;
        let s = if y { 1.0 + i as f64 } else { -(i as f64) };
        w.observe(&c, &joined(Some(s), None, num(f64::from(u8::from(y)))));
    }
    let r = w.finish();
    assert_eq!((r.auc_sample, r.roc_auc), (50, Some(1.0)));
}

#[test]
fn multiclass_caps_classes_and_keeps_accuracy_exact() {
    let c = PerfConfig {
        task: Task::Multiclass,
        max_classes: 3,
        ..PerfConfig::default()
    };
    let mut w = PerfWindow::new(&c, 1);
    for (t, p) in [
        ("a", "a"),
        ("b", "b"),
        ("c", "a"),
        ("d", "d"),
        ("e", "e"),
        ("d", "e"),
    ] {
        w.observe(&c, &joined(None, Some(p), cls(t)));
    }
    let r = w.finish();
    assert_eq!(r.accuracy, Some(4.0 / 6.0));
    assert!(r.classes_truncated);
    assert_eq!(r.classes, 4, "three classes and the pooled row");
    // Predicted class from probs (arg-max index) and log loss of the label's class.
    let c = PerfConfig {
        task: Task::Multiclass,
        ..PerfConfig::default()
    };
    let mut j = joined(None, None, cls("2"));
    j.prediction = j.prediction.with_probs(&[0.2, 0.3, 0.5]);
    let o = c.outcome(&j).expect("scored");
    assert_eq!(o.error(), 0.0);
    assert!((o.loss().expect("loss") - -(0.5f64.ln())).abs() < 1e-15);
}

#[test]
fn mape_divides_zero_labels_by_eps() {
    let c = PerfConfig {
        task: Task::Regression,
        ..PerfConfig::default()
    };
    let mut w = PerfWindow::new(&c, 1);
    w.observe(&c, &joined(Some(0.0), None, num(0.0)));
    w.observe(&c, &joined(Some(1.0), None, num(0.0)));
    w.observe(&c, &joined(Some(3.0), None, num(2.0)));
    let r = w.finish();
    assert_eq!(r.mape, Some((1.0 / MAPE_EPS + 0.5) / 3.0));
    assert_eq!(r.rmse, Some((2.0f64 / 3.0).sqrt()));
}

#[test]
fn window_snapshot_round_trip_and_clear() {
    let c = PerfConfig {
        auc_sample_size: 10,
        ..PerfConfig::default()
    };
    let mut rng = Pcg64Mcg::seed_from_u64(11);
    let mut draw = |n: usize| -> Vec<Joined> {
        (0..n)
            .map(|_| {
                let s: f64 = rng.random();
                let y = rng.random::<f64>() < s;
                joined(Some(s), None, num(f64::from(u8::from(y))))
            })
            .collect()
    };
    let (first, second) = (draw(100), draw(100));
    let mut w = PerfWindow::new(&c, 4);
    first.iter().for_each(|j| drop(w.observe(&c, j)));
    let json = serde_json::to_string(&w).expect("serialise");
    let mut r: PerfWindow = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(r.finish(), w.finish());
    for win in [&mut w, &mut r] {
        second.iter().for_each(|j| drop(win.observe(&c, j)));
    }
    assert_eq!(r.finish(), w.finish());
    w.clear();
    assert_eq!(w.finish(), PerfWindow::new(&c, 4).finish());
    let mut cb = CbpeWindow::new();
    cb.push(0.8, true);
    let back: CbpeWindow =
        serde_json::from_str(&serde_json::to_string(&cb).expect("ser")).expect("de");
    assert_eq!(back, cb);
}

#[test]
fn cbpe_expected_accuracy_is_mean_max_p() {
    let c = PerfConfig::default();
    let mut w = CbpeWindow::new();
    for p in [0.9, 0.2, 0.5, 0.6] {
        w.observe(&c, &summary(Some(p), None));
    }
    w.observe(&c, &summary(None, None));
    w.push(1.5, true);
    let e = w.finish();
    assert_eq!((e.predictions, e.skipped), (4, 2));
    let want = (0.9 + 0.8 + 0.5 + 0.6) / 4.0;
    assert!((e.accuracy.expect("defined") - want).abs() < 1e-15);
    // E[TP] = 0.9 + 0.5 + 0.6, E[FP] = 0.1 + 0.5 + 0.4.
    assert!((e.precision.expect("defined") - 2.0 / 3.0).abs() < 1e-15);
}

/// Windows of 1,000 predictions whose positive-class probability is `p ~ U(0, 1)` and
/// whose label is drawn with probability `p`; the model reports `report(p)`. Returns
/// (estimated - realised) accuracy per window.
fn cbpe_errors(seed: u64, windows: usize, report: impl Fn(f64) -> f64) -> Vec<f64> {
    let c = PerfConfig::default();
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    (0..windows)
        .map(|_| {
            let (mut est, mut real) = (CbpeWindow::new(), PerfWindow::new(&c, seed));
            for _ in 0..1_000 {
                let p: f64 = rng.random();
                let y = rng.random::<f64>() < p;
                let pred = summary(Some(report(p)), None);
                est.observe(&c, &pred);
                let j = Joined {
                    prediction: pred,
                    label: num(f64::from(u8::from(y))),
                    label_ts: 0,
                };
                real.observe(&c, &j);
            }
            let e = est.finish().error_against(&real.finish());
            e.accuracy.expect("defined")
        })
        .collect()
}

/// Calibrated probabilities: every window's estimate within 0.06 of the realised accuracy
/// (the realised accuracy's sd over 1,000 predictions is ~0.013, so ~4.5 sd), a mean
/// absolute error below 0.015, and no bias.
#[test]
fn cbpe_tracks_realised_accuracy_when_calibrated() {
    for seed in [1, 2, 3] {
        let errs = cbpe_errors(seed, 50, |p| p);
        let worst = errs.iter().fold(0.0f64, |m, e| m.max(e.abs()));
        let bias = errs.iter().sum::<f64>() / errs.len() as f64;
        let mae = errs.iter().map(|e| e.abs()).sum::<f64>() / errs.len() as f64;
        assert!(worst < 0.06, "seed {seed}: worst window error {worst}");
        assert!(mae < 0.015, "seed {seed}: mean absolute error {mae}");
        assert!(bias.abs() < 0.006, "seed {seed}: bias {bias}");
    }
}

/// Over-confident probabilities (sharpened): the estimate is too optimistic, and the
/// comparison shows it.
#[test]
fn cbpe_error_reveals_miscalibration() {
    let sharpen = |p: f64| p.powi(3) / (p.powi(3) + (1.0 - p).powi(3));
    let errs = cbpe_errors(1, 20, sharpen);
    let bias = errs.iter().sum::<f64>() / errs.len() as f64;
    assert!(bias > 0.05, "bias {bias}");
}
