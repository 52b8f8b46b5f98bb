//! Maximum mean discrepancy (Gretton et al., 2012): a kernel two-sample test that compares
//! whole joint distributions, so it sees drift that no single feature shows (a change of
//! correlation, a new combination of values).
//!
//! - Kernel: RBF (Gaussian), `k(x, y) = exp(-|x - y|^2 / (2 sigma^2))`.
//! - Bandwidth `sigma`: the **median heuristic on the pooled sample**, the median of the
//!   Euclidean distances (not squared distances) `|z_i - z_j|` over all pairs `i < j` of
//!   the reference and current rows together (numpy's median: the mean of the two middle
//!   values for an even count). When that median is 0 (more than half the pairs
//!   coincide) the mean distance is used instead; when every row is the same, the
//!   statistic is 0 and p = 1.
//! - Statistic: the **unbiased** MMD^2 estimate,
//!   `sum_{i != j} k(x_i, x_j) / (n (n-1)) + sum_{i != j} k(y_i, y_j) / (m (m-1))
//!   - 2 sum_{i,j} k(x_i, y_j) / (n m)`; it can be slightly negative without drift.
//! - p-value: a **permutation test** seeded by the caller: the pooled rows are split at
//!   random into groups of sizes `n` and `m` `permutations` times (default 200), and
//!   `p = (1 + #{permuted MMD^2 >= observed}) / (1 + permutations)`, so never below
//!   `1 / (1 + permutations)` (0.005 by default).
//!
//! **Cost per window**, with `N = n + m` (at most `max_reference + max_window`, default
//! 500 + 500): the kernel matrix is computed once, `N (N - 1) / 2` kernel evaluations of
//! `O(dim)` each, stored as a packed triangle of `N (N - 1) / 2` f64 (4 MB at N = 1,000,
//! plus a copy of the same size while the median is selected). Each permutation then costs
//! `min(n, m)^2 / 2` additions, not a fresh kernel sum: with the kernel matrix's row sums
//! `r_i` and total `T`, the within-group sum `S_gg` of the smaller group determines the
//! rest (`S_cross = sum_{i in g} r_i - 2 S_gg`, `S_other = T - S_gg - S_cross`). Total
//! `O(N^2 dim + permutations * min(n, m)^2)`.
//!
//! **Memory** between windows: the reference sample (at most `max_reference` vectors) in
//! the profile and a reservoir of at most `max_window` vectors per window.
//!
//! Pure: no I/O, no clock; randomness only from the caller's seed.

use super::{MultivariateError, RowReservoir};
use crate::record::TestResult;
use ndarray::ArrayView2;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

/// Settings of the MMD detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MmdConfig {
    /// Reference vectors kept in the profile (default 500).
    pub max_reference: usize,
    /// Current vectors kept per window, a seeded uniform reservoir (default 500). With
    /// `max_reference` this bounds the cost per window (module docs).
    pub max_window: usize,
    /// Permutations of the test (default 200: p-values down to 0.005, 10^8 additions).
    pub permutations: usize,
    /// Windows with fewer scored records are not tested (default 20).
    pub min_window: usize,
}

impl Default for MmdConfig {
    fn default() -> Self {
        MmdConfig {
            max_reference: 500,
            max_window: 500,
            permutations: 200,
            min_window: 20,
        }
    }
}

impl MmdConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), MultivariateError> {
        if self.max_reference < 2 || self.max_window < 2 || self.min_window < 2 {
            return Err(MultivariateError::InvalidConfig(
                "mmd.max_reference, max_window, min_window: must be >= 2".into(),
            ));
        }
        if self.permutations == 0 {
            return Err(MultivariateError::InvalidConfig(
                "mmd.permutations: must be >= 1".into(),
            ));
        }
        Ok(())
    }
}

/// The MMD verdict on one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MmdResult {
    /// Unbiased MMD^2 and its permutation p-value.
    pub test: TestResult,
    /// The RBF bandwidth used (median heuristic).
    pub bandwidth: f64,
    /// Reference rows in the test.
    pub n_reference: usize,
    /// Current rows in the test.
    pub n_current: usize,
    /// Permutations drawn.
    pub permutations: usize,
}

