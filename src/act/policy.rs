//! The rollback policy: when a firing alert becomes a rollback command. Pure bookkeeping
//! over event time (no I/O, no clock): the caller persists the commands it returns in the
//! command log before publishing them, and seeds [`RollbackState::seed_issued`] from that
//! log at start, so a restart never issues the same command twice.
//!
//! Guardrails, all of which must hold:
//! 1. the alert's rule has `rollback = true`, which config validation allows only for rules
//!    that compare the version with the previous one (rolling back cannot fix input drift);
//! 2. the regression began with the version change: the alert became pending within the
//!    version's first `onset_windows` windows, and the version has a predecessor;
//! 3. it is sustained: firing for `min_firing_windows` windows of `min_window_records`
//!    records or more;
//! 4. a known-good target exists: the latest version that ran `healthy_windows` windows of
//!    `min_window_records` records with no rollback-eligible alert, and has none now;
//! 5. once per incident: one command per bad rollout of a version (the idempotency key
//!    hashes model, version and the event time of the version's first window);
//! 6. the model's `cooldown` has passed since its last command and fewer than
//!    `max_per_hour` commands were issued in the last event-time hour.
//!
//! `dry_run` marks commands so that the serving layer logs them without acting.

use crate::alert::rule::Rule;
use crate::alert::state::{AlertState, AlertTable};
use crate::record::{ts_to_rfc3339, Ts, WindowReport};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// A model's rollback policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackPolicy {
    /// Whether commands are issued at all.
    pub enabled: bool,
    /// Commands carry `dry_run: true`: the serving layer must not act on them.
    pub dry_run: bool,
    /// Windows an eligible alert must have been firing.
    pub min_firing_windows: u32,
    /// Records each of those windows (and each healthy window) must hold.
    pub min_window_records: u64,
    /// Consecutive quiet windows before a version is a known-good target.
    pub healthy_windows: u32,
    /// The alert must have become pending within this many windows of the version's
    /// first window.
    pub onset_windows: u32,
    /// Event-time milliseconds between two commands for the same model.
    pub cooldown_ms: i64,
    /// Commands per model per event-time hour.
    pub max_per_hour: u32,
}

impl Default for RollbackPolicy {
    fn default() -> Self {
        RollbackPolicy {
            enabled: true,
            dry_run: true,
            min_firing_windows: 2,
            min_window_records: 200,
            healthy_windows: 3,
            onset_windows: 10,
            cooldown_ms: 30 * 60 * 1000,
            max_per_hour: 2,
        }
    }
}

/// A rollback command, as published on the control topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackCommand {
    /// Always `"rollback"`.
    pub kind: String,
    /// Model.
    pub model: String,
    /// The bad version.
    pub from_version: String,
    /// The known-good target.
    pub to_version: String,
    /// Why, for humans: the rule and its summary.
    pub reason: String,
    /// The rule whose alert triggered it.
    pub rule: String,
    /// The triggering alert's fingerprint.
    pub incident: String,
    /// Stable across restarts and replays: the serving layer should act on a key once.
    pub idempotency_key: String,
    /// Event time of the decision (RFC 3339).
    pub issued_at: String,
    /// The serving layer must only log it.
    pub dry_run: bool,
}

#[cfg(test)]
impl RollbackCommand {
    /// A dry-run command of the demo's `fraud` model with idempotency key `key`.
    pub(crate) fn for_test(key: &str) -> RollbackCommand {
        RollbackCommand {
            kind: "rollback".into(),
            model: "fraud".into(),
            from_version: "v2".into(),
            to_version: "v1".into(),
            reason: "error_rate_regression: error_rate 9.00% vs 1.40%".into(),
            rule: "error_rate_regression".into(),
            incident: "7d075eeeeeb08a37".into(),
            idempotency_key: key.into(),
            issued_at: "2026-12-01T18:35:39.346Z".into(),
            dry_run: true,
        }
    }
}

/// Why a rollback was held back (bounded: a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressReason {
    /// The version has no predecessor to roll back to.
    NoPreviousVersion,
    /// The regression began long after the version rolled out.
    NotTiedToVersionChange,
    /// No version is known to have been healthy.
    NoKnownGoodTarget,
    /// The model's cooldown has not passed.
    Cooldown,
    /// The hourly cap is reached.
    RateLimited,
}

