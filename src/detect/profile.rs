//! The reference profile of a model: what its inputs, predictions and operational signals
//! looked like while it was known to be good. Built from the first `reference_size` records
//! or from a baseline file (`vigil baseline`), shared by all versions of the model (inputs
//! do not change with the model version), and serialisable so that it survives restarts.
//!
//! Memory per feature: at most `reference_sample_size` f64 (numeric; plus its KS bucket index,
//! 4 bytes per value, once windows are tested) or `max_categories` counters (categorical).
//! Pure: building and reading a profile does no I/O.

use super::accumulate::Acc;
use super::multivariate::MultivariateProfile;
use super::series::{CategoricalAcc, SeriesAcc};
use super::stats::{quantile_sorted, KsIndex, KsReference, QuantileBins};
use crate::record::{OpsStats, Ts};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The reference of one numeric series.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NumericRef {
    /// The reference sample, sorted ascending.
    pub sorted: Vec<f64>,
    /// PSI bins cut at the sample's quantiles.
    pub bins: QuantileBins,
    /// The sample's counts per bin.
    pub bin_counts: Vec<u64>,
    /// Values seen while building (the sample holds at most its cap of them).
    pub seen: u64,
    /// The index of `sorted` for KS tests, built on first use (not in snapshots: it is
    /// derived).
    #[serde(skip)]
    ks: OnceLock<KsIndex>,
}

impl NumericRef {
    /// The sample prepared for KS tests against windows ([`super::stats::KsMemo::ks_against`]).
    pub fn ks_reference(&self) -> KsReference<'_> {
        KsReference::new(
            &self.sorted,
            self.ks.get_or_init(|| KsIndex::new(&self.sorted)),
        )
    }

    fn from_sample(sorted: Vec<f64>, seen: u64, psi_bins: usize) -> Option<Self> {
        if sorted.is_empty() {
            return None;
        }
        let bins = QuantileBins::from_sorted_reference(&sorted, psi_bins);
        let bin_counts = bins.counts(&sorted);
        Some(NumericRef {
            sorted,
            bins,
            bin_counts,
            seen,
            ks: OnceLock::new(),
        })
    }
}

/// The reference of one feature.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefSeries {
    /// Only nulls were seen: not tested.
    Untyped,
    /// A numeric feature.
    Numeric(NumericRef),
    /// A categorical feature.
    Categorical(CategoricalAcc),
}

/// One feature's reference, by name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureRef {
    /// Feature name.
    pub name: String,
    /// Its reference.
    pub series: RefSeries,
}

/// A model's reference profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReferenceProfile {
    /// Records it was built from.
    pub records: u64,
    /// Event time of the first of them.
    pub start: Ts,
    /// Event time of the last of them.
    pub end: Ts,
    /// Features in slot order.
    pub features: Vec<FeatureRef>,
    /// The numeric prediction, when the model has one.
    pub score: Option<NumericRef>,
    /// The categorical prediction, when the model has one.
    pub label: Option<CategoricalAcc>,
    /// Error rate and latency quantiles of the reference.
    pub ops: OpsStats,
    /// The fitted multivariate detectors (k-means, MMD sample), when configured.
    #[serde(default)]
    pub multivariate: Option<MultivariateProfile>,
    /// The reference's scores by each of the model's ONNX detectors, in config order.
    #[serde(default)]
    pub model_scores: Vec<ScoreRef>,
}

/// The reference of one ONNX detector's scores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoreRef {
    /// The detector's name.
    pub name: String,
    /// The reference sample of its scores, sorted.
    pub sorted: Vec<f64>,
    /// The `quantile` of that sample: records scoring beyond it count as anomalous.
    pub threshold: f64,
}

impl ScoreRef {
    /// A score reference from a sample (None when it is empty).
    pub fn new(name: &str, sample: &super::stats::Reservoir, quantile: f64) -> Option<ScoreRef> {
        let sorted = sample.sorted();
        if sorted.is_empty() {
            return None;
        }
        let threshold = quantile_sorted(&sorted, quantile);
        Some(ScoreRef {
            name: name.to_string(),
            sorted,
            threshold,
        })
    }
}

