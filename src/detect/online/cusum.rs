//! Two-sided tabular CUSUM on a standardised stream (Montgomery, "Introduction to
//! Statistical Quality Control", 6th ed., section 9.1.2). River has none; the reference is
//! the implementation in `scripts/river_fixtures.py`, which follows the same arithmetic.
//!
//! The in-control mean `mu0` and standard deviation `sigma` are estimated from the first
//! `warm_up` observations (two-pass: mean, then the sample standard deviation with divisor
//! `n - 1`). A warm-up sample with no spread (a constant run) gives no scale to standardise
//! against; it is discarded and a new one collected. After the warm-up, with
//! `z = (x - mu0) / sigma`,
//!
//! ```text
//! C+ = max(0, C+ + z - k)        C- = max(0, C- - z - k)
//! ```
//!
//! and the detector fires when `C+ > h` or `C- > h`. `k` (the allowance, often half the
//! shift to be detected) and `h` (the decision interval) are in units of `sigma`.
//!
//! After a detection the detector starts over with a new warm-up: the stream is assumed to
//! have settled on a new level, which becomes the new reference (Montgomery restarts the
//! chart after the assignable cause is dealt with; an unattended online detector can only
//! re-estimate).
//!
//! State: the warm-up sample (at most `warm_up` f64) while warming up, then six numbers.

use super::{check_range, ChangePoint, OnlineConfigError};
use crate::record::Ts;
use serde::{Deserialize, Serialize};

/// The longest warm-up that [`ChangeDetectorConfig::validate`](super::ChangeDetectorConfig::validate)
/// accepts for CUSUM.
pub const MAX_WARM_UP: u32 = 100_000;

/// CUSUM settings. River has no CUSUM; the defaults are Montgomery's recommended design
/// (section 9.1.3) with a short warm-up like the warm start of River's detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CusumConfig {
    /// Allowance (reference value) in standard deviations: deviations smaller than `k` do
    /// not accumulate. Must be finite and >= 0. Default 0.5, tuned to detect a shift of one
    /// standard deviation (Montgomery: k is half the shift of interest).
    pub k: f64,
    /// Decision interval in standard deviations. Must be finite and > 0. Default 5: with
    /// k = 0.5 and known parameters, an in-control average run length of about 465
    /// observations and about 10 observations to detect a one-sigma shift (Montgomery,
    /// Table 9.3). With the parameters estimated from a 30-point warm-up, the module tests
    /// measure one false alarm per about 510 observations of Gaussian noise and a median
    /// delay of 11 for a one-sigma shift.
    pub h: f64,
    /// Observations used to estimate the in-control mean and standard deviation, at start
    /// and after every detection; they are held until the warm-up ends. Between 2 and
    /// 100,000 (800 KB). Default 30.
    pub warm_up: u32,
}

impl Default for CusumConfig {
    fn default() -> Self {
        CusumConfig {
            k: 0.5,
            h: 5.0,
            warm_up: 30,
        }
    }
}

impl CusumConfig {
    pub(super) fn check(&self, errs: &mut Vec<OnlineConfigError>) {
        check_range(errs, "k", self.k, ">= 0", |k| k >= 0.0);
        check_range(errs, "h", self.h, "> 0", |h| h > 0.0);
        if !(2..=MAX_WARM_UP).contains(&self.warm_up) {
            errs.push(OnlineConfigError::CountOutOfRange {
                field: "warm_up",
                min: 2,
                max: u64::from(MAX_WARM_UP),
                value: u64::from(self.warm_up),
            });
        }
    }

    /// The warm-up length actually used: at least 2, so that a standard deviation exists.
    fn warm_up_len(&self) -> usize {
        self.warm_up.max(2) as usize
    }
}

/// Where the detector is in its cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    /// Collecting the observations that set the reference.
    WarmUp {
        #[serde(with = "super::exact::seq")]
        sample: Vec<f64>,
    },
    /// Accumulating the two sums against the reference.
    Monitor(Sums),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sums {
    #[serde(with = "super::exact")]
    mu0: f64,
    #[serde(with = "super::exact")]
    sigma: f64,
    #[serde(with = "super::exact")]
    upper: f64,
    #[serde(with = "super::exact")]
    lower: f64,
    /// Consecutive observations for which `upper` (`lower`) has been positive.
    upper_run: u64,
    lower_run: u64,
}

/// CUSUM state. See the module documentation for the scheme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cusum {
    config: CusumConfig,
    observations: u64,
    phase: Phase,
}

impl Cusum {
    /// A fresh detector, warming up.
    pub fn new(config: CusumConfig) -> Cusum {
        Cusum {
            config,
            observations: 0,
            phase: Phase::WarmUp { sample: Vec::new() },
        }
    }

    /// The settings.
    pub fn config(&self) -> &CusumConfig {
        &self.config
    }

    /// Observations accepted since creation.
    pub fn observations(&self) -> u64 {
        self.observations
    }

    /// The in-control mean and standard deviation, once the warm-up is over.
    pub fn reference(&self) -> Option<(f64, f64)> {
        match &self.phase {
            Phase::WarmUp { .. } => None,
            Phase::Monitor(s) => Some((s.mu0, s.sigma)),
        }
    }

