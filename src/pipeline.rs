//! The pure core of vigil: bytes in, effects out. `decode -> route -> detect -> alert ->
//! rollback decision`, with no I/O, no clock and no metrics registry, so that the live
//! daemon, `vigil replay` and the tests run exactly the same code and a replay of a log
//! gives the verdicts the live daemon gave. The caller ships the [`Effects`] (sinks,
//! metrics) and persists [`Snapshot`](crate::state::Snapshot)s.

use crate::act::policy::{Decision, RollbackState};
use crate::alert::state::{ActiveAlert, AlertEvent, AlertTable};
use crate::config::Config;
use crate::detect::onnx::OnnxDetector;
use crate::detect::profile::ReferenceProfile;
use crate::labels::{LabelEffects, LabelRouter};
use crate::record::{Record, RecordKind, RejectReason, Rejection, Ts, WindowKind, WindowReport};
use crate::route::{Routed, Router};
use crate::route_metrics::MetricRouter;
use crate::source::decode::{decode_reusing, recycle, DecodeLimits, FeatureBuf};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything one record caused. Reused across records to avoid allocation.
#[derive(Debug, Default)]
pub struct Effects {
    /// The kind of the accepted record, if it was accepted.
    pub accepted: Option<RecordKind>,
    /// The rejection, if it was rejected.
    pub rejection: Option<Rejection>,
    /// Windows closed.
    pub reports: Vec<WindowReport>,
    /// Alert transitions.
    pub alerts: Vec<AlertEvent>,
    /// Rollback decisions (commands and suppressions).
    pub decisions: Vec<Decision>,
    /// The model whose reference profile was completed by this record.
    pub reference_completed: Option<String>,
    /// (model, version) pairs forgotten to make room.
    pub evicted: Vec<(String, String)>,
    /// The model forgotten to make room for a new one (silent for at least
    /// `limits.evict_idle_after`), and whether its reference was complete.
    pub evicted_model: Option<(String, bool)>,
    /// A serving-metric series was forgotten to make room for a new one.
    pub evicted_series: bool,
    /// Feature values of this record that were not monitored, with the model; `None` when
    /// all were.
    pub dropped_values: Option<(String, crate::route::DroppedValues)>,
    /// What the label side did (joins, expiries); its reports are moved to `reports`.
    pub labels: LabelEffects,
}

impl Effects {
    /// Empties the buffers.
    pub fn clear(&mut self) {
        self.accepted = None;
        self.rejection = None;
        self.reports.clear();
        self.alerts.clear();
        self.decisions.clear();
        self.reference_completed = None;
        self.evicted.clear();
        self.evicted_model = None;
        self.evicted_series = false;
        self.dropped_values = None;
        self.labels = LabelEffects::default();
    }

    /// Whether anything besides acceptance needs shipping.
    pub fn is_quiet(&self) -> bool {
        self.rejection.is_none()
            && self.reports.is_empty()
            && self.alerts.is_empty()
            && self.decisions.is_empty()
    }
}

/// The serialisable state of a [`Pipeline`]: what a restart resumes from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PipelineState {
    /// Per-model state.
    pub router: Router,
    /// Alert states.
    pub alerts: AlertTable,
    /// Rollback bookkeeping.
    pub rollback: RollbackState,
    /// Label join and label windows.
    #[serde(default)]
    pub labels: LabelRouter,
    /// Serving-metric series and their scorers.
    #[serde(default)]
    pub metrics: MetricRouter,
    /// The newest event time seen.
    pub watermark: Option<Ts>,
    /// Records far from `watermark` that agree with each other: (first ts, count).
    #[serde(default)]
    pub jump: Option<(Ts, u32)>,
    /// Event times of the latest [`EVICTION_CLOCK_RECORDS`] records within the skew (a
    /// ring): their minimum is the clock on which models and series are idle.
    #[serde(default)]
    pub recent_ts: std::collections::VecDeque<Ts>,
    /// Records processed (accepted or rejected).
    pub records: u64,
}

/// Records in a row, far from the stream's event time but close to each other, after which
/// the stream's event time moves to them (the first `JUMP_CONFIRM - 1` are rejected).
pub const JUMP_CONFIRM: u32 = 3;

