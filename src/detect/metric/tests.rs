//! Reference values (numpy / scipy fixtures) and seeded properties of the metric detectors.

use super::*;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64Mcg;

const FIVE_MIN: Ts = 300_000;
/// 2026-01-05 00:00 UTC, a Monday.
const T0: Ts = 1_767_571_200_000;

fn fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/fixtures/metric.json");
    let text = std::fs::read_to_string(path).expect("run scripts/metric_fixtures.py");
    serde_json::from_str(&text).expect("valid fixture")
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-12)
}

#[test]
fn rolling_median_and_mad_match_numpy_and_scipy() {
    let f = fixture();
    let r = &f["rolling"];
    let x = floats(&r["x"]);
    let (med, mad) = (floats(&r["median"]), floats(&r["mad"]));
    let window = r["window"].as_u64().expect("window") as usize;
    let mut w = RollingMedian::new(window);
    for (i, &v) in x.iter().enumerate() {
        w.push(v);
        let (m, d) = w.median_mad().expect("non-empty");
        assert!(close(m, med[i], 1e-12), "median at {i}: {m} vs {}", med[i]);
        assert!(
            close(d, mad[i], 1e-9) || (d - mad[i]).abs() < 1e-12,
            "mad at {i}: {d} vs {}",
            mad[i]
        );
    }
}

#[test]
fn ewma_baseline_and_chart_match_the_closed_form() {
    let f = fixture();
    let e = &f["ewma"];
    let x = floats(&e["x"]);
    let (mean, var, chart) = (floats(&e["mean"]), floats(&e["var"]), floats(&e["chart_z"]));
    let alpha = e["alpha"].as_f64().expect("alpha");
    let lambda = e["lambda"].as_f64().expect("lambda");
    let mut c = EwmaChart::new(alpha, lambda);
    for (i, &v) in x.iter().enumerate() {
        let s = c.update(v, 1e-300);
        if i >= 2 {
            assert!(
                close(s.chart_z, chart[i - 1], 1e-6),
                "chart at {i}: {} vs {}",
                s.chart_z,
                chart[i - 1]
            );
        }
        assert!(close(c.mean(), mean[i], 1e-9), "mean at {i}");
        assert!(
            close(c.sd().powi(2), var[i], 1e-6) || var[i] == 0.0,
            "var at {i}"
        );
    }
}

/// Scores a whole series with the default config.
fn run(xs: impl IntoIterator<Item = (Ts, f64)>) -> Vec<MetricScores> {
    let mut s = MetricScorer::new(&MetricDetectorConfig::default());
    xs.into_iter().map(|(t, v)| s.score(t, v)).collect()
}

fn noise(seed: u64, n: usize) -> Vec<(Ts, f64)> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let d = Normal::new(100.0, 5.0).expect("valid");
    (0..n)
        .map(|i| (T0 + i as Ts * FIVE_MIN, d.sample(&mut rng)))
        .collect()
}

fn in_unit(s: &MetricScores) -> bool {
    s.named().iter().all(|(_, v)| (0.0..=1.0).contains(v))
}

/// Alerting threshold used by the properties below: the default `alert_threshold`.
const ALERT: f64 = 0.9;

#[test]
fn stationary_noise_rarely_alerts() {
    // Gaussian noise, five seeds of 6000 samples (three weeks of 5-minute samples):
    // after warm-up the combined score reaches 0.9 on at most 0.05% of the samples
    // (none in these runs: the 5-sigma calibration floor).
    for seed in 1..=5 {
        let scores = run(noise(seed, 6000));
        assert!(scores.iter().all(in_unit));
        let alerts = scores[500..].iter().filter(|s| s.anomaly >= ALERT).count();
        let share = alerts as f64 / (scores.len() - 500) as f64;
        assert!(share <= 0.0005, "seed {seed}: {alerts} alerts ({share:.4})");
    }
}

