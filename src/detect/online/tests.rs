//! Properties shared by every online detector, on seeded streams: false alarms on
//! stationary data, detection delay after a shift of known size, snapshots, ignored inputs
//! and config parsing. The River reference values are checked in
//! `tests/integration/reference_online.rs`.

use super::*;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64Mcg;

const STREAMS: u64 = 50;
const LEN: usize = 5_000;

fn gaussian(seed: u64, n: usize, mean: f64) -> Vec<f64> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let normal = Normal::new(mean, 1.0).expect("valid normal");
    (0..n).map(|_| normal.sample(&mut rng)).collect()
}

fn bernoulli(seed: u64, n: usize, p: f64) -> Vec<f64> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    (0..n)
        .map(|_| if rng.random::<f64>() < p { 1.0 } else { 0.0 })
        .collect()
}

fn run(config: &ChangeDetectorConfig, xs: &[f64]) -> Vec<ChangePoint> {
    let mut d = ChangeDetector::new(config);
    xs.iter()
        .enumerate()
        .filter_map(|(i, &x)| d.update(x, 1_000 * i as Ts))
        .collect()
}

fn numeric_defaults() -> [ChangeDetectorConfig; 3] {
    [
        ChangeDetectorConfig::Adwin(AdwinConfig::default()),
        ChangeDetectorConfig::PageHinkley(PageHinkleyConfig::default()),
        ChangeDetectorConfig::Cusum(CusumConfig::default()),
    ]
}

fn binary_defaults() -> [ChangeDetectorConfig; 2] {
    [
        ChangeDetectorConfig::Ddm(DdmConfig::default()),
        ChangeDetectorConfig::Eddm(EddmConfig::default()),
    ]
}

/// Detections over 50 seeded stationary streams of 5,000 points.
fn false_alarms(config: &ChangeDetectorConfig, stream: impl Fn(u64) -> Vec<f64>) -> usize {
    (0..STREAMS)
        .map(|seed| run(config, &stream(seed)).len())
        .sum()
}

#[test]
fn false_alarms_on_stationary_gaussian_streams_stay_below_the_stated_rate() {
    // Upper bounds on the total over 250,000 observations of N(0, 1); measured for these
    // seeds: ADWIN 0, Page-Hinkley 133, CUSUM 491. ADWIN errs with probability about
    // delta per test. Page-Hinkley's threshold is in the stream's units, so on
    // unit-variance noise with River's defaults it fires about once per 1,900 observations
    // (bound: 0.6 per 1,000). CUSUM with k = 0.5, h = 5 and a 30-point warm-up fires about
    // once per 510 (bound: 2.2 per 1,000, i.e. Montgomery's in-control run length of 465
    // for known parameters).
    let bounds = [("adwin", 0), ("page_hinkley", 150), ("cusum", 550)];
    for (config, (kind, bound)) in numeric_defaults().iter().zip(bounds) {
        assert_eq!(config.kind(), kind);
        let n = false_alarms(config, |seed| gaussian(seed, LEN, 0.0));
        println!(
            "{kind}: {n} detections over {} observations",
            STREAMS as usize * LEN
        );
        assert!(n <= bound, "{kind}: {n} false alarms, bound {bound}");
    }
}

#[test]
fn false_alarms_on_stationary_error_streams_stay_below_the_stated_rate() {
    // 50 streams of 5,000 Bernoulli(0.1) error indicators; measured for these seeds:
    // DDM 41 (bound 0.2 per 1,000 observations), EDDM 473 (bound 2 per 1,000: EDDM reacts
    // to the spread of the distances between errors, which is large at a 10% error rate).
    let bounds = [("ddm", 50), ("eddm", 500)];
    for (config, (kind, bound)) in binary_defaults().iter().zip(bounds) {
        let n = false_alarms(config, |seed| bernoulli(seed, LEN, 0.1));
        println!(
            "{kind}: {n} detections over {} observations",
            STREAMS as usize * LEN
        );
        assert!(n <= bound, "{kind}: {n} false alarms, bound {bound}");
    }
}

/// For each seed, the delay from the change at `at` to the first detection at or after it
/// (`None`: not detected by the end of the stream).
fn delays(
    config: &ChangeDetectorConfig,
    at: usize,
    stream: impl Fn(u64) -> Vec<f64>,
) -> Vec<Option<u64>> {
    (0..STREAMS)
        .map(|seed| {
            run(config, &stream(seed))
                .iter()
                .map(|c| c.index)
                .find(|&i| i >= at as u64)
                .map(|i| i - at as u64)
        })
        .collect()
}

fn summarise(kind: &str, delays: &[Option<u64>]) -> (usize, u64) {
    let mut found: Vec<u64> = delays.iter().flatten().copied().collect();
    found.sort_unstable();
    let median = found.get(found.len() / 2).copied().unwrap_or(u64::MAX);
    println!(
        "{kind}: detected {}/{}, median delay {median}, max {:?}",
        found.len(),
        delays.len(),
        found.last()
    );
    (found.len(), median)
}

