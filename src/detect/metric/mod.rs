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
//!   noise, which no single-sample test sees;
//! - `novelty`: the share of the sample's contexts never seen before (CAD OSE's idea of
//!   contextual novelty with fast habituation, in a simpler form): values are quantised
//!   into `novelty_bins` slices of the range seen so far, and a context is a pair (this
//!   level, the level `k` samples ago) or the run of the last `k` levels, up to
//!   `novelty_context` samples back. A new level, transition or shape makes most contexts
//!   new; seen once, a context is known. Not calibrated: the share over `novelty_level`
//!   (0.85) is its ratio, so it alarms when 9 of its 10 contexts are new.
//!
//! **Calibration.** Every detector's statistic is divided by the 99.9th percentile
//! (`calib_quantile`) of its own recent values (exponentially decayed, `calib_half_life`
//! samples), so that a ratio of 1 means "as unusual as the most unusual 0.1% of recent
//! history" on a quiet gauge and on a bursty counter alike. A ratio `r` maps to the score
//! `1 - 10^(-r^4)`: 0.5 at `r = 0.74`, 0.9 at `r = 1`, 0.99 at `r = 1.19`. A normal daily peak
//! is part of that history and so scores low once a few days are seen.
//!
//! **Combined score.** `anomaly` is the highest detector score (`novelty` included), or the
//! `sustained` evidence when that is higher: a leaky sum (retention 0.9 per sample) of how
//! far the most unusual of `robust_z`, `ewma` and `seasonal` exceeds a ratio of 0.7, so
//! that a run of moderately unusual samples alerts where no single one would. It is an
//! onset score: when
//! it reaches `alert_threshold` (0.9) it is reported once, and the next `refractory`
//! samples are damped by `refractory_factor` (scores up to 0.5), so that one incident
//! pages once instead of every sample, and a lasting change has become the new normal by
//! the time the refractory period ends (the detectors keep learning throughout). Alert
//! rules use `anomaly >= 0.9` on the first sample (no `for`), held with a
//! `keep_firing_for`; the per-detector scores are not damped.
//!
//! **False alarms.** The z-score detectors are calibrated on at least 5 sigma
//! (`calib_floor`) and `pattern` on at least the series' long-run spread (`pattern_floor`),
//! so Gaussian noise alarms about once in ten weeks of 5-minute samples and a clean daily
//! cycle about never; a heavy-tailed series alarms on its own 1-in-1000 excursions
//! (Student-t with 3 degrees of freedom: about 2.5 alarms a week of 5-minute samples).
//! Raise `calib_quantile` where that is too often. `novelty` is silent for the first
//! `novelty_warmup` (400) samples; after that, on Gaussian noise, it alarms about once in
//! ten weeks more, on new extremes of the widening range (fewer as the range settles).
//!
//! **Memory per series** (defaults, bounded whatever the traffic): rolling window of 2000
//! samples kept in arrival and sorted order (31 KiB); pattern history ring of 1025 samples
//! plus 977 running distances (16 KiB); daily profile of 144 and weekly profile of 336
//! buckets (27 KiB) and 504 hourly means (4 KiB); five decayed histograms of 320 bins
//! (12.5 KiB); two novelty tables of 16384 bits (4 KiB). About 95 KiB in all; each part
//! scales with its setting. Time per sample is O(`pattern_history` + `robust_window`):
//! about 25 microseconds with the defaults (`novelty` adds 10 hashes and bit probes, well
//! under a microsecond).
//!
//! **Sampling.** Seasonal phase comes from `ts` (UTC), so irregular sampling and gaps are
//! fine there; the rolling window, the EWMA, the pattern and the refractory period count
//! samples. A non-finite value is ignored (scores 0, state unchanged).
//!
//! Pure: no I/O, no clock, no globals, no randomness. The scorer is `Clone + Debug +
//! Serialize + Deserialize` for snapshots; a restored scorer continues exactly where the
//! original was.

pub mod calibrate;
mod config;
pub mod ewma;
pub mod novelty;
pub mod pattern;
pub mod robust;
pub mod seasonal;

use crate::detect::exact;
use crate::record::Ts;
use calibrate::TailCalibrator;
use ewma::EwmaChart;
use novelty::ContextNovelty;
use pattern::PatternNovelty;
use robust::RollingMedian;
use seasonal::{Period, SeasonalModel};
use serde::{Deserialize, Serialize};