/// The pooled sample's kernel matrix, packed: entry `(i, j)`, `j < i`, at
/// `i (i - 1) / 2 + j`.
struct Pooled {
    n_x: usize,
    n_y: usize,
    tri: Vec<f64>,
    row_sums: Vec<f64>,
    total: f64,
}

#[inline]
fn tri_index(i: usize, j: usize) -> usize {
    debug_assert!(j < i);
    i * (i - 1) / 2 + j
}

/// The pooled rows, x first, flat.
fn pool(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Vec<f64> {
    x.rows()
        .into_iter()
        .chain(y.rows())
        .flatten()
        .copied()
        .collect()
}

/// Packed squared distances of the pooled rows.
fn sq_distances(z: &[f64], dim: usize) -> Vec<f64> {
    let n = z.len() / dim.max(1);
    let mut tri = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 1..n {
        let zi = &z[i * dim..(i + 1) * dim];
        for j in 0..i {
            let zj = &z[j * dim..(j + 1) * dim];
            tri.push(
                zi.iter()
                    .zip(zj)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>(),
            );
        }
    }
    tri
}

/// numpy's median of `sqrt(d2)` over the packed squared distances (non-empty).
fn median_distance(d2: &[f64]) -> f64 {
    let mut v = d2.to_vec();
    let mid = v.len() / 2;
    let (lower, &mut upper, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    if d2.len() % 2 == 1 {
        upper.sqrt()
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below.sqrt() + upper.sqrt()) / 2.0
    }
}

/// The bandwidth for packed squared distances: the median distance, or the mean when the
/// median is 0; 0 when all rows coincide.
fn bandwidth_of(d2: &[f64]) -> f64 {
    if d2.is_empty() {
        return 0.0;
    }
    let med = median_distance(d2);
    if med > 0.0 {
        return med;
    }
    d2.iter().map(|d| d.sqrt()).sum::<f64>() / d2.len() as f64
}

/// The median-heuristic RBF bandwidth of the pooled rows of `x` and `y` (same width; 0
/// for fewer than two rows in all).
pub fn median_bandwidth(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> f64 {
    let z = pool(x, y);
    bandwidth_of(&sq_distances(&z, x.ncols()))
}

impl Pooled {
    fn new(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>, bandwidth: Option<f64>) -> (Self, f64) {
        let (n_x, n_y, dim) = (x.nrows(), y.nrows(), x.ncols());
        let z = pool(x, y);
        let mut tri = sq_distances(&z, dim);
        let bw = bandwidth.unwrap_or_else(|| bandwidth_of(&tri));
        let n = n_x + n_y;
        let mut row_sums = vec![0.0; n];
        let mut total = 0.0;
        if bw > 0.0 {
            let denom = 2.0 * bw * bw;
            let mut at = 0;
            for i in 1..n {
                for j in 0..i {
                    let k = (-tri[at] / denom).exp();
                    tri[at] = k;
                    row_sums[i] += k;
                    row_sums[j] += k;
                    total += k;
                    at += 1;
                }
            }
        } else {
            // Every row coincides: the kernel is 1 everywhere and MMD^2 is 0.
            tri.fill(1.0);
            for r in &mut row_sums {
                *r = (n - 1) as f64;
            }
            total = tri.len() as f64;
        }
        let pooled = Pooled {
            n_x,
            n_y,
            tri,
            row_sums,
            total,
        };
        (pooled, bw)
    }

    /// Whether the smaller group (whose indices [`Self::statistic`] takes) is x.
    fn group_is_x(&self) -> bool {
        self.n_x <= self.n_y
    }

    /// Unbiased MMD^2 when the smaller group holds the pooled rows `group` (ascending).
    fn statistic(&self, group: &[usize]) -> f64 {
        let mut s_gg = 0.0;
        let mut r_g = 0.0;
        for (b, &i) in group.iter().enumerate() {
            r_g += self.row_sums[i];
            if b > 0 {
                let row = &self.tri[tri_index(i, 0)..];
                s_gg += group[..b].iter().map(|&j| row[j]).sum::<f64>();
            }
        }
        let s_cross = r_g - 2.0 * s_gg;
        let s_other = self.total - s_gg - s_cross;
        let (s_xx, s_yy) = if self.group_is_x() {
            (s_gg, s_other)
        } else {
            (s_other, s_gg)
        };
        let (n, m) = (self.n_x as f64, self.n_y as f64);
        2.0 * s_xx / (n * (n - 1.0)) + 2.0 * s_yy / (m * (m - 1.0)) - 2.0 * s_cross / (n * m)
    }

    fn observed(&self) -> f64 {
        let group: Vec<usize> = if self.group_is_x() {
            (0..self.n_x).collect()
        } else {
            (self.n_x..self.n_x + self.n_y).collect()
        };
        self.statistic(&group)
    }
}

/// The unbiased MMD^2 of `x` against `y` with an RBF kernel of the given bandwidth (> 0);
/// both need at least two rows.
pub fn mmd2_unbiased(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>, bandwidth: f64) -> f64 {
    Pooled::new(x, y, Some(bandwidth)).0.observed()
}

/// The MMD permutation test of `x` (reference) against `y` (current): unbiased MMD^2 with
/// the median-heuristic bandwidth, and its p-value from `permutations` seeded permutations
/// (module docs). `None` when either sample has fewer than two rows or the widths differ.
pub fn mmd_test(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    permutations: usize,
    seed: u64,
) -> Option<MmdResult> {
    if x.nrows() < 2 || y.nrows() < 2 || x.ncols() != y.ncols() {
        return None;
    }
    let (pooled, bandwidth) = Pooled::new(x, y, None);
    let observed = pooled.observed();
    let n = pooled.n_x + pooled.n_y;
    let size = pooled.n_x.min(pooled.n_y);
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut group = Vec::with_capacity(size);
    let mut at_least = 0usize;
    for _ in 0..permutations {
        // A partial Fisher-Yates shuffle draws a uniform random subset whatever the
        // current order; sorting it walks the packed rows forwards.
        let (chosen, _) = order.partial_shuffle(&mut rng, size);
        group.clear();
        group.extend_from_slice(chosen);
        group.sort_unstable();
        if pooled.statistic(&group) >= observed {
            at_least += 1;
        }
    }
    let p_value = (1 + at_least) as f64 / (1 + permutations) as f64;
    Some(MmdResult {
        test: TestResult {
            statistic: observed,
            p_value,
        },
        bandwidth,
        n_reference: pooled.n_x,
        n_current: pooled.n_y,
        permutations,
    })
}

/// The reference side of the MMD detector: a bounded sample of reference vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MmdReferenceRepr")]
pub struct MmdReference {
    dim: usize,
    /// Row-major `(rows, dim)`.
    rows: Vec<f64>,
}

/// [`MmdReference`] as stored, before its check.
#[derive(Deserialize)]
struct MmdReferenceRepr {
    dim: usize,
    rows: Vec<f64>,
}

impl TryFrom<MmdReferenceRepr> for MmdReference {
    type Error = MultivariateError;
    fn try_from(r: MmdReferenceRepr) -> Result<Self, Self::Error> {
        if r.dim == 0 || r.rows.len() % r.dim != 0 {
            return Err(MultivariateError::InvalidSpace(
                "MMD reference: values are not whole rows".into(),
            ));
        }
        Ok(MmdReference {
            dim: r.dim,
            rows: r.rows,
        })
    }
}

impl MmdReference {
    /// A reference over `rows` (`(n, dim)`), which the caller has already bounded.
    pub fn new(rows: ArrayView2<'_, f64>) -> Self {
        MmdReference {
            dim: rows.ncols(),
            rows: rows.iter().copied().collect(),
        }
    }

    /// Vector width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The reference vectors, `(n, dim)`.
    pub fn rows(&self) -> ArrayView2<'_, f64> {
        let n = self.rows.len() / self.dim.max(1);
        ArrayView2::from_shape((n, self.dim), &self.rows).expect("n * dim values by construction")
    }

    /// An empty window accumulator keeping at most `max_window` vectors (seeded).
    pub fn window(&self, max_window: usize, seed: u64) -> MmdWindowAcc {
        MmdWindowAcc {
            sample: RowReservoir::new(max_window, seed),
        }
    }
}

/// Per-window state of the MMD detector: a seeded reservoir of the window's vectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MmdWindowAcc {
    sample: RowReservoir<f64>,
}

