//! Accumulating records into bounded per-series state: the feature index of a model and
//! the [`Acc`] that both the reference builder and every current window use.
//!
//! Memory of one `Acc`: per numeric feature one reservoir of at most `sample_cap` f64 plus
//! `psi_bins` counters; per categorical feature at most `max_categories + 1` counters; plus
//! one reservoir each for the prediction score and the latency. Pure: no I/O, no clock.

use super::series::{stable_hash, CategoricalAcc, NumericAcc, SeriesAcc};
use super::stats::{QuantileBins, Reservoir};
use crate::record::{FeatureValue, InferenceRecord, Status, Ts};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};

/// Maps feature names to slots. Bounded by `max_features`; frozen once the reference is
/// complete (features first seen later are not monitored).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FeatureIndex {
    /// Slot -> name.
    pub names: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, usize>,
    /// Slots of the previous record's features, in its order: producers almost always
    /// emit features in the same order, so a name comparison replaces a hash lookup.
    #[serde(skip)]
    last_order: Vec<usize>,
    /// No new names are admitted.
    pub frozen: bool,
}

impl FeatureIndex {
    /// A frozen index over `names` (a pinned reference's features).
    pub fn frozen(names: Vec<String>) -> Self {
        let mut index = FeatureIndex {
            names,
            frozen: true,
            ..Default::default()
        };
        index.rebuild();
        index
    }

    /// Rebuilds the lookup table after deserialisation.
    pub fn rebuild(&mut self) {
        self.index = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        self.last_order.clear();
    }

    /// Resolves the slot of each of `rec`'s features into `slots` (`None`: not monitored).
    /// Returns how many values (not null) were dropped because the index is full, and how
    /// many because it is frozen (the reference is complete) without their feature.
    pub fn resolve(
        &mut self,
        rec: &InferenceRecord<'_>,
        max: usize,
        excluded: &[String],
        slots: &mut Vec<Option<usize>>,
    ) -> (usize, usize) {
        slots.clear();
        let mut dropped = 0;
        let mut unknown = 0;
        for (pos, (name, value)) in rec.features.iter().enumerate() {
            if let Some(&s) = self.last_order.get(pos) {
                if self.names[s] == name.as_ref() {
                    slots.push(Some(s));
                    continue;
                }
            }
            let slot = match self.index.get(name.as_ref()) {
                Some(&s) => Some(s),
                None if excluded.iter().any(|x| x == name.as_ref()) => None,
                None if self.frozen => {
                    if !matches!(value, FeatureValue::Null) {
                        unknown += 1;
                    }
                    None
                }
                // A null says nothing about the feature: it takes a slot only once a value
                // comes, so a record of a thousand null junk names cannot fill the index.
                None if matches!(value, FeatureValue::Null) => None,
                None if self.names.len() >= max => {
                    dropped += 1;
                    None
                }
                None => {
                    let s = self.names.len();
                    self.names.push(name.to_string());
                    self.index.insert(name.to_string(), s);
                    Some(s)
                }
            };
            if let Some(s) = slot {
                if self.last_order.len() > pos {
                    self.last_order[pos] = s;
                } else if self.last_order.len() == pos {
                    self.last_order.push(s);
                }
            }
            slots.push(slot);
        }
        (dropped, unknown)
    }
}

/// Sizes of an accumulator.
#[derive(Debug, Clone, Copy)]
pub struct AccCaps {
    /// Values kept per numeric series.
    pub sample: usize,
    /// Distinct categories kept per categorical series.
    pub categories: usize,
}

/// Everything one stretch of a (model, version) stream contributes to the tests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Acc {
    /// Event time of the first record (or the window's aligned start).
    pub start: Ts,
    /// Event time of the latest record.
    pub end: Ts,
    /// Records accumulated.
    pub records: u64,
    /// One series per feature slot.
    pub features: Vec<SeriesAcc>,
    /// The numeric prediction.
    pub score: NumericAcc,
    /// The categorical prediction.
    pub label: CategoricalAcc,
    /// Latency sample (ms).
    pub latency: Reservoir,
    /// Records that carried a status.
    pub with_status: u64,
    /// Records with an error status.
    pub errors: u64,
    /// Sum of the predictions' confidences (see `Prediction::confidence`).
    #[serde(default)]
    pub confidence_sum: f64,
    /// Predictions that carried a confidence.
    #[serde(default)]
    pub confidence_n: u64,
    /// Per feature slot: values of the series' own type and of the other type since it
    /// was typed, across windows. A series whose type the reference does not fix changes
    /// type once the other type outnumbers its own, so that the majority type wins, not
    /// the first value's.
    #[serde(default)]
    pub typed: Vec<[u64; 2]>,
    seed: u64,
    sample_cap: usize,
}

