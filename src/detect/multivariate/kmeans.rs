//! k-means drift: centroids fitted on the reference vectors with linfa-clustering, each
//! record scored by its Euclidean distance to the nearest centroid, each window tested on
//! how many of its records lie beyond the reference's distance quantile, on the
//! distribution of its distances and on how it spreads over the clusters.
//!
//! **Fit on one half, calibrate on the other.** The reference rows are split at random
//! (seeded) into halves: the centroids are fitted on one, the threshold, the reference
//! distances and the cluster counts come from the other. The rows a centroid was fitted on
//! are closer to it than new rows of the same distribution, so in-sample distances make
//! every window look a little drifted: in a seeded trial (4 dimensions, k = 8, 2,000 rows)
//! an in-sample distance KS rejected 18% of drift-free windows at 0.05. Held-out distances
//! and a drift-free window's are draws from one distribution, and the tests keep their
//! level.
//!
//! **Centroids.** linfa's Lloyd iterations from a seeded k-means++ start, the best of
//! `n_init` starts by inertia. The k-means++ seeding is done here, from a [`Pcg64Mcg`]
//! seeded by the caller, and handed to linfa as [`KMeansInit::Precomputed`]: linfa 0.8
//! draws from `rand` 0.8 generators and vigil depends on `rand` 0.9 only, so this keeps the
//! fit reproducible from vigil's seed without a second `rand`. The number of clusters is
//! `min(k, fitting rows / min_rows_per_cluster)`, at least 1.
//!
//! **Threshold.** The `quantile` (default 0.99) of the calibration distances, numpy's
//! linear interpolation.
//!
//! **Window tests** ([`KMeansWindowAcc::finish`]):
//! - `far_share`: the share of the window's records beyond the threshold (exact count);
//! - `p_far`: one-sided test of that count allowing for the threshold's own uncertainty:
//!   the threshold is an order statistic of the calibration distances, so the chance that a
//!   drift-free record lies beyond it is Beta distributed and the count is beta-binomial
//!   ([`tail::beta_binomial_sf`]). **Alert on this one**;
//! - `p_binomial`: the one-sided binomial test of the count against `1 - quantile`
//!   (statrs), as if the threshold were the exact quantile. It is not: a 0.99 quantile of
//!   1,000 calibration rows rests on ten of them, and this test rejects about 15% of
//!   drift-free windows at 0.05 (seeded trial, `tests.rs`). Reported for comparison;
//! - `distance_ks`: two-sample KS of the window's distances against the calibration
//!   distances ([`stats::ks_2samp_sorted`]);
//! - `cluster_chi2`: chi-squared homogeneity of the window's records per nearest centroid
//!   against the calibration rows' ([`stats::pool_sparse`], [`stats::chi2_homogeneity`]).
//!   A mean shift can move records from one cluster to another without taking them farther
//!   from every centroid (in a seeded trial, a 0.5 sd shift of 3 of 8 features lowered the
//!   far share to 0.4%); this test sees it.
//!
//! **Memory.** A model holds `k * dim` centroids, `k` cluster counts and the sorted
//! calibration distances (at most `max_reference_rows / 2`, default 1,000: 8 KiB). A window
//! holds `k + 3` counters and a reservoir of at most `window_sample` distances (default
//! 1,000: 8 KiB). Scoring a record costs `k * dim` multiply-adds.
//!
//! Pure: no I/O, no clock; randomness only from the caller's seed. Fitting runs linfa's
//! assignment step on linfa's rayon pool.

use super::space::FeatureSpace;
use super::tail;
use super::{derive_seed, MultivariateError};
use crate::detect::stats::{self, quantile_sorted, Reservoir};
use crate::record::TestResult;
use linfa::prelude::*;
use linfa::DatasetBase;
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, DiscreteCDF};
use tail::beta_binomial_sf;

/// Settings of the k-means detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KMeansConfig {
    /// Largest number of clusters (default 8: enough to follow a few modes, few enough that
    /// each centroid rests on hundreds of rows).
    pub k: usize,
    /// Reference rows per cluster at least (default 50): `k` is lowered to
    /// `rows / min_rows_per_cluster` for small references.
    pub min_rows_per_cluster: usize,
    /// Quantile of the reference distances that sets the threshold (default 0.99).
    pub quantile: f64,
    /// k-means++ starts; the fit with the lowest inertia wins (default 3).
    pub n_init: usize,
    /// Lloyd iterations at most per start (default 300, as scikit-learn).
    pub max_iterations: u64,
    /// Convergence: stop when the centroids move less than this in total (default 1e-8).
    pub tolerance: f64,
    /// Distances kept per window for the KS test (default 1,000).
    pub window_sample: usize,
}

