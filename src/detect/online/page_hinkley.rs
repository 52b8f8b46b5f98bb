//! The Page-Hinkley test (Page, "Continuous inspection schemes", Biometrika 1954), a port of
//! River 0.26's `river.drift.PageHinkley`.
//!
//! With `m_t` the running mean of the observations since the last reset, two fading
//! cumulative sums of deviations are kept,
//!
//! ```text
//! U_t = alpha U_{t-1} + (x_t - m_t) - delta     (rises when the mean goes up)
//! L_t = alpha L_{t-1} + (x_t - m_t) + delta     (falls when the mean goes down)
//! ```
//!
//! with their running minimum `min U` (starting at +inf) and maximum `max L` (starting, as
//! in River, at -1). From `min_instances` observations on, the detector fires when
//! `U_t - min U > threshold` (mode up or both) or `max L - L_t > threshold` (mode down or
//! both). The statistic and the threshold are in the units of the stream, so the defaults
//! suit streams whose spread is of order 1. After a detection everything restarts from
//! scratch (River resets at the next update).
//!
//! State: a fixed handful of numbers.

use super::{check_range, ratio_or, ChangePoint, OnlineConfigError, RunningMean};
use crate::record::Ts;
use serde::{Deserialize, Serialize};

/// Which direction of change Page-Hinkley looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageHinkleyMode {
    /// Increases of the mean only.
    Up,
    /// Decreases of the mean only.
    Down,
    /// Both.
    Both,
}

/// Page-Hinkley settings. Defaults are River 0.26's `drift.PageHinkley()` defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PageHinkleyConfig {
    /// No detection before this many observations since the last reset. Default 30 (River).
    pub min_instances: u32,
    /// Magnitude of change tolerated: subtracted from (added to) each deviation. Must be
    /// finite and >= 0. Default 0.005 (River).
    pub delta: f64,
    /// Detection threshold (the test's lambda), in the stream's units. Must be finite and
    /// > 0. Default 50 (River).
    pub threshold: f64,
    /// Forgetting factor of the cumulative sums. Must be in (0, 1]. Default 1 - 0.0001
    /// (River).
    pub alpha: f64,
    /// Which changes to look for. Default both (River).
    pub mode: PageHinkleyMode,
}

impl Default for PageHinkleyConfig {
    fn default() -> Self {
        PageHinkleyConfig {
            min_instances: 30,
            delta: 0.005,
            threshold: 50.0,
            alpha: 1.0 - 0.0001,
            mode: PageHinkleyMode::Both,
        }
    }
}

impl PageHinkleyConfig {
    pub(super) fn check(&self, errs: &mut Vec<OnlineConfigError>) {
        check_range(errs, "delta", self.delta, ">= 0", |d| d >= 0.0);
        check_range(errs, "threshold", self.threshold, "> 0", |t| t > 0.0);
        check_range(errs, "alpha", self.alpha, "in (0, 1]", |a| {
            a > 0.0 && a <= 1.0
        });
    }
}

/// Where a cumulative sum reached its extreme: the value and how much of the stream lay
/// before it (for the before/after means of a change point).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Extreme {
    #[serde(with = "super::exact")]
    value: f64,
    /// Observations up to and including the one that set the extreme.
    n: u64,
    /// Their sum.
    #[serde(with = "super::exact")]
    sum: f64,
}

/// The statistics since the last reset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sums {
    mean: RunningMean,
    /// Plain sum of the observations (for the after-change mean only).
    #[serde(with = "super::exact")]
    sum: f64,
    #[serde(with = "super::exact")]
    increase: f64,
    #[serde(with = "super::exact")]
    decrease: f64,
    /// `None` stands for River's initial +inf.
    min_increase: Option<Extreme>,
    max_decrease: Extreme,
}

impl Default for Sums {
    fn default() -> Self {
        Sums {
            mean: RunningMean::default(),
            sum: 0.0,
            increase: 0.0,
            decrease: 0.0,
            min_increase: None,
            max_decrease: Extreme {
                value: -1.0,
                n: 0,
                sum: 0.0,
            },
        }
    }
}

/// Page-Hinkley state. See the module documentation for the test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageHinkley {
    config: PageHinkleyConfig,
    observations: u64,
    sums: Sums,
}

