//! The label side of routing: late labels joined to their predictions (bounded, by
//! `(model, request_id)` within a TTL, either arriving first), then per (model, version)
//! label windows that measure realised performance against the model's reference period
//! and the previous version, and how far the label-free estimate was off. Emits
//! [`WindowReport`]s of kind [`WindowKind::Labels`]. Pure: event time comes from the
//! records; nothing here does I/O or reads the clock.
//!
//! Memory: the join store is capped by `[labels] max_pending` entries for all models; per
//! (model, version) one label window (counters plus a capped AUC sample, see
//! [`crate::detect::perf`]); versions per model capped by `limits.max_versions_per_model`.

use crate::config::{Config, LabelSettings, LabelStream, WindowSpec};
use crate::detect::join::{ExpiredCounts, JoinStore, Joined, LabelValue, PredictionSummary};
use crate::detect::online::ChangeDetector;
use crate::detect::perf::{Outcome, PerfConfig, PerfWindow, PerformanceReport, Task};
use crate::detect::series::stable_hash;
use crate::detect::stats::two_proportion_z_greater;
use crate::record::{
    ChangeReport, InferenceRecord, LabelRecord, Performance, PerformanceSection, Ts, WindowKind,
    WindowReport,
};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};
use std::collections::BTreeMap;

/// Running per-request error statistics.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ErrorStats {
    /// Outcomes.
    pub n: u64,
    /// Sum of errors.
    pub sum: f64,
    /// Sum of squared errors.
    pub sum_sq: f64,
    /// Sum of confidences of the outcomes' predictions (for the estimate's error).
    pub confidence_sum: f64,
    /// Outcomes whose prediction had a confidence.
    pub confidence_n: u64,
}

impl ErrorStats {
    fn push(&mut self, error: f64, confidence: Option<f64>) {
        self.n += 1;
        self.sum += error;
        self.sum_sq += error * error;
        if let Some(c) = confidence {
            self.confidence_sum += c;
            self.confidence_n += 1;
        }
    }
}

/// One label window in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabelWindow {
    /// Metrics accumulator.
    pub perf: PerfWindow,
    /// Error statistics.
    pub errors: ErrorStats,
    /// Event time (of labels) the window started.
    pub start: Ts,
    /// Event time of its latest label.
    pub end: Ts,
}

impl LabelWindow {
    fn new(config: &PerfConfig, seed: u64) -> LabelWindow {
        LabelWindow {
            perf: PerfWindow::new(config, seed),
            errors: ErrorStats::default(),
            start: Ts::MAX,
            end: Ts::MIN,
        }
    }

    fn summary(&self) -> Performance {
        performance(&self.perf.finish(), &self.errors)
    }
}

/// Label state of one version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionLabels {
    /// The window in progress.
    pub window: LabelWindow,
    /// Sequence number of that window.
    pub index: u64,
    /// For duration windows, the aligned start of the window.
    pub window_start: Option<Ts>,
    /// The latest closed window's performance (what the next version is compared with).
    pub last: Option<Performance>,
    /// Event time of the latest label (for eviction).
    pub last_seen: Ts,
    /// The online change detector on the per-request error or loss.
    pub detector: Option<ChangeDetector>,
    /// Change points found during the window in progress (at most [`MAX_CHANGES`]).
    pub changes: Vec<ChangeReport>,
}

/// Change points kept per window: a detector resets after each, so even a wildly
/// unstable stream yields a handful per window; more are counted out of the report.
pub const MAX_CHANGES: usize = 16;

/// Label state of one model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelLabels {
    /// How outcomes are scored, once the task is known (configured, or read off the first
    /// label: a number other than 0/1 means regression, `0`/`1`/`true`/`false` binary,
    /// any other class multiclass).
    pub perf: Option<PerfConfig>,
    /// The reference period being accumulated, then frozen.
    pub reference: Option<LabelWindow>,
    /// The reference period's performance, once complete.
    pub reference_done: Option<Performance>,
    /// By version.
    pub versions: BTreeMap<String, VersionLabels>,
}

/// All label state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabelRouter {
    /// Predictions and labels waiting for each other.
    pub join: JoinStore,
    /// By model.
    pub models: BTreeMap<String, ModelLabels>,
}

impl Default for LabelRouter {
    fn default() -> Self {
        LabelRouter {
            join: JoinStore::new(&Default::default()),
            models: BTreeMap::new(),
        }
    }
}

/// What one record did on the label side.
#[derive(Debug, Default)]
pub struct LabelEffects {
    /// Label windows closed.
    pub reports: Vec<WindowReport>,
    /// Pairs joined.
    pub joined: u64,
    /// Entries that left the join store unjoined.
    pub expired: ExpiredCounts,
}

fn performance(r: &PerformanceReport, e: &ErrorStats) -> Performance {
    let n = e.n as f64;
    Performance {
        labelled: r.labelled,
        error: (e.n > 0).then(|| e.sum / n),
        error_sq: (e.n > 0).then(|| e.sum_sq / n),
        accuracy: r.accuracy,
        precision: r.precision,
        recall: r.recall,
        f1: r.f1,
        roc_auc: r.roc_auc,
        log_loss: r.log_loss,
        mae: r.mae,
        rmse: r.rmse,
        mape: r.mape,
    }
}