impl SuppressReason {
    /// Every reason, for pre-registering metrics.
    pub const ALL: [SuppressReason; 5] = [
        SuppressReason::NoPreviousVersion,
        SuppressReason::NotTiedToVersionChange,
        SuppressReason::NoKnownGoodTarget,
        SuppressReason::Cooldown,
        SuppressReason::RateLimited,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressReason::NoPreviousVersion => "no_previous_version",
            SuppressReason::NotTiedToVersionChange => "not_tied_to_version_change",
            SuppressReason::NoKnownGoodTarget => "no_known_good_target",
            SuppressReason::Cooldown => "cooldown",
            SuppressReason::RateLimited => "rate_limited",
        }
    }
}

/// What the policy decided on one window.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Issue this command (persist it, then publish it).
    Issue(RollbackCommand),
    /// A sustained eligible alert was held back by a guardrail (reported once per reason).
    Suppressed {
        /// Model.
        model: String,
        /// Version.
        version: String,
        /// Rule.
        rule: String,
        /// Which guardrail.
        reason: SuppressReason,
    },
}

/// Per-model bookkeeping.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelRollback {
    /// Versions seen healthy, oldest first (each at most once).
    pub healthy: Vec<String>,
    /// Consecutive quiet windows per version.
    pub streak: BTreeMap<String, u32>,
    /// Start of each version's first window (part of the idempotency key).
    pub first_window: BTreeMap<String, Ts>,
    /// Qualifying firing windows per alert fingerprint.
    pub qualifying: BTreeMap<String, u32>,
    /// Event times of the most recent commands (at most `max_per_hour` are needed).
    pub issued_at: VecDeque<Ts>,
    /// The last suppression reported per version, so each is reported once.
    pub suppressed: BTreeMap<String, SuppressReason>,
}

/// Idempotency keys remembered (oldest forgotten first); the command log on disk keeps all.
pub const MAX_KEYS: usize = 10_000;

/// The policy's state across windows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RollbackState {
    /// By model.
    pub models: BTreeMap<String, ModelRollback>,
    /// Keys of commands already issued, oldest first.
    pub issued: VecDeque<String>,
    #[serde(skip)]
    issued_set: HashSet<String>,
}

/// The idempotency key of rolling back `version` of `model` whose first window started at
/// `first_window`.
pub fn idempotency_key(model: &str, version: &str, first_window: Ts) -> String {
    let mut h = Sha256::new();
    h.update(model.as_bytes());
    h.update([0]);
    h.update(version.as_bytes());
    h.update([0]);
    h.update(first_window.to_be_bytes());
    let hex: String = h
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("rb-{hex}")
}

impl RollbackState {
    fn remember(&mut self, key: String) {
        if self.issued_set.is_empty() && !self.issued.is_empty() {
            self.issued_set = self.issued.iter().cloned().collect();
        }
        if self.issued_set.insert(key.clone()) {
            self.issued.push_back(key);
            while self.issued.len() > MAX_KEYS {
                if let Some(old) = self.issued.pop_front() {
                    self.issued_set.remove(&old);
                }
            }
        }
    }

    fn was_issued(&mut self, key: &str) -> bool {
        if self.issued_set.is_empty() && !self.issued.is_empty() {
            self.issued_set = self.issued.iter().cloned().collect();
        }
        self.issued_set.contains(key)
    }

    /// Marks keys from the persisted command log as issued.
    pub fn seed_issued(&mut self, keys: impl IntoIterator<Item = String>) {
        for k in keys {
            self.remember(k);
        }
    }

    /// The latest version of `model` seen healthy (the rollback target; routing never
    /// evicts it).
    pub fn last_healthy(&self, model: &str) -> Option<&str> {
        self.models.get(model)?.healthy.last().map(String::as_str)
    }

    /// Forgets a model vigil stopped tracking, unless it issued commands recently enough
    /// that its cooldown and hourly cap still need them (at most `max_per_hour` times).
    pub fn forget_model(&mut self, model: &str) {
        if self
            .models
            .get(model)
            .is_some_and(|m| m.issued_at.is_empty())
        {
            self.models.remove(model);
        }
    }

    /// Forgets a version vigil stopped tracking.
    pub fn forget_version(&mut self, model: &str, version: &str) {
        if let Some(m) = self.models.get_mut(model) {
            m.healthy.retain(|v| v != version);
            m.streak.remove(version);
            m.first_window.remove(version);
            m.suppressed.remove(version);
        }
    }

