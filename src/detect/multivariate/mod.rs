//! Multivariate drift: detectors that look at a record's features together, and so see
//! drift that the per-feature tests cannot (a change of correlation, a new combination of
//! values), as a complement to `stats`' univariate KS and chi-squared tests.
//!
//! - [`space`]: the records' features as one standardised, one-hot encoded vector;
//! - [`kmeans`]: distance to the nearest of the reference's k-means centroids (linfa), per
//!   record, and per window a far-share test, a distance KS test and a cluster-occupancy
//!   chi-squared test;
//! - [`mmd`]: maximum mean discrepancy with an RBF kernel and a permutation test, per
//!   window;
//! - [`tail`]: the beta-binomial tail behind the k-means far-share test.
//!
//! A PCA reconstruction-error score is not included: on the correlation-only drift that
//! motivates this module (two standardised features whose reference correlation is 0) the
//! reference has no preferred axis, so which error rises depends on an arbitrary choice of
//! component, while MMD and the k-means distance detect it without such a choice.
//!
//! **Use.** Feed the reference rows to a [`MultivariateBuilder`] (or call
//! [`MultivariateProfile::from_rows`]), `finish` it into a [`MultivariateProfile`] (part of
//! the persisted reference profile), open a [`MultivariateWindow`] per window, `push` each
//! record (it returns the record's anomaly score), and `finish` the window into a
//! [`MultivariateReport`].
//!
//! **Memory.** Builder: the space's running statistics (at most `max_features` features,
//! `tracked_categories` counters each) and a seeded reservoir of at most
//! `max_reference_rows` raw rows (default 2,000 rows of at most 64 values: 2 MiB at most,
//! 16 bytes a value). Vectors have at most `max_features * (top_categories + 1)` columns
//! (576 at the defaults). Profile: `k * dim` centroids, `k` counts, at most
//! `max_reference_rows / 2` calibration distances and `mmd.max_reference` vectors (default
//! 500). Window: `k + 3` counters, a reservoir of `kmeans.window_sample` distances and one
//! of `mmd.max_window` vectors (default 1,000 and 500), whatever the number of records.
//! Finishing a window allocates the MMD kernel matrix (4 MB at the default caps, freed on
//! return; see [`mmd`] for its cost).
//!
//! **Cost** (release build, 2 shared cores, `examples/multivariate_cost.rs`), for 10
//! features (8 numeric, 2 categorical: 26 columns): building a profile from 2,000 rows
//! 32 ms; scoring a record 0.6 us (0.3 us of it vectorising); closing a window 45 to 65 ms,
//! nearly all of it the MMD permutation test. For 36 features (68 columns): 80 ms, 2.2 us
//! and 70 to 90 ms.
//!
//! Pure: no I/O, no clock, no globals; every random choice comes from a caller-given seed,
//! so a replay reproduces the verdicts exactly. (A restart from a JSON snapshot reproduces
//! them to within float parsing: serde_json without `float_roundtrip` may read an f64 back
//! 1 ulp off.)

pub mod kmeans;
pub mod mmd;
pub mod space;
pub mod tail;

#[cfg(test)]
mod tests;

use crate::record::FeatureValue;
use kmeans::{KMeansConfig, KMeansModel, KMeansWindow, KMeansWindowAcc};
use mmd::{MmdConfig, MmdReference, MmdResult, MmdWindowAcc};
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use space::{FeatureSpace, RawValue, SpaceBuilder};
use std::borrow::Cow;

/// Why a multivariate reference or test could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MultivariateError {
    /// Too few reference rows could be vectorised.
    #[error("too few usable reference rows: {got}, need at least {need}")]
    TooFewRows {
        /// Usable rows.
        got: usize,
        /// Rows required.
        need: usize,
    },
    /// No feature is left once constant features are dropped.
    #[error("no usable feature: every numeric feature is constant or missing, and no categorical feature is encoded")]
    NoFeatures,
    /// A setting is out of range (the message names it).
    #[error("invalid multivariate config: {0}")]
    InvalidConfig(String),
    /// A feature space's parts are inconsistent (from a hand-edited or corrupt profile).
    #[error("invalid feature space: {0}")]
    InvalidSpace(String),
    /// Vectors of the wrong width.
    #[error("dimension mismatch: expected {expected} columns, got {got}")]
    Dimension {
        /// The space's width.
        expected: usize,
        /// The width given.
        got: usize,
    },
    /// linfa's k-means failed (its message).
    #[error("k-means fit failed: {0}")]
    KMeans(String),
}