#[test]
fn a_step_and_a_spike_score_high_quickly() {
    for seed in 11..=15 {
        // A step of 6 sigma after 2000 samples: alerted within 2 samples.
        let mut xs = noise(seed, 2200);
        for x in &mut xs[2000..] {
            x.1 += 30.0;
        }
        let s = run(xs);
        let first = (2000..2200).find(|&i| s[i].anomaly >= ALERT);
        assert!(
            first.is_some_and(|i| i <= 2001),
            "seed {seed}: step first alert {first:?}"
        );
        // A single 8-sigma spike: alerted on the spike itself.
        let mut xs = noise(seed, 2100);
        xs[2000].1 += 40.0;
        let s = run(xs);
        assert!(s[2000].anomaly >= ALERT, "seed {seed}: spike {:?}", s[2000]);
    }
}

/// Four weeks of 5-minute samples of a daily sinusoid (peak at 14:00 UTC, amplitude 8
/// sigma) plus Gaussian noise.
fn daily(seed: u64, days: usize) -> Vec<(Ts, f64)> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let d = Normal::new(0.0, 5.0).expect("valid");
    (0..days * 288)
        .map(|i| {
            let ts = T0 + i as Ts * FIVE_MIN;
            let hour = (ts % seasonal::DAY_MS) as f64 / seasonal::HOUR_MS as f64;
            let v = 200.0 + 40.0 * (std::f64::consts::TAU * (hour - 8.0) / 24.0).sin();
            (ts, v + d.sample(&mut rng))
        })
        .collect()
}

#[test]
fn daily_peaks_score_low_once_the_season_is_learnt() {
    for seed in 21..=23 {
        let xs = daily(seed, 28);
        let mut s = MetricScorer::new(&MetricDetectorConfig::default());
        let scores: Vec<MetricScores> = xs.iter().map(|&(t, v)| s.score(t, v)).collect();
        assert_eq!(s.season(), Some(Period::Daily), "seed {seed}");
        // From the second week on, the peaks (12:00-16:00 UTC) score below 0.8 (about
        // 0.55 in these runs) on the combined score and on the seasonal one.
        let peak: Vec<&MetricScores> = xs
            .iter()
            .zip(&scores)
            .skip(7 * 288)
            .filter(|((t, _), _)| (12..16).contains(&((t % seasonal::DAY_MS) / seasonal::HOUR_MS)))
            .map(|(_, s)| s)
            .collect();
        let max = |f: fn(&MetricScores) -> f64| peak.iter().map(|s| f(s)).fold(0.0, f64::max);
        assert!(
            max(|s| s.anomaly) < 0.8,
            "seed {seed}: anomaly {}",
            max(|s| s.anomaly)
        );
        assert!(
            max(|s| s.seasonal) < 0.8,
            "seed {seed}: seasonal {}",
            max(|s| s.seasonal)
        );
    }
}

#[test]
fn a_missing_daily_peak_is_seasonal_and_alerts() {
    // The same pattern, but on day 21 the afternoon peak does not come: the value
    // stays at the daily mean, which is normal at other hours.
    let mut xs = daily(31, 24);
    let day = 21 * 288;
    for x in &mut xs[day + 12 * 12..day + 16 * 12] {
        x.1 -= 40.0
            * (std::f64::consts::TAU
                * (((x.0 % seasonal::DAY_MS) as f64 / seasonal::HOUR_MS as f64) - 8.0)
                / 24.0)
                .sin();
    }
    // Both the seasonal and the combined score alert within the first half hour.
    let s = run(xs);
    let window = &s[day + 12 * 12..day + 16 * 12];
    let first = |f: fn(&MetricScores) -> f64| window.iter().position(|s| f(s) >= ALERT);
    assert!(
        first(|s| s.seasonal).is_some_and(|i| i < 6),
        "{:?}",
        first(|s| s.seasonal)
    );
    assert!(
        first(|s| s.anomaly).is_some_and(|i| i < 6),
        "{:?}",
        first(|s| s.anomaly)
    );
}