/// One-sided p-value that `cur`'s mean error exceeds `base`'s: the pooled two-proportion
/// z-test for 0/1 errors, a Welch z-test otherwise.
fn error_p(cur: &Performance, base: &Performance, binary: bool) -> Option<f64> {
    let (n1, n2) = (cur.labelled, base.labelled);
    let (m1, m2) = (cur.error?, base.error?);
    if binary {
        let x1 = (m1 * n1 as f64).round() as u64;
        let x2 = (m2 * n2 as f64).round() as u64;
        return two_proportion_z_greater(x1, n1, x2, n2);
    }
    let v1 = (cur.error_sq? - m1 * m1).max(0.0) / n1.max(1) as f64;
    let v2 = (base.error_sq? - m2 * m2).max(0.0) / n2.max(1) as f64;
    let se = (v1 + v2).sqrt();
    if se <= 0.0 {
        return Some(if m1 > m2 { 0.0 } else { 1.0 });
    }
    Some(Normal::standard().sf((m1 - m2) / se))
}

fn task_of(label: &LabelValue, settings: &LabelSettings) -> PerfConfig {
    let mut perf = settings.perf.clone();
    perf.task = match (settings.task, label) {
        (Some(t), _) => t,
        (None, LabelValue::Num(x)) if *x == 0.0 || *x == 1.0 => Task::Binary,
        (None, LabelValue::Num(_)) => Task::Regression,
        (None, LabelValue::Class(c))
            if c.eq_ignore_ascii_case("true") || c.eq_ignore_ascii_case("false") =>
        {
            Task::Binary
        }
        (None, LabelValue::Class(_)) if perf.positive_class.is_some() => Task::Binary,
        (None, LabelValue::Class(_)) => Task::Multiclass,
    };
    perf
}

fn task_name(t: Task) -> &'static str {
    match t {
        Task::Binary => "binary",
        Task::Multiclass => "multiclass",
        Task::Regression => "regression",
    }
}

impl LabelRouter {
    /// Rebuilds derived state after a snapshot was restored (nothing today).
    pub fn rebuild(&mut self) {}

    /// Forgets the label state of a model vigil stopped tracking (evicted at
    /// `limits.max_models`). Its predictions still in the join store expire as usual.
    pub fn forget_model(&mut self, model: &str) {
        self.models.remove(model);
    }

    /// Remembers a prediction so that its label can find it.
    pub fn on_prediction(
        &mut self,
        rec: &InferenceRecord<'_>,
        config: &Config,
        previous: impl Fn(&str, &str) -> Option<String>,
        out: &mut LabelEffects,
    ) {
        if rec.request_id.is_empty() || !config.model(&rec.model).labels.enabled {
            return;
        }
        let p = PredictionSummary::from_record(rec);
        let confidence = rec.prediction.confidence;
        if let Some(j) = self.join.on_prediction(&rec.model, &rec.request_id, p) {
            self.joined(&rec.model, &j, confidence, config, &previous, out);
        }
        out.expired = self.join.expire(rec.ts);
    }

    /// Joins a label to its prediction, if that has arrived.
    pub fn on_label(
        &mut self,
        rec: &LabelRecord<'_>,
        config: &Config,
        previous: impl Fn(&str, &str) -> Option<String>,
        out: &mut LabelEffects,
    ) {
        let Some(label) = LabelValue::from_feature(&rec.label) else {
            return;
        };
        if let Some(j) = self
            .join
            .on_label(&rec.model, &rec.request_id, rec.ts, label)
        {
            // The confidence is not kept in the join store: recompute it from the score
            // as decode does (a probs vector's maximum is its score).
            let confidence = j
                .prediction
                .score
                .filter(|s| (0.0..=1.0).contains(s))
                .map(|s| s.max(1.0 - s));
            self.joined(&rec.model, &j, confidence, config, &previous, out);
        }
        out.expired = self.join.expire(rec.ts);
    }

