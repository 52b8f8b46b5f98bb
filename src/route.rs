//! Routing: (model, version) -> bounded per-model state. Owns the reference phase, the
//! tumbling windows of every tracked version and the bookkeeping of which version came
//! before which. Emits a [`WindowReport`] each time a window closes. Pure: event time comes
//! from the records.

use crate::config::{Config, InferenceStream, ModelConfig, WindowSpec};
use crate::detect::accumulate::{Acc, AccCaps, FeatureIndex};
use crate::detect::compare::adjust;
use crate::detect::compare::{close_window, LastWindow, TestSettings, WindowId};
use crate::detect::multivariate::tail::beta_binomial_sf;
use crate::detect::multivariate::{MultivariateBuilder, MultivariateReport, MultivariateWindow};
use crate::detect::online::ChangeDetector;
use crate::detect::profile::{ReferenceProfile, ScoreRef};
use crate::detect::series::stable_hash;
use crate::detect::stats::KsMemo;
use crate::detect::stats::Reservoir;
use crate::labels::MAX_CHANGES;
use crate::record::{
    ChangeReport, Drift, FeatureValue, InferenceRecord, RejectReason, Rejection, Status, TestKind,
    TestResult, Ts, WindowReport,
};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// State of one version of a model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionState {
    /// The current window.
    pub acc: Acc,
    /// Sequence number of the current window.
    pub window: u64,
    /// For duration windows: the aligned start of the current window.
    pub window_start: Option<Ts>,
    /// The version that was live when this one first appeared.
    pub previous: Option<String>,
    /// Event time this version was first seen.
    pub first_seen: Ts,
    /// Event time this version was last seen (for eviction).
    pub last_seen: Ts,
    /// The latest tested window, for comparisons by later versions.
    pub last_window: Option<LastWindow>,
    /// (errors, records with a status) of the latest tested windows, newest last, at most
    /// [`RECENT_WINDOWS`]: later versions compare error rates with these pooled counts.
    #[serde(default)]
    pub recent_errors: Vec<(u64, u64)>,
    /// The model's online detectors on inference streams, in config order.
    #[serde(default)]
    pub online: Vec<ChangeDetector>,
    /// Change points found during the current window (at most [`MAX_CHANGES`]).
    #[serde(default)]
    pub changes: Vec<ChangeReport>,
    /// The current window of the multivariate detectors, when the reference has them.
    #[serde(default)]
    pub multivariate: Option<MultivariateWindow>,
    /// The current window of each ONNX detector's scores, in config order.
    #[serde(default)]
    pub model_scores: Vec<ScoreWindow>,
}

/// Tested windows whose error counts are pooled for comparisons with the next version.
pub const RECENT_WINDOWS: usize = 3;

/// Where the model's reference comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reference {
    /// Being built from the first records.
    Building(Box<Acc>),
    /// Complete.
    Ready(Box<ReferenceProfile>),
}

/// State of one model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelState {
    /// Feature name -> slot.
    pub index: FeatureIndex,
    /// The reference profile, or its builder.
    pub reference: Reference,
    /// Tracked versions.
    pub versions: BTreeMap<String, VersionState>,
    /// The version of the most recent record.
    pub current_version: Option<String>,
    /// Records whose features beyond `max_features_per_model` were not monitored.
    pub dropped_features: u64,
    /// Digest of the baseline profile pinned from a file, if one was: a restart re-pins
    /// only when the configured profile differs from this one.
    #[serde(default)]
    pub pinned: Option<String>,
    /// The multivariate reference being built (while the reference is).
    #[serde(default)]
    pub multivariate: Option<MultivariateBuilder>,
    /// Why the multivariate profile could not be built, if it could not.
    #[serde(default)]
    pub multivariate_error: Option<String>,
    /// The reference's scores by each ONNX detector, while the reference is built.
    #[serde(default)]
    pub reference_scores: Vec<Reservoir>,
}

/// One ONNX detector's scores in the current window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoreWindow {
    /// A bounded sample of the scores (for the KS test against the reference's).
    pub sample: Reservoir,
    /// Scores beyond the reference threshold.
    pub far: u64,
    /// Scores counted.
    pub n: u64,
}

