//! The two-sample Kolmogorov-Smirnov test: the statistic in exact lattice units, by a merge
//! walk of two sorted samples ([`ks_2samp_sorted`]) or by counting an unsorted window into
//! the cells of a prepared reference ([`KsIndex`], [`KsMemo::ks_against`]), and the exact
//! two-sided p-value as scipy computes it, memoised ([`KsMemo`]).

use crate::record::TestResult;
use foldhash::HashMap;

/// Two-sample Kolmogorov-Smirnov test on two ascending, non-empty samples: the statistic
/// and two-sided p-value of `scipy.stats.ks_2samp(a, b)`.
pub fn ks_2samp_sorted(a: &[f64], b: &[f64]) -> TestResult {
    let (n1, n2, h) = ks_counts(a, b);
    ks_result(n1, n2, h)
}

/// The sample sizes and the statistic in lattice units: `D = h / lcm(n1, n2)`.
pub(super) fn ks_counts(a: &[f64], b: &[f64]) -> (u64, u64, u64) {
    let (n1, n2) = (a.len() as u64, b.len() as u64);
    if n1 == 0 || n2 == 0 {
        return (n1, n2, 0);
    }
    // Walk both samples in value order, comparing the empirical CDFs exactly, in integers:
    // |i/n1 - j/n2| = |i*n2 - j*n1| / (n1*n2). The gap is taken only where the next value
    // differs from the current one, so ties count as one step (as scipy's searchsorted
    // with side="right" does).
    //
    // One walk is a chain of dependent loads (each step's position depends on the last
    // comparison), so the value range is cut at quantiles of `a` into `LANES` segments
    // whose walks are independent and run interleaved: the CPU overlaps their latencies.
    // A segment holds every value in (s_{k-1}, s_k], so ties never straddle two segments,
    // and it starts from the counts below s_{k-1}: the gaps it sees are the gaps the one
    // walk sees at the same values.
    const LANES: usize = 4;
    let mut walks = [Walk::default(); LANES];
    let (mut i0, mut j0, mut below) = (0, 0, f64::NEG_INFINITY);
    for (k, w) in walks.iter_mut().enumerate() {
        let (i1, j1, s) = if k + 1 == LANES {
            (a.len(), b.len(), f64::INFINITY)
        } else {
            let s = a[a.len() * (k + 1) / LANES];
            (
                a.partition_point(|&x| x <= s),
                b.partition_point(|&y| y <= s),
                s,
            )
        };
        *w = Walk {
            i: i0,
            j: j0,
            last: below,
            left: (i1 - i0) + (j1 - j0),
        };
        (i0, j0, below) = (i1, j1, s);
    }
    // Interleaved while every segment has steps left (a segment may be empty when ties
    // make two quantiles equal), then each segment's remainder on its own.
    let common = walks.iter().map(|w| w.left).min().unwrap_or(0);
    let [mut w0, mut w1, mut w2, mut w3] = walks;
    let mut best = [0u64; LANES];
    for _ in 0..common {
        best[0] = best[0].max(w0.step(a, b, n1, n2));
        best[1] = best[1].max(w1.step(a, b, n1, n2));
        best[2] = best[2].max(w2.step(a, b, n1, n2));
        best[3] = best[3].max(w3.step(a, b, n1, n2));
    }
    for (w, best) in [w0, w1, w2, w3].iter_mut().zip(&mut best) {
        for _ in common..w.left {
            *best = (*best).max(w.step(a, b, n1, n2));
        }
    }
    let best = best.into_iter().max().unwrap_or(0);
    let g = gcd(n1, n2);
    (n1, n2, best / g)
}

/// One segment of the KS walk: positions in both samples, the value taken last (for the
/// first step, the segment's lower bound) and the steps it has left.
#[derive(Debug, Clone, Copy, Default)]
struct Walk {
    i: usize,
    j: usize,
    last: f64,
    left: usize,
}