    /// Updates health and decides on rollbacks after `alerts` has taken `report` in.
    pub fn on_window(
        &mut self,
        policy: &RollbackPolicy,
        rules: &[Rule],
        report: &WindowReport,
        alerts: &AlertTable,
    ) -> Vec<Decision> {
        let model = report.model.as_str();
        let version = report.version.as_str();
        let now = report.end;
        let eligible = |name: &str| rules.iter().any(|r| r.rollback && r.name == name);
        let m = self.models.entry(model.to_string()).or_default();
        let first = *m
            .first_window
            .entry(version.to_string())
            .or_insert(report.start);

        // Health of this version on the rollback-eligible signals.
        let active = alerts.any_active(model, version, eligible);
        let streak = m.streak.entry(version.to_string()).or_insert(0);
        if active {
            *streak = 0;
            m.healthy.retain(|v| v != version);
        } else if report.ops.records >= policy.min_window_records {
            *streak += 1;
            if *streak >= policy.healthy_windows
                && m.healthy.last().map(String::as_str) != Some(version)
            {
                m.healthy.retain(|v| v != version);
                m.healthy.push(version.to_string());
            }
        }

        let mut out = Vec::new();
        if !policy.enabled {
            return out;
        }
        for rule in rules.iter().filter(|r| r.rollback) {
            let Some(alert) = alerts.get(&rule.name, model, version) else {
                continue;
            };
            let m = self.models.get_mut(model).expect("inserted above");
            if alert.state != AlertState::Firing {
                m.qualifying.remove(&alert.fingerprint);
                continue;
            }
            let q = m.qualifying.entry(alert.fingerprint.clone()).or_insert(0);
            if report.ops.records >= policy.min_window_records {
                *q += 1;
            }
            if *q < policy.min_firing_windows {
                continue;
            }
            let key = idempotency_key(model, version, first);
            if self.was_issued(&key) {
                continue;
            }
            let m = self.models.get_mut(model).expect("inserted above");
            let target = report
                .previous_version
                .as_deref()
                .filter(|p| m.healthy.iter().any(|h| h == p))
                .or_else(|| {
                    m.healthy
                        .iter()
                        .rev()
                        .map(String::as_str)
                        .find(|h| *h != version)
                })
                .map(str::to_string);
            let hour_ago = now - 3_600_000;
            let recent = m.issued_at.iter().filter(|&&t| t > hour_ago).count();
            let reason = if report.previous_version.is_none() {
                Some(SuppressReason::NoPreviousVersion)
            } else if alert.active_window >= policy.onset_windows as u64 {
                Some(SuppressReason::NotTiedToVersionChange)
            } else if target.is_none() {
                Some(SuppressReason::NoKnownGoodTarget)
            } else if m
                .issued_at
                .back()
                .is_some_and(|&t| now - t < policy.cooldown_ms)
            {
                Some(SuppressReason::Cooldown)
            } else if recent >= policy.max_per_hour as usize {
                Some(SuppressReason::RateLimited)
            } else {
                None
            };
            match (reason, target) {
                (Some(reason), _) => {
                    if m.suppressed.get(version) != Some(&reason) {
                        m.suppressed.insert(version.to_string(), reason);
                        out.push(Decision::Suppressed {
                            model: model.to_string(),
                            version: version.to_string(),
                            rule: rule.name.clone(),
                            reason,
                        });
                    }
                }
                (None, None) => unreachable!("a missing target is a suppression reason"),
                (None, Some(to)) => {
                    m.issued_at.push_back(now);
                    while m.issued_at.len() > policy.max_per_hour.max(1) as usize {
                        m.issued_at.pop_front();
                    }
                    m.suppressed.remove(version);
                    self.remember(key.clone());
                    out.push(Decision::Issue(RollbackCommand {
                        kind: "rollback".into(),
                        model: model.to_string(),
                        from_version: version.to_string(),
                        to_version: to,
                        reason: format!("{}: {}", rule.name, alert.summary),
                        rule: rule.name.clone(),
                        incident: alert.fingerprint.clone(),
                        idempotency_key: key,
                        issued_at: ts_to_rfc3339(now),
                        dry_run: policy.dry_run,
                    }));
                    // One command per version: the other eligible alerts are the same incident.
                    break;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::defaults::default_rules;
    use crate::record::OpsStats;

    fn report(version: &str, previous: Option<&str>, window: u64, errors: u64) -> WindowReport {
        let ops = |errors: u64| OpsStats {
            records: 1000,
            with_status: 1000,
            errors,
            error_rate: Some(errors as f64 / 1000.0),
            ..OpsStats::default()
        };
        WindowReport {
            kind: crate::record::WindowKind::Inference,
            model: "m".into(),
            version: version.into(),
            window,
            start: window as i64 * 1000 + if version == "v2" { 100_000 } else { 0 },
            end: window as i64 * 1000 + 1000 + if version == "v2" { 100_000 } else { 0 },
            features: vec![],
            prediction_vs_reference: vec![],
            prediction_vs_previous: vec![],
            ops: ops(errors),
            ops_reference: None,
            ops_previous: previous.map(|_| ops(10)),
            previous_version: previous.map(str::to_string),
            error_rate_p_vs_previous: previous.map(|_| {
                crate::detect::stats::two_proportion_z_greater(errors, 1000, 10, 1000)
                    .expect("defined")
            }),
            error_rate_p_vs_reference: None,
            performance: None,
            changes: Vec::new(),
            metric: None,
            multivariate: Vec::new(),
            model_scores: Vec::new(),
        }
    }

    struct World {
        rules: Vec<Rule>,
        alerts: AlertTable,
        state: RollbackState,
        policy: RollbackPolicy,
    }

    impl World {
        fn new() -> World {
            World {
                rules: default_rules(),
                alerts: AlertTable::default(),
                state: RollbackState::default(),
                policy: RollbackPolicy::default(),
            }
        }
        fn window(&mut self, r: &WindowReport) -> Vec<Decision> {
            self.alerts.on_window(&self.rules, r);
            self.state
                .on_window(&self.policy, &self.rules, r, &self.alerts)
        }
    }

    fn issued(d: &[Decision]) -> Vec<&RollbackCommand> {
        d.iter()
            .filter_map(|d| match d {
                Decision::Issue(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_bad_rollout_is_rolled_back_once() {
        let mut w = World::new();
        for i in 0..4 {
            assert!(w.window(&report("v1", None, i, 10)).is_empty());
        }
        assert_eq!(w.state.last_healthy("m"), Some("v1"));
        let mut commands = Vec::new();
        for i in 0..8 {
            let d = w.window(&report("v2", Some("v1"), i, 80));
            commands.extend(issued(&d).into_iter().cloned());
        }
        assert_eq!(commands.len(), 1, "{commands:?}");
        let c = &commands[0];
        assert_eq!(
            (c.from_version.as_str(), c.to_version.as_str()),
            ("v2", "v1")
        );
        assert!(c.dry_run);
        assert_eq!(c.kind, "rollback");
        // for = 2 windows, then min_firing_windows = 2: the command comes at window 2.
        assert_eq!(c.issued_at, ts_to_rfc3339(100_000 + 3000));
        assert_eq!(c.idempotency_key, idempotency_key("m", "v2", 100_000));
    }

    #[test]
    fn restart_seeded_with_the_key_issues_nothing() {
        let mut w = World::new();
        w.state.seed_issued([idempotency_key("m", "v2", 100_000)]);
        for i in 0..4 {
            w.window(&report("v1", None, i, 10));
        }
        for i in 0..8 {
            assert!(issued(&w.window(&report("v2", Some("v1"), i, 80))).is_empty());
        }
    }

    #[test]
    fn no_target_no_command() {
        let mut w = World::new();
        // v1 only ran two windows: never proven healthy.
        for i in 0..2 {
            w.window(&report("v1", None, i, 10));
        }
        let mut all = Vec::new();
        for i in 0..6 {
            all.extend(w.window(&report("v2", Some("v1"), i, 80)));
        }
        assert!(issued(&all).is_empty());
        let reasons: Vec<_> = all
            .iter()
            .filter_map(|d| match d {
                Decision::Suppressed { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasons,
            [SuppressReason::NoKnownGoodTarget],
            "reported once"
        );
    }

    #[test]
    fn a_late_regression_is_not_blamed_on_the_version() {
        let mut w = World::new();
        for i in 0..4 {
            w.window(&report("v1", None, i, 10));
        }
        let mut all = Vec::new();
        for i in 0..20 {
            all.extend(w.window(&report("v2", Some("v1"), i, if i < 12 { 10 } else { 80 })));
        }
        assert!(issued(&all).is_empty());
        assert!(all.iter().any(|d| matches!(
            d,
            Decision::Suppressed {
                reason: SuppressReason::NotTiedToVersionChange,
                ..
            }
        )));
    }

    #[test]
    fn disabled_policy_only_tracks_health() {
        let mut w = World::new();
        w.policy.enabled = false;
        for i in 0..4 {
            w.window(&report("v1", None, i, 10));
        }
        for i in 0..8 {
            assert!(w.window(&report("v2", Some("v1"), i, 80)).is_empty());
        }
        assert_eq!(w.state.last_healthy("m"), Some("v1"));
    }
}