/// A record's feature values that were not monitored, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DroppedValues {
    /// Of a type other than their feature's series (a string in a numeric feature).
    pub mismatched: u64,
    /// Of features beyond `limits.max_features_per_model`.
    pub beyond_cap: u64,
    /// Of features the model's reference does not have (it had no value for them, or
    /// they came with a later version): only a re-pinned reference monitors them.
    pub not_in_reference: u64,
}

impl DroppedValues {
    /// Whether every value was monitored.
    pub fn is_empty(&self) -> bool {
        *self == DroppedValues::default()
    }

    /// Values not monitored, whatever the reason.
    pub fn total(&self) -> u64 {
        self.mismatched + self.beyond_cap + self.not_in_reference
    }
}

/// What routing one record produced.
#[derive(Debug, Default)]
pub struct Routed {
    /// Windows closed by this record.
    pub reports: Vec<WindowReport>,
    /// Versions forgotten to make room for a new one: (model, version). A model
    /// forgotten to make room for a new model has all its versions here.
    pub evicted: Vec<(String, String)>,
    /// A model forgotten to make room for this record's model (silent for at least
    /// `limits.evict_idle_after`), and whether its reference was complete.
    pub evicted_model: Option<(String, bool)>,
    /// The model's reference profile was completed by this record.
    pub reference_completed: Option<String>,
    /// This record's feature values that were not monitored.
    pub dropped_values: DroppedValues,
}

/// All per-model state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Router {
    /// Models by name.
    pub models: HashMap<String, ModelState>,
    #[serde(skip)]
    slots: Vec<Option<usize>>,
    /// Exact KS p-values by (sizes, statistic): a cache, results are the same without it.
    #[serde(skip)]
    ks: KsMemo,
}

fn caps(cfg: &ModelConfig, config: &Config, reference: bool) -> AccCaps {
    AccCaps {
        sample: if reference {
            cfg.reference_sample_size
        } else {
            cfg.window_sample_size
        },
        categories: config.limits.max_categories,
    }
}

impl Router {
    /// The version that was live when `version` of `model` first appeared.
    pub fn previous_of(&self, model: &str, version: &str) -> Option<String> {
        self.models
            .get(model)?
            .versions
            .get(version)?
            .previous
            .clone()
    }

    /// The event time `model` last sent a record (its versions' latest).
    fn last_seen(m: &ModelState) -> Ts {
        m.versions
            .values()
            .map(|v| v.last_seen)
            .max()
            .unwrap_or(Ts::MIN)
    }