impl PageHinkley {
    /// A fresh detector.
    pub fn new(config: PageHinkleyConfig) -> PageHinkley {
        PageHinkley {
            config,
            observations: 0,
            sums: Sums::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &PageHinkleyConfig {
        &self.config
    }

    /// Observations accepted since creation.
    pub fn observations(&self) -> u64 {
        self.observations
    }

    /// Adds one observation. On a detection, `statistic` is the test value that crossed the
    /// threshold (the larger one if both did); `mean_before` is the mean of the observations
    /// up to the point where the firing sum had its extreme (where the change began) and
    /// `mean_after` the mean of those since. If that extreme is still the initial one (a
    /// downward change detected before `max L` ever rose above -1), `mean_before` is the
    /// mean of all observations since the last reset. Non-finite `x` is ignored.
    pub fn update(&mut self, x: f64, ts: Ts) -> Option<ChangePoint> {
        if !x.is_finite() {
            return None;
        }
        let index = self.observations;
        self.observations += 1;
        let cfg = &self.config;
        let s = &mut self.sums;
        s.mean.update(x);
        s.sum += x;
        let dev = x - s.mean.mean;
        s.increase = cfg.alpha * s.increase + dev - cfg.delta;
        s.decrease = cfg.alpha * s.decrease + dev + cfg.delta;
        let here = |value| Extreme {
            value,
            n: s.mean.n,
            sum: s.sum,
        };
        if s.min_increase.is_none_or(|m| s.increase < m.value) {
            s.min_increase = Some(here(s.increase));
        }
        if s.decrease > s.max_decrease.value {
            s.max_decrease = here(s.decrease);
        }
        if s.mean.n < u64::from(cfg.min_instances) {
            return None;
        }
        let min_increase = s.min_increase.unwrap_or(here(s.increase));
        let up = s.increase - min_increase.value;
        let down = s.max_decrease.value - s.decrease;
        let (look_up, look_down) = match cfg.mode {
            PageHinkleyMode::Up => (true, false),
            PageHinkleyMode::Down => (false, true),
            PageHinkleyMode::Both => (true, true),
        };
        let up = look_up && up > cfg.threshold;
        let down = look_down && down > cfg.threshold;
        let (statistic, start) = match (up, down) {
            (false, false) => return None,
            (true, false) => (s.increase - min_increase.value, min_increase),
            (false, true) => (s.max_decrease.value - s.decrease, s.max_decrease),
            (true, true) => {
                let (u, d) = (
                    s.increase - min_increase.value,
                    s.max_decrease.value - s.decrease,
                );
                if u >= d {
                    (u, min_increase)
                } else {
                    (d, s.max_decrease)
                }
            }
        };
        let change = ChangePoint {
            index,
            ts,
            mean_before: ratio_or(start.sum, start.n, s.mean.mean),
            mean_after: ratio_or(s.sum - start.sum, s.mean.n - start.n, x),
            statistic,
        };
        self.sums = Sums::default();
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: PageHinkleyConfig, xs: impl IntoIterator<Item = f64>) -> Vec<ChangePoint> {
        let mut d = PageHinkley::new(cfg);
        xs.into_iter()
            .enumerate()
            .filter_map(|(i, x)| d.update(x, i as Ts))
            .collect()
    }

    #[test]
    fn a_step_up_is_found_with_the_level_before_and_after() {
        let xs = (0..400).map(|i| if i < 200 { 0.0 } else { 1.0 });
        let found = run(PageHinkleyConfig::default(), xs);
        let c = found.first().expect("a unit step is found");
        // U grows by about 1 - m_t per step after the change: 50 needs ~100 steps.
        assert!((200..320).contains(&c.index), "{c:?}");
        assert_eq!(c.mean_before, 0.0);
        assert_eq!(c.mean_after, 1.0);
        assert!(c.statistic > 50.0);
    }

    #[test]
    fn the_mode_limits_the_direction() {
        let step_down = || (0..400).map(|i| if i < 200 { 1.0 } else { 0.0 });
        let up_only = PageHinkleyConfig {
            mode: PageHinkleyMode::Up,
            ..PageHinkleyConfig::default()
        };
        assert!(run(up_only, step_down()).is_empty());
        let down_only = PageHinkleyConfig {
            mode: PageHinkleyMode::Down,
            ..PageHinkleyConfig::default()
        };
        let found = run(down_only, step_down());
        let c = found.first().expect("a unit step down is found");
        assert_eq!((c.mean_before, c.mean_after), (1.0, 0.0));
    }

    #[test]
    fn nothing_is_reported_before_min_instances() {
        let cfg = PageHinkleyConfig {
            min_instances: 1000,
            ..PageHinkleyConfig::default()
        };
        let found = run(cfg, (0..1200).map(|i| if i < 100 { 0.0 } else { 5.0 }));
        assert!(found.iter().all(|c| c.index >= 999), "{found:?}");
    }
}
