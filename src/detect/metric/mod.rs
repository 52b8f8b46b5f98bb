//! Streaming anomaly detectors for serving metrics: latency, throughput, error counts, GPU
//! utilisation, queue depth, any gauge. One [`MetricScorer`] per series scores every sample
//! in [0, 1] from the samples up to and including it (no look-ahead), on event time.
//!
//! Detectors, each with its own score ([`MetricScores`]):
//!
//! - `robust_z`: distance from the rolling median in robust sigmas (1.4826 x MAD, or
//!   1.2533 x the mean absolute deviation when that is larger, so a series that sits on one
//!   value most of the time keeps a usable scale), over the last `robust_window` samples;
//! - `ewma`: EWMA control chart. A slow EWMA mean and variance are the in-control baseline;
//!   the score takes the larger of the sample's and of a fast EWMA's (lambda) distance
//!   from the baseline, each in units of its own control limit;
//! - `seasonal`: distance from a daily or weekly profile learnt on event time, in units of
//!   the profile's own spread at that phase. The period is detected from the data (the
//!   autocorrelation of hourly means at 24 h and 168 h) or configured; until a period is
//!   found the score is 0;
//! - `pattern`: distance from the last `pattern_len` samples to their nearest match in the
//!   last `pattern_history` samples (streaming left matrix profile): new shapes, levels or
//!   noise, which no single-sample test sees.
//!
//! **Calibration.** Every detector's statistic is divided by the 99.9th percentile
//! (`calib_quantile`) of its own recent values (exponentially decayed, `calib_half_life`
//! samples), so that a ratio of 1 means "as unusual as the most unusual 0.1% of recent
//! history" on a quiet gauge and on a bursty counter alike. A ratio `r` maps to the score
//! `1 - 10^(-r^4)`: 0.5 at `r = 0.74`, 0.9 at `r = 1`, 0.99 at `r = 1.19`. A normal daily peak
//! is part of that history and so scores low once a few days are seen.
//!
//! **Combined score.** `anomaly` is the highest detector score, made an onset score: when
//! it reaches `alert_threshold` (0.9) it is reported once, and the next `refractory`
//! samples are damped by `refractory_factor` (scores up to 0.5), so one incident pages once
//! instead of every sample, and a lasting change has become the new normal by the time the
//! refractory period ends (the detectors keep learning throughout). Alert rules use
//! `anomaly >= 0.9` by default; the per-detector scores are not damped.
//!
//! **Memory per series** (defaults, bounded whatever the traffic): rolling window of 1000
//! samples kept in arrival and sorted order (16 KiB); pattern history ring of 1025 samples
//! plus 977 running distances (16 KiB); daily profile of 144 and weekly profile of 336
//! buckets (27 KiB) and 504 hourly means (4 KiB); five decayed histograms of 320 bins
//! (12.5 KiB). About 76 KiB in all; each part scales with its setting.
//!
//! **Sampling.** Seasonal phase comes from `ts` (UTC), so irregular sampling and gaps are
//! fine there; the rolling window, the EWMA, the pattern and the refractory period count
//! samples. A non-finite value is ignored (scores 0, state unchanged).
//!
//! Pure: no I/O, no clock, no globals, no randomness. The scorer is `Clone + Debug +
//! Serialize + Deserialize` for snapshots; a restored scorer continues exactly where the
//! original was.

pub mod calibrate;
pub mod ewma;
pub mod exact;
pub mod pattern;
pub mod robust;
pub mod seasonal;

use crate::record::Ts;
use calibrate::TailCalibrator;
use ewma::EwmaChart;
use pattern::PatternNovelty;
use robust::RollingMedian;
use seasonal::{Period, SeasonalModel, SeasonalParams};
use serde::{Deserialize, Serialize};

/// How the seasonal period is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeasonMode {
    /// Detected from the data and re-checked every hour of event time.
    Auto,
    /// No seasonal baseline (`seasonal` scores 0).
    Off,
    /// Always a 24 h profile.
    Daily,
    /// Always a 7-day profile.
    Weekly,
}