/// Records whose event times all must have moved on before a model or metric series counts
/// as idle: a burst of fewer records dated ahead of the stream (a producer with a bad
/// clock) cannot make the live ones look silent, while a stream that has moved on (new
/// models knocking at the cap) moves the clock after this many records.
pub const EVICTION_CLOCK_RECORDS: usize = 16;

/// What a reload changed.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Models whose reference is rebuilt.
    pub references_rebuilt: Vec<String>,
    /// Models whose current windows restarted.
    pub windows_restarted: Vec<String>,
    /// Rules removed or changed (their alerts were dropped).
    pub rules_changed: Vec<String>,
    /// Firing alerts resolved because their rule changed.
    pub resolved: Vec<AlertEvent>,
}

fn decode_limits(config: &Config) -> DecodeLimits {
    DecodeLimits {
        max_record_bytes: config.limits.max_record_bytes,
        max_features: config.limits.max_features_per_model.max(1) * 4,
    }
}

/// The pipeline: config plus state.
pub struct Pipeline {
    config: Arc<Config>,
    limits: DecodeLimits,
    state: PipelineState,
    /// The loaded ONNX detectors by model, in config order (loaded by the app, which does
    /// the file I/O; not part of the state: they are rebuilt from config at start).
    onnx: BTreeMap<String, Vec<OnnxDetector>>,
    /// The last record's feature list, emptied, for the next record to decode into.
    spare: FeatureBuf,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("records", &self.state.records)
            .field("onnx_models", &self.onnx.len())
            .finish()
    }
}

impl Pipeline {
    /// A pipeline with empty state; `baselines` pin reference profiles by model.
    pub fn new(config: Arc<Config>, baselines: BTreeMap<String, ReferenceProfile>) -> Self {
        Self::with_state(config, PipelineState::default(), baselines)
    }

    /// A pipeline resuming from a snapshot. A baseline from a file replaces the snapshot's
    /// reference of its model unless the snapshot already holds that same profile.
    pub fn with_state(
        config: Arc<Config>,
        mut state: PipelineState,
        baselines: BTreeMap<String, ReferenceProfile>,
    ) -> Self {
        state.router.rebuild();
        state.labels.join.reconfigure(&config.join);
        for (model, profile) in baselines {
            // The configured baseline is the operator's statement: it replaces whatever
            // reference the snapshot holds, unless it is the very profile already pinned.
            let digest = profile.digest();
            let current = state
                .router
                .models
                .get(&model)
                .and_then(|m| m.pinned.as_ref());
            if current != Some(&digest) {
                state.router.pin_reference(&model, profile, Some(digest));
            }
        }
        let limits = decode_limits(&config);
        Pipeline {
            config,
            limits,
            state,
            onnx: BTreeMap::new(),
            spare: FeatureBuf::new(),
        }
    }

    /// Installs the loaded ONNX detectors (by model, in config order).
    pub fn set_onnx(&mut self, onnx: BTreeMap<String, Vec<OnnxDetector>>) {
        self.onnx = onnx;
    }

    /// The config in force.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The state, for snapshots.
    pub fn state(&self) -> &PipelineState {
        &self.state
    }

    /// Seeds the rollback bookkeeping with idempotency keys already issued (from the
    /// persisted command log) so that a restart never issues a command twice.
    pub fn seed_issued(&mut self, keys: impl IntoIterator<Item = String>) {
        self.state.rollback.seed_issued(keys);
    }

    /// Applies a new config in place (the caller has checked
    /// [`Config::restart_needed`]). Models whose reference is built differently start
    /// over; models whose windows are cut differently restart their current windows;
    /// every other detector and alert keeps its state. Alerts of rules that were removed or
    /// changed are dropped, and those that were firing resolve (returned).
    pub fn reload(
        &mut self,
        config: Arc<Config>,
        baselines: BTreeMap<String, ReferenceProfile>,
    ) -> ReloadReport {
        let mut report = ReloadReport::default();
        let models: Vec<String> = self.state.router.models.keys().cloned().collect();
        for m in models {
            let (old, new) = (self.config.model(&m), config.model(&m));
            if old.reference_differs(new) {
                self.state.router.forget_model(&m);
                report.references_rebuilt.push(m);
            } else if old.windows_differ(new) {
                self.state.router.restart_windows(&m, &config);
                report.windows_restarted.push(m);
            }
        }
        let now = self.state.watermark.unwrap_or(0);
        for old in &self.config.rules {
            let same = config.rules.iter().any(|r| r == old);
            if !same {
                report.rules_changed.push(old.name.clone());
                report
                    .resolved
                    .extend(self.state.alerts.forget_rule(&old.name, now));
            }
        }
        self.config = config;
        self.limits = decode_limits(&self.config);
        self.state.labels.join.reconfigure(&self.config.join);
        for (model, profile) in baselines {
            let digest = profile.digest();
            let current = self
                .state
                .router
                .models
                .get(&model)
                .and_then(|m| m.pinned.as_ref());
            if current != Some(&digest) {
                self.state
                    .router
                    .pin_reference(&model, profile, Some(digest));
                report.references_rebuilt.push(model);
            }
        }
        report
    }

