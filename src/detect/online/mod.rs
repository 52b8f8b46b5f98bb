//! Online change detectors: one observation in, at most one change point out, per event
//! rather than per window. Each is a port of the River 0.26 implementation (or, for CUSUM,
//! of the textbook tabular scheme), checked against River on fixtures that
//! `scripts/river_fixtures.py` generates (`testdata/fixtures/river.json`,
//! `tests/integration/reference_online.rs`):
//!
//! | detector | input | module | reference |
//! |---|---|---|---|
//! | ADWIN | any real stream | [`adwin`] | `river.drift.ADWIN` (Bifet & Gavaldà 2007) |
//! | Page-Hinkley | any real stream | [`page_hinkley`] | `river.drift.PageHinkley` (Page 1954) |
//! | CUSUM | any real stream | [`cusum`] | Montgomery, tabular CUSUM, sec. 9.1 |
//! | DDM | error indicator 0/1 | [`ddm`] | `river.drift.binary.DDM` (Gama et al. 2004) |
//! | EDDM | error indicator 0/1 | [`eddm`] | `river.drift.binary.EDDM` (Baena-García et al. 2006) |
//!
//! Common behaviour:
//! - `update(x, ts)` returns `Some(ChangePoint)` on the observation at which the detector
//!   fires, and then resets the way River does (a fresh detector, see each module), so later
//!   changes are found too.
//! - A NaN or infinite `x` is ignored: `None`, no state change, not counted in
//!   `observations()`. DDM and EDDM also ignore any value other than exactly `0.0` or `1.0`
//!   (River would fold such values into its statistics, which have no meaning for them).
//! - The arithmetic follows River's order of operations so that detections agree to the
//!   observation; changing the order of a sum here can move a change point.
//!
//! Memory is bounded per detector, whatever the stream length:
//!
//! | detector | state |
//! |---|---|
//! | ADWIN | between updates at most `max_buckets` buckets (two f64 each) per row, one row per power of two up to the window length n (observations since the last detection): O(max_buckets * log2 n), at most 60 rows and 5 KiB at n = 2^60 with the defaults |
//! | Page-Hinkley, DDM, EDDM | a fixed handful of numbers |
//! | CUSUM | the warm-up sample (`warm_up` f64, 240 bytes by default) while warming up, then a fixed handful of numbers |
//!
//! Pure: no I/O, no clock, no globals, no randomness. Time enters only as the `ts` argument,
//! which is copied into the change point. All state is `Clone + Debug + Serialize +
//! Deserialize` so that it can be snapshotted, and a restored detector continues exactly as
//! the original would have: the state's floats are written so that JSON gives them back
//! bit for bit (see `exact` below), and with a valid config they are all finite.
//!
//! The module must not know about configuration files, metrics or alerts: callers validate
//! configs ([`ChangeDetectorConfig::validate`]), count detections and turn change points into
//! verdicts.

pub mod adwin;
pub mod cusum;
pub mod ddm;
pub mod eddm;
pub mod page_hinkley;

#[cfg(test)]
mod tests;

use crate::record::Ts;
use serde::{Deserialize, Serialize};

pub use adwin::{Adwin, AdwinConfig};
pub use cusum::{Cusum, CusumConfig};
pub use ddm::{Ddm, DdmConfig};
pub use eddm::{Eddm, EddmConfig};
pub use page_hinkley::{PageHinkley, PageHinkleyConfig, PageHinkleyMode};

/// A change found by an online detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChangePoint {
    /// 0-based index of the observation at which the detector fired, counting the
    /// observations the detector accepted since it was created (not since its last reset;
    /// ignored inputs are not counted).
    pub index: u64,
    /// Event time of that observation, as passed to `update`.
    pub ts: Ts,
    /// Estimated mean of the stream before the change (each detector documents its
    /// estimate; for DDM and EDDM it is an error rate).
    pub mean_before: f64,
    /// Estimated mean of the stream after the change.
    pub mean_after: f64,
    /// The detector's test statistic when it fired (each detector documents its scale).
    pub statistic: f64,
}

/// Which online detector to run, with its settings. In config and snapshots it is a tagged
/// table: `{ kind = "adwin", delta = 0.002 }`; omitted fields take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeDetectorConfig {
    /// ADWIN on any real-valued stream.
    Adwin(AdwinConfig),
    /// Page-Hinkley on any real-valued stream.
    PageHinkley(PageHinkleyConfig),
    /// Two-sided tabular CUSUM on any real-valued stream.
    Cusum(CusumConfig),
    /// DDM on a 0/1 error indicator.
    Ddm(DdmConfig),
    /// EDDM on a 0/1 error indicator.
    Eddm(EddmConfig),
}