    /// Makes room for a new model at `now`: forgets the model seen least recently if it has
    /// been silent for at least `idle_ms`, listing its versions in `out.evicted`. Otherwise
    /// returns how long that model has been silent. O(models x versions), only for a new
    /// model at the cap.
    fn evict_idle_model(&mut self, now: Ts, idle_ms: i64, out: &mut Routed) -> Result<(), i64> {
        let Some((name, last)) = self
            .models
            .iter()
            .map(|(n, m)| (n, Self::last_seen(m)))
            // Of equals, the smallest name, so that replays agree whatever the map's order.
            .min_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)))
            .map(|(n, t)| (n.clone(), t))
        else {
            return Ok(());
        };
        let silent = now.saturating_sub(last);
        if silent < idle_ms {
            return Err(silent);
        }
        let m = self.models.remove(&name).expect("found above");
        out.evicted
            .extend(m.versions.keys().map(|v| (name.clone(), v.clone())));
        out.evicted_model = Some((name, matches!(m.reference, Reference::Ready(_))));
        Ok(())
    }

    /// Forgets everything about `model` (a reload changed how its reference is built).
    pub fn forget_model(&mut self, model: &str) -> bool {
        self.models.remove(model).is_some()
    }

    /// Restarts the current windows of every version of `model` (a reload changed how
    /// windows are cut). The reference is kept.
    pub fn restart_windows(&mut self, model: &str, config: &Config) {
        let Some(m) = self.models.get_mut(model) else {
            return;
        };
        let cfg = config.model(model);
        let bins = match &m.reference {
            Reference::Ready(p) => p.score_bins().map_or(0, |b| b.len()),
            Reference::Building(_) => return,
        };
        for (name, v) in m.versions.iter_mut() {
            v.acc = Acc::new(&[model, name], caps(cfg, config, false), bins);
            v.window_start = None;
            v.online = cfg
                .online
                .iter()
                .map(|s| ChangeDetector::new(&s.detector))
                .collect();
            v.changes.clear();
        }
    }

    /// Rebuilds lookup tables after a snapshot was restored.
    pub fn rebuild(&mut self) {
        self.models.values_mut().for_each(|m| m.index.rebuild());
    }

    /// Installs a reference profile for `model` (from a baseline file or a re-pin),
    /// replacing whatever reference it had.
    pub fn pin_reference(
        &mut self,
        model: &str,
        profile: ReferenceProfile,
        digest: Option<String>,
    ) {
        let index = FeatureIndex::frozen(profile.names());
        let score_bins = profile.score_bins().map_or(0, |b| b.len());
        let state = self
            .models
            .entry(model.to_string())
            .or_insert_with(|| ModelState {
                index: FeatureIndex::default(),
                reference: Reference::Building(Box::new(Acc::new(
                    &[model],
                    AccCaps {
                        sample: 1,
                        categories: 1,
                    },
                    0,
                ))),
                versions: BTreeMap::new(),
                current_version: None,
                dropped_features: 0,
                pinned: None,
                multivariate: None,
                multivariate_error: None,
                reference_scores: Vec::new(),
            });
        state.index = index;
        state.reference = Reference::Ready(Box::new(profile));
        state.pinned = digest;
        // Windows in flight were typed and binned against the old reference: start afresh.
        for v in state.versions.values_mut() {
            v.acc.reset();
            v.acc.features.clear();
            v.acc.score.bin_counts = vec![0; score_bins];
        }
    }

    /// Routes one inference record. `clock()` is the stream's event time, on which models
    /// are idle (read only for a new model at the cap); `protected(model)` names a version that must not be evicted (the rollback
    /// target).
    pub fn route(
        &mut self,
        rec: &InferenceRecord<'_>,
        config: &Config,
        clock: impl Fn() -> Ts,
        protected: impl Fn(&str) -> Option<String>,
        scores: &[Option<f64>],
        out: &mut Routed,
    ) -> Result<(), Rejection> {
        let cfg = config.model(&rec.model);
        let limits = &config.limits;
        if !self.models.contains_key(rec.model.as_ref()) {
            if self.models.len() >= limits.max_models {
                self.evict_idle_model(clock(), limits.evict_idle_after_ms, out)
                    .map_err(|idle| {
                        Rejection::new(
                            RejectReason::TooManyModels,
                            format!(
                                "model {:?} would exceed limits.max_models = {} (the least \
                                 recently seen model has been silent for {}, less than \
                                 limits.evict_idle_after)",
                                rec.model,
                                limits.max_models,
                                humantime::format_duration(std::time::Duration::from_millis(
                                    idle.max(0) as u64 / 1000 * 1000
                                ))
                            ),
                        )
                    })?;
            }
            self.models.insert(
                rec.model.to_string(),
                ModelState {
                    index: FeatureIndex::default(),
                    reference: Reference::Building(Box::new(Acc::new(
                        &[&rec.model, "reference"],
                        caps(cfg, config, true),
                        0,
                    ))),
                    versions: BTreeMap::new(),
                    current_version: None,
                    dropped_features: 0,
                    pinned: None,
                    multivariate: cfg.multivariate.as_ref().and_then(|c| {
                        MultivariateBuilder::new(
                            c.clone(),
                            stable_hash(&[&rec.model, "multivariate"]),
                        )
                        .ok()
                    }),
                    multivariate_error: None,
                    reference_scores: cfg
                        .onnx
                        .iter()
                        .map(|o| {
                            Reservoir::new(
                                cfg.reference_sample_size,
                                stable_hash(&[&rec.model, "onnx", &o.name]),
                            )
                        })
                        .collect(),
                },
            );
        }
        let model = self
            .models
            .get_mut(rec.model.as_ref())
            .expect("inserted above");

        // Version bookkeeping (also during the reference phase, so `previous` is right).
        if !model.versions.contains_key(rec.version.as_ref()) {
            if model.versions.len() >= limits.max_versions_per_model {
                let keep = protected(&rec.model);
                let victim = model
                    .versions
                    .iter()
                    .filter(|(v, _)| Some(v.as_str()) != keep.as_deref())
                    .filter(|(v, _)| Some(v.as_str()) != model.current_version.as_deref())
                    .min_by_key(|(_, s)| s.last_seen)
                    .map(|(v, _)| v.clone());
                match victim {
                    Some(v) => {
                        model.versions.remove(&v);
                        out.evicted.push((rec.model.to_string(), v));
                    }
                    None => {
                        return Err(Rejection::new(
                            RejectReason::TooManyVersions,
                            format!(
                            "version {:?} of {:?} would exceed limits.max_versions_per_model = {}",
                            rec.version, rec.model, limits.max_versions_per_model
                        ),
                        ))
                    }
                }
            }
            let bins = match &model.reference {
                Reference::Ready(p) => p.score_bins().map_or(0, |b| b.len()),
                Reference::Building(_) => 0,
            };
            model.versions.insert(
                rec.version.to_string(),
                VersionState {
                    acc: Acc::new(&[&rec.model, &rec.version], caps(cfg, config, false), bins),
                    window: 0,
                    window_start: None,
                    previous: model.current_version.clone(),
                    first_seen: rec.ts,
                    last_seen: rec.ts,
                    last_window: None,
                    recent_errors: Vec::new(),
                    online: cfg
                        .online
                        .iter()
                        .map(|s| ChangeDetector::new(&s.detector))
                        .collect(),
                    changes: Vec::new(),
                    multivariate: None,
                    model_scores: Vec::new(),
                },
            );
        }
        if model.current_version.as_deref() != Some(rec.version.as_ref()) {
            model.current_version = Some(rec.version.to_string());
        }

        let (dropped, unknown) = model.index.resolve(
            rec,
            limits.max_features_per_model,
            &cfg.exclude_features,
            &mut self.slots,
        );
        if dropped > 0 {
            model.dropped_features += 1;
        }
        out.dropped_values.beyond_cap = dropped as u64;
        out.dropped_values.not_in_reference = unknown as u64;

        let profile = match &mut model.reference {
            Reference::Building(acc) => {
                out.dropped_values.mismatched =
                    acc.push(rec, &self.slots, caps(cfg, config, true), |_| None, None);
                if let Some(b) = model.multivariate.as_mut() {
                    b.push(&rec.features);
                }
                for (r, s) in model.reference_scores.iter_mut().zip(scores) {
                    if let Some(s) = s {
                        r.push(*s);
                    }
                }
                let v = model
                    .versions
                    .get_mut(rec.version.as_ref())
                    .expect("inserted above");
                v.last_seen = v.last_seen.max(rec.ts);
                if acc.records >= cfg.reference_size {
                    let mut profile =
                        ReferenceProfile::from_acc(&model.index.names, acc, cfg.psi_bins);
                    if let Some(b) = model.multivariate.take() {
                        match b.finish() {
                            Ok(p) => profile.multivariate = Some(p),
                            Err(e) => model.multivariate_error = Some(e.to_string()),
                        }
                    }
                    profile.model_scores = cfg
                        .onnx
                        .iter()
                        .zip(&model.reference_scores)
                        .filter_map(|(o, r)| ScoreRef::new(&o.name, r, o.quantile))
                        .collect();
                    model.reference_scores.clear();
                    model.index.frozen = true;
                    model.reference = Reference::Ready(Box::new(profile));
                    out.reference_completed = Some(rec.model.to_string());
                    // Windows start after the reference: give them the score bins.
                    let score_bins = match &model.reference {
                        Reference::Ready(p) => p.score_bins().map_or(0, |b| b.len()),
                        Reference::Building(_) => 0,
                    };
                    for (name, v) in model.versions.iter_mut() {
                        v.acc = Acc::new(&[&rec.model, name], caps(cfg, config, false), score_bins);
                    }
                }
                return Ok(());
            }
            Reference::Ready(p) => p,
        };

        let state = model
            .versions
            .get_mut(rec.version.as_ref())
            .expect("inserted above");
        state.last_seen = state.last_seen.max(rec.ts);
        // Duration windows close when a record at or past their end arrives.
        if let WindowSpec::Duration(d) = cfg.window {
            let d = d.get() as i64;
            let aligned = rec.ts.div_euclid(d) * d;
            match state.window_start {
                Some(s) if rec.ts >= s + d => {
                    if state.acc.records > 0 {
                        let prev = previous_window(&model.versions, rec.version.as_ref());
                        let state = model
                            .versions
                            .get_mut(rec.version.as_ref())
                            .expect("present");
                        out.reports.push(close(
                            &rec.model,
                            rec.version.as_ref(),
                            state,
                            profile,
                            prev,
                            cfg,
                            &mut self.ks,
                        ));
                    }
                    let state = model
                        .versions
                        .get_mut(rec.version.as_ref())
                        .expect("present");
                    state.window_start = Some(aligned);
                    state.acc.start = aligned;
                }
                Some(_) => {}
                None => state.window_start = Some(aligned),
            }
        }
        let state = model
            .versions
            .get_mut(rec.version.as_ref())
            .expect("present");
        out.dropped_values.mismatched = state.acc.push(
            rec,
            &self.slots,
            caps(cfg, config, false),
            |slot| profile.bins(slot),
            profile.score_bins(),
        );
        let mut changed = false;
        if !profile.model_scores.is_empty() && state.model_scores.is_empty() {
            state.model_scores = profile
                .model_scores
                .iter()
                .map(|r| ScoreWindow {
                    sample: Reservoir::new(
                        cfg.window_sample_size,
                        stable_hash(&[&rec.model, &rec.version, "onnx", &r.name]),
                    ),
                    far: 0,
                    n: 0,
                })
                .collect();
        }
        for ((w, r), s) in state
            .model_scores
            .iter_mut()
            .zip(&profile.model_scores)
            .zip(scores)
        {
            if let Some(s) = s {
                w.sample.push(*s);
                w.n += 1;
                w.far += u64::from(*s > r.threshold);
            }
        }
        if let Some(p) = &profile.multivariate {
            let seed = stable_hash(&[&rec.model, &rec.version, "multivariate"]);
            state
                .multivariate
                .get_or_insert_with(|| p.window(seed))
                .push(p, &rec.features);
        }
        for (spec, d) in cfg.online.iter().zip(state.online.iter_mut()) {
            let x = match &spec.stream {
                InferenceStream::Score => rec.prediction.score,
                InferenceStream::Latency => rec.latency_ms,
                InferenceStream::Error => {
                    rec.status.map(|s| f64::from(u8::from(s == Status::Error)))
                }
                InferenceStream::Feature(f) => rec.features.iter().find_map(|(n, v)| match v {
                    FeatureValue::Num(x) if n == f => Some(*x),
                    _ => None,
                }),
            };
            if let Some(cp) = x.and_then(|x| d.update(x, rec.ts)) {
                changed = true;
                if state.changes.len() < MAX_CHANGES {
                    state.changes.push(ChangeReport {
                        stream: spec.stream.name(),
                        detector: d.kind().to_string(),
                        ts: cp.ts,
                        index: cp.index,
                        mean_before: cp.mean_before,
                        mean_after: cp.mean_after,
                    });
                }
            }
        }
        // A change point closes the window at once (the alert comes with the detection).
        let full = matches!(cfg.window, WindowSpec::Records(n) if state.acc.records >= n.get());
        if changed || full {
            let prev = previous_window(&model.versions, rec.version.as_ref());
            let state = model
                .versions
                .get_mut(rec.version.as_ref())
                .expect("present");
            out.reports.push(close(
                &rec.model,
                rec.version.as_ref(),
                state,
                profile,
                prev,
                cfg,
                &mut self.ks,
            ));
        }
        Ok(())
    }
}