/// Settings of the metric detectors. `Default` is what vigil ships; every field has a
/// default, so a config names only what it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricDetectorConfig {
    /// Samples in the rolling median / MAD window of `robust_z` (default 1000: 3.5 days of
    /// 5-minute samples). Longer windows make a lasting shift stand out longer.
    pub robust_window: usize,
    /// Samples a series must have before `robust_z`, `ewma` and `pattern` score (default
    /// 16).
    pub warmup: usize,
    /// Per-sample weight of the EWMA baseline mean and variance (default 0.01: a memory of
    /// about 100 samples).
    pub ewma_alpha: f64,
    /// Per-sample weight (lambda) of the fast EWMA compared with the baseline (default
    /// 0.25: catches a sustained shift of one sigma within a few samples).
    pub ewma_lambda: f64,
    /// Seasonal period: detected (default) or fixed.
    pub season: SeasonMode,
    /// Buckets of the daily profile (default 144: 10 minutes each).
    pub daily_buckets: usize,
    /// Buckets of the weekly profile (default 336: 30 minutes each).
    pub weekly_buckets: usize,
    /// Per-period EWMA weight of a profile bucket (default 0.1: the profile follows a
    /// change of routine within a week or two and is not bent by one odd day).
    pub seasonal_alpha: f64,
    /// Periods a profile bucket must have seen before it predicts (default 2, the least:
    /// one for its mean, one for its spread).
    pub seasonal_warmup_periods: u32,
    /// Autocorrelation of the hourly means at the period's lag at which a period is taken
    /// as present (default 0.5); it is dropped again below this minus 0.1.
    pub seasonal_min_acf: f64,
    /// How much the 168 h autocorrelation must exceed the 24 h one for the weekly profile
    /// to be used rather than the daily one (default 0.1).
    pub seasonal_weekly_margin: f64,
    /// Phase tolerance in buckets (default 2, i.e. 20 minutes of the daily profile): a
    /// sample is compared with the closest of the profile values within that distance, so
    /// a peak that comes a little early or late is not an anomaly.
    pub seasonal_tolerance: usize,
    /// Feed `robust_z` and `ewma` with the residual from the seasonal profile while a
    /// period is in use, instead of the raw value (default false: the calibration already
    /// makes a recurring peak normal, and the raw value keeps them independent of the
    /// profile's quality). Switching resets both detectors (they warm up again).
    pub deseasonalize: bool,
    /// Samples in the subsequence compared by `pattern` (default 24: two hours of 5-minute
    /// samples).
    pub pattern_len: usize,
    /// Samples of history searched by `pattern` (default 1000). Memory and time per sample
    /// grow linearly with it.
    pub pattern_history: usize,
    /// Half-life, in samples, of the history each detector is calibrated on (default 1400:
    /// about five days of 5-minute samples).
    pub calib_half_life: f64,
    /// Quantile of a detector's recent statistics that scores 0.9 (default 0.999).
    pub calib_quantile: f64,
    /// Statistics a detector must have seen before it scores (default 100).
    pub calib_min: u64,
    /// Lower bound, in sigmas, of the quantile that z-score detectors are calibrated on
    /// (default 3): on a very regular series a 3-sigma deviation is still not alarming.
    pub calib_floor: f64,
    /// Lower bound of the quantile that `pattern` is calibrated on, as a multiple of the
    /// series' long-run spread (1.2533 x its mean absolute deviation, about one sigma)
    /// (default 0.1).
    pub pattern_floor: f64,
    /// `anomaly` at which an alarm is reported and the refractory period starts (default
    /// 0.9, the score of a ratio of 1).
    pub alert_threshold: f64,
    /// Samples after an alarm during which `anomaly` is damped (default 100: about eight
    /// hours of 5-minute samples).
    pub refractory: u64,
    /// Factor applied to `anomaly` during the refractory period (default 0.5).
    pub refractory_factor: f64,
}

impl Default for MetricDetectorConfig {
    fn default() -> Self {
        MetricDetectorConfig {
            robust_window: 1000,
            warmup: 16,
            ewma_alpha: 0.01,
            ewma_lambda: 0.25,
            season: SeasonMode::Auto,
            daily_buckets: 144,
            weekly_buckets: 336,
            seasonal_alpha: 0.1,
            seasonal_warmup_periods: 2,
            seasonal_min_acf: 0.5,
            seasonal_weekly_margin: 0.1,
            seasonal_tolerance: 2,
            deseasonalize: false,
            pattern_len: 24,
            pattern_history: 1000,
            calib_half_life: 1400.0,
            calib_quantile: 0.999,
            calib_min: 100,
            calib_floor: 5.0,
            pattern_floor: 1.0,
            alert_threshold: 0.9,
            refractory: 100,
            refractory_factor: 0.5,
        }
    }
}

/// A setting out of its range, by field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The field, as spelt in the config.
    pub field: &'static str,
    /// What is wrong, e.g. `must be in (0, 1], got 1.5`.
    pub message: String,
}