impl ChangeDetectorConfig {
    /// The detector's name as used in config (`kind`) and as a metric label value.
    pub fn kind(&self) -> &'static str {
        match self {
            ChangeDetectorConfig::Adwin(_) => "adwin",
            ChangeDetectorConfig::PageHinkley(_) => "page_hinkley",
            ChangeDetectorConfig::Cusum(_) => "cusum",
            ChangeDetectorConfig::Ddm(_) => "ddm",
            ChangeDetectorConfig::Eddm(_) => "eddm",
        }
    }

    /// Checks the settings and returns every problem found. [`ChangeDetector::new`] accepts
    /// any config and never panics, but an invalid one may never fire (a NaN threshold) or
    /// fire on every observation, so validate configs before building detectors.
    pub fn validate(&self) -> Result<(), Vec<OnlineConfigError>> {
        let mut errs = Vec::new();
        match self {
            ChangeDetectorConfig::Adwin(c) => c.check(&mut errs),
            ChangeDetectorConfig::PageHinkley(c) => c.check(&mut errs),
            ChangeDetectorConfig::Cusum(c) => c.check(&mut errs),
            ChangeDetectorConfig::Ddm(c) => c.check(&mut errs),
            ChangeDetectorConfig::Eddm(c) => c.check(&mut errs),
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// A setting of an online detector that is out of range. The message starts with the field
/// name; the caller prefixes the path of the detector in its config.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnlineConfigError {
    /// A real-valued setting outside its allowed range (or not finite).
    #[error("{field}: must be {range}, got {value}")]
    OutOfRange {
        /// The setting.
        field: &'static str,
        /// The allowed range, in words (`"in (0, 1)"`).
        range: &'static str,
        /// The value given.
        value: f64,
    },
    /// A count outside its allowed range.
    #[error("{field}: must be between {min} and {max}, got {value}")]
    CountOutOfRange {
        /// The setting.
        field: &'static str,
        /// The smallest allowed value.
        min: u64,
        /// The largest allowed value.
        max: u64,
        /// The value given.
        value: u64,
    },
    /// EDDM's drift level above its warning level.
    #[error("beta: must not exceed alpha ({alpha}), got {beta}")]
    BetaAboveAlpha {
        /// The warning level.
        alpha: f64,
        /// The drift level.
        beta: f64,
    },
}

impl OnlineConfigError {
    /// The setting the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            OnlineConfigError::OutOfRange { field, .. }
            | OnlineConfigError::CountOutOfRange { field, .. } => field,
            OnlineConfigError::BetaAboveAlpha { .. } => "beta",
        }
    }
}

/// Pushes an error unless `ok(value)`; NaN fails every range.
fn check_range(
    errs: &mut Vec<OnlineConfigError>,
    field: &'static str,
    value: f64,
    range: &'static str,
    ok: impl Fn(f64) -> bool,
) {
    if !(value.is_finite() && ok(value)) {
        errs.push(OnlineConfigError::OutOfRange {
            field,
            range,
            value,
        });
    }
}

/// The state of one online detector. Build it with [`ChangeDetector::new`], feed it with
/// [`ChangeDetector::update`]; snapshot it with serde.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeDetector {
    /// ADWIN.
    Adwin(Adwin),
    /// Page-Hinkley.
    PageHinkley(PageHinkley),
    /// Two-sided tabular CUSUM.
    Cusum(Cusum),
    /// DDM.
    Ddm(Ddm),
    /// EDDM.
    Eddm(Eddm),
}

impl ChangeDetector {
    /// A fresh detector with the given settings. Never panics; see
    /// [`ChangeDetectorConfig::validate`].
    pub fn new(config: &ChangeDetectorConfig) -> ChangeDetector {
        match config {
            ChangeDetectorConfig::Adwin(c) => ChangeDetector::Adwin(Adwin::new(c.clone())),
            ChangeDetectorConfig::PageHinkley(c) => {
                ChangeDetector::PageHinkley(PageHinkley::new(c.clone()))
            }
            ChangeDetectorConfig::Cusum(c) => ChangeDetector::Cusum(Cusum::new(c.clone())),
            ChangeDetectorConfig::Ddm(c) => ChangeDetector::Ddm(Ddm::new(c.clone())),
            ChangeDetectorConfig::Eddm(c) => ChangeDetector::Eddm(Eddm::new(c.clone())),
        }
    }