#[test]
fn irregular_sampling_learns_the_season_on_event_time() {
    // Samples every 3 to 9 minutes (jittered): the daily profile still fits, and after
    // the first week at most 0.1% of the samples alert.
    let mut rng = Pcg64Mcg::seed_from_u64(41);
    let d = Normal::new(0.0, 5.0).expect("valid");
    let mut ts = T0;
    let mut s = MetricScorer::new(&MetricDetectorConfig::default());
    let mut late = Vec::new();
    while ts < T0 + 28 * seasonal::DAY_MS {
        let hour = (ts % seasonal::DAY_MS) as f64 / seasonal::HOUR_MS as f64;
        let v = 200.0 + 40.0 * (std::f64::consts::TAU * (hour - 8.0) / 24.0).sin();
        let sc = s.score(ts, v + d.sample(&mut rng));
        if ts > T0 + 7 * seasonal::DAY_MS {
            late.push(sc);
        }
        ts += rand::Rng::random_range(&mut rng, 180_000..540_000);
    }
    assert_eq!(s.season(), Some(Period::Daily));
    let alerts = late.iter().filter(|s| s.anomaly >= ALERT).count();
    assert!(
        alerts as f64 <= 0.001 * late.len() as f64,
        "{alerts} of {}",
        late.len()
    );
}

#[test]
fn a_run_of_moderately_unusual_samples_alerts_through_sustained_evidence() {
    // A burst of swings of +-4.6 sigma: each alone scores below 0.9 (about 0.75-0.88)
    // on every detector. With the pattern detector neutralised to isolate the
    // mechanism, the sustained evidence alerts within 10 samples, and nothing alerts
    // without it.
    let isolated = MetricDetectorConfig {
        pattern_floor: 1e9,
        ..Default::default()
    };
    let off = MetricDetectorConfig {
        sustained_level: 1e9,
        ..isolated.clone()
    };
    for seed in 11..=15 {
        let mut xs = noise(seed, 2100);
        for (i, x) in xs[2000..2020].iter_mut().enumerate() {
            x.1 = if i % 2 == 0 { 123.0 } else { 77.0 };
        }
        for (cfg, want) in [(&isolated, true), (&off, false)] {
            let mut s = MetricScorer::new(cfg);
            let scores: Vec<MetricScores> = xs.iter().map(|&(t, v)| s.score(t, v)).collect();
            let burst = &scores[2000..2020];
            let single = burst
                .iter()
                .map(|s| s.robust_z.max(s.ewma).max(s.seasonal))
                .fold(0.0, f64::max);
            assert!(
                single < ALERT,
                "seed {seed}: a single sample scored {single}"
            );
            let first = scores[1990..].iter().position(|s| s.anomaly >= ALERT);
            if want {
                assert!(
                    first.is_some_and(|i| (10..20).contains(&i)),
                    "seed {seed}: {first:?}"
                );
            } else {
                assert_eq!(first, None, "seed {seed}");
            }
        }
    }
}

#[test]
fn snapshot_mid_stream_resumes_identically() {
    let xs = daily(51, 10);
    let mut a = MetricScorer::new(&MetricDetectorConfig::default());
    for &(t, v) in &xs[..2000] {
        a.score(t, v);
    }
    let json = serde_json::to_string(&a).expect("serialises");
    let mut b: MetricScorer = serde_json::from_str(&json).expect("deserialises");
    for &(t, v) in &xs[2000..] {
        assert_eq!(a.score(t, v), b.score(t, v), "at {t}");
    }
}