    fn joined(
        &mut self,
        model: &str,
        j: &Joined,
        confidence: Option<f64>,
        config: &Config,
        previous: &impl Fn(&str, &str) -> Option<String>,
        out: &mut LabelEffects,
    ) {
        out.joined += 1;
        let settings = &config.model(model).labels;
        // At most `max_models` models, like the router: a label joined to a prediction of
        // a model forgotten since must not grow this map without bound.
        if !self.models.contains_key(model) && self.models.len() >= config.limits.max_models {
            let last = |m: &ModelLabels| m.versions.values().map(|v| v.last_seen).max();
            let victim = self
                .models
                .iter()
                .min_by(|a, b| last(a.1).cmp(&last(b.1)).then_with(|| a.0.cmp(b.0)))
                .map(|(k, _)| k.clone());
            if let Some(v) = victim {
                self.models.remove(&v);
            }
        }
        let m = self
            .models
            .entry(model.to_string())
            .or_insert_with(|| ModelLabels {
                perf: None,
                reference: None,
                reference_done: None,
                versions: BTreeMap::new(),
            });
        let perf = m
            .perf
            .get_or_insert_with(|| task_of(&j.label, settings))
            .clone();
        let Some(outcome) = perf.outcome(j) else {
            return;
        };
        let ts = j.label_ts;
        if m.reference_done.is_none() {
            let r = m
                .reference
                .get_or_insert_with(|| LabelWindow::new(&perf, stable_hash(&[model, "labels"])));
            add(r, &outcome, confidence, ts);
            if r.perf.labelled() >= settings.reference_labels {
                m.reference_done = Some(r.summary());
                m.reference = None;
            }
        }
        let version = j.prediction.version.as_str();
        if !m.versions.contains_key(version) {
            if m.versions.len() >= config.limits.max_versions_per_model {
                let victim = m
                    .versions
                    .iter()
                    .min_by_key(|(_, v)| v.last_seen)
                    .map(|(k, _)| k.clone());
                if let Some(v) = victim {
                    m.versions.remove(&v);
                }
            }
            let seed = stable_hash(&[model, version, "labels"]);
            m.versions.insert(
                version.to_string(),
                VersionLabels {
                    window: LabelWindow::new(&perf, seed),
                    index: 0,
                    window_start: None,
                    last: None,
                    last_seen: ts,
                    detector: settings.change_detector.as_ref().map(ChangeDetector::new),
                    changes: Vec::new(),
                },
            );
        }
        let prev_name = previous(model, version);
        let prev = prev_name
            .as_deref()
            .and_then(|p| m.versions.get(p))
            .and_then(|v| v.last);
        let reference = m.reference_done;
        let v = m.versions.get_mut(version).expect("inserted above");
        v.last_seen = v.last_seen.max(ts);
        let binary = perf.task != Task::Regression;
        let close = |v: &mut VersionLabels, out: &mut LabelEffects| {
            let current = v.window.summary();
            let report = WindowReport {
                kind: WindowKind::Labels,
                model: model.to_string(),
                version: version.to_string(),
                window: v.index,
                start: v.window.start,
                end: v.window.end.saturating_add(1),
                ops: crate::record::OpsStats {
                    records: current.labelled,
                    ..Default::default()
                },
                previous_version: prev_name.clone(),
                performance: Some(PerformanceSection {
                    task: task_name(perf.task).to_string(),
                    current,
                    reference,
                    previous: prev,
                    error_p_vs_reference: reference.and_then(|r| error_p(&current, &r, binary)),
                    error_p_vs_previous: prev.and_then(|p| error_p(&current, &p, binary)),
                    estimated_accuracy: (v.window.errors.confidence_n > 0).then(|| {
                        v.window.errors.confidence_sum / v.window.errors.confidence_n as f64
                    }),
                    estimate_error: None,
                }),
                changes: std::mem::take(&mut v.changes),
                ..Default::default()
            };
            let mut report = report;
            if let Some(p) = report.performance.as_mut() {
                p.estimate_error = p
                    .estimated_accuracy
                    .zip(p.current.accuracy)
                    .map(|(e, a)| e - a);
            }
            if current.labelled >= settings.min_window_labels {
                v.last = Some(current);
            }
            v.index += 1;
            v.window =
                LabelWindow::new(&perf, stable_hash(&[model, version, &v.index.to_string()]));
            out.reports.push(report);
        };
        if let WindowSpec::Duration(d) = settings.window {
            let d = d.get() as i64;
            let aligned = ts.div_euclid(d) * d;
            match v.window_start {
                Some(s) if ts >= s + d => {
                    if v.window.perf.labelled() > 0 {
                        close(v, out);
                    }
                    v.window_start = Some(aligned);
                }
                Some(_) => {}
                None => v.window_start = Some(aligned),
            }
        }
        add(&mut v.window, &outcome, confidence, ts);
        let x = match settings.change_stream {
            LabelStream::Error => Some(outcome.error()),
            LabelStream::Loss => outcome.loss(),
        };
        let mut changed = false;
        if let (Some(d), Some(x)) = (v.detector.as_mut(), x) {
            if let Some(cp) = d.update(x, ts) {
                changed = true;
                if v.changes.len() < MAX_CHANGES {
                    v.changes.push(ChangeReport {
                        stream: settings.change_stream.as_str().to_string(),
                        detector: d.kind().to_string(),
                        ts: cp.ts,
                        index: cp.index,
                        mean_before: cp.mean_before,
                        mean_after: cp.mean_after,
                    });
                }
            }
        }
        // A change point closes the window at once, so that the alert comes with the
        // detection rather than a window later.
        let full = matches!(settings.window, WindowSpec::Records(n) if v.window.perf.labelled() >= n.get());
        if changed || full {
            close(v, out);
        }
    }
}

fn add(w: &mut LabelWindow, o: &Outcome, confidence: Option<f64>, ts: Ts) {
    w.perf.push(o);
    w.errors.push(o.error(), confidence);
    w.start = w.start.min(ts);
    w.end = w.end.max(ts);
}