#[test]
fn a_one_sigma_mean_shift_is_detected_within_the_stated_delay() {
    // 2,500 points of N(0, 1), then 2,500 of N(1, 1): all 50 found, with a median delay
    // of at most (measured): ADWIN 64 (59: the second clock tick after the change),
    // Page-Hinkley 50 (38), CUSUM 15 (11; Montgomery's ARL for a one-sigma shift is 10.4).
    // A false alarm just before the change leaves a warm-up straddling it, hence CUSUM's
    // occasional long delay (up to 768 here).
    let at = 2_500;
    let stream = |seed: u64| {
        let mut xs = gaussian(seed, at, 0.0);
        xs.extend(gaussian(seed + 1_000, LEN - at, 1.0));
        xs
    };
    let bounds = [
        ("adwin", 50, 64),
        ("page_hinkley", 50, 50),
        ("cusum", 50, 15),
    ];
    for (config, (kind, min_found, max_median)) in numeric_defaults().iter().zip(bounds) {
        let (found, median) = summarise(kind, &delays(config, at, stream));
        assert!(found >= min_found, "{kind}: found in {found} of {STREAMS}");
        assert!(median <= max_median, "{kind}: median delay {median}");
    }
}

#[test]
fn an_error_rate_jump_is_detected_within_the_stated_delay() {
    // 2,500 error indicators at 10%, then 2,500 at 30%.
    let at = 2_500;
    let stream = |seed: u64| {
        let mut xs = bernoulli(seed, at, 0.1);
        xs.extend(bernoulli(seed + 1_000, LEN - at, 0.3));
        xs
    };
    let bounds = [("ddm", 50, 200), ("eddm", 50, 200)];
    for (config, (kind, min_found, max_median)) in binary_defaults().iter().zip(bounds) {
        let (found, median) = summarise(kind, &delays(config, at, stream));
        assert!(found >= min_found, "{kind}: found in {found} of {STREAMS}");
        assert!(median <= max_median, "{kind}: median delay {median}");
    }
}

fn all_defaults() -> Vec<ChangeDetectorConfig> {
    numeric_defaults()
        .into_iter()
        .chain(binary_defaults())
        .collect()
}

/// A stream with changes that every detector reacts to: numeric for the first three,
/// error indicators for DDM and EDDM.
fn changing_stream(config: &ChangeDetectorConfig, seed: u64) -> Vec<f64> {
    let binary = matches!(
        config,
        ChangeDetectorConfig::Ddm(_) | ChangeDetectorConfig::Eddm(_)
    );
    let mut xs = Vec::new();
    for (i, level) in [0.0, 1.5, -0.5, 2.0].into_iter().enumerate() {
        let seed = seed * 10 + i as u64;
        if binary {
            xs.extend(bernoulli(seed, 1_500, 0.05 + 0.1 * (level + 0.5)));
        } else {
            xs.extend(gaussian(seed, 1_500, level));
        }
    }
    xs
}

#[test]
fn a_snapshot_taken_mid_stream_resumes_with_identical_output() {
    for config in all_defaults() {
        for seed in 0..5 {
            let xs = changing_stream(&config, seed);
            let whole = run(&config, &xs);
            assert!(
                !whole.is_empty(),
                "{}: the stream has changes",
                config.kind()
            );
            for cut in [1, 17, 700, 2_345, 4_100] {
                let mut d = ChangeDetector::new(&config);
                let ts = |i: usize| 1_000 * i as Ts;
                let mut got: Vec<_> = (0..cut).filter_map(|i| d.update(xs[i], ts(i))).collect();
                let json = serde_json::to_string(&d).expect("serialisable");
                let mut restored: ChangeDetector =
                    serde_json::from_str(&json).expect("deserialisable");
                assert_eq!(restored, d, "{}: state survives JSON", config.kind());
                got.extend((cut..xs.len()).filter_map(|i| restored.update(xs[i], ts(i))));
                assert_eq!(got, whole, "{} seed {seed} cut {cut}", config.kind());
                assert_eq!(restored.observations(), xs.len() as u64);
            }
        }
    }
}

#[test]
fn non_finite_and_non_binary_inputs_are_ignored_and_not_counted() {
    for config in all_defaults() {
        let xs = changing_stream(&config, 3);
        let clean = run(&config, &xs);
        let mut d = ChangeDetector::new(&config);
        let mut noisy = Vec::new();
        for (i, &x) in xs.iter().enumerate() {
            for junk in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                assert_eq!(d.update(junk, 0), None);
            }
            if matches!(config.kind(), "ddm" | "eddm") {
                assert_eq!(d.update(0.5, 0), None);
            }
            noisy.extend(d.update(x, 1_000 * i as Ts));
        }
        assert_eq!(noisy, clean, "{}", config.kind());
        assert_eq!(d.observations(), xs.len() as u64);
        assert_eq!(d.kind(), config.kind());
        assert_eq!(d.config(), config);
    }
}