    /// Feeds one observation with its event time. Returns the change point if the detector
    /// fires on it (and resets the detector). Non-finite `x`, and for DDM and EDDM anything
    /// but `0.0` or `1.0`, is ignored and not counted.
    pub fn update(&mut self, x: f64, ts: Ts) -> Option<ChangePoint> {
        match self {
            ChangeDetector::Adwin(d) => d.update(x, ts),
            ChangeDetector::PageHinkley(d) => d.update(x, ts),
            ChangeDetector::Cusum(d) => d.update(x, ts),
            ChangeDetector::Ddm(d) => d.update(x, ts),
            ChangeDetector::Eddm(d) => d.update(x, ts),
        }
    }

    /// The detector's name, as [`ChangeDetectorConfig::kind`].
    pub fn kind(&self) -> &'static str {
        match self {
            ChangeDetector::Adwin(_) => "adwin",
            ChangeDetector::PageHinkley(_) => "page_hinkley",
            ChangeDetector::Cusum(_) => "cusum",
            ChangeDetector::Ddm(_) => "ddm",
            ChangeDetector::Eddm(_) => "eddm",
        }
    }

    /// Observations accepted since the detector was created (ignored inputs excluded;
    /// resets after a detection do not restart the count).
    pub fn observations(&self) -> u64 {
        match self {
            ChangeDetector::Adwin(d) => d.observations(),
            ChangeDetector::PageHinkley(d) => d.observations(),
            ChangeDetector::Cusum(d) => d.observations(),
            ChangeDetector::Ddm(d) => d.observations(),
            ChangeDetector::Eddm(d) => d.observations(),
        }
    }

    /// Whether DDM or EDDM is in its warning zone after the last observation (River's
    /// `warning_detected`); always false for the other detectors, which have none.
    pub fn in_warning(&self) -> bool {
        match self {
            ChangeDetector::Ddm(d) => d.in_warning(),
            ChangeDetector::Eddm(d) => d.in_warning(),
            ChangeDetector::Adwin(_)
            | ChangeDetector::PageHinkley(_)
            | ChangeDetector::Cusum(_) => false,
        }
    }

    /// The settings the detector runs with; a reload can keep the state of a detector whose
    /// config compares equal.
    pub fn config(&self) -> ChangeDetectorConfig {
        match self {
            ChangeDetector::Adwin(d) => ChangeDetectorConfig::Adwin(d.config().clone()),
            ChangeDetector::PageHinkley(d) => ChangeDetectorConfig::PageHinkley(d.config().clone()),
            ChangeDetector::Cusum(d) => ChangeDetectorConfig::Cusum(d.config().clone()),
            ChangeDetector::Ddm(d) => ChangeDetectorConfig::Ddm(d.config().clone()),
            ChangeDetector::Eddm(d) => ChangeDetectorConfig::Eddm(d.config().clone()),
        }
    }
}

/// River's running mean (`river.stats.Mean` with unit weights): `n += 1; m += (1 / n) * (x -
/// m)`, in that order, so that values agree with River to the last bit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct RunningMean {
    n: u64,
    #[serde(with = "exact")]
    mean: f64,
}

impl RunningMean {
    fn update(&mut self, x: f64) {
        self.n += 1;
        self.mean += (1.0 / self.n as f64) * (x - self.mean);
    }
}

/// River's running variance (`river.stats.Var`, Welford, `ddof = 1`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct RunningVar {
    mean: RunningMean,
    /// Sum of squared deviations.
    #[serde(with = "exact")]
    ss: f64,
}

impl RunningVar {
    fn update(&mut self, x: f64) {
        let before = self.mean.mean;
        self.mean.update(x);
        self.ss += (x - before) * (x - self.mean.mean);
    }

    /// Sample variance; 0 for fewer than two values, as River.
    fn variance(&self) -> f64 {
        if self.mean.n > 1 {
            self.ss / (self.mean.n - 1) as f64
        } else {
            0.0
        }
    }
}

/// `num / den` for a before/after mean estimate, or `fallback` when there are no samples.
fn ratio_or(num: f64, den: u64, fallback: f64) -> f64 {
    if den == 0 {
        fallback
    } else {
        num / den as f64
    }
}

/// Serde for the f64s of detector state, so that a snapshot restores them bit for bit.
///
/// serde_json (without its `float_roundtrip` feature, which vigil does not enable) parses
/// some 16 and 17 digit numbers one unit in the last place off, and one ULP is enough to
/// move a change point. In human-readable formats the value is therefore written as a
/// string, its shortest round-trip decimal (`"0.202329051934504"`, `"1e-20"`), and read
/// back with Rust's correctly rounded parser; plain numbers are accepted too. Binary
/// formats get the f64 itself.
mod exact {
    pub use crate::detect::exact::f64::{deserialize, serialize};
    pub use crate::detect::exact::vec as seq;
}
