//! The feature space of the multivariate detectors: how a record's named, typed features
//! become one numeric vector, learnt from the reference rows ([`SpaceBuilder`]) and then
//! frozen ([`FeatureSpace`]).
//!
//! - **Numeric** features are standardised, `(x - mean) / std`, with the mean and the
//!   population standard deviation (`ddof = 0`, as numpy's `std` and scikit-learn's
//!   `StandardScaler`) of every reference value seen (exact running moments, not a sample).
//!   Features that are **constant** in the reference (std = 0) are dropped: they carry no
//!   distance and dividing by their std is undefined. Their names are kept in
//!   [`FeatureSpace::dropped`].
//! - **Categorical** features (strings, and booleans as `"true"` / `"false"`) are one-hot
//!   encoded over the reference's `top_categories` most frequent values (ties broken by name)
//!   plus one **"other"** column that takes every other value, including values the reference
//!   never saw. One-hot columns are 0/1, not rescaled: a change of category adds 2 to the
//!   squared distance. `top_categories = 0` excludes categorical features.
//! - A feature's kind is fixed by its first non-null reference value; a value of the other
//!   kind later counts as missing.
//! - Features are ordered by name, so the space does not depend on the order in which the
//!   producer emits them.
//!
//! **Missing values.** A feature is missing in a record when it is absent, null or of the
//! other kind. [`FeatureSpace::vector`] imputes a missing numeric feature with the reference
//! mean (0 after standardising) and a missing categorical one with an all-zero block, and
//! returns `false` (the record is not scored) when more than `max_missing` of the space's
//! features are missing, where `max_missing = floor(max_missing_share * features)`: with the
//! default share of 0.25, a record with 2 features must have both, one with 8 may lack 2.
//!
//! **Bounds.** The builder tracks at most `max_features` features (further names are ignored)
//! and at most `tracked_categories` distinct values per categorical feature (further values
//! are counted as untracked and land in "other"). The vector has at most
//! `max_features * (top_categories + 1)` columns.
//!
//! Pure data: no I/O, no clock, no randomness.

use super::MultivariateError;
use crate::detect::series::stable_hash;
use crate::record::FeatureValue;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// How one feature of a [`FeatureSpace`] is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Encoding {
    /// One column, `(x - mean) / std`.
    Numeric {
        /// Reference mean.
        mean: f64,
        /// Reference population standard deviation (> 0).
        std: f64,
    },
    /// One 0/1 column per category, in this order, then the "other" column.
    OneHot {
        /// The reference's most frequent categories.
        categories: Vec<String>,
    },
}

impl Encoding {
    /// Number of columns.
    pub fn width(&self) -> usize {
        match self {
            Encoding::Numeric { .. } => 1,
            Encoding::OneHot { categories } => categories.len() + 1,
        }
    }
}

/// One feature of a [`FeatureSpace`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaceFeature {
    /// Feature name, as in the records.
    pub name: String,
    /// Its encoding.
    pub encoding: Encoding,
}

/// The frozen map from a record's features to a vector (see the module docs for the rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SpaceRepr", into = "SpaceRepr")]
pub struct FeatureSpace {
    /// Sorted by name, names unique.
    features: Vec<SpaceFeature>,
    /// Column of each feature's first value.
    offsets: Vec<usize>,
    /// `(hash of the name, feature)`, sorted: a record's features are found by an integer
    /// search and one string comparison instead of a string binary search (derived).
    lookup: Vec<(u64, usize)>,
    /// Per feature, the hashes of its one-hot categories (empty for numeric ones; derived).
    category_hashes: Vec<Vec<u64>>,
    dim: usize,
    max_missing: usize,
    dropped: Vec<String>,
}

/// The serialised form: the derived offsets are recomputed (and the invariants checked) on
/// load.
#[derive(Serialize, Deserialize)]
struct SpaceRepr {
    features: Vec<SpaceFeature>,
    max_missing: usize,
    dropped: Vec<String>,
}