impl MmdWindowAcc {
    /// Offers one vector.
    pub fn push(&mut self, vector: &[f64]) {
        self.sample.push(vector);
    }

    /// Vectors offered.
    pub fn seen(&self) -> u64 {
        self.sample.seen()
    }

    /// Forgets the window (keeping the random stream).
    pub fn clear(&mut self) {
        self.sample.clear();
    }

    /// The test of the window against `reference`; `None` below `min_window` vectors.
    pub fn finish(
        &self,
        reference: &MmdReference,
        config: &MmdConfig,
        seed: u64,
    ) -> Option<MmdResult> {
        let rows = self.sample.rows();
        if rows.len() < config.min_window.max(2) {
            return None;
        }
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let current = ArrayView2::from_shape((rows.len(), reference.dim), &flat).ok()?;
        mmd_test(reference.rows(), current, config.permutations, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    /// The direct O(N^2) formula, for checking the packed, row-sum form.
    fn direct(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>, bw: f64) -> f64 {
        let k = |a: ndarray::ArrayView1<'_, f64>, b: ndarray::ArrayView1<'_, f64>| {
            let d2: f64 = a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum();
            (-d2 / (2.0 * bw * bw)).exp()
        };
        let (n, m) = (x.nrows(), y.nrows());
        let mut sxx = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    sxx += k(x.row(i), x.row(j));
                }
            }
        }
        let mut syy = 0.0;
        for i in 0..m {
            for j in 0..m {
                if i != j {
                    syy += k(y.row(i), y.row(j));
                }
            }
        }
        let mut sxy = 0.0;
        for i in 0..n {
            for j in 0..m {
                sxy += k(x.row(i), y.row(j));
            }
        }
        let (nf, mf) = (n as f64, m as f64);
        sxx / (nf * (nf - 1.0)) + syy / (mf * (mf - 1.0)) - 2.0 * sxy / (nf * mf)
    }

    #[test]
    fn packed_statistic_equals_the_direct_formula_either_way_round() {
        let x = array![[0.0, 1.0], [1.0, 0.5], [2.0, -1.0], [0.3, 0.3], [1.5, 2.0]];
        let y = array![[3.0, 1.0], [2.5, 0.0], [4.0, 2.0]];
        for (a, b) in [(x.view(), y.view()), (y.view(), x.view())] {
            let got = mmd2_unbiased(a, b, 1.3);
            let want = direct(a, b, 1.3);
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }

    #[test]
    fn median_heuristic_is_numpys_median_of_distances() {
        // Pairwise distances of 0, 1, 3, 6 on a line: 1, 3, 6, 2, 5, 3 -> median 3.
        let x = array![[0.0], [1.0]];
        let y = array![[3.0], [6.0]];
        assert_eq!(median_bandwidth(x.view(), y.view()), 3.0);
        // Five points: ten distances 1, 2, 3, 4, 1, 2, 3, 1, 2, 1 -> median (2 + 2) / 2.
        let y = array![[2.0], [3.0], [4.0]];
        assert_eq!(median_bandwidth(x.view(), y.view()), 2.0);
    }

    #[test]
    fn identical_rows_give_zero_and_p_one() {
        let x = Array2::<f64>::ones((5, 3));
        let y = Array2::<f64>::ones((4, 3));
        let r = mmd_test(x.view(), y.view(), 50, 1).expect("tested");
        assert_eq!(r.test.statistic, 0.0);
        assert_eq!(r.test.p_value, 1.0);
    }

    #[test]
    fn permutation_test_replays_from_its_seed() {
        let x = Array2::from_shape_fn((40, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f64);
        let y = Array2::from_shape_fn((30, 2), |(i, j)| ((i * 5 + j) % 13) as f64 + 0.5);
        let a = mmd_test(x.view(), y.view(), 100, 9).expect("tested");
        let b = mmd_test(x.view(), y.view(), 100, 9).expect("tested");
        assert_eq!(a, b);
        assert!(a.test.p_value >= 1.0 / 101.0 && a.test.p_value <= 1.0);
    }
}