    /// Current pending and firing alerts.
    pub fn active_alerts(&self) -> Vec<ActiveAlert> {
        self.state.alerts.active()
    }

    /// Processes one message. `hint` is the kind its topic carries (None: infer).
    pub fn process(&mut self, bytes: &[u8], hint: Option<RecordKind>, out: &mut Effects) {
        out.clear();
        self.state.records += 1;
        match decode_reusing(bytes, hint, &self.limits, &mut self.spare) {
            Ok(rec) => {
                if let Err(r) = self.accept(&rec, out) {
                    out.rejection = Some(r);
                }
                if let Record::Inference(r) = rec {
                    self.spare = recycle(r.features);
                }
            }
            Err(r) => out.rejection = Some(r),
        }
    }

    /// Processes one decoded record.
    pub fn accept(&mut self, rec: &Record<'_>, out: &mut Effects) -> Result<(), Rejection> {
        let ts = rec.ts();
        if let Some(w) = self.state.watermark {
            let skew = self.config.limits.max_timestamp_skew_ms;
            if (ts - w).abs() > skew {
                // One record far from the stream is a bad timestamp; JUMP_CONFIRM records in
                // a row that agree with each other are the stream moving on (a gap in the
                // data, a replay of another period): the stream's event time follows them.
                let confirmed = match &mut self.state.jump {
                    Some((at, n)) if (ts - *at).abs() <= skew => {
                        *n += 1;
                        *n >= JUMP_CONFIRM
                    }
                    slot => {
                        *slot = Some((ts, 1));
                        false
                    }
                };
                if !confirmed {
                    return Err(Rejection::new(
                        RejectReason::BadTimestamp,
                        format!(
                            "ts {} is more than limits.max_timestamp_skew from the stream's \
                             event time {} (after {JUMP_CONFIRM} such records in a row that agree, \
                             the stream's event time moves to them)",
                            crate::record::ts_to_rfc3339(ts),
                            crate::record::ts_to_rfc3339(w)
                        ),
                    ));
                }
                self.state.watermark = Some(ts);
            }
            if (ts - w).abs() <= skew {
                self.state.jump = None;
            }
        }
        // Idleness (for eviction at the caps) is measured on the oldest of the latest
        // records' event times, this one included: see EVICTION_CLOCK_RECORDS. Records a
        // cap rejects below count too, so that new models knocking at the cap show that
        // the tracked ones have gone silent.
        let ring = &mut self.state.recent_ts;
        if ring.len() >= EVICTION_CLOCK_RECORDS {
            ring.pop_front();
        }
        ring.push_back(ts);
        // Read only for a new model or series at a cap, so computed only then.
        let ring = &self.state.recent_ts;
        let clock = || ring.iter().copied().min().unwrap_or(ts);
        self.state.watermark = Some(self.state.watermark.map_or(ts, |w| {
            if self.state.jump.take().is_some() {
                ts // the jump was confirmed by this record
            } else {
                w.max(ts)
            }
        }));
        let kind = match rec {
            Record::Inference(r) => {
                let mut routed = Routed::default();
                let rollback = &self.state.rollback;
                // The model's ONNX detectors score the record first: the routing that
                // follows puts the scores in the reference or the current window.
                let scores: Vec<Option<f64>> = match self.onnx.get_mut(r.model.as_ref()) {
                    Some(dets) => dets
                        .iter_mut()
                        .map(|d| d.score_one(&r.features).ok())
                        .collect(),
                    None => Vec::new(),
                };
                self.state.router.route(
                    r,
                    &self.config,
                    clock,
                    |m| rollback.last_healthy(m).map(str::to_string),
                    &scores,
                    &mut routed,
                )?;
                out.reports = routed.reports;
                out.reference_completed = routed.reference_completed;
                if !routed.dropped_values.is_empty() {
                    out.dropped_values = Some((r.model.to_string(), routed.dropped_values));
                }
                let why = if routed.evicted_model.is_some() {
                    "its model was silent for limits.evict_idle_after, and limits.max_models \
                     was reached"
                } else {
                    "limits.max_versions_per_model"
                };
                for (m, v) in &routed.evicted {
                    out.alerts
                        .extend(self.state.alerts.forget_version(m, v, why, ts));
                    self.state.rollback.forget_version(m, v);
                }
                out.evicted = routed.evicted;
                if let Some((m, _)) = &routed.evicted_model {
                    self.state.rollback.forget_model(m);
                    self.state.labels.forget_model(m);
                }
                out.evicted_model = routed.evicted_model;
                let router = &self.state.router;
                self.state.labels.on_prediction(
                    r,
                    &self.config,
                    |m, v| router.previous_of(m, v),
                    &mut out.labels,
                );
                out.reports.append(&mut out.labels.reports);
                RecordKind::Inference
            }
            Record::Label(l) => {
                let router = &self.state.router;
                self.state.labels.on_label(
                    l,
                    &self.config,
                    |m, v| router.previous_of(m, v),
                    &mut out.labels,
                );
                out.reports.append(&mut out.labels.reports);
                RecordKind::Label
            }
            Record::Metric(m) => {
                let mut evicted = None;
                if let Some(r) =
                    self.state
                        .metrics
                        .on_sample(m, &self.config, clock, &mut evicted)?
                {
                    out.reports.push(r);
                }
                if let Some(series) = evicted {
                    out.alerts
                        .extend(self.state.alerts.forget_series(&series, ts));
                    out.evicted_series = true;
                }
                RecordKind::Metric
            }
        };
        for report in &out.reports {
            let cfg = self.config.model(&report.model);
            let min = match report.kind {
                WindowKind::Inference => cfg.min_window_records,
                WindowKind::Labels => cfg.labels.min_window_labels,
                WindowKind::Metric => 0,
            };
            // A window cut short by a change point is evaluated for change-point rules only:
            // the alert comes when the detector fires, not a window later, while the
            // window's other statistics are too thin to judge.
            let full = report.ops.records >= min;
            if !full && report.changes.is_empty() {
                continue;
            }
            let events = if full {
                self.state.alerts.on_window(&self.config.rules, report)
            } else {
                let rules: Vec<_> = self
                    .config
                    .rules
                    .iter()
                    .filter(|r| {
                        matches!(
                            r.condition,
                            crate::alert::rule::Condition::ChangePoint { .. }
                        )
                    })
                    .cloned()
                    .collect();
                self.state.alerts.on_window(&rules, report)
            };
            // Rollback decisions read inference and label windows only.
            if !full || report.kind == WindowKind::Metric {
                out.alerts.extend(events);
                continue;
            }
            let policy = &self.config.model(&report.model).rollback;
            let decisions = self.state.rollback.on_window(
                policy,
                &self.config.rules,
                report,
                &self.state.alerts,
            );
            out.alerts.extend(events);
            out.decisions.extend(decisions);
        }
        out.accepted = Some(kind);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::state::AlertState;
    use crate::demo::sim::{script, Behaviour, Phase, SimModel, Simulator};
    use crate::record::RejectReason;

    const RULES: &str = r#"
[defaults]
window = "500 records"
reference_size = 1000
[[rules]]
name = "errors"
severity = "critical"
for = "1 window"
when = { kind = "ops_above", signal = "error_rate", above = 0.05 }
[[rules]]
name = "latency"
for = "1 window"
when = { kind = "ops_above", signal = "latency_p99", above = 1000000.0 }
"#;

    fn pipeline_with(config: &str) -> Pipeline {
        let config = Config::from_toml_str(config).expect("valid");
        Pipeline::new(Arc::new(config), BTreeMap::new())
    }

    fn feed(p: &mut Pipeline, text: &str) -> Vec<AlertEvent> {
        let mut fx = Effects::default();
        let mut alerts = Vec::new();
        for line in text.lines() {
            p.process(line.as_bytes(), None, &mut fx);
            assert!(fx.rejection.is_none(), "{:?}", fx.rejection);
            alerts.append(&mut fx.alerts);
        }
        alerts
    }

    fn stream(seed: u64, records: u64, b: Behaviour) -> String {
        let mut sim = Simulator::new(SimModel::generic("m", 3, 1), seed);
        let phase = Phase {
            records,
            version: "v1".into(),
            behaviour: b,
        };
        script(
            &mut sim,
            1_767_225_600_000 + seed as i64 * 10_000_000,
            100,
            &[phase],
        )
    }

    #[test]
    fn reload_keeps_unchanged_state_and_resolves_changed_rules() {
        let config = Arc::new(Config::from_toml_str(RULES).expect("valid"));
        let mut p = Pipeline::new(config.clone(), BTreeMap::new());
        let bad = Behaviour {
            error_rate: 0.2,
            ..Behaviour::HEALTHY
        };
        feed(&mut p, &stream(1, 1000, Behaviour::HEALTHY));
        let fired = feed(&mut p, &stream(2, 1000, bad));
        assert!(fired
            .iter()
            .any(|a| a.rule == "errors" && a.state == AlertState::Firing));

        // Same config: nothing changes.
        let r = p.reload(config.clone(), BTreeMap::new());
        assert!(
            r.rules_changed.is_empty() && r.resolved.is_empty() && r.windows_restarted.is_empty()
        );
        assert_eq!(p.active_alerts().len(), 1);

        // The "errors" rule changes: its firing alert resolves; the reference is kept.
        let changed = RULES.replace("above = 0.05", "above = 0.5");
        let r = p.reload(
            Arc::new(Config::from_toml_str(&changed).expect("valid")),
            BTreeMap::new(),
        );
        assert_eq!(r.rules_changed, ["errors"]);
        assert_eq!(r.resolved.len(), 1);
        assert_eq!(r.resolved[0].state, AlertState::Resolved);
        assert!(p.active_alerts().is_empty());
        assert!(r.references_rebuilt.is_empty());
        assert!(matches!(
            p.state().router.models["m"].reference,
            crate::route::Reference::Ready(_)
        ));

        // A new window size restarts windows; a new reference size rebuilds the reference.
        let windows = changed.replace("500 records", "250 records");
        let r = p.reload(
            Arc::new(Config::from_toml_str(&windows).expect("valid")),
            BTreeMap::new(),
        );
        assert_eq!(r.windows_restarted, ["m"]);
        let reference = windows.replace("reference_size = 1000", "reference_size = 2000");
        let r = p.reload(
            Arc::new(Config::from_toml_str(&reference).expect("valid")),
            BTreeMap::new(),
        );
        assert_eq!(r.references_rebuilt, ["m"]);
        assert!(!p.state().router.models.contains_key("m"));
    }

    #[test]
    fn junk_model_names_cannot_lock_real_models_out_for_good() {
        let mut p = pipeline_with("[limits]\nmax_models = 3\nevict_idle_after = \"1h\"\n");
        let hour = 3_600_000;
        let t0 = 1_767_225_600_000;
        let line = |model: &str, version: &str, ts: i64| {
            format!(
                r#"{{"ts":{ts},"model":"{model}","version":"{version}","features":{{"x":1.5}},"prediction":0.5}}"#
            )
        };
        let mut fx = Effects::default();
        let mut send = |p: &mut Pipeline, model: &str, version: &str, ts: i64| {
            p.process(line(model, version, ts).as_bytes(), None, &mut fx);
            (
                fx.rejection.as_ref().map(|r| r.reason),
                fx.evicted_model.clone(),
                std::mem::take(&mut fx.evicted),
            )
        };
        // A producer bug fills the cap with one-off names.
        for (i, junk) in ["j1", "j2", "j3"].iter().enumerate() {
            assert_eq!(send(&mut p, junk, "v1", t0 + i as i64).0, None);
        }
        // The real model arrives while they are recent: refused, nothing forgotten.
        let (rejected, evicted, _) = send(&mut p, "fraud", "v1", t0 + hour / 2);
        assert_eq!(rejected, Some(RejectReason::TooManyModels));
        assert_eq!(evicted, None);
        // Idleness is measured on the oldest of the latest EVICTION_CLOCK_RECORDS event
        // times: once that many records (refused ones too) are two hours on, j1 has been
        // silent long enough and the next record takes its place.
        let t1 = t0 + 2 * hour;
        for k in 0..EVICTION_CLOCK_RECORDS as i64 - 1 {
            let (rejected, evicted, _) = send(&mut p, "fraud", "v1", t1 + k);
            assert_eq!(rejected, Some(RejectReason::TooManyModels), "record {k}");
            assert_eq!(evicted, None);
        }
        let (rejected, evicted, versions) = send(&mut p, "fraud", "v1", t1 + 15);
        assert_eq!(rejected, None);
        assert_eq!(evicted, Some(("j1".to_string(), false)));
        assert_eq!(versions, [("j1".to_string(), "v1".to_string())]);
        assert_eq!(
            send(&mut p, "churn", "v1", t1 + 100).0,
            None,
            "j2 makes room"
        );
        assert_eq!(
            send(&mut p, "churn", "v1", t1 + 101).1,
            None,
            "a known model evicts nothing"
        );
        let mut models: Vec<&String> = p.state().router.models.keys().collect();
        models.sort();
        assert_eq!(models, ["churn", "fraud", "j3"]);
        let (rejected, evicted, _) = send(&mut p, "ranker", "v1", t1 + 10 * 60_000);
        assert_eq!(rejected, None);
        assert_eq!(evicted.map(|e| e.0).as_deref(), Some("j3"));
        // Now every tracked model is live: a new one is refused.
        let now = t1 + 11 * 60_000;
        let (rejected, _, _) = send(&mut p, "search", "v1", now);
        assert_eq!(rejected, Some(RejectReason::TooManyModels));
        // A burst of records of new models dated two hours ahead of the stream (a bad
        // clock), shorter than EVICTION_CLOCK_RECORDS, makes no live model look silent,
        // interleaved with live traffic or not.
        for k in 0..EVICTION_CLOCK_RECORDS as i64 - 1 {
            let (rejected, evicted, _) = send(&mut p, &format!("junk{k}"), "v1", now + 2 * hour);
            assert_eq!(rejected, Some(RejectReason::TooManyModels));
            assert_eq!(evicted, None, "future record {k}");
        }
        assert_eq!(send(&mut p, "fraud", "v1", now + 1).0, None);
        assert_eq!(send(&mut p, "junk", "v1", now + 2 * hour).1, None);
    }

    #[test]
    fn label_state_stays_within_the_model_cap_when_models_are_evicted() {
        let mut p = pipeline_with("[limits]\nmax_models = 2\nevict_idle_after = \"1s\"\n");
        let t0 = 1_767_225_600_000;
        let mut fx = Effects::default();
        // Each model sends a short burst of labelled predictions, then falls silent.
        for i in 0..50i64 {
            for j in 0..10 {
                let ts = t0 + i * 5_000 + j * 10;
                let pred = format!(
                    r#"{{"ts":{ts},"model":"m{i}","version":"v1","request_id":"r{j}","features":{{"x":1.5}},"prediction":{{"score":0.7,"label":"yes"}}}}"#
                );
                let label = format!(
                    r#"{{"ts":{},"model":"m{i}","request_id":"r{j}","label":"yes"}}"#,
                    ts + 1
                );
                p.process(pred.as_bytes(), None, &mut fx);
                p.process(label.as_bytes(), None, &mut fx);
                assert!(p.state().router.models.len() <= 2);
                assert!(p.state().labels.models.len() <= 2, "model {i}");
            }
        }
        assert!(p.state().labels.models.contains_key("m49"));
    }

    #[test]
    fn a_metric_series_forgotten_at_the_cap_resolves_its_alerts() {
        let mut p = pipeline_with("[limits]\nmax_metric_series = 1\nevict_idle_after = \"5m\"\n");
        let t0 = 1_767_225_600_000;
        let line = |pod: &str, ts: i64, v: f64| {
            format!(
                r#"{{"ts":{ts},"name":"gpu_util","labels":{{"model":"m","version":"v1","pod":"{pod}"}},"value":{v}}}"#
            )
        };
        let mut fx = Effects::default();
        let mut alerts = Vec::new();
        let mut ts = t0;
        // Pod a: ordinary values, then a jump that keeps going until the alert fires.
        for i in 0..3_000 {
            ts += 10_000;
            let v = 0.5 + 0.02 * ((i * 7919 % 101) as f64 / 101.0 - 0.5);
            p.process(line("a", ts, v).as_bytes(), None, &mut fx);
            alerts.append(&mut fx.alerts);
        }
        for _ in 0..200 {
            ts += 10_000;
            p.process(line("a", ts, 5.0).as_bytes(), None, &mut fx);
            alerts.append(&mut fx.alerts);
            if alerts.iter().any(|a| a.state == AlertState::Firing) {
                break; // pod a goes silent while its alert fires
            }
        }
        assert!(
            alerts.iter().any(|a| a.state == AlertState::Firing),
            "{alerts:?}"
        );
        alerts.clear();
        // Pod a is replaced by pod b: ten minutes on, b takes a's place.
        let mut evicted = false;
        for _ in 0..EVICTION_CLOCK_RECORDS + 5 {
            ts += 600_000;
            p.process(line("b", ts, 0.5).as_bytes(), None, &mut fx);
            evicted |= fx.evicted_series;
            alerts.append(&mut fx.alerts);
        }
        assert!(evicted);
        let resolved: Vec<_> = alerts
            .iter()
            .filter(|a| a.state == AlertState::Resolved)
            .collect();
        assert_eq!(resolved.len(), 1, "{alerts:?}");
        assert!(resolved[0]
            .series
            .as_deref()
            .is_some_and(|s| s.contains("pod=\"a\"")));
        assert!(resolved[0].summary.contains("no longer tracked"));
        assert!(p
            .active_alerts()
            .iter()
            .all(|a| a.series.as_deref().is_none_or(|s| !s.contains("pod=\"a\""))));
    }

    #[test]
    fn a_gap_in_the_stream_is_followed_and_a_stray_timestamp_is_not() {
        let config = Arc::new(Config::builtin());
        let mut p = Pipeline::new(config, BTreeMap::new());
        let line = |ts: i64| format!(r#"{{"ts":{ts},"name":"q","labels":{{}},"value":1.0}}"#);
        let mut fx = Effects::default();
        let day = 86_400_000;
        let t0 = 1_767_225_600_000;
        let mut outcome = |p: &mut Pipeline, ts: i64| {
            p.process(line(ts).as_bytes(), None, &mut fx);
            fx.rejection.as_ref().map(|r| r.reason)
        };
        assert_eq!(outcome(&mut p, t0), None);
        // A stray record a year ahead: rejected, and the stream goes on.
        assert_eq!(
            outcome(&mut p, t0 + 365 * day),
            Some(RejectReason::BadTimestamp)
        );
        assert_eq!(outcome(&mut p, t0 + 1000), None);
        // A gap of three days: the first records after it are held back, then followed.
        let t1 = t0 + 3 * day;
        assert_eq!(outcome(&mut p, t1), Some(RejectReason::BadTimestamp));
        assert_eq!(outcome(&mut p, t1 + 1000), Some(RejectReason::BadTimestamp));
        assert_eq!(outcome(&mut p, t1 + 2000), None);
        assert_eq!(outcome(&mut p, t1 + 3000), None);
        assert_eq!(p.state().watermark, Some(t1 + 3000));
        // And the old period is now far behind.
        assert_eq!(outcome(&mut p, t0 + 2000), Some(RejectReason::BadTimestamp));
    }

    #[test]
    fn settings_that_need_a_restart_are_named() {
        let a = Config::from_toml_str(
            "[kafka]\nbrokers = \"a:9092\"\n[[kafka.topics]]\nname = \"t\"\nkind = \"inference\"\n",
        )
        .expect("valid");
        let b = Config::from_toml_str(
            "[kafka]\nbrokers = \"b:9092\"\n[[kafka.topics]]\nname = \"t\"\nkind = \"inference\"\n[http]\nlisten = \"127.0.0.1:1\"\n[defaults]\nwindow = \"5m\"\n",
        )
        .expect("valid");
        assert_eq!(a.restart_needed(&b), ["kafka.brokers", "http.listen"]);
        assert!(a.restart_needed(&a).is_empty());
    }
}