impl MetricDetectorConfig {
    /// Every setting out of its range (empty when the config is valid). [`MetricScorer`]
    /// clamps what it is given, so it never fails; config validation reports these.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        let mut check = |field: &'static str, ok: bool, msg: String| {
            if !ok {
                out.push(ConfigProblem {
                    field,
                    message: msg,
                });
            }
        };
        let unit = |x: f64| x > 0.0 && x <= 1.0;
        check(
            "robust_window",
            self.robust_window >= 8,
            format!("must be >= 8, got {}", self.robust_window),
        );
        check(
            "ewma_alpha",
            unit(self.ewma_alpha),
            format!("must be in (0, 1], got {}", self.ewma_alpha),
        );
        check(
            "ewma_lambda",
            unit(self.ewma_lambda),
            format!("must be in (0, 1], got {}", self.ewma_lambda),
        );
        check(
            "daily_buckets",
            (1..=1440).contains(&self.daily_buckets),
            format!("must be in 1..=1440, got {}", self.daily_buckets),
        );
        check(
            "weekly_buckets",
            (1..=2016).contains(&self.weekly_buckets),
            format!("must be in 1..=2016, got {}", self.weekly_buckets),
        );
        check(
            "seasonal_alpha",
            unit(self.seasonal_alpha),
            format!("must be in (0, 1], got {}", self.seasonal_alpha),
        );
        check(
            "seasonal_min_acf",
            (0.0..=1.0).contains(&self.seasonal_min_acf),
            format!("must be in [0, 1], got {}", self.seasonal_min_acf),
        );
        check(
            "seasonal_weekly_margin",
            (0.05..=1.0).contains(&self.seasonal_weekly_margin),
            format!("must be in [0.05, 1], got {}", self.seasonal_weekly_margin),
        );
        check(
            "pattern_len",
            self.pattern_len >= 1,
            "must be >= 1".to_string(),
        );
        check(
            "pattern_history",
            self.pattern_history > self.pattern_len && self.pattern_history <= 100_000,
            format!(
                "must be in pattern_len+1..=100000, got {}",
                self.pattern_history
            ),
        );
        check(
            "calib_half_life",
            self.calib_half_life >= 1.0 && self.calib_half_life.is_finite(),
            format!("must be >= 1, got {}", self.calib_half_life),
        );
        check(
            "calib_quantile",
            self.calib_quantile > 0.5 && self.calib_quantile < 1.0,
            format!("must be in (0.5, 1), got {}", self.calib_quantile),
        );
        check(
            "calib_floor",
            self.calib_floor >= 0.0 && self.calib_floor.is_finite(),
            format!("must be >= 0, got {}", self.calib_floor),
        );
        check(
            "alert_threshold",
            unit(self.alert_threshold),
            format!("must be in (0, 1], got {}", self.alert_threshold),
        );
        check(
            "refractory_factor",
            (0.0..=1.0).contains(&self.refractory_factor),
            format!("must be in [0, 1], got {}", self.refractory_factor),
        );
        out
    }

    fn seasonal_params(&self) -> SeasonalParams {
        SeasonalParams {
            daily_buckets: self.daily_buckets.clamp(1, 1440),
            weekly_buckets: self.weekly_buckets.clamp(1, 2016),
            alpha: self.seasonal_alpha.clamp(1e-6, 1.0),
            warmup_periods: self.seasonal_warmup_periods,
            min_acf: self.seasonal_min_acf,
            weekly_margin: self.seasonal_weekly_margin.max(0.05),
            tolerance: self.seasonal_tolerance,
            fixed: match self.season {
                SeasonMode::Auto => None,
                SeasonMode::Off => Some(None),
                SeasonMode::Daily => Some(Some(Period::Daily)),
                SeasonMode::Weekly => Some(Some(Period::Weekly)),
            },
        }
    }
}

/// The scores of one sample, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MetricScores {
    /// Rolling median / MAD z-score, calibrated.
    pub robust_z: f64,
    /// EWMA control chart (sample or fast EWMA against the baseline), calibrated.
    pub ewma: f64,
    /// Distance from the daily or weekly profile, calibrated; 0 without a season.
    pub seasonal: f64,
    /// Distance of the recent subsequence to its nearest match in the history, calibrated.
    pub pattern: f64,
    /// The combined onset score that alert rules use: the highest detector score, damped
    /// for `refractory` samples after each alarm.
    pub anomaly: f64,
}

