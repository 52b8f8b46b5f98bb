//! Pattern novelty: how far the last `w` samples are from their nearest match among the
//! earlier subsequences of a bounded history. This is the streaming "left matrix profile"
//! (Yeh et al., ICDM 2016; Zhu et al. 2016) with plain Euclidean distance, kept in the
//! series' own unit so that a new level counts as much as a new shape.
//!
//! A spike, a new level, a change of noise or of shape has no close match in the history
//! and scores high; a pattern seen before (a daily peak, once the history covers a day)
//! has one and scores low.

use serde::{Deserialize, Serialize};

/// Incremental nearest-neighbour distance of the latest subsequence.
///
/// For every lag `l` in `w..=history`, the squared distance between the subsequence that
/// ends now and the one that ends `l` samples earlier is updated in O(1) per sample (add the
/// newest pair, drop the oldest), so a push costs O(`history`). Memory: a ring of
/// `history + w + 1` samples and `history - w + 1` running distances, about
/// 16 x `history` bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternNovelty {
    w: usize,
    history: usize,
    /// Ring of the most recent samples; `seen` counts every sample ever pushed.
    #[serde(with = "super::exact::vec")]
    buf: Vec<f64>,
    seen: u64,
    /// `diag[l - w]`: squared distance between the subsequences ending now and `l` earlier.
    #[serde(with = "super::exact::vec")]
    diag: Vec<f64>,
}

impl PatternNovelty {
    /// Subsequences of `w` (>= 1) samples, matched against the last `history` (> `w`)
    /// samples.
    pub fn new(w: usize, history: usize) -> Self {
        let w = w.max(1);
        let history = history.max(w + 1);
        PatternNovelty {
            w,
            history,
            buf: vec![0.0; history + w + 1],
            seen: 0,
            diag: vec![0.0; history - w + 1],
        }
    }

    /// Adds `x`; returns the root-mean-square distance (per sample, in the series' unit)
    /// from the subsequence ending at `x` to its nearest earlier, non-overlapping
    /// subsequence, once the history holds one.
    pub fn push(&mut self, x: f64) -> Option<f64> {
        let len = self.buf.len() as u64;
        self.buf[(self.seen % len) as usize] = x;
        self.seen += 1;
        let i = self.seen - 1;
        let w = self.w as u64;
        if i > 0 && i % self.history as u64 == 0 {
            // Exact re-summation, once per `history` samples, bounds rounding drift.
            self.resum();
        } else {
            let buf = &self.buf;
            let at = |j: u64| buf[(j % len) as usize];
            for (k, d) in self.diag.iter_mut().enumerate() {
                let l = (k + self.w) as u64;
                if i < l {
                    break;
                }
                let add = at(i) - at(i - l);
                *d += add * add;
                if i >= l + w {
                    let sub = at(i - w) - at(i - w - l);
                    *d -= sub * sub;
                }
            }
        }
        // The earlier subsequence must be complete: it ends at i - l >= w - 1.
        let complete = (i + 1).saturating_sub(2 * w - 1) as usize;
        let usable = complete.min(self.diag.len());
        let best = self.diag[..usable]
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        best.is_finite()
            .then(|| (best.max(0.0) / self.w as f64).sqrt())
    }

    fn resum(&mut self) {
        let len = self.buf.len() as u64;
        let i = self.seen - 1;
        for k in 0..self.diag.len() {
            let l = (k + self.w) as u64;
            let mut s = 0.0;
            for j in 0..self.w as u64 {
                if i < l + j {
                    break;
                }
                let d = self.buf[((i - j) % len) as usize] - self.buf[((i - j - l) % len) as usize];
                s += d * d;
            }
            self.diag[k] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: min over earlier non-overlapping subsequences within the history.
    fn brute(x: &[f64], w: usize, history: usize) -> Vec<Option<f64>> {
        (0..x.len())
            .map(|i| {
                if i + 1 < w {
                    return None;
                }
                let mut best = f64::INFINITY;
                for l in w..=history.min(i) {
                    if i - l + 1 < w {
                        break;
                    }
                    let d: f64 = (0..w).map(|j| (x[i - j] - x[i - j - l]).powi(2)).sum();
                    best = best.min(d);
                }
                best.is_finite().then(|| (best / w as f64).sqrt())
            })
            .collect()
    }

    #[test]
    fn matches_brute_force() {
        let x: Vec<f64> = (0..700)
            .map(|i| ((i as f64) * 0.37).sin() * 10.0 + ((i * 7919) % 13) as f64)
            .collect();
        let (w, h) = (8, 120);
        let mut p = PatternNovelty::new(w, h);
        let want = brute(&x, w, h);
        for (i, &v) in x.iter().enumerate() {
            let got = p.push(v);
            match (got, want[i]) {
                (None, None) => {}
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9 * (1.0 + b), "{i}: {a} {b}"),
                other => panic!("{i}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_repeated_pattern_matches_and_a_new_one_does_not() {
        let mut p = PatternNovelty::new(4, 50);
        let shape = [0.0, 1.0, 2.0, 1.0, 0.0, 0.0];
        let mut last = None;
        for _ in 0..20 {
            for &v in &shape {
                last = p.push(v);
            }
        }
        assert_eq!(last, Some(0.0));
        let novel = [p.push(9.0), p.push(9.0)];
        assert!(
            novel.iter().all(|d| d.is_some_and(|d| d > 1.0)),
            "{novel:?}"
        );
    }
}