impl Default for KMeansConfig {
    fn default() -> Self {
        KMeansConfig {
            k: 8,
            min_rows_per_cluster: 50,
            quantile: 0.99,
            n_init: 3,
            max_iterations: 300,
            tolerance: 1e-4,
            window_sample: 1000,
        }
    }
}

impl KMeansConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), MultivariateError> {
        let bad = |what: &str| Err(MultivariateError::InvalidConfig(format!("kmeans.{what}")));
        if self.k == 0 {
            return bad("k: must be >= 1");
        }
        if self.min_rows_per_cluster == 0 {
            return bad("min_rows_per_cluster: must be >= 1");
        }
        if !(self.quantile > 0.0 && self.quantile < 1.0) {
            return bad("quantile: must be in (0, 1)");
        }
        if self.n_init == 0 || self.max_iterations == 0 || self.window_sample == 0 {
            return bad("n_init, max_iterations, window_sample: must be >= 1");
        }
        if self.tolerance.is_nan() || self.tolerance <= 0.0 {
            return bad("tolerance: must be > 0");
        }
        Ok(())
    }
}

/// Centroids found by [`fit_centroids`].
#[derive(Debug, Clone, PartialEq)]
pub struct CentroidFit {
    /// `(k, dim)`.
    pub centroids: Array2<f64>,
    /// Sum over the rows of the squared distance to the nearest centroid (scikit-learn's
    /// `inertia_`).
    pub inertia: f64,
}

fn sq_dist<'a>(a: impl IntoIterator<Item = &'a f64>, b: &[f64]) -> f64 {
    a.into_iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The nearest row of the flat `(k, dim)` matrix `centroids` to `v` (the first on ties)
/// and its squared distance.
fn nearest_sq<'a>(
    centroids: &[f64],
    dim: usize,
    v: impl IntoIterator<Item = &'a f64> + Clone,
) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (i, c) in centroids.chunks_exact(dim.max(1)).enumerate() {
        let d = sq_dist(v.clone(), c);
        if d < best.1 {
            best = (i, d);
        }
    }
    best
}

/// k-means++ seeding (Arthur and Vassilvitskii): the first centre uniformly, each next one
/// with probability proportional to the squared distance to the nearest centre so far.
fn kmeans_plus_plus(rows: ArrayView2<'_, f64>, k: usize, rng: &mut Pcg64Mcg) -> Array2<f64> {
    let (n, dim) = rows.dim();
    let mut centres = Array2::zeros((k, dim));
    let first = rng.random_range(0..n);
    centres.row_mut(0).assign(&rows.row(first));
    let first = rows.row(first).to_vec();
    let mut d2: Vec<f64> = rows
        .rows()
        .into_iter()
        .map(|r| sq_dist(r, &first))
        .collect();
    for c in 1..k {
        let total: f64 = d2.iter().sum();
        let pick = if total > 0.0 {
            let mut target = rng.random::<f64>() * total;
            let mut pick = n - 1;
            for (i, &d) in d2.iter().enumerate() {
                if target < d {
                    pick = i;
                    break;
                }
                target -= d;
            }
            pick
        } else {
            // Fewer distinct rows than clusters: duplicates are harmless to linfa (an empty
            // cluster keeps its centre).
            rng.random_range(0..n)
        };
        let centre = rows.row(pick).to_vec();
        centres.row_mut(c).assign(&rows.row(pick));
        for (d, r) in d2.iter_mut().zip(rows.rows()) {
            *d = d.min(sq_dist(r, &centre));
        }
    }
    centres
}

/// Fits `k` centroids to `rows` (`(n, dim)`, `n >= k >= 1`) with linfa, from `n_init`
/// seeded k-means++ starts, keeping the lowest inertia.
pub fn fit_centroids(
    rows: ArrayView2<'_, f64>,
    k: usize,
    config: &KMeansConfig,
    seed: u64,
) -> Result<CentroidFit, MultivariateError> {
    let (n, dim) = rows.dim();
    if k == 0 || n < k {
        return Err(MultivariateError::TooFewRows {
            got: n,
            need: k.max(1),
        });
    }
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let dataset = DatasetBase::from(rows);
    let mut best: Option<CentroidFit> = None;
    for _ in 0..config.n_init.max(1) {
        let init = kmeans_plus_plus(rows, k, &mut rng);
        let model = KMeans::params(k)
            .init_method(KMeansInit::Precomputed(init))
            .n_runs(1)
            .max_n_iterations(config.max_iterations)
            .tolerance(config.tolerance)
            .fit(&dataset)
            .map_err(|e| MultivariateError::KMeans(e.to_string()))?;
        let centroids = model.centroids().to_owned();
        let flat: Vec<f64> = centroids.iter().copied().collect();
        let inertia = rows
            .rows()
            .into_iter()
            .map(|r| nearest_sq(&flat, dim, &r).1)
            .sum();
        if best.as_ref().is_none_or(|b| inertia < b.inertia) {
            best = Some(CentroidFit { centroids, inertia });
        }
    }
    Ok(best.expect("n_init >= 1 runs"))
}

