//! The statistics behind vigil's verdicts, each checked against scipy on fixtures that
//! `scripts/fixtures.py` generates (`testdata/fixtures/stats.json`):
//!
//! - two-sample Kolmogorov-Smirnov, statistic and two-sided p-value as
//!   `scipy.stats.ks_2samp(a, b)` computes them (`method="auto"`: the exact distribution for
//!   samples of up to 10,000 values, which is as large as vigil's samples get);
//! - chi-squared test of homogeneity of two count rows, as
//!   `scipy.stats.chi2_contingency([base, cur], correction=False)`, after pooling sparse
//!   categories ([`pool_sparse`]);
//! - population stability index over quantile bins of the reference ([`QuantileBins`],
//!   [`psi`]);
//! - Bonferroni and Benjamini-Hochberg adjustment (`scipy.stats.false_discovery_control`);
//! - a one-sided two-proportion z-test for error rates;
//! - numpy's linear-interpolation quantile, and a seeded reservoir sample.
//!
//! Distributions come from statrs. The exact KS distribution is written out here because
//! statrs' exact two-sample test refuses samples with m*n > 10,000 and its asymptotic one
//! differs from scipy by ~5%; the code follows scipy's (`_compute_prob_outside_square`,
//! `_compute_outer_prob_inside_method`) step for step so that the floating-point results agree.
//!
//! Pure functions and data: no I/O, no clock, randomness only from seeded generators.

use crate::record::TestResult;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

mod ks;
pub use ks::{ks_2samp_sorted, KsIndex, KsMemo, KsReference};

/// False-alarm control across the tests of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Raw p-values.
    None,
    /// Family-wise error control: `min(1, p * m)`.
    Bonferroni,
    /// False-discovery-rate control (Benjamini-Hochberg step-up q-values).
    BenjaminiHochberg,
}

impl Correction {
    /// The name used in config and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Correction::None => "none",
            Correction::Bonferroni => "bonferroni",
            Correction::BenjaminiHochberg => "benjamini_hochberg",
        }
    }
}

/// Adjusts `p` for `m = p.len()` simultaneous tests. Output order follows input order.
pub fn adjust_p_values(p: &[f64], correction: Correction) -> Vec<f64> {
    let m = p.len() as f64;
    match correction {
        Correction::None => p.to_vec(),
        Correction::Bonferroni => p.iter().map(|&x| (x * m).min(1.0)).collect(),
        Correction::BenjaminiHochberg => {
            let mut order: Vec<usize> = (0..p.len()).collect();
            order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
            let mut out = vec![0.0; p.len()];
            let mut running = f64::INFINITY;
            for (rank, &i) in order.iter().enumerate().rev() {
                let q = p[i] * m / (rank as f64 + 1.0);
                running = running.min(q);
                out[i] = running.min(1.0);
            }
            out
        }
    }
}

/// numpy's default (`linear`) quantile of an ascending sample; `q` in [0, 1].
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = h - lo as f64;
    sorted[lo] + frac * (sorted[hi] - sorted[lo])
}

/// PSI bins: the interior cut points at the reference's quantiles `i / bins`, with repeated
/// cuts (ties in discrete features) merged. Value `x` falls in bin
/// `#{edges < x}`, as `numpy.searchsorted(edges, x, side="left")`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileBins {
    /// Interior edges, strictly increasing.
    pub edges: Vec<f64>,
}

impl QuantileBins {
    /// Cuts `bins` bins at the quantiles of an ascending reference sample.
    pub fn from_sorted_reference(sorted: &[f64], bins: usize) -> QuantileBins {
        let mut edges: Vec<f64> = (1..bins)
            .map(|i| quantile_sorted(sorted, i as f64 / bins as f64))
            .collect();
        edges.dedup();
        QuantileBins { edges }
    }

    /// Number of bins.
    pub fn len(&self) -> usize {
        self.edges.len() + 1
    }

