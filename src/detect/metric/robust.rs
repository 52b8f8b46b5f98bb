//! Rolling median and median absolute deviation over the last `cap` samples.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The last `cap` values in arrival order and the same values sorted, so that the median and
/// the MAD are exact (as numpy's `median` and scipy's `median_abs_deviation` define them) at
/// O(cap) per push. Memory: 2 x `cap` f64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollingMedian {
    cap: usize,
    #[serde(with = "super::exact::deque")]
    ring: VecDeque<f64>,
    #[serde(with = "super::exact::vec")]
    sorted: Vec<f64>,
}

impl RollingMedian {
    /// An empty window of at most `cap` (>= 1) values.
    pub fn new(cap: usize) -> Self {
        RollingMedian {
            cap: cap.max(1),
            ring: VecDeque::new(),
            sorted: Vec::new(),
        }
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Adds `x` (finite), evicting the oldest value when full.
    pub fn push(&mut self, x: f64) {
        if self.ring.len() == self.cap {
            if let Some(old) = self.ring.pop_front() {
                let i = self.sorted.partition_point(|v| v.total_cmp(&old).is_lt());
                self.sorted.remove(i);
            }
        }
        self.ring.push_back(x);
        let i = self.sorted.partition_point(|v| v.total_cmp(&x).is_le());
        self.sorted.insert(i, x);
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.ring.clear();
        self.sorted.clear();
    }

    /// Values in arrival order.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.ring.iter().copied()
    }

    /// The median (mean of the two middle values for an even count), `None` when empty.
    pub fn median(&self) -> Option<f64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        Some(if n % 2 == 1 {
            self.sorted[n / 2]
        } else {
            0.5 * (self.sorted[n / 2 - 1] + self.sorted[n / 2])
        })
    }

    /// The `q` quantile (numpy's linear interpolation), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.sorted.is_empty() {
            return None;
        }
        Some(crate::detect::stats::quantile_sorted(&self.sorted, q))
    }

    /// `(median, MAD)` with MAD = median(|x - median|), unscaled (scipy's
    /// `median_abs_deviation(x)`), `None` when empty. The deviations below and above the
    /// median are each sorted already, so the MAD is a merge of two sorted runs.
    pub fn median_mad(&self) -> Option<(f64, f64)> {
        let med = self.median()?;
        let s = &self.sorted;
        let n = s.len();
        let split = s.partition_point(|v| *v < med);
        // lo walks down from split-1 (deviations med - s[lo] ascending), hi walks up.
        let (mut lo, mut hi) = (split as isize - 1, split);
        let next = |lo: &mut isize, hi: &mut usize| -> f64 {
            let dl = if *lo >= 0 {
                med - s[*lo as usize]
            } else {
                f64::INFINITY
            };
            let dh = if *hi < n { s[*hi] - med } else { f64::INFINITY };
            if dl <= dh {
                *lo -= 1;
                dl
            } else {
                *hi += 1;
                dh
            }
        };
        let k = (n - 1) / 2;
        let mut d = 0.0;
        for _ in 0..=k {
            d = next(&mut lo, &mut hi);
        }
        let mad = if n % 2 == 1 {
            d
        } else {
            0.5 * (d + next(&mut lo, &mut hi))
        };
        Some((med, mad))
    }

    /// Mean absolute deviation from the median, `None` when empty: the fallback scale when
    /// more than half the window holds one value (MAD = 0).
    pub fn mean_abs_dev(&self, med: f64) -> Option<f64> {
        if self.sorted.is_empty() {
            return None;
        }
        Some(self.sorted.iter().map(|v| (v - med).abs()).sum::<f64>() / self.sorted.len() as f64)
    }
}
