//! Multivariate drift: detectors that look at a record's features together, and so see
//! drift that the per-feature tests cannot (a change of correlation, a new combination of
//! values), as a complement to `stats`' univariate KS and chi-squared tests.
//!
//! - [`space`]: the records' features as one standardised, one-hot encoded vector;
//! - [`tail`]: the beta-binomial tail for far-share tests against an estimated threshold.
//!
//! Pure: no I/O, no clock, no globals.

pub mod space;
pub mod tail;

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