/// Settings of the multivariate detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MultivariateConfig {
    /// Reference rows kept (a seeded uniform reservoir) to fit k-means and calibrate its
    /// threshold (default 2,000, as the univariate reference samples).
    pub max_reference_rows: usize,
    /// Fewest usable reference rows to build a profile from (default 100).
    pub min_reference_rows: usize,
    /// Features tracked at most; names first seen beyond it are ignored (default 64).
    pub max_features: usize,
    /// Distinct values tracked per categorical feature (default 64; as `max_categories`).
    pub tracked_categories: usize,
    /// One-hot columns per categorical feature, besides "other" (default 8); 0 excludes
    /// categorical features.
    pub top_categories: usize,
    /// Share of features a record may miss and still be scored (default 0.25).
    pub max_missing_share: f64,
    /// The k-means detector.
    pub kmeans: KMeansConfig,
    /// The MMD detector.
    pub mmd: MmdConfig,
}

impl Default for MultivariateConfig {
    fn default() -> Self {
        MultivariateConfig {
            max_reference_rows: 2000,
            min_reference_rows: 100,
            max_features: 64,
            tracked_categories: 64,
            top_categories: 8,
            max_missing_share: 0.25,
            kmeans: KMeansConfig::default(),
            mmd: MmdConfig::default(),
        }
    }
}

impl MultivariateConfig {
    /// Checks every range.
    pub fn validate(&self) -> Result<(), MultivariateError> {
        let bad = |m: &str| Err(MultivariateError::InvalidConfig(m.to_string()));
        if self.min_reference_rows < 2 || self.max_reference_rows < self.min_reference_rows {
            return bad("need 2 <= min_reference_rows <= max_reference_rows");
        }
        if self.max_features == 0 {
            return bad("max_features: must be >= 1");
        }
        if !(0.0..=1.0).contains(&self.max_missing_share) {
            return bad("max_missing_share: must be in [0, 1]");
        }
        self.kmeans.validate()?;
        self.mmd.validate()
    }
}

/// Derives independent seeds for the parts of one detector from the caller's seed
/// (SplitMix64's finaliser of `seed + stream`).
pub(crate) fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed.wrapping_add(stream.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seeded uniform sample of at most `cap` rows of a stream (Vitter's Algorithm R: the
/// i-th row replaces a random one with probability `cap / i`). `stats::Reservoir` does the
/// same for single values; rows need their own because a replaced row is copied in place.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowReservoir<T> {
    cap: usize,
    seen: u64,
    rows: Vec<Vec<T>>,
    rng: Pcg64Mcg,
}

impl<T: Clone> RowReservoir<T> {
    /// An empty reservoir of at most `cap` (>= 1) rows.
    pub fn new(cap: usize, seed: u64) -> Self {
        RowReservoir {
            cap: cap.max(1),
            seen: 0,
            rows: Vec::new(),
            rng: Pcg64Mcg::seed_from_u64(seed),
        }
    }

    /// Offers one row.
    pub fn push(&mut self, row: &[T]) {
        self.seen += 1;
        if self.rows.len() < self.cap {
            self.rows.push(row.to_vec());
            return;
        }
        let j = self.rng.random_range(0..self.seen);
        if let Some(slot) = self.rows.get_mut(j as usize) {
            slot.clear();
            slot.extend_from_slice(row);
        }
    }

    /// Rows offered since the last clear.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The sample, in reservoir order.
    pub fn rows(&self) -> &[Vec<T>] {
        &self.rows
    }

    /// Forgets the rows (keeping the random stream).
    pub fn clear(&mut self) {
        self.rows.clear();
        self.seen = 0;
    }
}

/// Builds a [`MultivariateProfile`] from reference rows, with bounded state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MultivariateBuilder {
    config: MultivariateConfig,
    seed: u64,
    space: SpaceBuilder,
    rows: RowReservoir<RawValue>,
    #[serde(skip)]
    scratch: Vec<RawValue>,
}