/// A fitted k-means reference: the feature space, the centroids, the distance threshold
/// and the sorted reference distances. Deserialising checks that the parts fit together (a
/// profile file is input).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "KMeansModelRepr")]
pub struct KMeansModel {
    space: FeatureSpace,
    k: usize,
    /// Row-major `(k, dim)`.
    centroids: Vec<f64>,
    quantile: f64,
    threshold: f64,
    /// The calibration rows' distances to their nearest centroid, ascending.
    reference_distances: Vec<f64>,
    /// The calibration rows per nearest centroid.
    reference_clusters: Vec<u64>,
    inertia: f64,
}

/// [`KMeansModel`] as stored, before its checks.
#[derive(Deserialize)]
struct KMeansModelRepr {
    space: FeatureSpace,
    k: usize,
    centroids: Vec<f64>,
    quantile: f64,
    threshold: f64,
    reference_distances: Vec<f64>,
    reference_clusters: Vec<u64>,
    inertia: f64,
}

impl TryFrom<KMeansModelRepr> for KMeansModel {
    type Error = MultivariateError;
    fn try_from(r: KMeansModelRepr) -> Result<Self, Self::Error> {
        let bad = |m: &str| {
            Err(MultivariateError::InvalidSpace(format!(
                "k-means model: {m}"
            )))
        };
        if r.k == 0 || r.centroids.len() != r.k * r.space.dim() {
            return bad("centroids are not k rows of the space's width");
        }
        if r.reference_clusters.len() != r.k {
            return bad("cluster counts are not one per centroid");
        }
        if r.reference_distances.is_empty()
            || !r.reference_distances.windows(2).all(|w| w[0] <= w[1])
        {
            return bad("reference distances must be non-empty and ascending");
        }
        if !(r.quantile > 0.0 && r.quantile < 1.0 && r.threshold.is_finite()) {
            return bad("quantile must be in (0, 1), the threshold finite");
        }
        Ok(KMeansModel {
            space: r.space,
            k: r.k,
            centroids: r.centroids,
            quantile: r.quantile,
            threshold: r.threshold,
            reference_distances: r.reference_distances,
            reference_clusters: r.reference_clusters,
            inertia: r.inertia,
        })
    }
}

impl KMeansModel {
    /// Fits the model on reference `rows` (vectors of `space`, `(n, space.dim())`): the
    /// centroids on a seeded random half of the rows, the threshold and the reference
    /// distances on the other half (module docs).
    pub fn fit(
        space: FeatureSpace,
        rows: ArrayView2<'_, f64>,
        config: &KMeansConfig,
        seed: u64,
    ) -> Result<Self, MultivariateError> {
        config.validate()?;
        let n = rows.nrows();
        if n < 4 {
            return Err(MultivariateError::TooFewRows { got: n, need: 4 });
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut Pcg64Mcg::seed_from_u64(derive_seed(seed, 1)));
        let (fit_part, calibration_part) = order.split_at(n / 2);
        let fit_rows = rows.select(Axis(0), fit_part);
        let calibration = rows.select(Axis(0), calibration_part);
        let k = config
            .k
            .min(fit_rows.nrows() / config.min_rows_per_cluster)
            .max(1);
        let fit = fit_centroids(fit_rows.view(), k, config, derive_seed(seed, 2))?;
        let mut model = Self::from_centroids(
            space,
            fit.centroids.view(),
            calibration.view(),
            config.quantile,
        )?;
        model.inertia = fit.inertia;
        Ok(model)
    }