    /// Always false: there is at least one bin.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bin of `x`.
    #[inline]
    pub fn bin_of(&self, x: f64) -> usize {
        // Once per numeric value on the hot path. The edges increase strictly, so the bin
        // is the number of edges below `x`; for the usual handful of edges counting them
        // all (vectorised, no branches) beats a binary search's unpredictable branches.
        if self.edges.len() <= 32 {
            self.edges.iter().map(|&e| usize::from(e < x)).sum()
        } else {
            self.edges.partition_point(|&e| e < x)
        }
    }

    /// Counts per bin of a sample.
    pub fn counts(&self, values: &[f64]) -> Vec<u64> {
        let mut c = vec![0; self.len()];
        for &x in values {
            c[self.bin_of(x)] += 1;
        }
        c
    }
}

/// Share below which a bin's share is floored in [`psi`] (the convention of Evidently and
/// most PSI implementations), so that an empty bin gives a large but finite term.
pub const PSI_FLOOR: f64 = 1e-4;

/// Population stability index `sum (c - r) * ln(c / r)` over bin shares, each share floored
/// at [`PSI_FLOOR`]. Rule of thumb: < 0.1 stable, 0.1 to 0.25 moderate, > 0.25 large shift.
pub fn psi(reference: &[u64], current: &[u64]) -> f64 {
    let nr: u64 = reference.iter().sum();
    let nc: u64 = current.iter().sum();
    if nr == 0 || nc == 0 {
        return 0.0;
    }
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let r = (r as f64 / nr as f64).max(PSI_FLOOR);
            let c = (c as f64 / nc as f64).max(PSI_FLOOR);
            (c - r) * (c / r).ln()
        })
        .sum()
}

/// The order-preserving map of an f64 onto u64 (as `f64::total_cmp` orders them).
#[inline]
fn order_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

#[inline]
fn from_order_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// A sorted copy of `values` (ascending, as `f64::total_cmp`). Sorting integer keys is about
/// twice as fast as sorting floats through `total_cmp`, and windows sort one sample per
/// numeric series.
pub fn sorted_copy(values: &[f64]) -> Vec<f64> {
    let mut keys: Vec<u64> = values.iter().map(|&x| order_key(x)).collect();
    keys.sort_unstable();
    keys.into_iter().map(from_order_key).collect()
}

/// Minimum expected count per cell below which [`pool_sparse`] merges a category into the
/// pooled column (Cochran's rule of thumb for the chi-squared approximation).
pub const MIN_EXPECTED: f64 = 5.0;

/// Merges the categories whose expected count under homogeneity is below [`MIN_EXPECTED`]
/// in either row into one pooled column, appended last (kept only if non-empty). A category
/// unseen in the baseline but frequent in the current window keeps its own column and
/// drives the statistic up, as it should; a handful of rare or brand-new values does not
/// by itself make a window look drifted.
pub fn pool_sparse(base: &[u64], cur: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let nb: u64 = base.iter().sum();
    let nc: u64 = cur.iter().sum();
    let n = (nb + nc) as f64;
    let (mut b, mut c) = (
        Vec::with_capacity(base.len()),
        Vec::with_capacity(cur.len()),
    );
    let (mut pb, mut pc) = (0u64, 0u64);
    for (&x, &y) in base.iter().zip(cur) {
        let col = (x + y) as f64;
        let eb = col * nb as f64 / n;
        let ec = col * nc as f64 / n;
        if eb < MIN_EXPECTED || ec < MIN_EXPECTED {
            pb += x;
            pc += y;
        } else {
            b.push(x);
            c.push(y);
        }
    }
    if pb + pc > 0 {
        b.push(pb);
        c.push(pc);
    }
    (b, c)
}