/// The previous version's name and latest tested window, when both are known.
fn previous_window(
    versions: &BTreeMap<String, VersionState>,
    version: &str,
) -> Option<(String, LastWindow)> {
    let prev = versions.get(version)?.previous.as_ref()?;
    let last = versions.get(prev)?.last_window.as_ref()?;
    Some((prev.clone(), last.clone()))
}

fn close(
    model: &str,
    version: &str,
    state: &mut VersionState,
    profile: &ReferenceProfile,
    previous: Option<(String, LastWindow)>,
    cfg: &ModelConfig,
    ks: &mut KsMemo,
) -> WindowReport {
    let (report, last) = close_window(
        WindowId {
            model,
            version,
            window: state.window,
        },
        profile,
        &state.acc,
        previous.as_ref().map(|(v, l)| (v.as_str(), l)),
        TestSettings {
            correction: cfg.correction,
            min_records: cfg.min_window_records,
        },
        ks,
    );
    let mut report = report;
    report.changes = std::mem::take(&mut state.changes);
    let testable = state.acc.records >= cfg.min_window_records;
    if let (Some(p), Some(w)) = (&profile.multivariate, state.multivariate.as_mut()) {
        if testable {
            let seed = stable_hash(&[model, version, &state.window.to_string()]);
            report.multivariate = multivariate_rows(&w.finish(p, seed));
        }
        w.clear();
    }
    if testable {
        report.model_scores = score_rows(&profile.model_scores, &state.model_scores, ks);
    }
    for w in &mut state.model_scores {
        w.sample.clear();
        w.far = 0;
        w.n = 0;
    }
    if !report.multivariate.is_empty() || !report.model_scores.is_empty() {
        // One family with the univariate tests: the false-alarm control covers them all.
        let mut all: Vec<Drift> = report.features.drain(..).collect();
        let (n, m) = (all.len(), report.multivariate.len());
        all.append(&mut report.multivariate);
        all.append(&mut report.model_scores);
        adjust(&mut all, cfg.correction);
        report.model_scores = all.split_off(n + m);
        report.multivariate = all.split_off(n);
        report.features = all;
    }
    if state.acc.records >= cfg.min_window_records {
        let mut last = last;
        if state.recent_errors.len() == RECENT_WINDOWS {
            state.recent_errors.remove(0);
        }
        state
            .recent_errors
            .push((last.ops.errors, last.ops.with_status));
        // The error rate later versions are compared with pools the recent windows: one
        // window of a 1% error rate holds too few errors to be a stable baseline.
        let (errors, with_status) = state
            .recent_errors
            .iter()
            .fold((0, 0), |(e, n), &(de, dn)| (e + de, n + dn));
        last.ops.errors = errors;
        last.ops.with_status = with_status;
        last.ops.error_rate = (with_status > 0).then(|| errors as f64 / with_status as f64);
        state.last_window = Some(last);
    }
    state.window += 1;
    state.acc.reset();
    report
}