    /// A model over given centroids (`(k, dim)`), its threshold and distances taken from
    /// the `calibration` rows.
    pub fn from_centroids(
        space: FeatureSpace,
        centroids: ArrayView2<'_, f64>,
        calibration: ArrayView2<'_, f64>,
        quantile: f64,
    ) -> Result<Self, MultivariateError> {
        let dim = space.dim();
        for got in [centroids.ncols(), calibration.ncols()] {
            if got != dim {
                return Err(MultivariateError::Dimension { expected: dim, got });
            }
        }
        if centroids.nrows() == 0 || calibration.nrows() == 0 {
            return Err(MultivariateError::TooFewRows { got: 0, need: 1 });
        }
        if !(quantile > 0.0 && quantile < 1.0) {
            return Err(MultivariateError::InvalidConfig(
                "kmeans.quantile: must be in (0, 1)".into(),
            ));
        }
        let flat: Vec<f64> = centroids.iter().copied().collect();
        let mut inertia = 0.0;
        let mut reference_clusters = vec![0; centroids.nrows()];
        let distances: Vec<f64> = calibration
            .rows()
            .into_iter()
            .map(|r| {
                let (c, d2) = nearest_sq(&flat, dim, &r);
                inertia += d2;
                reference_clusters[c] += 1;
                d2.sqrt()
            })
            .collect();
        let reference_distances = stats::sorted_copy(&distances);
        let threshold = quantile_sorted(&reference_distances, quantile);
        Ok(KMeansModel {
            space,
            k: centroids.nrows(),
            centroids: flat,
            quantile,
            threshold,
            reference_distances,
            reference_clusters,
            inertia,
        })
    }

    /// The feature space the centroids live in.
    pub fn space(&self) -> &FeatureSpace {
        &self.space
    }

    /// Number of centroids.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The centroids, `(k, dim)`.
    pub fn centroids(&self) -> ArrayView2<'_, f64> {
        ArrayView2::from_shape((self.k, self.space.dim()), &self.centroids)
            .expect("k * dim centroids, checked at construction")
    }

    /// The quantile that set the threshold.
    pub fn quantile(&self) -> f64 {
        self.quantile
    }

    /// Distance beyond which a record counts as far.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The calibration rows' distances to their nearest centroid, ascending.
    pub fn reference_distances(&self) -> &[f64] {
        &self.reference_distances
    }

    /// Sum of the squared distances of the rows the centroids were fitted on
    /// (scikit-learn's `inertia_`; of the calibration rows for [`Self::from_centroids`]).
    pub fn inertia(&self) -> f64 {
        self.inertia
    }

    /// The calibration rows per nearest centroid.
    pub fn reference_clusters(&self) -> &[u64] {
        &self.reference_clusters
    }

    /// The per-record anomaly score: Euclidean distance of `vector` to the nearest centroid.
    pub fn distance(&self, vector: &[f64]) -> f64 {
        self.nearest(vector).1
    }

    /// The nearest centroid to `vector` (the first on ties) and its Euclidean distance.
    pub fn nearest(&self, vector: &[f64]) -> (usize, f64) {
        debug_assert_eq!(vector.len(), self.space.dim());
        let (c, d2) = nearest_sq(&self.centroids, self.space.dim(), vector);
        (c, d2.sqrt())
    }

    /// The distance as a score in [0, 1]: the share of reference rows at most as far
    /// (their empirical CDF). Above `quantile` exactly when beyond most of the reference.
    pub fn score(&self, distance: f64) -> f64 {
        let below = self.reference_distances.partition_point(|&d| d <= distance);
        below as f64 / self.reference_distances.len() as f64
    }

    /// An empty window accumulator keeping at most `sample` distances (seeded).
    pub fn window(&self, sample: usize, seed: u64) -> KMeansWindowAcc {
        KMeansWindowAcc {
            records: 0,
            far: 0,
            sum: 0.0,
            clusters: vec![0; self.k],
            sample: Reservoir::new(sample, seed),
        }
    }
}

/// The k-means verdict on one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KMeansWindow {
    /// Records scored.
    pub records: u64,
    /// Records beyond the threshold.
    pub far: u64,
    /// `far / records`.
    pub far_share: f64,
    /// The share expected without drift, `1 - quantile`.
    pub expected_share: f64,
    /// One-sided binomial p-value of `far` against `expected_share` (the threshold taken as
    /// exact).
    pub p_binomial: f64,
    /// One-sided beta-binomial p-value of `far`, allowing for the threshold being estimated
    /// from the reference rows (see the module docs). The one to alert on.
    pub p_far: f64,
    /// Mean distance of the window's records.
    pub mean_distance: f64,
    /// KS test of the window's distances (its sample) against the reference's.
    pub distance_ks: TestResult,
    /// Chi-squared test of homogeneity of the window's records per nearest centroid against
    /// the calibration rows' (sparse clusters pooled, as for categorical features).
    pub cluster_chi2: TestResult,
}

