//! DDM, the drift detection method (Gama, Medas, Castillo & Rodrigues, "Learning with drift
//! detection", SBIA 2004), a port of River 0.26's `river.drift.binary.DDM`.
//!
//! The input is an error indicator: 1 for an error (a wrong prediction, a failed request),
//! 0 for a success. With `p` the error rate since the last reset over `n` observations and
//! `s = sqrt(p (1 - p) / n)`, DDM remembers `p_min` and `s_min` at the point where `p + s`
//! was smallest (from `warm_start` observations on) and signals
//!
//! ```text
//! warning  when p + s > p_min + warning_threshold * s_min
//! drift    when p + s > p_min + drift_threshold * s_min
//! ```
//!
//! After a drift the detector starts from scratch (River resets at the next update). Note
//! River's behaviour on a stream without errors: `p_min = s_min = 0`, so the first error
//! after the warm start is a drift.
//!
//! Any input other than exactly 0.0 or 1.0 (including NaN) is ignored: `None`, not counted.
//!
//! State: a fixed handful of numbers.

use super::{check_range, ratio_or, ChangePoint, OnlineConfigError, RunningMean};
use crate::record::Ts;
use serde::{Deserialize, Serialize};

/// DDM settings. Defaults are River 0.26's `drift.binary.DDM()` defaults, which are the
/// paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DdmConfig {
    /// No warning or drift until more than this many observations since the last reset.
    /// Default 30 (River; the paper waits for 30 examples).
    pub warm_start: u32,
    /// Warning level in standard deviations. Must be finite and > 0. Default 2 (River and
    /// the paper: about 95% confidence).
    pub warning_threshold: f64,
    /// Drift level in standard deviations. Must be finite and > 0. Default 3 (River and the
    /// paper: about 99% confidence).
    pub drift_threshold: f64,
}

impl Default for DdmConfig {
    fn default() -> Self {
        DdmConfig {
            warm_start: 30,
            warning_threshold: 2.0,
            drift_threshold: 3.0,
        }
    }
}

impl DdmConfig {
    pub(super) fn check(&self, errs: &mut Vec<OnlineConfigError>) {
        check_range(
            errs,
            "warning_threshold",
            self.warning_threshold,
            "> 0",
            |t| t > 0.0,
        );
        check_range(errs, "drift_threshold", self.drift_threshold, "> 0", |t| {
            t > 0.0
        });
    }
}

/// The point where `p + s` was smallest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Minimum {
    #[serde(with = "super::exact")]
    p: f64,
    #[serde(with = "super::exact")]
    s: f64,
    /// Observations and errors up to it (for the error rate after it).
    n: u64,
    errors: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Rates {
    p: RunningMean,
    errors: u64,
    /// `None` until the warm start is over (River's `p_min = None`, `ps_min = inf`).
    min: Option<Minimum>,
    warning: bool,
}

/// DDM state. See the module documentation for the method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ddm {
    config: DdmConfig,
    observations: u64,
    rates: Rates,
}

impl Ddm {
    /// A fresh detector.
    pub fn new(config: DdmConfig) -> Ddm {
        Ddm {
            config,
            observations: 0,
            rates: Rates::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &DdmConfig {
        &self.config
    }

    /// Observations accepted since creation.
    pub fn observations(&self) -> u64 {
        self.observations
    }

    /// Whether the last observation left DDM in its warning zone.
    pub fn in_warning(&self) -> bool {
        self.rates.warning
    }

    /// Adds one error indicator (0.0 or 1.0; anything else is ignored). On a drift,
    /// `statistic` is `p + s`, `mean_before` is `p_min` (the error rate where `p + s` was
    /// smallest) and `mean_after` the error rate of the observations since that point.
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
        let r = &mut self.rates;
        r.p.update(if error { 1.0 } else { 0.0 });
        r.errors += u64::from(error);
        let (p, n) = (r.p.mean, r.p.n);
        let s = (p * (1.0 - p) / n as f64).sqrt();
        if n <= u64::from(cfg.warm_start) {
            return None;
        }
        let min = match r.min {
            Some(m) if p + s > m.p + m.s => m,
            _ => {
                let m = Minimum {
                    p,
                    s,
                    n,
                    errors: r.errors,
                };
                r.min = Some(m);
                m
            }
        };
        r.warning = p + s > min.p + cfg.warning_threshold * min.s;
        if p + s <= min.p + cfg.drift_threshold * min.s {
            return None;
        }
        let change = ChangePoint {
            index,
            ts,
            mean_before: min.p,
            mean_after: ratio_or((r.errors - min.errors) as f64, n - min.n, p),
            statistic: p + s,
        };
        self.rates = Rates::default();
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_other_than_zero_and_one_are_ignored() {
        let mut d = Ddm::new(DdmConfig::default());
        for x in [0.5, -1.0, 2.0, f64::NAN, f64::INFINITY] {
            assert_eq!(d.update(x, 0), None);
        }
        assert_eq!(d.observations(), 0);
        assert_eq!(d.update(-0.0, 0), None, "negative zero is a success");
        assert_eq!(d.observations(), 1);
    }

    #[test]
    fn the_first_error_after_an_error_free_warm_start_is_a_drift() {
        let mut d = Ddm::new(DdmConfig::default());
        for i in 0..40 {
            assert_eq!(d.update(0.0, i), None);
        }
        let c = d.update(1.0, 40).expect("River's behaviour: s_min = 0");
        assert_eq!(c.index, 40);
        assert_eq!(c.mean_before, 0.0);
        assert_eq!(c.mean_after, 1.0);
    }

    #[test]
    fn a_rising_error_rate_warns_then_drifts() {
        let mut d = Ddm::new(DdmConfig::default());
        // 10% errors, then 50%.
        let stream = (0..3000).map(|i| {
            let rate = if i < 1000 { 10 } else { 2 };
            if i % rate == 0 {
                1.0
            } else {
                0.0
            }
        });
        let mut warned_at = None;
        let mut drift = None;
        for (i, x) in stream.enumerate() {
            let c = d.update(x, i as Ts);
            if d.in_warning() && warned_at.is_none() {
                warned_at = Some(i as u64);
            }
            if c.is_some() {
                drift = c;
                break;
            }
        }
        let c = drift.expect("the jump is found");
        let w = warned_at.expect("a warning comes first");
        assert!(
            w >= 1000 && w <= c.index,
            "warning at {w}, drift at {}",
            c.index
        );
        assert!(c.index < 1100, "{c:?}");
        assert!((c.mean_before - 0.1).abs() < 0.01, "{c:?}");
        assert!(c.mean_after > 0.4, "{c:?}");
    }
}
