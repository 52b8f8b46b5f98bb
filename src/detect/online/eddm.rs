//! EDDM, the early drift detection method (Baena-García, del Campo-Ávila, Fidalgo, Bifet,
//! Gavaldà & Morales-Bueno, "Early drift detection method", 2006), a port of River 0.26's
//! `river.drift.binary.EDDM`.
//!
//! The input is an error indicator (1 error, 0 success). EDDM follows the distance between
//! consecutive errors rather than the error rate, which makes it quicker on gradual
//! changes. At every error, with `p'` and `s'` the mean and standard deviation of the
//! distances so far, it tracks the largest `p' + 2 s'` seen (from `warm_start` observations
//! on); once more than `warm_start` errors have been seen, a value below the maximum gives
//!
//! ```text
//! level = (p' + 2 s') / max(p' + 2 s')
//! warning  when level < alpha
//! drift    when level < beta
//! ```
//!
//! After a drift the detector starts from scratch (River resets at the next update).
//!
//! Any input other than exactly 0.0 or 1.0 (including NaN) is ignored: `None`, not counted.
//!
//! State: a fixed handful of numbers.

use super::{check_range, ratio_or, ChangePoint, OnlineConfigError, RunningVar};
use crate::record::Ts;
use serde::{Deserialize, Serialize};

/// EDDM settings. Defaults are River 0.26's `drift.binary.EDDM()` defaults, which are the
/// paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EddmConfig {
    /// No detection until more than this many observations, and more than this many
    /// errors, since the last reset. Default 30 (River; the paper waits for 30 errors).
    pub warm_start: u32,
    /// Warning level of the ratio. Must be in (0, 1] and at least `beta`. Default 0.95
    /// (River and the paper).
    pub alpha: f64,
    /// Drift level of the ratio. Must be in (0, 1]. Default 0.9 (River and the paper).
    pub beta: f64,
}

impl Default for EddmConfig {
    fn default() -> Self {
        EddmConfig {
            warm_start: 30,
            alpha: 0.95,
            beta: 0.9,
        }
    }
}

impl EddmConfig {
    pub(super) fn check(&self, errs: &mut Vec<OnlineConfigError>) {
        let unit = |v: f64| v > 0.0 && v <= 1.0;
        check_range(errs, "alpha", self.alpha, "in (0, 1]", unit);
        check_range(errs, "beta", self.beta, "in (0, 1]", unit);
        if self.alpha < self.beta {
            errs.push(OnlineConfigError::BetaAboveAlpha {
                alpha: self.alpha,
                beta: self.beta,
            });
        }
    }
}

/// Where `p' + 2 s'` reached its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Maximum {
    #[serde(with = "super::exact")]
    value: f64,
    /// Observations and errors up to it.
    n: u64,
    errors: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Distances {
    /// Observations since the last reset.
    n: u64,
    errors: u64,
    /// `n` at the last error (0 before the first).
    last_error: u64,
    distances: RunningVar,
    /// Starts at River's -1, below any `p' + 2 s'`.
    max: Maximum,
    warning: bool,
}

impl Default for Distances {
    fn default() -> Self {
        Distances {
            n: 0,
            errors: 0,
            last_error: 0,
            distances: RunningVar::default(),
            max: Maximum {
                value: -1.0,
                n: 0,
                errors: 0,
            },
            warning: false,
        }
    }
}

/// EDDM state. See the module documentation for the method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Eddm {
    config: EddmConfig,
    observations: u64,
    state: Distances,
}

impl Eddm {
    /// A fresh detector.
    pub fn new(config: EddmConfig) -> Eddm {
        Eddm {
            config,
            observations: 0,
            state: Distances::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &EddmConfig {
        &self.config
    }

    /// Observations accepted since creation.
    pub fn observations(&self) -> u64 {
        self.observations
    }

    /// Whether EDDM is in its warning zone (set and cleared at errors only, as River's;
    /// false right after a drift).
    pub fn in_warning(&self) -> bool {
        self.state.warning
    }

    /// Adds one error indicator (0.0 or 1.0; anything else is ignored). On a drift,
    /// `statistic` is the level `(p' + 2 s') / max` (below `beta`), `mean_before` the error
    /// rate up to the observation where the maximum was last raised and `mean_after` the
    /// error rate since.
    pub fn update(&mut self, x: f64, ts: Ts) -> Option<ChangePoint> {
        let error = if x == 0.0 {
            false
        } else if x == 1.0 {
            true
        } else {
            return None;
        };
        let index = self.observations;
        self.observations += 1;
        let cfg = &self.config;
        let s = &mut self.state;
        s.n += 1;
        if !error {
            return None;
        }
        s.errors += 1;
        s.distances.update((s.n - s.last_error) as f64);
        s.last_error = s.n;
        if s.n <= u64::from(cfg.warm_start) {
            return None;
        }
        let mean = s.distances.mean.mean;
        // `powf(0.5)`, not `sqrt`: River computes `var ** 0.5`.
        let p2s = mean + 2.0 * s.distances.variance().powf(0.5);
        if p2s > s.max.value {
            s.max = Maximum {
                value: p2s,
                n: s.n,
                errors: s.errors,
            };
            return None;
        }
        if s.errors <= u64::from(cfg.warm_start) {
            return None;
        }
        let level = p2s / s.max.value;
        if level >= cfg.beta {
            s.warning = level < cfg.alpha;
            return None;
        }
        let change = ChangePoint {
            index,
            ts,
            mean_before: ratio_or(s.max.errors as f64, s.max.n, 0.0),
            mean_after: ratio_or((s.errors - s.max.errors) as f64, s.n - s.max.n, 1.0),
            statistic: level,
        };
        self.state = Distances::default();
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_other_than_zero_and_one_are_ignored() {
        let mut d = Eddm::new(EddmConfig::default());
        for x in [0.5, 3.0, f64::NAN, f64::NEG_INFINITY] {
            assert_eq!(d.update(x, 0), None);
        }
        assert_eq!(d.observations(), 0);
    }

    #[test]
    fn errors_coming_closer_together_are_a_drift() {
        let mut d = Eddm::new(EddmConfig::default());
        // An error every 20 observations (5%), then every 4 (25%). Mixing the short
        // distances in first raises s', so the maximum of p' + 2 s' is reached some way
        // into the change and the level falls below beta only ~500 observations after it.
        let mut found = None;
        let mut i = 0u64;
        while found.is_none() && i < 10_000 {
            let every = if i < 2000 { 20 } else { 4 };
            let x = if i % every == every - 1 { 1.0 } else { 0.0 };
            found = d.update(x, i as Ts);
            i += 1;
        }
        let c = found.expect("the drift is found");
        assert_eq!(c.index, 2511);
        assert!(c.statistic < 0.9);
        // 138 errors in the 2,152 observations up to the maximum, then 112 in 448.
        assert_eq!(c.mean_before, 138.0 / 2152.0);
        assert_eq!(c.mean_after, 0.25);
    }
}