/// Per-window state of the k-means detector: bounded (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KMeansWindowAcc {
    records: u64,
    far: u64,
    sum: f64,
    /// Records per nearest centroid.
    clusters: Vec<u64>,
    sample: Reservoir,
}

impl KMeansWindowAcc {
    /// Scores one record's vector (of `model.space()`) and adds it; returns its distance to
    /// the nearest centroid (far when above `model.threshold()`).
    pub fn push(&mut self, model: &KMeansModel, vector: &[f64]) -> f64 {
        let (cluster, distance) = model.nearest(vector);
        self.records += 1;
        self.sum += distance;
        self.sample.push(distance);
        self.far += (distance > model.threshold) as u64;
        if let Some(c) = self.clusters.get_mut(cluster) {
            *c += 1;
        }
        distance
    }

    /// Records added.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Forgets the window (keeping the random stream).
    pub fn clear(&mut self) {
        self.records = 0;
        self.far = 0;
        self.sum = 0.0;
        self.clusters.fill(0);
        self.sample.clear();
    }

    /// The window's tests; `None` when no record was added.
    pub fn finish(&self, model: &KMeansModel) -> Option<KMeansWindow> {
        if self.records == 0 {
            return None;
        }
        let expected_share = 1.0 - model.quantile;
        let p_binomial = match Binomial::new(expected_share, self.records) {
            Ok(b) if self.far > 0 => b.sf(self.far - 1),
            _ => 1.0,
        };
        // With r of the n reference distances beyond the threshold, the threshold lies
        // between the order statistics whose exceedance probabilities are Beta(r, n-r+1)
        // and Beta(r+1, n-r) distributed; the second, larger one is the conservative
        // choice.
        let n_ref = model.reference_distances.len() as u64;
        let at_most = model
            .reference_distances
            .partition_point(|&d| d <= model.threshold) as u64;
        let beyond = n_ref - at_most;
        let p_far = beta_binomial_sf(
            self.far,
            self.records,
            beyond as f64 + 1.0,
            (n_ref - beyond).max(1) as f64,
        );
        let window = stats::sorted_copy(self.sample.values());
        let (base, cur) = stats::pool_sparse(&model.reference_clusters, &self.clusters);
        let cluster_chi2 = stats::chi2_homogeneity(&base, &cur).unwrap_or(TestResult {
            statistic: 0.0,
            p_value: 1.0,
        });
        Some(KMeansWindow {
            records: self.records,
            far: self.far,
            far_share: self.far as f64 / self.records as f64,
            expected_share,
            p_binomial: p_binomial.clamp(0.0, 1.0),
            p_far,
            mean_distance: self.sum / self.records as f64,
            distance_ks: stats::ks_2samp_sorted(&window, &model.reference_distances),
            cluster_chi2,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_threshold_and_score_on_given_centroids() {
        use super::super::space::{Encoding, SpaceFeature};
        let space = FeatureSpace::new(
            (0..2)
                .map(|i| SpaceFeature {
                    name: format!("x{i}"),
                    encoding: Encoding::Numeric {
                        mean: 0.0,
                        std: 1.0,
                    },
                })
                .collect(),
            0,
        )
        .expect("space");
        let c = ndarray::array![[0.0, 0.0], [10.0, 0.0]];
        let cal = ndarray::array![[1.0, 0.0], [0.0, 2.0], [13.0, 0.0], [10.0, -4.0]];
        let m = KMeansModel::from_centroids(space, c.view(), cal.view(), 0.5).expect("model");
        assert_eq!(m.reference_distances(), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.threshold(), 2.5);
        assert_eq!(m.distance(&[6.0, 0.0]), 4.0);
        assert_eq!(m.score(2.0), 0.5);
        assert_eq!(m.score(0.0), 0.0);
        assert_eq!(m.inertia(), 30.0);
        assert_eq!(m.reference_clusters(), [2, 2]);
        assert_eq!(m.nearest(&[7.0, 0.0]), (1, 3.0));
        let mut w = m.window(10, 1);
        assert_eq!(w.push(&m, &[3.0, 0.0]), 3.0);
        assert_eq!(w.push(&m, &[0.0, 1.0]), 1.0);
        let r = w.finish(&m).expect("two records");
        assert_eq!((r.records, r.far, r.far_share), (2, 1, 0.5));
    }
}
