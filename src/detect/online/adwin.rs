//! ADWIN, adaptive windowing (Bifet & Gavaldà, "Learning from time-changing data with
//! adaptive windowing", SDM 2007), in its bucketed ADWIN2 form. A port of River 0.26's
//! `river.drift.ADWIN`, whose core is `AdaptiveWindowing` in River's Rust sources
//! (`rust_src/adwin.rs`, itself a port of the earlier Cython `adwin_c.pyx`).
//!
//! The window is kept as exponential histograms: row `i` holds up to `max_buckets` buckets
//! (transiently `max_buckets + 1`) of `2^i` observations each, as their sum and their sum of
//! squared deviations; when a row overflows, its two oldest buckets merge into one bucket of
//! the next row. Every `clock` observations, once the window is longer than `grace_period`,
//! every boundary between buckets is tried as a cut into an older part W0 and a newer part
//! W1, each at least `min_window_length` long; the window is cut when
//! `|mean(W0) - mean(W1)| > eps_cut` with
//!
//! ```text
//! delta' = ln(2 ln(n) / delta)
//! m      = 1 / (n0 - min_window_length + 1) + 1 / (n1 - min_window_length + 1)
//! eps    = sqrt(2 m var delta') + 2/3 m delta'
//! ```
//!
//! where `n` is the window length and `var` the variance of the whole window. The oldest
//! bucket is dropped and the cuts are tried again until none holds. River then discards the
//! whole detector at the next update, so after a detection vigil starts from an empty window.
//!
//! Memory: for a window of n observations, at most `ceil(log2(n / max_buckets)) + 1` rows
//! of at most `max_buckets + 1` buckets, i.e. O(max_buckets * log n); n counts only the
//! observations since the last detection.

use super::{check_range, ChangePoint, OnlineConfigError};
use crate::record::Ts;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;

/// ADWIN settings. Defaults are River 0.26's `drift.ADWIN()` defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdwinConfig {
    /// Confidence of the cut test: smaller means fewer false alarms and later detection.
    /// Must be in (0, 1). Default 0.002 (River; Bifet & Gavaldà use 0.002 in their
    /// experiments).
    pub delta: f64,
    /// Cuts are tried every `clock` observations. Default 32 (River; 1 tries after every
    /// observation, as the paper's ADWIN does, and finds changes up to 31 observations
    /// sooner at 32 times the cost).
    pub clock: NonZeroU32,
    /// Buckets per row before the two oldest merge (the paper's M). Default 5 (River).
    pub max_buckets: NonZeroU32,
    /// Shortest sub-window a cut may leave on either side. Default 5 (River).
    pub min_window_length: u32,
    /// No cut is tried until the window is longer than this. Default 10 (River).
    pub grace_period: u32,
}

impl Default for AdwinConfig {
    fn default() -> Self {
        AdwinConfig {
            delta: 0.002,
            clock: NonZeroU32::new(32).expect("32 is non-zero"),
            max_buckets: NonZeroU32::new(5).expect("5 is non-zero"),
            min_window_length: 5,
            grace_period: 10,
        }
    }
}

impl AdwinConfig {
    pub(super) fn check(&self, errs: &mut Vec<OnlineConfigError>) {
        check_range(errs, "delta", self.delta, "in (0, 1)", |d| {
            d > 0.0 && d < 1.0
        });
    }
}

/// One bucket: a run of `2^row` consecutive observations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Bucket {
    /// Sum of the observations.
    #[serde(with = "super::exact")]
    total: f64,
    /// Sum of their squared deviations from their mean.
    #[serde(with = "super::exact")]
    variance: f64,
}

/// The adaptive window since the last detection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Window {
    /// `rows[i]` holds buckets of `2^i` observations, oldest first; the last row is the
    /// oldest part of the window.
    rows: Vec<Vec<Bucket>>,
    /// Number of observations in the window.
    width: u64,
    /// Their sum.
    #[serde(with = "super::exact")]
    total: f64,
    /// Their sum of squared deviations from the window mean.
    #[serde(with = "super::exact")]
    variance: f64,
    /// Observations since the last cut test, modulo `clock`.
    tick: u32,
}