impl From<FeatureSpace> for SpaceRepr {
    fn from(s: FeatureSpace) -> Self {
        SpaceRepr {
            features: s.features,
            max_missing: s.max_missing,
            dropped: s.dropped,
        }
    }
}

impl TryFrom<SpaceRepr> for FeatureSpace {
    type Error = MultivariateError;
    fn try_from(r: SpaceRepr) -> Result<Self, Self::Error> {
        let mut s = FeatureSpace::new(r.features, r.max_missing)?;
        s.dropped = r.dropped;
        Ok(s)
    }
}

impl FeatureSpace {
    /// A space over explicit features (sorted here by name). `max_missing` is the number of
    /// missing features a record may have and still be scored. Errors when there is no
    /// feature, a name repeats, or a numeric std is not positive and finite.
    pub fn new(
        mut features: Vec<SpaceFeature>,
        max_missing: usize,
    ) -> Result<Self, MultivariateError> {
        if features.is_empty() {
            return Err(MultivariateError::NoFeatures);
        }
        features.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = features.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(MultivariateError::InvalidSpace(format!(
                "feature {:?} appears twice",
                w[0].name
            )));
        }
        let mut offsets = Vec::with_capacity(features.len());
        let mut dim = 0;
        for f in &features {
            if let Encoding::Numeric { mean, std } = f.encoding {
                if !(std > 0.0 && std.is_finite() && mean.is_finite()) {
                    return Err(MultivariateError::InvalidSpace(format!(
                        "feature {:?}: mean {mean} and std {std} must be finite, std > 0",
                        f.name
                    )));
                }
            }
            offsets.push(dim);
            dim += f.encoding.width();
        }
        let mut lookup: Vec<(u64, usize)> = features
            .iter()
            .enumerate()
            .map(|(i, f)| (stable_hash(&[&f.name]), i))
            .collect();
        lookup.sort_unstable();
        let category_hashes = features
            .iter()
            .map(|f| match &f.encoding {
                Encoding::Numeric { .. } => Vec::new(),
                Encoding::OneHot { categories } => {
                    categories.iter().map(|c| stable_hash(&[c])).collect()
                }
            })
            .collect();
        Ok(FeatureSpace {
            features,
            offsets,
            lookup,
            category_hashes,
            dim,
            max_missing,
            dropped: Vec::new(),
        })
    }

    /// Number of columns of a vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The features, sorted by name.
    pub fn features(&self) -> &[SpaceFeature] {
        &self.features
    }

    /// Missing features a record may have and still be scored.
    pub fn max_missing(&self) -> usize {
        self.max_missing
    }

    /// Reference features left out of the space because they were constant.
    pub fn dropped(&self) -> &[String] {
        &self.dropped
    }

    /// Writes the vector of `features` into `out` (cleared and resized to [`Self::dim`]).
    /// Returns `false` when more than [`Self::max_missing`] features are missing; `out` is
    /// then filled but must not be scored. Features the space does not know are ignored.
    pub fn vector(
        &self,
        features: &[(Cow<'_, str>, FeatureValue<'_>)],
        out: &mut Vec<f64>,
    ) -> bool {
        out.clear();
        out.resize(self.dim, 0.0);
        // NaN marks a numeric column not yet set; a one-hot block is set iff it holds a 1.
        for (f, &off) in self.features.iter().zip(&self.offsets) {
            if let Encoding::Numeric { .. } = f.encoding {
                out[off] = f64::NAN;
            }
        }
        for (name, value) in features {
            let Some(i) = self.find(name) else {
                continue;
            };
            let off = self.offsets[i];
            match (&self.features[i].encoding, value) {
                (Encoding::Numeric { mean, std }, FeatureValue::Num(x)) => {
                    // A non-finite result stays NaN: counted as missing below.
                    let z = (x - mean) / std;
                    out[off] = if z.is_finite() { z } else { f64::NAN };
                }
                (Encoding::OneHot { categories }, FeatureValue::Cat(s)) => {
                    let block = &mut out[off..off + categories.len() + 1];
                    set_one_hot(block, categories, &self.category_hashes[i], s);
                }
                (Encoding::OneHot { categories }, FeatureValue::Bool(b)) => {
                    let s = if *b { "true" } else { "false" };
                    let block = &mut out[off..off + categories.len() + 1];
                    set_one_hot(block, categories, &self.category_hashes[i], s);
                }
                _ => {}
            }
        }
        let mut missing = 0;
        for (f, &off) in self.features.iter().zip(&self.offsets) {
            match &f.encoding {
                Encoding::Numeric { .. } => {
                    if out[off].is_nan() {
                        out[off] = 0.0;
                        missing += 1;
                    }
                }
                Encoding::OneHot { categories } => {
                    if out[off..off + categories.len() + 1]
                        .iter()
                        .all(|&v| v == 0.0)
                    {
                        missing += 1;
                    }
                }
            }
        }
        missing <= self.max_missing
    }
}

