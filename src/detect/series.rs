//! Bounded per-series accumulators shared by the reference profile and the current windows:
//! a numeric series keeps a seeded reservoir sample (for KS and quantiles) and, once bins
//! are known, exact bin counts (for PSI); a categorical series keeps counts for at most
//! `max_categories` distinct values and pools the rest in `__other__`.
//!
//! Pure data structures: no I/O, no clock.

use super::stats::{QuantileBins, Reservoir};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};

fn sorted<S: serde::Serializer>(m: &HashMap<String, u64>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(
        m.iter()
            .collect::<std::collections::BTreeMap<&String, &u64>>(),
    )
}

/// The category that pools values beyond the cap.
pub const OTHER: &str = "__other__";

/// A stable 64-bit FNV-1a hash, used to derive per-series seeds so that a series' sample
/// does not depend on the order in which models or features first appeared (replays give
/// the same verdicts as the live run). std's hasher is randomly keyed and so unusable here.
pub fn stable_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A numeric series: a bounded sample plus optional exact bin counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NumericAcc {
    /// Uniform sample of the values (bounded by its cap).
    pub sample: Reservoir,
    /// Exact counts per PSI bin of the reference (empty while the bins are unknown).
    pub bin_counts: Vec<u64>,
    /// Sum of all values (for means).
    pub sum: f64,
}

impl NumericAcc {
    /// An empty accumulator keeping at most `cap` values.
    pub fn new(cap: usize, seed: u64, bins: usize) -> Self {
        NumericAcc {
            sample: Reservoir::new(cap, seed),
            bin_counts: vec![0; bins],
            sum: 0.0,
        }
    }

    /// Adds one value; `bins` are the reference's PSI bins when known.
    #[inline]
    pub fn push(&mut self, x: f64, bins: Option<&QuantileBins>) {
        self.sample.push(x);
        self.sum += x;
        if let Some(b) = bins {
            let i = b.bin_of(x);
            if let Some(c) = self.bin_counts.get_mut(i) {
                *c += 1;
            }
        }
    }

    /// Values seen.
    pub fn seen(&self) -> u64 {
        self.sample.seen()
    }

    /// Mean of every value seen.
    pub fn mean(&self) -> Option<f64> {
        let n = self.seen();
        (n > 0).then(|| self.sum / n as f64)
    }

    /// Forgets the values, keeping the random stream going.
    pub fn clear(&mut self) {
        self.sample.clear();
        self.bin_counts.iter_mut().for_each(|c| *c = 0);
        self.sum = 0.0;
    }
}

/// A categorical series with a bounded number of distinct values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CategoricalAcc {
    /// Counts by category, at most `cap` entries plus [`OTHER`]. Written sorted by
    /// category, so that a baseline file or snapshot of the same data is the same bytes.
    #[serde(serialize_with = "sorted")]
    pub counts: HashMap<String, u64>,
    /// Values seen.
    pub seen: u64,
}

impl CategoricalAcc {
    /// Counts one value; beyond `cap` distinct values new ones pool in [`OTHER`].
    #[inline]
    pub fn push(&mut self, v: &str, cap: usize) {
        self.seen += 1;
        if let Some(c) = self.counts.get_mut(v) {
            *c += 1;
        } else if self.counts.len() < cap {
            self.counts.insert(v.to_owned(), 1);
        } else {
            *self.counts.entry(OTHER.to_owned()).or_insert(0) += 1;
        }
    }

    /// Forgets the counts.
    pub fn clear(&mut self) {
        self.counts.clear();
        self.seen = 0;
    }

    /// The two count rows of a homogeneity test against `baseline`, over the union of
    /// categories (a category unseen in the baseline gets a 0 there; the test's pooled
    /// expectation then handles it), in a deterministic order.
    pub fn aligned_with(&self, baseline: &CategoricalAcc) -> (Vec<u64>, Vec<u64>) {
        let mut keys: Vec<&String> = baseline.counts.keys().chain(self.counts.keys()).collect();
        keys.sort_unstable();
        keys.dedup();
        let b = keys
            .iter()
            .map(|k| baseline.counts.get(*k).copied().unwrap_or(0))
            .collect();
        let c = keys
            .iter()
            .map(|k| self.counts.get(*k).copied().unwrap_or(0))
            .collect();
        (b, c)
    }
}

/// One series, numeric or categorical.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesAcc {
    /// Not yet typed (only nulls so far).
    Untyped,
    /// Numbers.
    Numeric(NumericAcc),
    /// Strings and booleans.
    Categorical(CategoricalAcc),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_counts_are_written_sorted_whatever_the_insertion_order() {
        let names = ["k4", "k0", "__other__", "b", "k10", "a"];
        let json = |order: &[&str]| {
            let mut c = CategoricalAcc::default();
            for v in order {
                c.push(v, 100);
            }
            serde_json::to_string(&c).expect("json")
        };
        let mut reversed = names;
        reversed.reverse();
        let a = json(&names);
        assert_eq!(a, json(&reversed));
        assert!(
            a.starts_with(r#"{"counts":{"__other__":1,"a":1,"b":1,"k0":1,"k10":1,"k4":1}"#),
            "{a}"
        );
        let back: CategoricalAcc = serde_json::from_str(&a).expect("read back");
        assert_eq!(back.counts.len(), names.len());
    }
}