impl MultivariateBuilder {
    /// An empty builder; `seed` fixes every random choice of the reference (row sample,
    /// k-means starts, MMD reference sample).
    pub fn new(config: MultivariateConfig, seed: u64) -> Result<Self, MultivariateError> {
        config.validate()?;
        Ok(MultivariateBuilder {
            space: SpaceBuilder::new(config.max_features, config.tracked_categories),
            rows: RowReservoir::new(config.max_reference_rows, derive_seed(seed, 1)),
            config,
            seed,
            scratch: Vec::new(),
        })
    }

    /// Adds one reference row (a record's features).
    pub fn push(&mut self, features: &[(Cow<'_, str>, FeatureValue<'_>)]) {
        self.space.push(features, &mut self.scratch);
        self.rows.push(&self.scratch);
    }

    /// Rows added.
    pub fn records(&self) -> u64 {
        self.rows.seen()
    }

    /// Learns the feature space, fits k-means and draws the MMD reference sample.
    pub fn finish(&self) -> Result<MultivariateProfile, MultivariateError> {
        let cfg = &self.config;
        let space = self
            .space
            .finish(cfg.top_categories, cfg.max_missing_share)?;
        let dim = space.dim();
        let mut flat = Vec::new();
        let mut v = Vec::new();
        let mut usable = 0;
        for raw in self.rows.rows() {
            if self.space.vector(&space, raw, &mut v) {
                flat.extend_from_slice(&v);
                usable += 1;
            }
        }
        if usable < cfg.min_reference_rows {
            return Err(MultivariateError::TooFewRows {
                got: usable,
                need: cfg.min_reference_rows,
            });
        }
        let rows = Array2::from_shape_vec((usable, dim), flat).expect("usable * dim values");
        let mut pick: Vec<usize> = (0..usable).collect();
        let mut rng = Pcg64Mcg::seed_from_u64(derive_seed(self.seed, 3));
        let (chosen, _) = pick.partial_shuffle(&mut rng, cfg.mmd.max_reference.min(usable));
        chosen.sort_unstable();
        let mmd_rows = rows.select(ndarray::Axis(0), chosen);
        let kmeans = KMeansModel::fit(space, rows.view(), &cfg.kmeans, derive_seed(self.seed, 2))?;
        Ok(MultivariateProfile {
            records: self.rows.seen(),
            rows: usable,
            kmeans,
            mmd: MmdReference::new(mmd_rows.view()),
            config: cfg.clone(),
        })
    }
}

/// The multivariate part of a reference profile. Deserialising checks that the parts fit
/// together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ProfileRepr")]
pub struct MultivariateProfile {
    /// Reference rows offered to the builder.
    pub records: u64,
    /// Rows of the reference sample that were vectorised and fitted.
    pub rows: usize,
    /// The k-means model (which holds the feature space).
    pub kmeans: KMeansModel,
    /// The MMD reference sample.
    pub mmd: MmdReference,
    /// The settings it was built with (the window sizes and permutations apply to its
    /// windows).
    pub config: MultivariateConfig,
}

/// [`MultivariateProfile`] as stored, before its check.
#[derive(Deserialize)]
struct ProfileRepr {
    records: u64,
    rows: usize,
    kmeans: KMeansModel,
    mmd: MmdReference,
    config: MultivariateConfig,
}

impl TryFrom<ProfileRepr> for MultivariateProfile {
    type Error = MultivariateError;
    fn try_from(r: ProfileRepr) -> Result<Self, Self::Error> {
        let expected = r.kmeans.space().dim();
        if r.mmd.dim() != expected {
            return Err(MultivariateError::Dimension {
                expected,
                got: r.mmd.dim(),
            });
        }
        r.config.validate()?;
        Ok(MultivariateProfile {
            records: r.records,
            rows: r.rows,
            kmeans: r.kmeans,
            mmd: r.mmd,
            config: r.config,
        })
    }
}