#[test]
fn a_snapshot_from_before_novelty_restores_and_warms_novelty_up_anew() {
    let xs = noise(52, 1200);
    let mut a = MetricScorer::new(&MetricDetectorConfig::default());
    for &(t, v) in &xs[..1000] {
        a.score(t, v);
    }
    let mut json = serde_json::to_value(&a).expect("serialises");
    let obj = json.as_object_mut().expect("an object");
    assert!(obj.remove("novelty").is_some());
    for field in ["novelty_bins", "novelty_context", "novelty_bits"] {
        obj["cfg"].as_object_mut().expect("cfg").remove(field);
    }
    let mut b: MetricScorer = serde_json::from_value(json).expect("deserialises");
    assert_eq!(b.config(), a.config());
    for &(t, v) in &xs[1000..] {
        assert_eq!(b.score(t, v).novelty, 0.0, "warming up at {t}");
    }
}

#[test]
fn non_finite_values_are_ignored() {
    let xs = noise(61, 800);
    let mut a = MetricScorer::new(&MetricDetectorConfig::default());
    let mut b = MetricScorer::new(&MetricDetectorConfig::default());
    for (i, &(t, v)) in xs.iter().enumerate() {
        if i == 400 {
            assert_eq!(b.score(t, f64::NAN), MetricScores::default());
            assert_eq!(b.score(t, f64::INFINITY), MetricScores::default());
        }
        assert_eq!(a.score(t, v), b.score(t, v));
    }
}

#[test]
fn a_constant_series_alerts_on_any_change() {
    let mut s = MetricScorer::new(&MetricDetectorConfig::default());
    for i in 0..1000 {
        let sc = s.score(T0 + i * FIVE_MIN, 0.0);
        assert!(sc.anomaly < ALERT, "{i}: {sc:?}");
    }
    assert!(s.score(T0 + 1000 * FIVE_MIN, 0.5).anomaly >= ALERT);
}

#[test]
fn defaults_are_valid_and_named_lists_every_score() {
    assert!(MetricDetectorConfig::default().problems().is_empty());
    let bad = MetricDetectorConfig {
        ewma_alpha: 0.0,
        calib_quantile: 1.5,
        ..Default::default()
    };
    let fields: Vec<&str> = bad.problems().iter().map(|p| p.field).collect();
    assert_eq!(fields, ["ewma_alpha", "calib_quantile"]);
    let s = MetricScores {
        robust_z: 0.1,
        ewma: 0.2,
        seasonal: 0.3,
        pattern: 0.4,
        novelty: 0.42,
        sustained: 0.45,
        anomaly: 0.5,
    };
    let names: Vec<&str> = s.named().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "robust_z",
            "ewma",
            "seasonal",
            "pattern",
            "novelty",
            "sustained",
            "anomaly"
        ]
    );
    // The documented map from calibrated ratio to score.
    assert!((ratio_to_score(1.0) - 0.9).abs() < 1e-12);
    assert!((ratio_to_score(0.7407) - 0.5).abs() < 1e-3);
    assert_eq!(ratio_to_score(0.0), 0.0);
}

#[test]
fn novelty_waits_for_its_warmup_and_can_be_switched_off() {
    // A square wave between two levels, then a third level inside the range at sample 600:
    // every context is new, so `novelty` alarms; it is silent during the warm-up (where
    // every context is new too) and with `novelty_level` above 1.
    let xs: Vec<(Ts, f64)> = (0..700)
        .map(|i| {
            let v = match i {
                600 => 5.0,
                _ if (i / 4) % 2 == 0 => 0.0,
                _ => 10.0,
            };
            (T0 + i as Ts * FIVE_MIN, v)
        })
        .collect();
    let on = run(xs.clone());
    assert!(on[..400].iter().all(|s| s.novelty == 0.0));
    assert!(on[600].novelty >= ALERT, "{:?}", on[600]);
    assert!(on[600].anomaly >= ALERT);
    let off = MetricDetectorConfig {
        novelty_level: 2.0,
        ..Default::default()
    };
    let mut s = MetricScorer::new(&off);
    let scores: Vec<MetricScores> = xs.iter().map(|&(t, v)| s.score(t, v)).collect();
    assert!(scores.iter().all(|s| s.novelty < 0.9), "{:?}", scores[600]);
}