    /// Adds one observation. On a detection, `statistic` is the sum that crossed `h` (in
    /// standard deviations; the larger if both did), `mean_before` is `mu0`, and
    /// `mean_after` Montgomery's estimate of the new mean (eq. 9.3),
    /// `mu0 + sigma (k + C+ / N+)` upwards or `mu0 - sigma (k + C- / N-)` downwards, where N
    /// counts the consecutive observations over which that sum has been positive.
    /// Non-finite `x` is ignored.
    pub fn update(&mut self, x: f64, ts: Ts) -> Option<ChangePoint> {
        if !x.is_finite() {
            return None;
        }
        let index = self.observations;
        self.observations += 1;
        let cfg = &self.config;
        let s = match &mut self.phase {
            Phase::WarmUp { sample } => {
                sample.push(x);
                if sample.len() >= cfg.warm_up_len() {
                    if let Some(sums) = reference_from(sample) {
                        self.phase = Phase::Monitor(sums);
                    } else {
                        sample.clear();
                    }
                }
                return None;
            }
            Phase::Monitor(s) => s,
        };
        let z = (x - s.mu0) / s.sigma;
        s.upper = positive_part(s.upper + z - cfg.k);
        s.lower = positive_part(s.lower - z - cfg.k);
        s.upper_run = if s.upper > 0.0 { s.upper_run + 1 } else { 0 };
        s.lower_run = if s.lower > 0.0 { s.lower_run + 1 } else { 0 };
        let (up, down) = (s.upper > cfg.h, s.lower > cfg.h);
        if !(up || down) {
            return None;
        }
        // A sum above h > 0 is positive, so its run is at least 1.
        let (statistic, mean_after) = if up && (!down || s.upper >= s.lower) {
            let shift = cfg.k + s.upper / s.upper_run as f64;
            (s.upper, s.mu0 + s.sigma * shift)
        } else {
            let shift = cfg.k + s.lower / s.lower_run as f64;
            (s.lower, s.mu0 - s.sigma * shift)
        };
        let change = ChangePoint {
            index,
            ts,
            mean_before: s.mu0,
            mean_after,
            statistic,
        };
        self.phase = Phase::WarmUp { sample: Vec::new() };
        Some(change)
    }
}

/// `max(0, v)` as Python's `max(0.0, v)`: 0 unless `v > 0`.
fn positive_part(v: f64) -> f64 {
    if v > 0.0 {
        v
    } else {
        0.0
    }
}

/// The reference from a warm-up sample, or `None` if it has no spread.
fn reference_from(sample: &[f64]) -> Option<Sums> {
    let n = sample.len() as f64;
    let mut total = 0.0;
    for &v in sample {
        total += v;
    }
    let mean = total / n;
    let mut ss = 0.0;
    for &v in sample {
        ss += (v - mean) * (v - mean);
    }
    let sd = (ss / (n - 1.0)).sqrt();
    (sd > 0.0 && sd.is_finite()).then_some(Sums {
        mu0: mean,
        sigma: sd,
        upper: 0.0,
        lower: 0.0,
        upper_run: 0,
        lower_run: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warm_up_sets_the_reference() {
        let mut d = Cusum::new(CusumConfig {
            warm_up: 4,
            ..CusumConfig::default()
        });
        for (i, x) in [1.0, 2.0, 3.0, 4.0].into_iter().enumerate() {
            assert!(d.update(x, i as Ts).is_none());
        }
        let (mu, sd) = d.reference().expect("warmed up");
        assert_eq!(mu, 2.5);
        assert!((sd - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn a_constant_warm_up_is_collected_again() {
        let mut d = Cusum::new(CusumConfig {
            warm_up: 3,
            ..CusumConfig::default()
        });
        for i in 0..3 {
            d.update(7.0, i);
        }
        assert_eq!(d.reference(), None);
        for (i, x) in [1.0, 2.0, 3.0].into_iter().enumerate() {
            d.update(x, i as Ts);
        }
        assert_eq!(d.reference(), Some((2.0, 1.0)));
    }

    #[test]
    fn a_step_is_found_and_its_size_estimated() {
        let mut d = Cusum::new(CusumConfig {
            warm_up: 4,
            ..CusumConfig::default()
        });
        // Reference 2.5, sd 1.29; then a level of 2.5 + 2 sd.
        let sd = (5.0f64 / 3.0).sqrt();
        let mut xs = vec![1.0, 2.0, 3.0, 4.0];
        xs.extend(std::iter::repeat_n(2.5 + 2.0 * sd, 20));
        let found: Vec<_> = xs
            .iter()
            .enumerate()
            .filter_map(|(i, &x)| d.update(x, i as Ts))
            .collect();
        let c = found.first().expect("a two-sigma step is found");
        // C+ grows by 1.5 per observation: above 5 at the fourth.
        assert_eq!(c.index, 7);
        assert!((c.statistic - 6.0).abs() < 1e-12);
        assert_eq!(c.mean_before, 2.5);
        assert!((c.mean_after - (2.5 + 2.0 * sd)).abs() < 1e-12, "{c:?}");
        assert_eq!(d.reference(), None, "warming up again");
    }
}