/// Operational statistics of an accumulator (latency quantiles over its sample).
pub fn ops_stats(acc: &Acc) -> OpsStats {
    let lat = acc.latency.sorted();
    let q = |p: f64| (!lat.is_empty()).then(|| quantile_sorted(&lat, p));
    OpsStats {
        records: acc.records,
        with_status: acc.with_status,
        errors: acc.errors,
        error_rate: (acc.with_status > 0).then(|| acc.errors as f64 / acc.with_status as f64),
        latency_p50: q(0.50),
        latency_p95: q(0.95),
        latency_p99: q(0.99),
        score_mean: acc.score.mean(),
        estimated_accuracy: (acc.confidence_n > 0)
            .then(|| acc.confidence_sum / acc.confidence_n as f64),
    }
}

impl ReferenceProfile {
    /// Freezes an accumulator into a profile; `names` are the feature index's names.
    pub fn from_acc(names: &[String], acc: &Acc, psi_bins: usize) -> Self {
        let features = names
            .iter()
            .enumerate()
            .map(|(slot, name)| {
                let series = match acc.features.get(slot) {
                    Some(SeriesAcc::Numeric(n)) => {
                        NumericRef::from_sample(n.sample.sorted(), n.seen(), psi_bins)
                            .map_or(RefSeries::Untyped, RefSeries::Numeric)
                    }
                    Some(SeriesAcc::Categorical(c)) => RefSeries::Categorical(c.clone()),
                    Some(SeriesAcc::Untyped) | None => RefSeries::Untyped,
                };
                FeatureRef {
                    name: name.clone(),
                    series,
                }
            })
            .collect();
        ReferenceProfile {
            records: acc.records,
            start: acc.start,
            end: acc.end,
            features,
            score: NumericRef::from_sample(acc.score.sample.sorted(), acc.score.seen(), psi_bins),
            label: (acc.label.seen > 0).then(|| acc.label.clone()),
            ops: ops_stats(acc),
            multivariate: None,
            model_scores: Vec::new(),
        }
    }

    /// A digest of the profile's content (SHA-256 of its JSON, hex), to tell profiles apart.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        // Through `Value`, whose maps are sorted: category counts live in a HashMap whose
        // iteration order differs between processes.
        let value = serde_json::to_value(self).expect("a profile serialises");
        let bytes = serde_json::to_vec(&value).expect("a value serialises");
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The feature names in slot order.
    pub fn names(&self) -> Vec<String> {
        self.features.iter().map(|f| f.name.clone()).collect()
    }

    /// The PSI bins of a numeric slot.
    pub fn bins(&self, slot: usize) -> Option<&QuantileBins> {
        match self.features.get(slot).map(|f| &f.series) {
            Some(RefSeries::Numeric(n)) => Some(&n.bins),
            _ => None,
        }
    }

    /// The PSI bins of the prediction score.
    pub fn score_bins(&self) -> Option<&QuantileBins> {
        self.score.as_ref().map(|s| &s.bins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::series::CategoricalAcc;

    #[test]
    fn digest_ignores_hash_map_order() {
        let mut a = CategoricalAcc::default();
        let mut b = CategoricalAcc::default();
        let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
        for k in &keys {
            a.push(k, 100);
        }
        for k in keys.iter().rev() {
            b.push(k, 100);
        }
        let profile = |label| ReferenceProfile {
            records: 50,
            start: 0,
            end: 1,
            features: vec![],
            score: None,
            label: Some(label),
            ops: OpsStats::default(),
            multivariate: None,
            model_scores: Vec::new(),
        };
        assert_eq!(profile(a).digest(), profile(b.clone()).digest());
        let mut c = b.clone();
        c.push("k0", 100);
        assert_ne!(profile(b).digest(), profile(c).digest());
    }
}