impl Walk {
    /// Takes the next value. Returns the CDF gap, in lattice units, of the state before it
    /// when it exceeds the value taken last (the state then counts every value up to
    /// that one, ties included), else 0. The final state needs no step of its own: it is
    /// the next segment's first, and after the last segment both CDFs are 1.
    /// Written without data-dependent branches: the two samples interleave at random,
    /// which would defeat the branch predictor.
    #[inline(always)]
    fn step(&mut self, a: &[f64], b: &[f64], n1: u64, n2: u64) -> u64 {
        let get = |s: &[f64], k: usize| if k < s.len() { s[k] } else { f64::INFINITY };
        let (x, y) = (get(a, self.i), get(b, self.j));
        let take_a = x <= y;
        let v = if take_a { x } else { y };
        let d = (self.i as u64 * n2).abs_diff(self.j as u64 * n1) * ((v > self.last) as u64);
        self.i += take_a as usize;
        self.j += (!take_a) as usize;
        self.last = v;
        d
    }
}

pub(super) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The test result for sizes `n1`, `n2` and lattice statistic `h`.
pub(super) fn ks_result(n1: u64, n2: u64, h: u64) -> TestResult {
    if n1 == 0 || n2 == 0 {
        return TestResult {
            statistic: 0.0,
            p_value: 1.0,
        };
    }
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let statistic = h as f64 / lcm as f64;
    if h == 0 {
        return TestResult {
            statistic,
            p_value: 1.0,
        };
    }
    let p = if n1 == n2 {
        prob_outside_square(n1, h)
    } else {
        outer_prob_inside(n1, n2, g, h)
    };
    let p_value = if (0.0..=1.0).contains(&p) {
        p
    } else {
        // scipy falls back to the asymptotic distribution here; within vigil's sample caps
        // (<= 10,000) the exact computation does not fail, so this is a defensive clamp.
        p.clamp(0.0, 1.0)
    };
    TestResult { statistic, p_value }
}