/// The multivariate tests of a window as drift rows.
fn multivariate_rows(r: &MultivariateReport) -> Vec<Drift> {
    let mut out = Vec::new();
    let row = |name: &str, test, result: TestResult, n_current: u64, n_baseline: u64| Drift {
        name: name.to_string(),
        test,
        result,
        p_adjusted: result.p_value,
        psi: None,
        n_current,
        n_baseline,
    };
    if let Some(k) = &r.kmeans {
        out.push(row(
            "multivariate.kmeans_far_share",
            TestKind::FarShare,
            TestResult {
                statistic: k.far_share,
                p_value: k.p_far,
            },
            k.records,
            0,
        ));
        out.push(row(
            "multivariate.kmeans_clusters",
            TestKind::Chi2,
            k.cluster_chi2,
            k.records,
            0,
        ));
        out.push(row(
            "multivariate.kmeans_distance",
            TestKind::Ks,
            k.distance_ks,
            k.records,
            0,
        ));
    }
    if let Some(m) = &r.mmd {
        out.push(row(
            "multivariate.mmd",
            TestKind::Mmd,
            m.test,
            m.n_current as u64,
            m.n_reference as u64,
        ));
    }
    out
}

/// The ONNX detectors' tests of a window: the score distribution against the reference's
/// (KS) and the share of records beyond the reference's quantile (a beta-binomial test that
/// allows for the threshold being an order statistic of the reference sample).
fn score_rows(refs: &[ScoreRef], windows: &[ScoreWindow], ks: &mut KsMemo) -> Vec<Drift> {
    let mut out = Vec::new();
    for (r, w) in refs.iter().zip(windows) {
        if w.n == 0 {
            continue;
        }
        let sorted = w.sample.sorted();
        let result = ks.ks_2samp_sorted(&sorted, &r.sorted);
        out.push(Drift {
            name: format!("onnx.{}", r.name),
            test: TestKind::Ks,
            result,
            p_adjusted: result.p_value,
            psi: None,
            n_current: sorted.len() as u64,
            n_baseline: r.sorted.len() as u64,
        });
        let n_ref = r.sorted.len() as u64;
        let beyond = n_ref - r.sorted.partition_point(|&s| s <= r.threshold) as u64;
        let p = beta_binomial_sf(
            w.far,
            w.n,
            beyond as f64 + 1.0,
            (n_ref - beyond).max(1) as f64,
        );
        out.push(Drift {
            name: format!("onnx.{}.far_share", r.name),
            test: TestKind::FarShare,
            result: TestResult {
                statistic: w.far as f64 / w.n as f64,
                p_value: p,
            },
            p_adjusted: p,
            psi: None,
            n_current: w.n,
            n_baseline: n_ref,
        });
    }
    out
}
