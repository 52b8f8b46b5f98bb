//! The pure core of vigil: bytes in, effects out. `decode -> route -> detect -> alert ->
//! rollback decision`, with no I/O, no clock and no metrics registry, so that the live
//! daemon, `vigil replay` and the tests run exactly the same code and a replay of a log
//! gives the verdicts the live daemon gave. The caller ships the [`Effects`] (sinks,
//! metrics) and persists [`Snapshot`]s.

use crate::act::policy::{Decision, RollbackState};
use crate::alert::state::{ActiveAlert, AlertEvent, AlertTable};
use crate::config::Config;
use crate::detect::profile::ReferenceProfile;
use crate::record::{Record, RecordKind, RejectReason, Rejection, Ts, WindowReport};
use crate::route::{Routed, Router};
use crate::source::decode::{decode, DecodeLimits};
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
    /// The newest event time seen.
    pub watermark: Option<Ts>,
    /// Records processed (accepted or rejected).
    pub records: u64,
}

/// The pipeline: config plus state.
#[derive(Debug)]
pub struct Pipeline {
    config: Arc<Config>,
    limits: DecodeLimits,
    state: PipelineState,
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
        let limits = DecodeLimits {
            max_record_bytes: config.limits.max_record_bytes,
            max_features: config.limits.max_features_per_model.max(1) * 4,
        };
        Pipeline {
            config,
            limits,
            state,
        }
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

    /// Current pending and firing alerts.
    pub fn active_alerts(&self) -> Vec<ActiveAlert> {
        self.state.alerts.active()
    }

    /// Processes one message. `hint` is the kind its topic carries (None: infer).
    pub fn process(&mut self, bytes: &[u8], hint: Option<RecordKind>, out: &mut Effects) {
        out.clear();
        self.state.records += 1;
        match decode(bytes, hint, &self.limits) {
            Ok(rec) => {
                if let Err(r) = self.accept(&rec, out) {
                    out.rejection = Some(r);
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
                return Err(Rejection::new(
                    RejectReason::BadTimestamp,
                    format!(
                        "ts {} is more than limits.max_timestamp_skew from the stream's event time {}",
                        crate::record::ts_to_rfc3339(ts),
                        crate::record::ts_to_rfc3339(w)
                    ),
                ));
            }
        }
        let kind = match rec {
            Record::Inference(r) => {
                let mut routed = Routed::default();
                let rollback = &self.state.rollback;
                self.state.router.route(
                    r,
                    &self.config,
                    |m| rollback.last_healthy(m).map(str::to_string),
                    &mut routed,
                )?;
                out.reports = routed.reports;
                out.reference_completed = routed.reference_completed;
                for (m, v) in &routed.evicted {
                    out.alerts
                        .extend(self.state.alerts.forget_version(m, v, ts));
                    self.state.rollback.forget_version(m, v);
                }
                out.evicted = routed.evicted;
                RecordKind::Inference
            }
            // Labels are joined to predictions and metrics scored in later stages; for now
            // they are validated and counted.
            Record::Label(_) => RecordKind::Label,
            Record::Metric(_) => RecordKind::Metric,
        };
        self.state.watermark = Some(self.state.watermark.map_or(ts, |w| w.max(ts)));
        for report in &out.reports {
            let min = self.config.model(&report.model).min_window_records;
            if report.ops.records < min {
                continue;
            }
            let events = self.state.alerts.on_window(&self.config.rules, report);
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