/// Chi-squared test of homogeneity of two count rows over the same categories, as
/// `scipy.stats.chi2_contingency([base, cur], correction=False)`. Columns empty in both rows
/// are dropped. `None` when either row is empty; p = 1 when fewer than two categories
/// remain (nothing to compare).
pub fn chi2_homogeneity(base: &[u64], cur: &[u64]) -> Option<TestResult> {
    let nb: u64 = base.iter().sum();
    let nc: u64 = cur.iter().sum();
    if nb == 0 || nc == 0 {
        return None;
    }
    let n = (nb + nc) as f64;
    let mut stat = 0.0;
    let mut cols = 0u32;
    for (&x, &y) in base.iter().zip(cur) {
        let col = (x + y) as f64;
        if col == 0.0 {
            continue;
        }
        cols += 1;
        let eb = col * nb as f64 / n;
        let ec = col * nc as f64 / n;
        stat += (x as f64 - eb).powi(2) / eb + (y as f64 - ec).powi(2) / ec;
    }
    if cols < 2 {
        return Some(TestResult {
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    let dof = (cols - 1) as f64;
    let p_value = ChiSquared::new(dof)
        .map(|d| d.sf(stat))
        .unwrap_or(f64::NAN)
        .clamp(0.0, 1.0);
    Some(TestResult {
        statistic: stat,
        p_value,
    })
}

/// One-sided two-proportion z-test (pooled variance) that the rate `x1 / n1` exceeds
/// `x2 / n2`. `None` when either sample is empty; 1.0 when the pooled rate is 0 or 1 (no
/// variance: no evidence).
pub fn two_proportion_z_greater(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<f64> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let pooled = (x1 + x2) as f64 / (n1 + n2) as f64;
    let var = pooled * (1.0 - pooled) * (1.0 / n1 as f64 + 1.0 / n2 as f64);
    if var <= 0.0 {
        return Some(1.0);
    }
    let z = (p1 - p2) / var.sqrt();
    Some(Normal::standard().sf(z))
}

/// A uniform random sample of at most `cap` values of a stream (Li's Algorithm L: the
/// random skips are drawn only when a value is replaced, so a push is a compare and an
/// increment). Seeded, so the same stream gives the same sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reservoir {
    cap: usize,
    seen: u64,
    values: Vec<f64>,
    /// Algorithm L's running weight.
    w: f64,
    /// 1-based index of the next value that enters the sample once it is full.
    next: u64,
    rng: Pcg64Mcg,
}

impl Reservoir {
    /// An empty reservoir of at most `cap` (>= 1) values.
    pub fn new(cap: usize, seed: u64) -> Reservoir {
        Reservoir {
            cap: cap.max(1),
            seen: 0,
            values: Vec::new(),
            w: 1.0,
            next: 0,
            rng: Pcg64Mcg::seed_from_u64(seed),
        }
    }

    fn uniform(&mut self) -> f64 {
        // In (0, 1]: ln() must stay finite.
        1.0 - self.rng.random::<f64>()
    }

    fn skip(&mut self) {
        let u = self.uniform();
        self.next += (u.ln() / (1.0 - self.w).ln()).floor() as u64 + 1;
    }

    /// Offers one value.
    #[inline]
    pub fn push(&mut self, x: f64) {
        // Once per numeric value on the hot path: the common cases (filling, or full and
        // not this value's turn) inline; the rest (first value, the sample filling up, a
        // replacement) out of line.
        self.seen += 1;
        let len = self.values.len();
        if len + 1 < self.cap && self.values.capacity() != 0 {
            self.values.push(x);
        } else if len < self.cap || self.seen == self.next {
            self.push_rare(x);
        }
    }

    #[inline(never)]
    fn push_rare(&mut self, x: f64) {
        if self.values.len() < self.cap {
            if self.values.capacity() == 0 {
                self.values.reserve_exact(self.cap.min(1024));
            }
            self.values.push(x);
            if self.values.len() == self.cap {
                let u = self.uniform();
                self.w = (u.ln() / self.cap as f64).exp();
                self.next = self.seen;
                self.skip();
            }
        } else {
            let i = self.rng.random_range(0..self.cap);
            self.values[i] = x;
            let u = self.uniform();
            self.w *= (u.ln() / self.cap as f64).exp();
            self.skip();
        }
    }

    /// Values offered since the last [`Reservoir::clear`].
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The sample, in reservoir order.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The sample, sorted ascending.
    pub fn sorted(&self) -> Vec<f64> {
        sorted_copy(&self.values)
    }

    /// Forgets the values (keeping the allocation and the random stream).
    pub fn clear(&mut self) {
        self.values.clear();
        self.seen = 0;
        self.w = 1.0;
        self.next = 0;
    }
}

#[cfg(test)]
mod tests;