pub use config::{ConfigProblem, MetricDetectorConfig, SeasonMode};

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
    /// Share of the sample's contexts (quantised level pairs and runs) never seen before,
    /// over `novelty_level`; 0 during `novelty_warmup`.
    #[serde(default)]
    pub novelty: f64,
    /// Sustained evidence: a leaky sum of how far the most unusual ratio of `robust_z`,
    /// `ewma` and `seasonal` has exceeded `sustained_level` over the last samples. A run of moderately unusual
    /// samples (a slow drift, a subtle level change) reaches 0.9 where no single sample
    /// does.
    pub sustained: f64,
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
            ("novelty", self.novelty),
            ("sustained", self.sustained),
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
/// Detectors with a tail calibrator (all but `novelty`, which is a share of its own).
const CALIBRATED: usize = 5;
const NOVELTY: usize = 5;
const DETECTORS: usize = 6;

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

fn default_novelty() -> ContextNovelty {
    let cfg = MetricDetectorConfig::default();
    ContextNovelty::new(cfg.novelty_bins, cfg.novelty_context, cfg.novelty_bits)
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
    /// Absent from snapshots taken before `novelty` existed: those restore with a fresh
    /// one at the default settings (which is what their `cfg` then holds), warming up anew.
    #[serde(default = "default_novelty")]
    novelty: ContextNovelty,
    #[serde(with = "exact::f64")]
    long_mean: f64,
    #[serde(with = "exact::f64")]
    long_dev: f64,
    calib: Vec<TailCalibrator>,
    /// Leaky sum of the top ratio's excess over `sustained_level`.
    #[serde(with = "exact::f64")]
    sustained: f64,
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
        cfg.novelty_bins = cfg.novelty_bins.clamp(2, 256);
        cfg.novelty_context = cfg.novelty_context.clamp(2, 16);
        cfg.novelty_bits = cfg.novelty_bits.clamp(64, 1 << 24);
        MetricScorer {
            n: 0,
            since_reset: 0,
            deseasoned: false,
            window: RollingMedian::new(cfg.robust_window),
            ewma: EwmaChart::new(cfg.ewma_alpha, cfg.ewma_lambda),
            seasonal: SeasonalModel::new(&cfg.seasonal_params()),
            seasonal_dev: 0.0,
            pattern: PatternNovelty::new(cfg.pattern_len, cfg.pattern_history),
            novelty: ContextNovelty::new(cfg.novelty_bins, cfg.novelty_context, cfg.novelty_bits),
            long_mean: 0.0,
            long_dev: 0.0,
            calib: vec![TailCalibrator::default(); CALIBRATED],
            sustained: 0.0,
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
    /// pattern): each detector's statistic over its calibration quantile; then novelty's
    /// share of new contexts over `novelty_level`. Diagnostics for tuning; not part of the
    /// snapshot.
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
        let mut stat: [Option<f64>; CALIBRATED] = [None; CALIBRATED];

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
        let novelty = self.novelty.push(value);
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
        if let Some(share) = novelty {
            if self.novelty.seen() > self.cfg.novelty_warmup {
                r[NOVELTY] = share / self.cfg.novelty_level.max(f64::MIN_POSITIVE);
            }
        }
        self.ratios = r;

        let top = r.iter().copied().fold(0.0, f64::max);
        // The pattern distance is left out: on plain noise it sits close to its own high
        // quantile all the time (the nearest of a thousand candidates is always about as
        // near), so a run of high pattern ratios is no evidence. So is novelty, which is
        // high on the first sample of a change and habituates within a few.
        let point = r[..PATTERN].iter().copied().fold(0.0, f64::max);
        let keep = self.cfg.sustained_retention.clamp(0.0, 1.0 - 1e-9);
        self.sustained = keep * self.sustained + (point - self.cfg.sustained_level).max(0.0);
        let mut anomaly = ratio_to_score(top.max(self.sustained));
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
            novelty: ratio_to_score(r[NOVELTY]),
            sustained: ratio_to_score(self.sustained),
            anomaly,
        }
    }
}

#[cfg(test)]
mod tests;