/// scipy's `_compute_prob_outside_square(n, h)`: P(D_{n,n} >= h/n).
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (n, h) = (n as i64, h as i64);
    let mut p = 0.0f64;
    let mut k = n / h;
    while k >= 0 {
        let mut p1 = 1.0f64;
        for j in 0..h {
            p1 = (n - k * h - j) as f64 * p1 / (n + k * h + j + 1) as f64;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// scipy's `_compute_outer_prob_inside_method(m, n, g, h)`: the share of lattice paths from
/// (0, 0) to (m, n) that leave the band |x/m - y/n| < h/lcm.
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (m, n, g, h) = (m as i64, n as i64, g as i64, h as i64);
    let mg = m / g;
    let ng = n / g;
    let ceil_div = |a: i64, b: i64| -(-a).div_euclid(b);
    let mut minj: i64 = 0;
    let mut maxj: i64 = ceil_div(h, mg).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0f64; len_a];
    for x in a.iter_mut().take(maxj as usize) {
        *x = 0.0;
    }
    // 1/k for every i + j the recurrence divides by: a multiplication by a reciprocal
    // takes the division off the loop's dependency chain (val -> val), about 2.5x faster;
    // the result differs from scipy's by rounding only (relative ~1e-13 at these sizes).
    let recip: Vec<f64> = (0..=(m + n) as usize).map(|k| 1.0 / k as f64).collect();
    for i in 1..=m {
        let (lastminj, lastlen) = (minj, curlen);
        minj = ((ng * i - h).div_euclid(mg) + 1).max(0).min(n);
        maxj = ceil_div(ng * i + h, mg).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        let fi = i as f64;
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let r = recip[(i + j) as usize];
            val = a[(j - lastminj) as usize] * (fi * r) + val * (j as f64 * r);
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let from = (maxj - minj) as usize;
            let to = from + (lastlen - curlen) as usize;
            for x in &mut a[from..to] {
                *x = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

/// Memo of exact KS p-values by (n1, n2, h). The exact p-value depends only on the sample
/// sizes and the lattice statistic, and a monitored stream keeps returning the same few
/// triples (the same window and reference sizes, statistics in a narrow band), so this
/// turns the O(n * h) path count into a lookup. Bounded: cleared when full. A cache, not
/// state: results are the same with or without it, floor included. It also holds the
/// scratch counters of [`KsMemo::ks_against`].
///
/// **Floor.** The p-value it returns is `max(exact, P_FLOOR)`: exact down to
/// [`KsMemo::P_FLOOR`] (1e-30), and `P_FLOOR` below it, as R reports `p < 2.2e-16`. The
/// exact computation costs O(n * h), so a strongly drifted window (D = 0.65 against a
/// 2,000-value reference, p ~ 1e-280) costs ~3 ms, 15 times a marginal one; such windows
/// took most of the p-value time in replay. The floor is reached without that cost, and
/// without an approximation: P(D >= d) falls as `h` grows, so once the exact p-value at
/// some `h0 <= h` is below the floor, so is the one at `h`. For a large `h` the memo first
/// computes the exact p-value at the `h0` where the asymptotic tail `2 exp(-2 D^2 en)`
/// is 1e-40 (a fraction of the cost), and remembers per (n1, n2) the smallest `h0` known
/// to be below the floor. The statistic is always exact. Alert thresholds on p-values
/// are refused below 1e-20 (config validation), so no decision depends on values under
/// the floor.
#[derive(Debug, Default, Clone)]
pub struct KsMemo {
    map: HashMap<(u64, u64, u64), f64>,
    /// Per (n1, n2): the smallest `h` whose exact p-value is known to be below the floor.
    below: HashMap<(u64, u64), u64>,
    cells: Vec<u32>,
}

impl KsMemo {
    /// Entries kept before the memo is cleared.
    pub const CAP: usize = 16_384;
    /// The smallest p-value the memo reports; exact p-values below it are reported as it.
    pub const P_FLOOR: f64 = 1e-30;

    /// [`ks_2samp_sorted`], memoised, the p-value floored at [`KsMemo::P_FLOOR`].
    pub fn ks_2samp_sorted(&mut self, a: &[f64], b: &[f64]) -> TestResult {
        let (n1, n2, h) = ks_counts(a, b);
        self.result(n1, n2, h)
    }

    /// [`ks_2samp_sorted`] of `window` (in any order) against a prepared reference,
    /// memoised: the same statistic and (floored) p-value as for the sorted window.
    pub fn ks_against(&mut self, window: &[f64], reference: KsReference<'_>) -> TestResult {
        let (n1, n2, h) = reference.counts(window, &mut self.cells);
        self.result(n1, n2, h)
    }

    pub(super) fn result(&mut self, n1: u64, n2: u64, h: u64) -> TestResult {
        if n1 == 0 || n2 == 0 || h == 0 {
            return ks_result(n1, n2, h);
        }
        let g = gcd(n1, n2);
        let statistic = h as f64 / ((n1 / g) * n2) as f64;
        let (n1, n2) = if n1 <= n2 { (n1, n2) } else { (n2, n1) };
        let floored = TestResult {
            statistic,
            p_value: Self::P_FLOOR,
        };
        if self.below.get(&(n1, n2)).is_some_and(|&h0| h >= h0) {
            return floored;
        }
        // A probe where the asymptotic tail is 1e-40: if its exact p-value is below the
        // floor, so is this one (see the type's doc), at a fraction of the cost.
        let en = (n1 * n2) as f64 / (n1 + n2) as f64;
        let d_probe = ((2.0f64 / 1e-40).ln() / (2.0 * en)).sqrt();
        let h_probe = (d_probe * (n1 / g * n2) as f64).ceil() as u64;
        if h_probe < h && self.p_value(n1, n2, h_probe) < Self::P_FLOOR {
            self.below.insert((n1, n2), h_probe);
            return floored;
        }
        let p_value = self.p_value(n1, n2, h);
        if p_value < Self::P_FLOOR {
            self.below.insert((n1, n2), h);
        }
        TestResult {
            statistic,
            p_value: p_value.max(Self::P_FLOOR),
        }
    }

    /// The exact p-value of (n1, n2, h), memoised.
    fn p_value(&mut self, n1: u64, n2: u64, h: u64) -> f64 {
        if let Some(&p) = self.map.get(&(n1, n2, h)) {
            return p;
        }
        let p = ks_result(n1, n2, h).p_value;
        if self.map.len() >= Self::CAP {
            self.map.clear();
        }
        if self.below.len() >= Self::CAP {
            self.below.clear();
        }
        self.map.insert((n1, n2, h), p);
        p
    }
}

/// Reference values in a bucket up to which [`KsReference`] finds a value's place by a fixed
/// number of comparisons rather than a binary search.
const SCAN: usize = 8;

/// The bucket index of a reference sample for repeated KS tests against windows that need
/// not be sorted ([`KsMemo::ks_against`], with the sample in a [`KsReference`]). The
/// statistic is the one [`ks_2samp_sorted`] computes, in the same integers; the window is
/// counted into the cells the reference cuts the line into instead of being sorted and
/// walked beside it.
///
/// The reference's `n` values cut the line into `2n + 1` cells: for each position `q`, the
/// open gap below `sorted[q]` (cell `2q`) and the value `sorted[q]` itself (cell `2q + 1`;
/// a window value equal to a run of tied reference values goes to the run's first
/// position), then the gap above the largest value (cell `2n`). Inside a cell the
/// reference's CDF is constant, so the largest CDF gap is found at the cells' ends: after
/// counting the window into cells, one pass over them with the window's running count
/// takes the gap where the reference's count changes (below the first value of a run of
/// ties and after its last), which are the values the merge walk takes it at.
///
/// A value's cell is found among the few reference values of one bucket of equal width over
/// the reference's range (as many buckets as values: one value per bucket on average, more
/// where the values crowd), by eight comparisons without branches, or a binary search in a
/// bucket of more than eight. A test then costs a few nanoseconds per window value plus one
/// pass over `2n + 1` counters, where sorting the window and walking both samples cost
/// several times that. Memory: 4 bytes per reference value (the bucket starts).
#[derive(Debug, Clone)]
pub struct KsIndex {
    /// `start[b]`: reference values whose bucket is below `b`; `buckets + 1` entries.
    start: Vec<u32>,
    lo: f64,
    /// Buckets per unit of value; 0 when the range is empty or too wide for an f64.
    scale: f64,
    last_bucket: usize,
    /// No two reference values are equal.
    distinct: bool,
}

/// A sorted reference sample and its [`KsIndex`], as [`KsMemo::ks_against`] takes them.
#[derive(Debug, Clone, Copy)]
pub struct KsReference<'a> {
    sorted: &'a [f64],
    index: &'a KsIndex,
}

impl<'a> KsReference<'a> {
    /// Pairs `sorted` with the index built from it ([`KsIndex::new`]`(sorted)`).
    ///
    /// # Panics
    /// If the index was built from a sample of another length.
    pub fn new(sorted: &'a [f64], index: &'a KsIndex) -> KsReference<'a> {
        assert_eq!(
            index.start.last().copied().unwrap_or(0) as usize,
            sorted.len(),
            "KsIndex built from another sample"
        );
        KsReference { sorted, index }
    }
}

impl KsIndex {
    /// Indexes an ascending (as [`super::sorted_copy`] orders) reference sample of fewer than
    /// 2^31 values.
    pub fn new(sorted: &[f64]) -> KsIndex {
        let n = sorted.len();
        let buckets = n.max(1);
        let (lo, top) = match (sorted.first(), sorted.last()) {
            (Some(&lo), Some(&top)) => (lo, top),
            _ => (0.0, 0.0),
        };
        let scale = buckets as f64 / (top - lo);
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            0.0
        };
        let mut index = KsIndex {
            start: Vec::new(),
            lo,
            scale,
            last_bucket: buckets - 1,
            distinct: sorted.windows(2).all(|w| w[0] != w[1]),
        };
        // `bucket` never decreases as the value grows (a subtraction and a multiplication
        // by a positive constant round monotonically), so the values of bucket `b` are the
        // positions `start[b]..start[b + 1]`, and a value of bucket `b` is above every
        // reference value of a lower bucket and below every one of a higher bucket.
        let mut start = Vec::with_capacity(buckets + 1);
        let mut p = 0;
        for b in 0..=buckets {
            while p < n && index.bucket(sorted[p]) < b {
                p += 1;
            }
            start.push(p as u32);
        }
        index.start = start;
        index
    }

    #[inline(always)]
    fn bucket(&self, x: f64) -> usize {
        // `as` saturates: below the range (and NaN) to 0, above it to usize::MAX.
        (((x - self.lo) * self.scale) as usize).min(self.last_bucket)
    }
}