impl FeatureSpace {
    /// The feature named `name`.
    fn find(&self, name: &str) -> Option<usize> {
        let h = stable_hash(&[name]);
        let start = self.lookup.partition_point(|&(k, _)| k < h);
        self.lookup[start..]
            .iter()
            .take_while(|&&(k, _)| k == h)
            .map(|&(_, i)| i)
            .find(|&i| self.features[i].name == name)
    }
}

fn set_one_hot(block: &mut [f64], categories: &[String], hashes: &[u64], value: &str) {
    // A repeated feature in one record: the last value wins.
    block.fill(0.0);
    let h = stable_hash(&[value]);
    let col = (0..categories.len())
        .find(|&j| hashes[j] == h && categories[j] == value)
        .unwrap_or(categories.len());
    block[col] = 1.0;
}

/// A reference value as the builder keeps it in its row sample: numbers as they are,
/// categories by their index among the feature's tracked values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum RawValue {
    /// Absent, null, or of the other kind.
    Missing,
    /// A number.
    Num(f64),
    /// The index of a tracked category ([`UNTRACKED`] beyond the cap).
    Cat(u32),
}

/// [`RawValue::Cat`] of a value beyond the tracked categories.
pub const UNTRACKED: u32 = u32::MAX;

/// The running statistics of one reference feature.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SlotStats {
    /// Only nulls so far.
    Unknown,
    /// Welford's running moments of the values.
    Numeric { n: u64, mean: f64, m2: f64 },
    /// Counts of the tracked values, in first-seen order, and of the others.
    Categorical {
        values: Vec<String>,
        counts: Vec<u64>,
        untracked: u64,
    },
}

/// Learns a [`FeatureSpace`] from reference rows, with bounded state (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpaceBuilder {
    max_features: usize,
    tracked_categories: usize,
    /// Name -> slot.
    index: BTreeMap<String, usize>,
    /// Slot -> name.
    names: Vec<String>,
    stats: Vec<SlotStats>,
}

impl SpaceBuilder {
    /// An empty builder tracking at most `max_features` features and `tracked_categories`
    /// distinct values per categorical feature.
    pub fn new(max_features: usize, tracked_categories: usize) -> Self {
        SpaceBuilder {
            max_features,
            tracked_categories,
            index: BTreeMap::new(),
            names: Vec::new(),
            stats: Vec::new(),
        }
    }