/// ADWIN state. See the module documentation for the algorithm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adwin {
    config: AdwinConfig,
    observations: u64,
    window: Window,
}

impl Adwin {
    /// A detector with an empty window.
    pub fn new(config: AdwinConfig) -> Adwin {
        Adwin {
            config,
            observations: 0,
            window: Window::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &AdwinConfig {
        &self.config
    }

    /// Observations accepted since creation.
    pub fn observations(&self) -> u64 {
        self.observations
    }

    /// Observations in the current window.
    pub fn width(&self) -> u64 {
        self.window.width
    }

    /// Mean of the current window (0 when it is empty, as River's `estimation`).
    pub fn estimation(&self) -> f64 {
        if self.window.width == 0 {
            0.0
        } else {
            self.window.total / self.window.width as f64
        }
    }

    /// Buckets currently held, for checking the memory bound.
    pub fn buckets(&self) -> usize {
        self.window.rows.iter().map(Vec::len).sum()
    }

    /// Adds one observation and tries the cuts if the clock says so. On a detection,
    /// `mean_before` is the mean of the dropped (older) part of the window, `mean_after`
    /// the mean of the part kept, and `statistic` is `|mean(W0) - mean(W1)| / eps_cut` at
    /// the first cut that held (> 1). The window is then emptied, as River does. Non-finite
    /// `x` is ignored.
    pub fn update(&mut self, x: f64, ts: Ts) -> Option<ChangePoint> {
        if !x.is_finite() {
            return None;
        }
        let index = self.observations;
        self.observations += 1;
        self.insert(x);

        let w = &mut self.window;
        w.tick = (w.tick + 1) % self.config.clock.get();
        if w.tick != 0 || w.width <= u64::from(self.config.grace_period) {
            return None;
        }
        let (width_before, total_before) = (w.width, w.total);
        let mut statistic = None;
        while let Some(ratio) = self.first_cut() {
            statistic.get_or_insert(ratio);
            self.drop_oldest();
        }
        let statistic = statistic?;
        let w = &self.window;
        let dropped = (width_before - w.width) as f64;
        let change = ChangePoint {
            index,
            ts,
            mean_before: (total_before - w.total) / dropped,
            mean_after: w.total / w.width as f64,
            statistic,
        };
        self.window = Window::default();
        Some(change)
    }

    fn insert(&mut self, x: f64) {
        let w = &mut self.window;
        if w.rows.is_empty() {
            w.rows.push(Vec::new());
        }
        w.rows[0].push(Bucket {
            total: x,
            variance: 0.0,
        });
        // Welford's update of the window's squared deviations, in River's order.
        w.width += 1;
        if w.width > 1 {
            let n = w.width as f64;
            let d = x - w.total / (n - 1.0);
            w.variance += (n - 1.0) * d * d / n;
        }
        w.total += x;
        self.compress();
    }

    /// Merges the two oldest buckets of every full row into the next row.
    fn compress(&mut self) {
        let full = self.config.max_buckets.get() as usize + 1;
        let rows = &mut self.window.rows;
        let mut i = 0;
        while i < rows.len() && rows[i].len() == full {
            let size = (1u64 << i) as f64;
            let (a, b) = (rows[i][0], rows[i][1]);
            let (mu_a, mu_b) = (a.total / size, b.total / size);
            let merged = Bucket {
                total: a.total + b.total,
                variance: a.variance + b.variance + size * 0.5 * (mu_a - mu_b) * (mu_a - mu_b),
            };
            rows[i].drain(..2);
            if i + 1 == rows.len() {
                rows.push(Vec::new());
            }
            rows[i + 1].push(merged);
            i += 1;
        }
    }

    /// Tries the cuts from the oldest bucket boundary to the newest and returns
    /// `|delta mean| / eps_cut` for the first one that holds.
    fn first_cut(&self) -> Option<f64> {
        let w = &self.window;
        let min_len = f64::from(self.config.min_window_length);
        let width = w.width as f64;
        let (mut n0, mut n1) = (0.0_f64, width);
        let (mut u0, mut u1) = (0.0_f64, w.total);
        for (i, row) in w.rows.iter().enumerate().rev() {
            let size = (1u64 << i) as f64;
            for (k, bucket) in row.iter().enumerate() {
                n0 += size;
                n1 -= size;
                u0 += bucket.total;
                u1 -= bucket.total;
                if i == 0 && k + 1 == row.len() {
                    // The newest observation: no cut leaves W1 non-empty.
                    return None;
                }
                let delta_mean = (u0 / n0) - (u1 / n1);
                if n1 >= min_len && n0 >= min_len {
                    let eps = self.eps_cut(n0, n1);
                    if delta_mean.abs() > eps {
                        return Some(delta_mean.abs() / eps);
                    }
                }
            }
        }
        None
    }

    fn eps_cut(&self, n0: f64, n1: f64) -> f64 {
        let w = &self.window;
        let width = w.width as f64;
        let min_len = f64::from(self.config.min_window_length);
        let delta_prime = (2.0 * width.ln() / self.config.delta).ln();
        let m_recip = 1.0 / (n0 - min_len + 1.0) + 1.0 / (n1 - min_len + 1.0);
        (2.0 * m_recip * (w.variance / width) * delta_prime).sqrt()
            + 2.0 / 3.0 * delta_prime * m_recip
    }

    /// Drops the oldest bucket from the window.
    fn drop_oldest(&mut self) {
        let w = &mut self.window;
        let Some(last) = w.rows.len().checked_sub(1) else {
            return;
        };
        let Some(&oldest) = w.rows[last].first() else {
            return;
        };
        let size = 1u64 << last;
        let n = size as f64;
        let mu = oldest.total / n;
        w.width -= size;
        w.total -= oldest.total;
        let width = w.width as f64;
        let mu_window = w.total / width;
        w.variance -=
            oldest.variance + n * width * (mu - mu_window) * (mu - mu_window) / (n + width);
        w.rows[last].remove(0);
        if w.rows[last].is_empty() {
            w.rows.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    use rand_pcg::Pcg64Mcg;

    #[test]
    fn window_statistics_match_a_direct_computation() {
        let mut d = Adwin::new(AdwinConfig::default());
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        for (i, x) in xs.into_iter().enumerate() {
            assert!(d.update(x, i as Ts).is_none());
        }
        assert_eq!(d.width(), 5);
        assert_eq!(d.window.total, 15.0);
        assert!((d.window.variance - 10.0).abs() < 1e-12);
        assert_eq!(d.estimation(), 3.0);
    }

    #[test]
    fn buckets_stay_logarithmic_in_the_window_length() {
        let cfg = AdwinConfig::default();
        let m = cfg.max_buckets.get() as usize;
        let mut d = Adwin::new(cfg);
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        let normal = Normal::new(0.0, 1.0).expect("valid normal");
        for i in 0..100_000u64 {
            d.update(normal.sample(&mut rng), i as Ts);
            let n = d.width().max(1) as f64;
            let rows_bound = (n / m as f64).log2().ceil().max(0.0) as usize + 1;
            assert!(d.window.rows.len() <= rows_bound, "rows at width {n}");
            assert!(d.window.rows.iter().all(|r| r.len() <= m));
        }
        // 100,000 stationary observations fit in a few dozen buckets.
        assert!(d.buckets() <= m * 16, "{} buckets", d.buckets());
        let counted: u64 = d
            .window
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.len() as u64) << i)
            .sum();
        assert_eq!(counted, d.width());
    }

    #[test]
    fn a_detection_reports_the_dropped_and_kept_means_and_empties_the_window() {
        let mut d = Adwin::new(AdwinConfig::default());
        let mut found = None;
        for i in 0..2000u64 {
            let x = if i < 1000 { 0.0 } else { 10.0 };
            if let Some(c) = d.update(x, 1_000 + i as Ts) {
                found = Some(c);
                break;
            }
        }
        let c = found.expect("a jump of 10 on a constant stream is found");
        assert!(c.index >= 1000 && c.index < 1064, "{c:?}");
        assert_eq!(c.ts, 1_000 + c.index as Ts);
        assert!(c.mean_before < 5.0 && c.mean_after > 5.0, "{c:?}");
        assert!(c.statistic > 1.0);
        assert_eq!(d.width(), 0);
        assert_eq!(d.observations(), c.index + 1);
    }
}
