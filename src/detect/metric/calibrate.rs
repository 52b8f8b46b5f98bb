//! Self-calibration of a detector's statistic against its own recent values.
//!
//! Each detector produces a non-negative statistic (a z-score, a distance). What counts as
//! unusual differs by series: a quiet GPU gauge and a bursty request count have very
//! different tails. [`TailCalibrator`] keeps an exponentially decayed histogram of the
//! statistic and reports its high quantile, so a detector can say "this is x times the
//! 99.9th percentile of what I have seen lately" in the same terms on every series.

use serde::{Deserialize, Serialize};

/// Lowest bin edge, as a power of ten. The statistics are z-scores (sigmas) or distances in
/// the series' own unit (bytes, milliseconds), hence the wide range.
const LOG_LO: f64 = -8.0;
/// Highest bin edge, as a power of ten.
const LOG_HI: f64 = 12.0;
/// Bins per decade: about 15% relative resolution.
const PER_DECADE: usize = 16;
/// Number of bins.
pub const BINS: usize = ((LOG_HI - LOG_LO) as usize) * PER_DECADE;

/// An exponentially decayed histogram of a non-negative statistic over log-spaced bins
/// (10^-8 .. 10^12). Values outside the range fall in the end bins. Decay is applied
/// lazily (new observations weigh more, by a factor renormalised before it overflows), so
/// a push is O(1). Memory: [`BINS`] f64 (2.5 KiB).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TailCalibrator {
    #[serde(with = "super::exact::vec")]
    counts: Vec<f64>,
    /// Sum of `counts`.
    #[serde(with = "super::exact::f64")]
    total: f64,
    /// Weight of the next observation (grows by 1/decay per push).
    #[serde(with = "super::exact::f64")]
    weight: f64,
    /// Observations so far (not decayed).
    n: u64,
}

impl Default for TailCalibrator {
    fn default() -> Self {
        TailCalibrator {
            counts: vec![0.0; BINS],
            total: 0.0,
            weight: 1.0,
            n: 0,
        }
    }
}

fn bin_of(v: f64) -> usize {
    if v.is_nan() || v <= 0.0 {
        return 0;
    }
    let b = ((v.log10() - LOG_LO) * PER_DECADE as f64).floor();
    b.clamp(0.0, (BINS - 1) as f64) as usize
}

fn edge_log10(b: usize) -> f64 {
    LOG_LO + b as f64 / PER_DECADE as f64
}

impl TailCalibrator {
    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Adds `v` (its absolute value) after decaying the past by `decay` in (0, 1].
    pub fn push(&mut self, v: f64, decay: f64) {
        let decay = if decay > 0.0 && decay <= 1.0 {
            decay
        } else {
            1.0
        };
        if self.n > 0 {
            self.weight /= decay;
        }
        if self.weight > 1e200 {
            let k = 1.0 / self.weight;
            self.counts.iter_mut().for_each(|c| *c *= k);
            self.total *= k;
            self.weight = 1.0;
        }
        self.counts[bin_of(v.abs())] += self.weight;
        self.total += self.weight;
        self.n += 1;
    }

    /// The `q` quantile (log-linear interpolation inside its bin), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total <= 0.0 {
            return None;
        }
        let want = (1.0 - q).clamp(0.0, 1.0) * self.total;
        let mut above = 0.0;
        for b in (0..BINS).rev() {
            let c = self.counts[b];
            if c > 0.0 && above + c >= want {
                let f = ((want - above) / c).clamp(0.0, 1.0);
                let (lo, hi) = (edge_log10(b), edge_log10(b + 1));
                return Some(10f64.powf(hi - f * (hi - lo)));
            }
            above += c;
        }
        Some(10f64.powf(LOG_LO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_of_uniform_log_values_is_close() {
        let mut c = TailCalibrator::default();
        // 10^0 .. 10^2 in 10,000 log-uniform steps: the 0.9 quantile is 10^1.8.
        for i in 0..10_000 {
            c.push(10f64.powf(2.0 * i as f64 / 10_000.0), 1.0);
        }
        let q = c.quantile(0.9).expect("non-empty");
        assert!((q.log10() - 1.8).abs() < 0.07, "{q}");
    }

    #[test]
    fn decay_forgets_the_past() {
        let mut c = TailCalibrator::default();
        for _ in 0..5_000 {
            c.push(100.0, 0.999);
        }
        for _ in 0..10_000 {
            c.push(1.0, 0.999);
        }
        // The 100s now weigh 0.999^10000 ~ 4.5e-5 of their original weight.
        let q = c.quantile(0.999).expect("non-empty");
        assert!(q < 1.2, "{q}");
        // Lazy decay survives renormalisation.
        for _ in 0..1_000_000 {
            c.push(1.0, 0.999);
        }
        assert!(c.quantile(0.5).expect("non-empty") < 1.2);
    }
}