    /// Adds one reference row to the statistics and writes its raw form into `row` (one
    /// value per slot; slots added by later rows are missing in earlier ones).
    pub fn push(&mut self, features: &[(Cow<'_, str>, FeatureValue<'_>)], row: &mut Vec<RawValue>) {
        row.clear();
        row.resize(self.names.len(), RawValue::Missing);
        for (name, value) in features {
            let slot = match self.index.get(name.as_ref()) {
                Some(&s) => s,
                None if self.names.len() >= self.max_features => continue,
                None => {
                    let s = self.names.len();
                    self.index.insert(name.to_string(), s);
                    self.names.push(name.to_string());
                    self.stats.push(SlotStats::Unknown);
                    row.push(RawValue::Missing);
                    s
                }
            };
            let cat = match value {
                FeatureValue::Null => continue,
                FeatureValue::Num(x) => {
                    if let SlotStats::Unknown = self.stats[slot] {
                        self.stats[slot] = SlotStats::Numeric {
                            n: 0,
                            mean: 0.0,
                            m2: 0.0,
                        };
                    }
                    if let SlotStats::Numeric { n, mean, m2 } = &mut self.stats[slot] {
                        *n += 1;
                        let d = x - *mean;
                        *mean += d / *n as f64;
                        *m2 += d * (x - *mean);
                        row[slot] = RawValue::Num(*x);
                    }
                    continue;
                }
                FeatureValue::Cat(s) => s.as_ref(),
                FeatureValue::Bool(b) => {
                    if *b {
                        "true"
                    } else {
                        "false"
                    }
                }
            };
            if let SlotStats::Unknown = self.stats[slot] {
                self.stats[slot] = SlotStats::Categorical {
                    values: Vec::new(),
                    counts: Vec::new(),
                    untracked: 0,
                };
            }
            if let SlotStats::Categorical {
                values,
                counts,
                untracked,
            } = &mut self.stats[slot]
            {
                let id = match values.iter().position(|v| v == cat) {
                    Some(i) => {
                        counts[i] += 1;
                        i as u32
                    }
                    None if values.len() < self.tracked_categories => {
                        values.push(cat.to_string());
                        counts.push(1);
                        (values.len() - 1) as u32
                    }
                    None => {
                        *untracked += 1;
                        UNTRACKED
                    }
                };
                row[slot] = RawValue::Cat(id);
            }
        }
    }

    /// Freezes the statistics into a space: numeric features with std > 0, categorical ones
    /// over their `top_categories` most frequent values (none when 0).
    pub fn finish(
        &self,
        top_categories: usize,
        max_missing_share: f64,
    ) -> Result<FeatureSpace, MultivariateError> {
        let mut features = Vec::new();
        let mut dropped = Vec::new();
        for (name, stats) in self.names.iter().zip(&self.stats) {
            match stats {
                SlotStats::Unknown => {}
                SlotStats::Numeric { n, mean, m2 } => {
                    let std = (m2 / *n as f64).sqrt();
                    if std > 0.0 && std.is_finite() {
                        features.push(SpaceFeature {
                            name: name.clone(),
                            encoding: Encoding::Numeric { mean: *mean, std },
                        });
                    } else {
                        dropped.push(name.clone());
                    }
                }
                SlotStats::Categorical { values, counts, .. } if top_categories > 0 => {
                    let mut order: Vec<usize> = (0..values.len()).collect();
                    order.sort_by(|&a, &b| {
                        counts[b].cmp(&counts[a]).then(values[a].cmp(&values[b]))
                    });
                    order.truncate(top_categories);
                    features.push(SpaceFeature {
                        name: name.clone(),
                        encoding: Encoding::OneHot {
                            categories: order.into_iter().map(|i| values[i].clone()).collect(),
                        },
                    });
                }
                SlotStats::Categorical { .. } => {}
            }
        }
        let max_missing = (max_missing_share * features.len() as f64).floor() as usize;
        let mut space = FeatureSpace::new(features, max_missing)?;
        dropped.sort();
        space.dropped = dropped;
        Ok(space)
    }