impl Acc {
    /// An empty accumulator; `seed_parts` name the series (model, version) so that seeds are
    /// stable across runs.
    pub fn new(seed_parts: &[&str], caps: AccCaps, score_bins: usize) -> Self {
        let seed = stable_hash(seed_parts);
        Acc {
            start: Ts::MAX,
            end: Ts::MIN,
            records: 0,
            features: Vec::new(),
            score: NumericAcc::new(caps.sample, seed ^ 1, score_bins),
            label: CategoricalAcc::default(),
            latency: Reservoir::new(caps.sample, seed ^ 2),
            with_status: 0,
            errors: 0,
            confidence_sum: 0.0,
            confidence_n: 0,
            typed: Vec::new(),
            seed,
            sample_cap: caps.sample,
        }
    }

    /// Adds a record. `slots` come from [`FeatureIndex::resolve`]; `bins(slot)` gives a
    /// numeric slot's reference bins and `score_bins` the prediction score's, when known.
    /// Returns how many feature values were not added because their type is not the
    /// series' (a string in a numeric feature, a number in a categorical one). A series
    /// takes its type from the reference when that has bins for it (numeric), otherwise
    /// from its first value, and changes type when values of the other type outnumber
    /// its own (whose values are then dropped and counted too): one junk first value
    /// cannot decide a feature's type.
    pub fn push<'b>(
        &mut self,
        rec: &InferenceRecord<'_>,
        slots: &[Option<usize>],
        caps: AccCaps,
        bins: impl Fn(usize) -> Option<&'b QuantileBins>,
        score_bins: Option<&QuantileBins>,
    ) -> u64 {
        self.records += 1;
        self.start = self.start.min(rec.ts);
        self.end = self.end.max(rec.ts);
        let mut mismatched = 0;
        if self.typed.len() < self.features.len() {
            self.typed.resize(self.features.len(), [0, 0]); // a snapshot from before
        }
        for ((_, value), slot) in rec.features.iter().zip(slots) {
            let Some(slot) = *slot else { continue };
            while self.features.len() <= slot {
                self.features.push(SeriesAcc::Untyped);
                self.typed.push([0, 0]);
            }
            let series = &mut self.features[slot];
            let numeric = matches!(value, FeatureValue::Num(_));
            if matches!(series, SeriesAcc::Untyped) && !matches!(value, FeatureValue::Null) {
                let b = bins(slot);
                if numeric || b.is_some() {
                    let seed = self.seed ^ stable_hash(&[&slot.to_string()]);
                    let n = b.map_or(0, |b| b.len());
                    *series = SeriesAcc::Numeric(NumericAcc::new(self.sample_cap, seed, n));
                } else {
                    *series = SeriesAcc::Categorical(CategoricalAcc::default());
                }
                self.typed[slot] = [1, 0];
            } else if !matches!(value, FeatureValue::Null) {
                let counts = &mut self.typed[slot];
                if numeric == matches!(series, SeriesAcc::Numeric(_)) {
                    counts[0] += 1;
                } else if bins(slot).is_none() {
                    // The other type, and no reference fixes the type: retype on a majority.
                    counts[1] += 1;
                    if counts[1] > counts[0] {
                        // The other-type values before this one were counted as
                        // mismatched when they came; the series' values in this window are
                        // dropped now. This value starts the new series below.
                        mismatched += match series {
                            SeriesAcc::Numeric(n) => n.seen(),
                            SeriesAcc::Categorical(c) => c.seen,
                            SeriesAcc::Untyped => 0,
                        };
                        *counts = [1, 0];
                        *series = if numeric {
                            let seed = self.seed ^ stable_hash(&[&slot.to_string()]);
                            SeriesAcc::Numeric(NumericAcc::new(self.sample_cap, seed, 0))
                        } else {
                            SeriesAcc::Categorical(CategoricalAcc::default())
                        };
                    }
                }
            }
            match (value, series) {
                (FeatureValue::Null, _) => {}
                (FeatureValue::Num(x), SeriesAcc::Numeric(acc)) => acc.push(*x, bins(slot)),
                (FeatureValue::Cat(v), SeriesAcc::Categorical(c)) => c.push(v, caps.categories),
                (FeatureValue::Bool(b), SeriesAcc::Categorical(c)) => {
                    c.push(if *b { "true" } else { "false" }, caps.categories)
                }
                // The other type: not tested, counted (the decode stage has checked it is
                // a valid JSON scalar, so the record itself is good).
                _ => mismatched += 1,
            }
        }
        if let Some(s) = rec.prediction.score {
            self.score.push(s, score_bins);
        }
        if let Some(l) = &rec.prediction.label {
            self.label.push(l, caps.categories);
        }
        if let Some(l) = rec.latency_ms {
            self.latency.push(l);
        }
        if let Some(c) = rec.prediction.confidence {
            self.confidence_sum += c;
            self.confidence_n += 1;
        }
        if let Some(st) = rec.status {
            self.with_status += 1;
            if st == Status::Error {
                self.errors += 1;
            }
        }
        mismatched
    }

    /// Empties the accumulator for the next window, keeping the random streams going.
    pub fn reset(&mut self) {
        self.start = Ts::MAX;
        self.end = Ts::MIN;
        self.records = 0;
        for f in &mut self.features {
            match f {
                SeriesAcc::Untyped => {}
                SeriesAcc::Numeric(n) => n.clear(),
                SeriesAcc::Categorical(c) => c.clear(),
            }
        }
        self.score.clear();
        self.label.clear();
        self.latency.clear();
        self.with_status = 0;
        self.errors = 0;
        self.confidence_sum = 0.0;
        self.confidence_n = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Prediction;
    use std::borrow::Cow;

    fn rec(features: Vec<(&'static str, FeatureValue<'static>)>) -> InferenceRecord<'static> {
        InferenceRecord {
            ts: 0,
            model: Cow::Borrowed("m"),
            version: Cow::Borrowed("v1"),
            request_id: Cow::Borrowed(""),
            features: features
                .into_iter()
                .map(|(n, v)| (Cow::Borrowed(n), v))
                .collect(),
            prediction: Prediction {
                score: None,
                label: None,
                confidence: None,
            },
            latency_ms: None,
            status: None,
        }
    }

    #[test]
    fn null_values_take_no_slot_until_a_value_comes() {
        let mut index = FeatureIndex::default();
        let mut slots = Vec::new();
        // Null junk names (more than the cap) take no slot and drop nothing.
        let junk: Vec<_> = ["j0", "j1", "j2", "j3"]
            .into_iter()
            .map(|n| (n, FeatureValue::Null))
            .collect();
        assert_eq!(index.resolve(&rec(junk), 2, &[], &mut slots), (0, 0));
        assert_eq!(slots, vec![None; 4]);
        assert!(index.names.is_empty());
        // Real features still get the two slots.
        let real = rec(vec![
            ("a", FeatureValue::Num(1.0)),
            ("b", FeatureValue::Null),
            ("b", FeatureValue::Cat(Cow::Borrowed("x"))),
        ]);
        assert_eq!(index.resolve(&real, 2, &[], &mut slots), (0, 0));
        assert_eq!(slots, vec![Some(0), None, Some(1)]);
        // Once known, a feature's nulls resolve to its slot (they count as missing there).
        let later = rec(vec![
            ("b", FeatureValue::Null),
            ("c", FeatureValue::Num(2.0)),
        ]);
        assert_eq!(index.resolve(&later, 2, &[], &mut slots), (1, 0));
        assert_eq!(slots, vec![Some(1), None]);
        // Frozen (the reference is complete): a new feature's values are counted as not in
        // the reference, its nulls are not; excluded features are neither.
        index.frozen = true;
        let after = rec(vec![
            ("a", FeatureValue::Num(3.0)),
            ("new", FeatureValue::Num(1.0)),
            ("new2", FeatureValue::Null),
            ("skip", FeatureValue::Num(1.0)),
        ]);
        let excluded = ["skip".to_string()];
        assert_eq!(index.resolve(&after, 8, &excluded, &mut slots), (0, 1));
        assert_eq!(slots, vec![Some(0), None, None, None]);
    }

    #[test]
    fn values_of_the_other_type_are_counted_and_the_reference_types_the_series() {
        let caps = AccCaps {
            sample: 100,
            categories: 10,
        };
        let bins = QuantileBins {
            edges: vec![0.5, 1.5],
        };
        let slots = [Some(0), Some(1)];
        let mut acc = Acc::new(&["m", "v1"], caps, 0);
        // Slot 0 is numeric in the reference (it has bins), slot 1 categorical. The window's
        // first values are of the other type: counted, and the series keep their types.
        let first = rec(vec![
            ("a", FeatureValue::Cat(Cow::Borrowed("abc"))),
            ("b", FeatureValue::Cat(Cow::Borrowed("x"))),
        ]);
        let by_slot = |s: usize| (s == 0).then_some(&bins);
        assert_eq!(acc.push(&first, &slots, caps, by_slot, None), 1);
        let good = rec(vec![
            ("a", FeatureValue::Num(1.0)),
            ("b", FeatureValue::Num(3.0)),
        ]);
        assert_eq!(acc.push(&good, &slots, caps, by_slot, None), 1);
        assert!(matches!(&acc.features[0], SeriesAcc::Numeric(n) if n.sample.seen() == 1));
        assert!(matches!(&acc.features[1], SeriesAcc::Categorical(_)));
        // Without a reference the first value decides, and a null decides nothing.
        let mut acc = Acc::new(&["m", "v1"], caps, 0);
        let null = rec(vec![("a", FeatureValue::Null), ("b", FeatureValue::Null)]);
        assert_eq!(acc.push(&null, &slots, caps, |_| None, None), 0);
        assert_eq!(acc.push(&first, &slots, caps, |_| None, None), 0);
        assert_eq!(acc.push(&good, &slots, caps, |_| None, None), 2);
        assert!(matches!(&acc.features[0], SeriesAcc::Categorical(_)));
    }

    #[test]
    fn without_a_reference_the_majority_type_wins_not_the_first_value() {
        let caps = AccCaps {
            sample: 100,
            categories: 10,
        };
        let slots = [Some(0)];
        let num = |x: f64| rec(vec![("a", FeatureValue::Num(x))]);
        let junk = rec(vec![("a", FeatureValue::Cat(Cow::Borrowed("abc")))]);
        let mut acc = Acc::new(&["m", "reference"], caps, 0);
        // One junk string first: the feature is categorical until numbers outnumber it.
        assert_eq!(acc.push(&junk, &slots, caps, |_| None, None), 0);
        assert_eq!(acc.push(&num(1.0), &slots, caps, |_| None, None), 1);
        assert!(matches!(&acc.features[0], SeriesAcc::Categorical(_)));
        // The second number outnumbers the string: numeric from here, the string dropped.
        assert_eq!(acc.push(&num(2.0), &slots, caps, |_| None, None), 1);
        assert!(matches!(&acc.features[0], SeriesAcc::Numeric(n) if n.seen() == 1));
        for i in 0..50 {
            assert_eq!(acc.push(&num(i as f64), &slots, caps, |_| None, None), 0);
        }
        // A few strings among many numbers are counted and change nothing, across windows.
        acc.reset();
        for _ in 0..10 {
            assert_eq!(acc.push(&junk, &slots, caps, |_| None, None), 1);
        }
        assert!(matches!(&acc.features[0], SeriesAcc::Numeric(_)));
        // With a reference that has bins for the feature, no majority changes its type.
        let bins = QuantileBins { edges: vec![0.5] };
        let mut acc = Acc::new(&["m", "v1"], caps, 0);
        for _ in 0..5 {
            assert_eq!(acc.push(&junk, &slots, caps, |_| Some(&bins), None), 1);
        }
        assert!(matches!(&acc.features[0], SeriesAcc::Numeric(n) if n.seen() == 0));
    }
}