impl MultivariateProfile {
    /// Builds a profile from reference rows in one go (see [`MultivariateBuilder`]).
    pub fn from_rows<'a, I, R>(
        rows: I,
        config: MultivariateConfig,
        seed: u64,
    ) -> Result<Self, MultivariateError>
    where
        I: IntoIterator<Item = R>,
        R: AsRef<[(Cow<'a, str>, FeatureValue<'a>)]>,
    {
        let mut b = MultivariateBuilder::new(config, seed)?;
        for r in rows {
            b.push(r.as_ref());
        }
        b.finish()
    }

    /// The feature space.
    pub fn space(&self) -> &FeatureSpace {
        self.kmeans.space()
    }

    /// An empty window; `seed` fixes its samples (derive it from the model, version and
    /// window number so that a replay reproduces it).
    pub fn window(&self, seed: u64) -> MultivariateWindow {
        MultivariateWindow {
            records: 0,
            rejected: 0,
            kmeans: self
                .kmeans
                .window(self.config.kmeans.window_sample, derive_seed(seed, 1)),
            mmd: self
                .mmd
                .window(self.config.mmd.max_window, derive_seed(seed, 2)),
            scratch: Vec::new(),
        }
    }
}

/// One record's multivariate anomaly score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RecordScore {
    /// Distance to the nearest reference centroid (standardised units).
    pub distance: f64,
    /// The share of reference rows at most as far, in [0, 1].
    pub score: f64,
    /// Beyond the reference's distance quantile.
    pub far: bool,
}

/// Per-window state of the multivariate detectors (bounded: see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MultivariateWindow {
    records: u64,
    rejected: u64,
    kmeans: KMeansWindowAcc,
    mmd: MmdWindowAcc,
    #[serde(skip)]
    scratch: Vec<f64>,
}

/// The multivariate verdict on one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MultivariateReport {
    /// Records offered.
    pub records: u64,
    /// Records not scored because too many features were missing.
    pub rejected: u64,
    /// The k-means tests (`None` when no record was scored).
    pub kmeans: Option<KMeansWindow>,
    /// The MMD test (`None` below `mmd.min_window` scored records).
    pub mmd: Option<MmdResult>,
}

impl MultivariateWindow {
    /// Scores one record and adds it to the window; `None` when too many of its features
    /// are missing (it is counted as rejected).
    pub fn push(
        &mut self,
        profile: &MultivariateProfile,
        features: &[(Cow<'_, str>, FeatureValue<'_>)],
    ) -> Option<RecordScore> {
        self.records += 1;
        if !profile.space().vector(features, &mut self.scratch) {
            self.rejected += 1;
            return None;
        }
        let vector = std::mem::take(&mut self.scratch);
        let score = self.push_vector(profile, &vector);
        self.scratch = vector;
        Some(score)
    }

    /// Adds an already vectorised record (a vector of `profile.space()`).
    pub fn push_vector(&mut self, profile: &MultivariateProfile, vector: &[f64]) -> RecordScore {
        let distance = self.kmeans.push(&profile.kmeans, vector);
        self.mmd.push(vector);
        RecordScore {
            distance,
            score: profile.kmeans.score(distance),
            far: distance > profile.kmeans.threshold(),
        }
    }

    /// Records offered.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Forgets the window's records (keeping the random streams).
    pub fn clear(&mut self) {
        self.records = 0;
        self.rejected = 0;
        self.kmeans.clear();
        self.mmd.clear();
    }

    /// Runs the window's tests; `seed` drives the MMD permutations.
    pub fn finish(&self, profile: &MultivariateProfile, seed: u64) -> MultivariateReport {
        MultivariateReport {
            records: self.records,
            rejected: self.rejected,
            kmeans: self.kmeans.finish(&profile.kmeans),
            mmd: self.mmd.finish(&profile.mmd, &profile.config.mmd, seed),
        }
    }
}