impl MetricScores {
    /// Every score by name, `anomaly` last.
    pub fn named(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("robust_z", self.robust_z),
            ("ewma", self.ewma),
            ("seasonal", self.seasonal),
            ("pattern", self.pattern),
            ("anomaly", self.anomaly),
        ]
    }
}

/// The detectors that are calibrated, in the order of [`MetricScorer::ratios`].
const ROBUST: usize = 0;
const EWMA_POINT: usize = 1;
const EWMA_CHART: usize = 2;
const SEASONAL: usize = 3;
const PATTERN: usize = 4;
const DETECTORS: usize = 5;

/// Per-sample weight of the long-run level and spread (the pattern floor, tiny scales).
const LONG_ALPHA: f64 = 2e-4;

/// Maps a calibrated ratio to a score: `1 - 10^(-r^4)`, 0.9 at `r = 1`.
fn ratio_to_score(r: f64) -> f64 {
    if r.is_nan() || r <= 0.0 {
        return 0.0;
    }
    let s = 1.0 - 10f64.powf(-r.powi(4));
    s.clamp(0.0, 1.0)
}

/// The detectors and their state for one series.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricScorer {
    cfg: MetricDetectorConfig,
    /// Samples scored.
    n: u64,
    /// Samples fed to the robust window and the EWMA since they were last reset.
    since_reset: u64,
    /// Whether the robust window and the EWMA see seasonal residuals.
    deseasoned: bool,
    window: RollingMedian,
    ewma: EwmaChart,
    seasonal: SeasonalModel,
    /// EWMA of the absolute seasonal residual (a floor for the per-bucket spread).
    #[serde(with = "exact::f64")]
    seasonal_dev: f64,
    pattern: PatternNovelty,
    #[serde(with = "exact::f64")]
    long_mean: f64,
    #[serde(with = "exact::f64")]
    long_dev: f64,
    calib: Vec<TailCalibrator>,
    refractory_left: u64,
    /// Calibrated ratios of the last sample (diagnostics; not state).
    #[serde(skip)]
    ratios: [f64; DETECTORS],
}

impl MetricScorer {
    /// A scorer with no history. Out-of-range settings are clamped (see
    /// [`MetricDetectorConfig::problems`]).
    pub fn new(cfg: &MetricDetectorConfig) -> MetricScorer {
        let mut cfg = cfg.clone();
        cfg.robust_window = cfg.robust_window.max(8);
        cfg.ewma_alpha = cfg.ewma_alpha.clamp(1e-6, 1.0);
        cfg.ewma_lambda = cfg.ewma_lambda.clamp(1e-6, 1.0);
        cfg.pattern_len = cfg.pattern_len.max(1);
        cfg.pattern_history = cfg.pattern_history.clamp(cfg.pattern_len + 1, 100_000);
        MetricScorer {
            n: 0,
            since_reset: 0,
            deseasoned: false,
            window: RollingMedian::new(cfg.robust_window),
            ewma: EwmaChart::new(cfg.ewma_alpha, cfg.ewma_lambda),
            seasonal: SeasonalModel::new(&cfg.seasonal_params()),
            seasonal_dev: 0.0,
            pattern: PatternNovelty::new(cfg.pattern_len, cfg.pattern_history),
            long_mean: 0.0,
            long_dev: 0.0,
            calib: vec![TailCalibrator::default(); DETECTORS],
            refractory_left: 0,
            ratios: [0.0; DETECTORS],
            cfg,
        }
    }

    /// The settings in use (after clamping).
    pub fn config(&self) -> &MetricDetectorConfig {
        &self.cfg
    }

    /// The seasonal period in use, if any.
    pub fn season(&self) -> Option<Period> {
        self.seasonal.active()
    }

    /// Calibrated ratios of the last sample (robust, EWMA sample, EWMA chart, seasonal,
    /// pattern): each detector's statistic over its calibration quantile. Diagnostics for
    /// tuning; not part of the snapshot.
    pub fn ratios(&self) -> [f64; DETECTORS] {
        self.ratios
    }

