//! Settings of the metric detectors, with the defaults vigil ships and their ranges.

use super::seasonal::{Period, SeasonalParams};
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
    /// Samples in the rolling median / MAD window of `robust_z` (default 2000: a week of
    /// 5-minute samples). Longer windows make a lasting shift stand out longer; memory is
    /// 16 bytes per sample.
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
    /// Levels of `novelty`: equal slices of the range seen so far (default 12).
    pub novelty_bins: u32,
    /// Samples in a `novelty` context (default 6): a sample's contexts are the pairs of its
    /// level with each of the previous `novelty_context - 1` levels, and the runs of the
    /// last 2 to `novelty_context` levels.
    pub novelty_context: usize,
    /// Bits in each of the two tables of known contexts (default 16384: 4 KiB in all).
    /// Fewer bits forget sooner and mistake more new contexts for known ones.
    pub novelty_bits: usize,
    /// Share of new contexts that scores 0.9 (default 0.85: 9 of the 10 default contexts
    /// new). Above 1, `novelty` never alarms; with the default 10 contexts, 0.8 (8 of 10)
    /// alarms on Gaussian noise several times as often.
    pub novelty_level: f64,
    /// Samples a series must have before `novelty` scores (default 400): every context is
    /// new at first, and the running range is still widening.
    pub novelty_warmup: u64,
    /// Half-life, in samples, of the history each detector is calibrated on (default 1400:
    /// about five days of 5-minute samples).
    pub calib_half_life: f64,
    /// Quantile of a detector's recent statistics that scores 0.9 (default 0.999).
    pub calib_quantile: f64,
    /// Statistics a detector must have seen before it scores (default 100).
    pub calib_min: u64,
    /// Lower bound, in sigmas, of the quantile that z-score detectors are calibrated on
    /// (default 5): on a very regular series a 5-sigma deviation is still not alarming
    /// (Gaussian noise then pages about 0.1 times a week at 5-minute samples).
    pub calib_floor: f64,
    /// Lower bound of the quantile that `pattern` is calibrated on, as a multiple of the
    /// series' long-run spread (1.2533 x its mean absolute deviation, about one sigma)
    /// (default 1.0).
    pub pattern_floor: f64,
    /// Ratio above which a sample adds to the sustained-evidence accumulator (default 0.7:
    /// a sample that alone scores about 0.1).
    pub sustained_level: f64,
    /// Per-sample retention of the sustained-evidence accumulator (default 0.9: the
    /// evidence of the last ten or so samples counts).
    pub sustained_retention: f64,
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
            robust_window: 2000,
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
            novelty_bins: 12,
            novelty_context: 6,
            novelty_bits: 16384,
            novelty_level: 0.85,
            novelty_warmup: 400,
            calib_half_life: 1400.0,
            calib_quantile: 0.999,
            calib_min: 100,
            calib_floor: 5.0,
            pattern_floor: 1.0,
            sustained_level: 0.7,
            sustained_retention: 0.9,
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
    /// Every setting out of its range (empty when the config is valid). [`super::MetricScorer`]
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
            "novelty_bins",
            (2..=256).contains(&self.novelty_bins),
            format!("must be in 2..=256, got {}", self.novelty_bins),
        );
        check(
            "novelty_context",
            (2..=16).contains(&self.novelty_context),
            format!("must be in 2..=16, got {}", self.novelty_context),
        );
        check(
            "novelty_bits",
            (64..=1 << 24).contains(&self.novelty_bits),
            format!("must be in 64..=16777216, got {}", self.novelty_bits),
        );
        check(
            "novelty_level",
            self.novelty_level > 0.0 && self.novelty_level.is_finite(),
            format!("must be > 0, got {}", self.novelty_level),
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

    /// The seasonal model's settings, clamped to their ranges.
    pub(super) fn seasonal_params(&self) -> SeasonalParams {
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
