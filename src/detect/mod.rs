//! Detectors: pure functions from accumulated records to statistics. No I/O, no clock, no
//! globals; randomness only from seeded generators. One file per concern:
//! `stats` (the two-sample tests, checked against scipy), `series` and `accumulate`
//! (bounded per-series state), `profile` (the reference), `compare` (closing a window),
//! `online` (per-event change detectors, checked against River), `join` and `perf` (labels
//! joined to predictions and the performance they show, checked against scikit-learn),
//! `multivariate` (k-means with linfa and MMD: drift in how features combine),
//! `metric` (streaming anomaly scores of serving metrics, measured on NAB),
//! `onnx` (the user's own ONNX models run in-process with tract, tree ensembles included).

pub mod accumulate;
pub mod compare;
pub mod exact;
pub mod join;
pub mod metric;
pub mod multivariate;
pub mod online;
pub mod onnx;
pub mod perf;
pub mod profile;
pub mod series;
pub mod stats;
#[cfg(test)]
mod stats_props;