    /// Writes the vector of a raw row (from [`Self::push`]) into `out`, as
    /// [`FeatureSpace::vector`] would for the row it came from.
    pub fn vector(&self, space: &FeatureSpace, row: &[RawValue], out: &mut Vec<f64>) -> bool {
        // Through the same code path as live records, so reference and window vectors
        // cannot disagree.
        let features: Vec<(Cow<'_, str>, FeatureValue<'_>)> = self
            .names
            .iter()
            .zip(&self.stats)
            .zip(row)
            .filter_map(|((name, stats), raw)| {
                let value = match (raw, stats) {
                    (RawValue::Num(x), _) => FeatureValue::Num(*x),
                    (RawValue::Cat(id), SlotStats::Categorical { values, .. }) => {
                        match values.get(*id as usize) {
                            Some(v) => FeatureValue::Cat(Cow::Borrowed(v.as_str())),
                            // Untracked values are never among the top categories.
                            None => FeatureValue::Cat(Cow::Borrowed("\u{0}untracked")),
                        }
                    }
                    _ => return None,
                };
                Some((Cow::Borrowed(name.as_str()), value))
            })
            .collect();
        space.vector(&features, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(items: &[(&'a str, FeatureValue<'a>)]) -> Vec<(Cow<'a, str>, FeatureValue<'a>)> {
        items
            .iter()
            .map(|(n, v)| (Cow::Borrowed(*n), v.clone()))
            .collect()
    }

    #[test]
    fn standardises_one_hot_encodes_and_drops_constants() {
        let mut b = SpaceBuilder::new(16, 16);
        let mut raw = Vec::new();
        for i in 0..10 {
            let cat = ["a", "b", "b", "c"][i % 4];
            b.push(
                &row(&[
                    ("x", FeatureValue::Num(i as f64)),
                    ("const", FeatureValue::Num(3.0)),
                    ("c", FeatureValue::Cat(Cow::Borrowed(cat))),
                    ("flag", FeatureValue::Bool(i % 2 == 0)),
                    ("n", FeatureValue::Null),
                ]),
                &mut raw,
            );
        }
        let s = b.finish(2, 0.25).expect("space");
        assert_eq!(s.dropped(), ["const"]);
        let names: Vec<&str> = s.features().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["c", "flag", "x"]);
        // c: top 2 of {a: 3, b: 5, c: 2} are b, a; flag: false, true (5 each, by name).
        assert_eq!(s.dim(), 3 + 3 + 1);
        let mut v = Vec::new();
        let ok = s.vector(
            &row(&[
                ("x", FeatureValue::Num(4.5)),
                ("c", FeatureValue::Cat(Cow::Borrowed("zzz"))),
                ("flag", FeatureValue::Bool(true)),
            ]),
            &mut v,
        );
        assert!(ok);
        assert_eq!(v, [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
        // One of three features missing: floor(0.25 * 3) = 0 allowed.
        assert!(!s.vector(&row(&[("x", FeatureValue::Num(1.0))]), &mut v));
    }

    #[test]
    fn a_value_of_the_other_kind_is_missing() {
        let mut b = SpaceBuilder::new(16, 16);
        let mut raw = Vec::new();
        for i in 0..8 {
            b.push(
                &row(&[
                    ("a", FeatureValue::Num(i as f64)),
                    ("b", FeatureValue::Num(-(i as f64))),
                    ("c", FeatureValue::Num((i * i) as f64)),
                    ("d", FeatureValue::Num((i % 3) as f64)),
                ]),
                &mut raw,
            );
        }
        let s = b.finish(8, 0.25).expect("space");
        assert_eq!(s.max_missing(), 1);
        let mut v = Vec::new();
        let r = row(&[
            ("a", FeatureValue::Cat(Cow::Borrowed("oops"))),
            ("b", FeatureValue::Num(0.0)),
            ("c", FeatureValue::Num(0.0)),
            ("d", FeatureValue::Num(0.0)),
        ]);
        assert!(s.vector(&r, &mut v));
        assert_eq!(v[0], 0.0);
    }

    #[test]
    fn space_round_trips_and_rejects_bad_parts() {
        let s = FeatureSpace::new(
            vec![SpaceFeature {
                name: "x".into(),
                encoding: Encoding::Numeric {
                    mean: 1.0,
                    std: 2.0,
                },
            }],
            0,
        )
        .expect("valid");
        let json = serde_json::to_string(&s).expect("serialises");
        let back: FeatureSpace = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, s);
        let bad = json.replace("2.0", "0.0");
        assert!(serde_json::from_str::<FeatureSpace>(&bad).is_err());
    }
}