    /// Scores `value` observed at `ts`, then learns it.
    pub fn score(&mut self, ts: Ts, value: f64) -> MetricScores {
        if !value.is_finite() {
            self.ratios = [0.0; DETECTORS];
            return MetricScores::default();
        }
        let sp = self.cfg.seasonal_params();
        // A scale floor far below any meaningful deviation of this series: a constant
        // series then makes any change infinitely unusual rather than dividing by zero.
        let tiny = (1e-9 * self.long_mean.abs())
            .max(1e-6 * self.long_dev)
            .max(1e-12);
        let mut stat: [Option<f64>; DETECTORS] = [None; DETECTORS];

        let expect = self.seasonal.expect(ts, value, &sp);
        let deseason = self.cfg.deseasonalize && self.seasonal.active().is_some();
        if deseason != self.deseasoned {
            self.window.clear();
            self.ewma = EwmaChart::new(self.cfg.ewma_alpha, self.cfg.ewma_lambda);
            self.since_reset = 0;
            self.deseasoned = deseason;
        }
        let input = match (deseason, expect) {
            (false, _) => Some(value),
            (true, Some(x)) => Some(value - x.mean),
            // A bucket that has not learnt yet: nothing to compare the residual with.
            (true, None) => None,
        };
        if let Some(y) = input {
            let warm = self.since_reset >= self.cfg.warmup as u64;
            if let Some((med, mad)) = self.window.median_mad() {
                let meanad = self.window.mean_abs_dev(med).unwrap_or(0.0);
                let scale = (1.4826 * mad).max(1.2533 * meanad).max(tiny);
                if warm {
                    stat[ROBUST] = Some((y - med).abs() / scale);
                }
            }
            let e = self.ewma.update(y, tiny);
            if warm && self.ewma.count() > 1 {
                stat[EWMA_POINT] = Some(e.point_z.abs());
                stat[EWMA_CHART] = Some(e.chart_z.abs());
            }
            self.window.push(y);
            self.since_reset += 1;
        }
        if let Some(x) = expect {
            let resid = (value - x.mean).abs();
            let spread = (1.2533 * x.dev)
                .max(0.5 * 1.2533 * self.seasonal_dev)
                .max(tiny);
            stat[SEASONAL] = Some(resid / spread);
            self.seasonal_dev += 0.01 * (resid - self.seasonal_dev);
        }
        self.seasonal.update(ts, value, &sp);
        if let Some(d) = self.pattern.push(value) {
            if self.n >= self.cfg.warmup as u64 {
                stat[PATTERN] = Some(d);
            }
        }
        let a = LONG_ALPHA.max(1.0 / (self.n + 1) as f64);
        if self.n == 0 {
            self.long_mean = value;
        }
        self.long_dev += a * ((value - self.long_mean).abs() - self.long_dev);
        self.long_mean += a * (value - self.long_mean);
        self.n += 1;

        let decay = 0.5f64.powf(1.0 / self.cfg.calib_half_life.max(1.0));
        let mut r = [0.0; DETECTORS];
        for (i, s) in stat.iter().enumerate() {
            let Some(s) = *s else { continue };
            let floor = if i == PATTERN {
                self.cfg.pattern_floor * 1.2533 * self.long_dev
            } else {
                self.cfg.calib_floor
            };
            let c = &mut self.calib[i];
            if c.count() >= self.cfg.calib_min {
                let q = c.quantile(self.cfg.calib_quantile).unwrap_or(0.0);
                r[i] = s / q.max(floor).max(f64::MIN_POSITIVE);
            }
            c.push(s, decay);
        }
        self.ratios = r;

        let top = r.iter().copied().fold(0.0, f64::max);
        let mut anomaly = ratio_to_score(top);
        if self.refractory_left > 0 {
            self.refractory_left -= 1;
            anomaly *= self.cfg.refractory_factor;
        } else if anomaly >= self.cfg.alert_threshold {
            self.refractory_left = self.cfg.refractory;
        }
        MetricScores {
            robust_z: ratio_to_score(r[ROBUST]),
            ewma: ratio_to_score(r[EWMA_POINT].max(r[EWMA_CHART])),
            seasonal: ratio_to_score(r[SEASONAL]),
            pattern: ratio_to_score(r[PATTERN]),
            anomaly,
        }
    }
}

#[cfg(test)]
mod tests {
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
                .filter(|((t, _), _)| {
                    (12..16).contains(&((t % seasonal::DAY_MS) / seasonal::HOUR_MS))
                })
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
            anomaly: 0.5,
        };
        let names: Vec<&str> = s.named().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["robust_z", "ewma", "seasonal", "pattern", "anomaly"]
        );
        // The documented map from calibrated ratio to score.
        assert!((ratio_to_score(1.0) - 0.9).abs() < 1e-12);
        assert!((ratio_to_score(0.7407) - 0.5).abs() < 1e-3);
        assert_eq!(ratio_to_score(0.0), 0.0);
    }
}