impl KsReference<'_> {
    /// The cell of `x`.
    #[inline(always)]
    fn cell(&self, x: f64) -> usize {
        let s = self.sorted;
        let b = self.index.bucket(x);
        let (from, to) = (
            self.index.start[b] as usize,
            self.index.start[b + 1] as usize,
        );
        // `below`: reference values below `x`; `equal`: whether one equals it.
        let (below, equal) = if to - from <= SCAN && s.len() >= SCAN {
            // A fixed number of comparisons over `SCAN` values that hold the bucket, with
            // no branch on the bucket's size (which varies from value to value and would be
            // mispredicted). Values before the bucket are in lower buckets, hence below
            // `x`, and values after it above: both count as they should.
            let at = from.min(s.len() - SCAN);
            let w: &[f64; SCAN] = s[at..at + SCAN].try_into().expect("SCAN values");
            let lt = w.iter().filter(|&&v| v < x).count();
            let le = w.iter().filter(|&&v| v <= x).count();
            (at + lt, le > lt)
        } else {
            let p = from + s[from..to].partition_point(|&v| v < x);
            (p, p < s.len() && s[p] <= x)
        };
        2 * below + usize::from(equal)
    }

    /// `(n1, n2, h)` of the window against the reference, as [`ks_counts`] gives them for
    /// the sorted window. `cells` is scratch space.
    pub(super) fn counts(&self, window: &[f64], cells: &mut Vec<u32>) -> (u64, u64, u64) {
        let s = self.sorted;
        let (n1, n2) = (window.len() as u64, s.len() as u64);
        if n1 == 0 || n2 == 0 {
            return (n1, n2, 0);
        }
        cells.clear();
        cells.resize(2 * s.len() + 1, 0);
        // Between two window closes the stream has pushed the reference out of the caches,
        // and the loop below reads it at random, one cache miss after another. Read one
        // value per cache line in order first: the hardware prefetcher streams them in.
        let mut touch = 0u64;
        for line in s.chunks(8) {
            touch = touch.wrapping_add(line[0].to_bits());
        }
        for line in self.index.start.chunks(16) {
            touch = touch.wrapping_add(u64::from(line[0]));
        }
        std::hint::black_box(touch);
        for &x in window {
            cells[self.cell(x)] += 1;
        }
        // The window's running count `i` at each cell's end, against the reference's count
        // there (`q` below position q, `q + 1` after it), in lattice units (`i * n2`
        // against `j * n1`), taken only where the reference's CDF steps: below the first of
        // a run of ties and after its last. Masked rather than branched on: ties are rare
        // or everywhere, and either way unpredictable. Without ties every cell end counts.
        let (n1, n2) = (n1 as i64, n2 as i64);
        let (mut i, mut j, mut up, mut down) = (0i64, 0i64, 0i64, 0i64);
        if self.index.distinct {
            for pair in cells.chunks_exact(2) {
                i += pair[0] as i64 * n2;
                up = up.max(i - j);
                down = down.max(j - i);
                i += pair[1] as i64 * n2;
                j += n1;
                up = up.max(i - j);
                down = down.max(j - i);
            }
        } else {
            for (q, pair) in cells.chunks_exact(2).enumerate() {
                let first = (q == 0 || s[q - 1] != s[q]) as i64;
                let last = (q + 1 == s.len() || s[q] != s[q + 1]) as i64;
                i += pair[0] as i64 * n2;
                up = up.max((i - j) * first);
                down = down.max((j - i) * first);
                i += pair[1] as i64 * n2;
                j += n1;
                up = up.max((i - j) * last);
                down = down.max((j - i) * last);
            }
        }
        let best = up.max(down) as u64;
        let (n1, n2) = (n1 as u64, n2 as u64);
        // The last cell ends where both CDFs are 1: no gap.
        (n1, n2, best / gcd(n1, n2))
    }
}
