//! Closing a window: the tests of its features against the reference profile, of its
//! prediction against the reference and the previous version, and its operational
//! statistics, with false-alarm control across the feature tests. Pure: the caller passes
//! everything in and gets a [`WindowReport`] back.

use super::accumulate::Acc;
use super::profile::{ops_stats, NumericRef, RefSeries, ReferenceProfile};
use super::series::{CategoricalAcc, NumericAcc, SeriesAcc};
use super::stats::{
    adjust_p_values, chi2_homogeneity, pool_sparse, psi, two_proportion_z_greater, Correction,
    KsMemo,
};
use crate::record::{Drift, OpsStats, TestKind, WindowReport};
use serde::{Deserialize, Serialize};

/// What later versions are compared with: the prediction and the operational signals of a
/// version's most recent tested window (bounded by the window sample cap).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastWindow {
    /// The prediction score sample, sorted.
    pub score_sorted: Vec<f64>,
    /// Prediction label counts.
    pub label: CategoricalAcc,
    /// Operational statistics.
    pub ops: OpsStats,
}

/// Identifies the window being closed.
#[derive(Debug, Clone, Copy)]
pub struct WindowId<'a> {
    /// Model name.
    pub model: &'a str,
    /// Version.
    pub version: &'a str,
    /// Sequence number of the window for this version.
    pub window: u64,
}

/// Settings that shape the tests.
#[derive(Debug, Clone, Copy)]
pub struct TestSettings {
    /// False-alarm control across the feature tests of one window.
    pub correction: Correction,
    /// Windows with fewer records report operational statistics only.
    pub min_records: u64,
}

/// Runs every test of a closed window. Returns the report and what later versions will be
/// compared with.
pub fn close_window(
    id: WindowId<'_>,
    profile: &ReferenceProfile,
    acc: &Acc,
    previous: Option<(&str, &LastWindow)>,
    settings: TestSettings,
    ks: &mut KsMemo,
) -> (WindowReport, LastWindow) {
    let ops = ops_stats(acc);
    let score_sorted = acc.score.sample.sorted();
    let testable = acc.records >= settings.min_records;
    let mut features = Vec::new();
    let mut vs_ref = Vec::new();
    let mut vs_prev = Vec::new();
    if testable {
        for (slot, f) in profile.features.iter().enumerate() {
            let row = match (&f.series, acc.features.get(slot)) {
                (RefSeries::Numeric(r), Some(SeriesAcc::Numeric(c))) => numeric(&f.name, r, c, ks),
                (RefSeries::Categorical(r), Some(SeriesAcc::Categorical(c))) => {
                    categorical(&f.name, r, c)
                }
                _ => None,
            };
            features.extend(row);
        }
        adjust(&mut features, settings.correction);
        if let Some(r) = &profile.score {
            vs_ref.extend(numeric_sample(
                "prediction.score",
                r,
                &acc.score,
                &score_sorted,
                ks,
            ));
        }
        if let Some(r) = &profile.label {
            vs_ref.extend(categorical("prediction.label", r, &acc.label));
        }
        adjust(&mut vs_ref, settings.correction);
        if let Some((_, last)) = previous {
            if !last.score_sorted.is_empty() && !score_sorted.is_empty() {
                let result = ks.ks_2samp_sorted(&score_sorted, &last.score_sorted);
                vs_prev.push(Drift {
                    name: "prediction.score".into(),
                    test: TestKind::Ks,
                    result,
                    p_adjusted: result.p_value,
                    psi: None,
                    n_current: score_sorted.len() as u64,
                    n_baseline: last.score_sorted.len() as u64,
                });
            }
            vs_prev.extend(categorical("prediction.label", &last.label, &acc.label));
            adjust(&mut vs_prev, settings.correction);
        }
    }
    let ops_previous = previous.map(|(_, l)| l.ops);
    let z = |base: Option<&OpsStats>| {
        base.and_then(|b| {
            two_proportion_z_greater(ops.errors, ops.with_status, b.errors, b.with_status)
        })
    };
    let report = WindowReport {
        kind: crate::record::WindowKind::Inference,
        model: id.model.to_string(),
        version: id.version.to_string(),
        window: id.window,
        start: acc.start,
        end: acc.end.saturating_add(1),
        features,
        prediction_vs_reference: vs_ref,
        prediction_vs_previous: vs_prev,
        ops,
        ops_reference: Some(profile.ops),
        ops_previous,
        previous_version: previous.map(|(v, _)| v.to_string()),
        error_rate_p_vs_previous: z(ops_previous.as_ref()),
        error_rate_p_vs_reference: z(Some(&profile.ops)),
        performance: None,
        changes: Vec::new(),
        metric: None,
        multivariate: Vec::new(),
        model_scores: Vec::new(),
    };
    let last = LastWindow {
        score_sorted,
        label: acc.label.clone(),
        ops,
    };
    (report, last)
}

/// Adjusts the p-values of one family of tests together.
pub fn adjust(rows: &mut [Drift], correction: Correction) {
    let p: Vec<f64> = rows.iter().map(|d| d.result.p_value).collect();
    for (row, q) in rows.iter_mut().zip(adjust_p_values(&p, correction)) {
        row.p_adjusted = q;
    }
}

fn numeric(name: &str, r: &NumericRef, c: &NumericAcc, ks: &mut KsMemo) -> Option<Drift> {
    numeric_sample(name, r, c, c.sample.values(), ks)
}

/// The KS test and PSI of one numeric series; `sample` is its window sample, in any order.
fn numeric_sample(
    name: &str,
    r: &NumericRef,
    c: &NumericAcc,
    sample: &[f64],
    ks: &mut KsMemo,
) -> Option<Drift> {
    if sample.is_empty() || r.sorted.is_empty() {
        return None;
    }
    let result = ks.ks_against(sample, r.ks_reference());
    let psi = (c.bin_counts.len() == r.bin_counts.len() && c.seen() > 0)
        .then(|| psi(&r.bin_counts, &c.bin_counts));
    Some(Drift {
        name: name.to_string(),
        test: TestKind::Ks,
        result,
        p_adjusted: result.p_value,
        psi,
        n_current: sample.len() as u64,
        n_baseline: r.sorted.len() as u64,
    })
}

fn categorical(name: &str, r: &CategoricalAcc, c: &CategoricalAcc) -> Option<Drift> {
    if c.seen == 0 || r.seen == 0 {
        return None;
    }
    let (base, cur) = c.aligned_with(r);
    let (base, cur) = pool_sparse(&base, &cur);
    let result = chi2_homogeneity(&base, &cur)?;
    Some(Drift {
        name: name.to_string(),
        test: TestKind::Chi2,
        result,
        p_adjusted: result.p_value,
        psi: None,
        n_current: c.seen,
        n_baseline: r.seen,
    })
}