#[test]
fn change_points_carry_index_time_and_plausible_means() {
    for config in all_defaults() {
        let xs = changing_stream(&config, 1);
        for c in run(&config, &xs) {
            assert_eq!(c.ts, 1_000 * c.index as Ts);
            assert!(
                c.mean_before.is_finite() && c.mean_after.is_finite(),
                "{c:?}"
            );
            assert!(c.statistic.is_finite(), "{}: {c:?}", config.kind());
        }
        // The first change of the stream is upwards.
        let first = run(&config, &xs)
            .into_iter()
            .find(|c| c.index >= 1_500)
            .expect("the first change is found");
        assert!(
            first.mean_after > first.mean_before,
            "{}: {first:?}",
            config.kind()
        );
    }
}

#[test]
fn configs_parse_from_tagged_tables_with_defaults_and_refuse_unknown_fields() {
    let c: ChangeDetectorConfig =
        serde_json::from_str(r#"{"kind": "adwin", "delta": 0.01}"#).expect("valid");
    assert_eq!(
        c,
        ChangeDetectorConfig::Adwin(AdwinConfig {
            delta: 0.01,
            ..AdwinConfig::default()
        })
    );
    let c: ChangeDetectorConfig =
        toml::from_str("kind = \"page_hinkley\"\nmode = \"down\"").expect("valid TOML");
    assert_eq!(c.kind(), "page_hinkley");
    for bad in [
        r#"{"kind": "adwin", "delta": 0.01, "dleta": 1}"#,
        r#"{"kind": "adwin", "clock": 0}"#,
        r#"{"kind": "kswin"}"#,
        r#"{"kind": "page_hinkley", "mode": "sideways"}"#,
    ] {
        assert!(
            serde_json::from_str::<ChangeDetectorConfig>(bad).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn validation_accepts_the_defaults_and_lists_every_problem() {
    for config in all_defaults() {
        assert_eq!(config.validate(), Ok(()), "{}", config.kind());
    }
    let errs = ChangeDetectorConfig::PageHinkley(PageHinkleyConfig {
        delta: -1.0,
        threshold: f64::NAN,
        alpha: 1.5,
        ..PageHinkleyConfig::default()
    })
    .validate()
    .expect_err("three problems");
    let fields: Vec<_> = errs.iter().map(OnlineConfigError::field).collect();
    assert_eq!(fields, ["delta", "threshold", "alpha"]);
    assert_eq!(errs[2].to_string(), "alpha: must be in (0, 1], got 1.5");

    let errs = ChangeDetectorConfig::Eddm(EddmConfig {
        alpha: 0.8,
        beta: 0.9,
        ..EddmConfig::default()
    })
    .validate()
    .expect_err("beta above alpha");
    assert_eq!(
        errs,
        [OnlineConfigError::BetaAboveAlpha {
            alpha: 0.8,
            beta: 0.9
        }]
    );

    let errs = ChangeDetectorConfig::Cusum(CusumConfig {
        warm_up: 1,
        ..CusumConfig::default()
    })
    .validate()
    .expect_err("warm-up too short");
    assert_eq!(errs[0].field(), "warm_up");
    let errs = ChangeDetectorConfig::Cusum(CusumConfig {
        warm_up: cusum::MAX_WARM_UP + 1,
        ..CusumConfig::default()
    })
    .validate()
    .expect_err("warm-up too long");
    assert_eq!(
        errs[0].to_string(),
        "warm_up: must be between 2 and 100000, got 100001"
    );
    let errs = ChangeDetectorConfig::Adwin(AdwinConfig {
        delta: 1.0,
        ..AdwinConfig::default()
    })
    .validate()
    .expect_err("delta of 1");
    assert_eq!(errs[0].field(), "delta");
    let errs = ChangeDetectorConfig::Ddm(DdmConfig {
        drift_threshold: 0.0,
        ..DdmConfig::default()
    })
    .validate()
    .expect_err("zero threshold");
    assert_eq!(errs[0].field(), "drift_threshold");
}

#[test]
fn invalid_configs_do_not_panic() {
    let configs = [
        ChangeDetectorConfig::Adwin(AdwinConfig {
            delta: f64::NAN,
            min_window_length: 0,
            grace_period: 0,
            ..AdwinConfig::default()
        }),
        ChangeDetectorConfig::PageHinkley(PageHinkleyConfig {
            threshold: -1.0,
            alpha: f64::INFINITY,
            ..PageHinkleyConfig::default()
        }),
        ChangeDetectorConfig::Cusum(CusumConfig {
            k: f64::NAN,
            h: -1.0,
            warm_up: 0,
        }),
        ChangeDetectorConfig::Ddm(DdmConfig {
            warm_start: 0,
            warning_threshold: -1.0,
            drift_threshold: f64::NAN,
        }),
        ChangeDetectorConfig::Eddm(EddmConfig {
            warm_start: 0,
            alpha: 0.1,
            beta: 2.0,
        }),
    ];
    for config in configs {
        assert!(config.validate().is_err());
        let xs = changing_stream(&config, 2);
        let _ = run(&config, &xs);
    }
}
