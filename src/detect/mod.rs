//! Detectors: pure functions from accumulated records to statistics. No I/O, no clock, no
//! globals; randomness only from seeded generators. One file per concern:
//! `stats` (the tests themselves, checked against scipy), `series` and `accumulate`
//! (bounded per-series state), `profile` (the reference), `compare` (closing a window).

pub mod accumulate;
pub mod compare;
pub mod onnx;
pub mod profile;
pub mod series;
pub mod stats;
