//! The alert life cycle on-call people know from Prometheus, as a pure state machine over
//! event time: inactive -> pending (the condition holds, `for` not yet met) -> firing ->
//! resolved (after `keep_firing_for` without the condition, or its looser `resolve_when`,
//! holding). Alerts are deduplicated by (rule, model, version); each has a stable
//! fingerprint. [`step`] is the transition function; [`AlertTable`] holds the active alerts
//! and turns window reports into [`AlertEvent`]s.
//!
//! A firing alert of a version that stops receiving traffic (after a rollback, say)
//! resolves once [`STALE_SPANS`] of its own window spans pass in event time without a
//! window, as a Prometheus alert resolves when its series goes stale.

use super::rule::{Evaluation, Hold, Rule, Severity};
use crate::record::{ts_to_rfc3339, Ts, WindowReport};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Window spans without a window after which a version's alerts resolve as stale.
pub const STALE_SPANS: i64 = 10;

/// The state of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Not active (emitted when a pending alert's condition stops holding before it fired).
    Inactive,
    /// The condition holds; `for` is not yet met.
    Pending,
    /// Active and notified.
    Firing,
    /// Was firing; no longer.
    Resolved,
}

impl AlertState {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    /// The `vigil_alert_state` gauge value.
    pub fn gauge(self) -> u64 {
        match self {
            AlertState::Pending => 1,
            AlertState::Firing => 2,
            AlertState::Inactive | AlertState::Resolved => 0,
        }
    }
}

impl std::fmt::Display for AlertState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stable fingerprint of (rule, model, version): the first 16 hex digits of SHA-256.
pub fn fingerprint(rule: &str, model: &str, version: &str) -> String {
    fingerprint_of(rule, model, version, None)
}

/// The fingerprint of an alert on a serving-metric series: (rule, model, version, series).
pub fn fingerprint_of(rule: &str, model: &str, version: &str, series: Option<&str>) -> String {
    let mut h = Sha256::new();
    for part in [rule, model, version].into_iter().chain(series) {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One active (pending or firing) alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEntry {
    /// Rule name.
    pub rule: String,
    /// Model.
    pub model: String,
    /// Version.
    pub version: String,
    /// The serving-metric series, for metric alerts.
    #[serde(default)]
    pub series: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// Pending or firing.
    pub state: AlertState,
    /// Event time the condition started holding (Prometheus' `activeAt`).
    pub active_at: Ts,
    /// The version's window number at `active_at`.
    pub active_window: u64,
    /// Event time it fired.
    pub fired_at: Option<Ts>,
    /// Consecutive windows the condition held while pending.
    pub holding: u32,
    /// Windows evaluated while firing.
    pub firing_windows: u32,
    /// Consecutive windows without the condition while firing.
    pub quiet: u32,
    /// Event time of the first of those.
    pub quiet_since: Option<Ts>,
    /// End of the latest window evaluated for this alert.
    pub last_eval: Ts,
    /// Event-time span of that window.
    pub span: i64,
    /// Latest summary.
    pub summary: String,
    /// The statistics behind the latest evaluation that held.
    pub details: Value,
    /// Previous version the window was compared with.
    pub previous_version: Option<String>,
    /// Stable fingerprint.
    pub fingerprint: String,
}

/// A transition, as shipped to the alert sinks (one JSON object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Rule name.
    pub rule: String,
    /// Model.
    pub model: String,
    /// Version.
    pub version: String,
    /// The serving-metric series, for metric alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// The state entered.
    pub state: AlertState,
    /// Severity.
    pub severity: Severity,
    /// Event time of the transition (RFC 3339).
    pub at: String,
    /// When the condition started holding (RFC 3339).
    pub active_at: String,
    /// When the alert fired; for a pending alert, when it became pending (RFC 3339).
    pub starts_at: String,
    /// When it resolved (RFC 3339), on `resolved` only.
    pub ends_at: Option<String>,
    /// One line for humans.
    pub summary: String,
    /// The statistics behind it.
    pub details: Value,
    /// The version it was compared with, if any.
    pub previous_version: Option<String>,
    /// Stable fingerprint of (rule, model, version).
    pub fingerprint: String,
}

/// A pending or firing alert as `/api/v1/alerts` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveAlert {
    /// Rule name.
    pub rule: String,
    /// Model.
    pub model: String,
    /// Version.
    pub version: String,
    /// The serving-metric series, for metric alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// Pending or firing.
    pub state: AlertState,
    /// Severity.
    pub severity: Severity,
    /// When the condition started holding (RFC 3339).
    pub active_at: String,
    /// When it fired (RFC 3339).
    pub fired_at: Option<String>,
    /// Latest summary.
    pub summary: String,
    /// The statistics behind it.
    pub details: Value,
    /// Stable fingerprint.
    pub fingerprint: String,
}

fn held(hold: Hold, windows: u32, elapsed: i64) -> bool {
    match hold {
        Hold::Windows(n) => windows >= n.max(1),
        Hold::Duration(d) => elapsed >= d,
    }
}

fn expired(hold: Hold, quiet: u32, elapsed: i64) -> bool {
    match hold {
        Hold::Windows(n) => quiet > n,
        Hold::Duration(d) => elapsed >= d,
    }
}

/// What one window means for one alert.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The firing condition's evaluation.
    pub fire: &'a Evaluation,
    /// Whether the keep condition (`resolve_when`, else the firing condition) holds.
    pub keep: bool,
    /// End of the window (event time): "now".
    pub now: Ts,
    /// Start of the window.
    pub start: Ts,
    /// The version's window number.
    pub window: u64,
}

/// The transition function: the alert's next state (None: inactive) and the state it
/// entered, if it changed. Pure.
pub fn step(
    entry: Option<AlertEntry>,
    rule: &Rule,
    key: (&str, &str, Option<&str>, Option<&str>),
    obs: Observation<'_>,
) -> (Option<AlertEntry>, Option<AlertState>) {
    let (model, version, previous, series) = key;
    let summary = || {
        rule.summary
            .clone()
            .unwrap_or_else(|| obs.fire.summary.clone())
    };
    let span = (obs.now - obs.start).max(1);
    match entry {
        None if !obs.fire.holds => (None, None),
        None => {
            let mut e = AlertEntry {
                rule: rule.name.clone(),
                model: model.to_string(),
                version: version.to_string(),
                series: series.map(str::to_string),
                severity: rule.severity,
                state: AlertState::Pending,
                active_at: obs.now,
                active_window: obs.window,
                fired_at: None,
                holding: 1,
                firing_windows: 0,
                quiet: 0,
                quiet_since: None,
                last_eval: obs.now,
                span,
                summary: summary(),
                details: obs.fire.details.clone(),
                previous_version: previous.map(str::to_string),
                fingerprint: fingerprint_of(&rule.name, model, version, series),
            };
            if held(rule.for_, 1, 0) {
                e.state = AlertState::Firing;
                e.fired_at = Some(obs.now);
                e.firing_windows = 1;
                (Some(e), Some(AlertState::Firing))
            } else {
                (Some(e), Some(AlertState::Pending))
            }
        }
        Some(mut e) => {
            e.last_eval = obs.now;
            e.span = span;
            match e.state {
                AlertState::Pending if !obs.fire.holds => {
                    // The event describes the alert that was pending (its active_at), with
                    // the window that ended it.
                    e.state = AlertState::Inactive;
                    e.summary = summary();
                    e.details = obs.fire.details.clone();
                    (Some(e), Some(AlertState::Inactive))
                }
                AlertState::Pending => {
                    e.holding += 1;
                    e.summary = summary();
                    e.details = obs.fire.details.clone();
                    if held(rule.for_, e.holding, obs.now - e.active_at) {
                        e.state = AlertState::Firing;
                        e.fired_at = Some(obs.now);
                        e.firing_windows = 1;
                        (Some(e), Some(AlertState::Firing))
                    } else {
                        (Some(e), None)
                    }
                }
                _ => {
                    e.firing_windows += 1;
                    if obs.fire.holds || obs.keep {
                        e.quiet = 0;
                        e.quiet_since = None;
                        if obs.fire.holds {
                            e.summary = summary();
                            e.details = obs.fire.details.clone();
                        }
                        (Some(e), None)
                    } else {
                        e.quiet += 1;
                        let since = *e.quiet_since.get_or_insert(obs.now);
                        if expired(rule.keep_firing_for, e.quiet, obs.now - since) {
                            (Some(e), Some(AlertState::Resolved))
                        } else {
                            (Some(e), None)
                        }
                    }
                }
            }
        }
    }
}

/// Every active alert, keyed by fingerprint. Bounded by rules x models x versions, all of
/// which are capped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AlertTable {
    /// Pending and firing alerts.
    pub entries: BTreeMap<String, AlertEntry>,
}

fn event(e: &AlertEntry, state: AlertState, at: Ts) -> AlertEvent {
    let starts = e.fired_at.unwrap_or(e.active_at);
    AlertEvent {
        rule: e.rule.clone(),
        model: e.model.clone(),
        version: e.version.clone(),
        series: e.series.clone(),
        state,
        severity: e.severity,
        at: ts_to_rfc3339(at),
        active_at: ts_to_rfc3339(e.active_at),
        starts_at: ts_to_rfc3339(starts),
        ends_at: (state == AlertState::Resolved).then(|| ts_to_rfc3339(at)),
        summary: e.summary.clone(),
        details: e.details.clone(),
        previous_version: e.previous_version.clone(),
        fingerprint: e.fingerprint.clone(),
    }
}

impl AlertTable {
    /// Evaluates every rule on a closed window and returns the transitions, in rule order.
    /// Alerts of the model's other versions that have gone stale resolve too.
    pub fn on_window(&mut self, rules: &[Rule], r: &WindowReport) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        for rule in rules.iter().filter(|rule| rule.condition.reads() == r.kind) {
            let fire = rule.condition.evaluate(r);
            let keep = match &rule.resolve {
                Some(c) => c.evaluate(r).holds,
                None => fire.holds,
            };
            let series = r.metric.as_ref().map(|m| m.series.as_str());
            let fp = fingerprint_of(&rule.name, &r.model, &r.version, series);
            let entry = self.entries.remove(&fp);
            let obs = Observation {
                fire: &fire,
                keep,
                now: r.end,
                start: r.start,
                window: r.window,
            };
            let key = (
                r.model.as_str(),
                r.version.as_str(),
                r.previous_version.as_deref(),
                series,
            );
            let (next, entered) = step(entry, rule, key, obs);
            if let Some(e) = &next {
                if let Some(state) = entered {
                    out.push(event(e, state, r.end));
                }
                if !matches!(entered, Some(AlertState::Resolved | AlertState::Inactive)) {
                    self.entries.insert(fp, e.clone());
                }
            }
        }
        if r.kind == crate::record::WindowKind::Inference {
            out.extend(self.resolve_stale(&r.model, &r.version, r.end));
        }
        out
    }

    fn resolve_stale(&mut self, model: &str, live: &str, now: Ts) -> Vec<AlertEvent> {
        let stale: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.model == model && e.version != live && e.series.is_none())
            .filter(|(_, e)| now - e.last_eval > STALE_SPANS * e.span)
            .map(|(k, _)| k.clone())
            .collect();
        stale
            .into_iter()
            .filter_map(|k| self.entries.remove(&k))
            .map(|mut e| {
                let state = if e.state == AlertState::Firing {
                    AlertState::Resolved
                } else {
                    AlertState::Inactive
                };
                e.summary = format!("{} no longer receives traffic", e.version);
                event(&e, state, now)
            })
            .collect()
    }

    /// Forgets the alerts of a version vigil stopped tracking; firing ones resolve at `now`.
    pub fn forget_version(
        &mut self,
        model: &str,
        version: &str,
        why: &str,
        now: Ts,
    ) -> Vec<AlertEvent> {
        self.forget(
            |e| e.model == model && e.version == version && e.series.is_none(),
            &format!("{version} is no longer tracked ({why})"),
            now,
        )
    }

    /// Forgets the alerts of a serving-metric series vigil stopped tracking (evicted at
    /// `limits.max_metric_series`); firing ones resolve.
    pub fn forget_series(&mut self, series: &str, now: Ts) -> Vec<AlertEvent> {
        self.forget(
            |e| e.series.as_deref() == Some(series),
            &format!(
                "{series} is no longer tracked (silent for limits.evict_idle_after, and \
                 limits.max_metric_series reached)"
            ),
            now,
        )
    }

    fn forget(
        &mut self,
        which: impl Fn(&AlertEntry) -> bool,
        summary: &str,
        now: Ts,
    ) -> Vec<AlertEvent> {
        let keys: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| which(e))
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| self.entries.remove(&k))
            .map(|mut e| {
                let state = if e.state == AlertState::Firing {
                    AlertState::Resolved
                } else {
                    AlertState::Inactive
                };
                e.summary = summary.to_string();
                event(&e, state, now)
            })
            .collect()
    }

    /// Forgets the alerts of a rule that a reload removed or changed; firing ones resolve.
    pub fn forget_rule(&mut self, rule: &str, now: Ts) -> Vec<AlertEvent> {
        let keys: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.rule == rule)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| self.entries.remove(&k))
            .filter(|e| e.state == AlertState::Firing)
            .map(|mut e| {
                e.summary = format!("rule {rule} was changed or removed by a config reload");
                event(&e, AlertState::Resolved, now)
            })
            .collect()
    }

    /// The active alert of (rule, model, version), if any.
    pub fn get(&self, rule: &str, model: &str, version: &str) -> Option<&AlertEntry> {
        self.entries.get(&fingerprint(rule, model, version))
    }

    /// Whether any of `rules` has a pending or firing alert for (model, version).
    pub fn any_active(&self, model: &str, version: &str, rules: impl Fn(&str) -> bool) -> bool {
        self.entries
            .values()
            .any(|e| e.model == model && e.version == version && rules(&e.rule))
    }

    /// Every pending and firing alert.
    pub fn active(&self) -> Vec<ActiveAlert> {
        self.entries
            .values()
            .map(|e| ActiveAlert {
                rule: e.rule.clone(),
                model: e.model.clone(),
                version: e.version.clone(),
                series: e.series.clone(),
                state: e.state,
                severity: e.severity,
                active_at: ts_to_rfc3339(e.active_at),
                fired_at: e.fired_at.map(ts_to_rfc3339),
                summary: e.summary.clone(),
                details: e.details.clone(),
                fingerprint: e.fingerprint.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rule::{Condition, OpsSignal};

    fn rule(for_: Hold, keep: Hold) -> Rule {
        Rule {
            name: "r".into(),
            severity: Severity::Critical,
            summary: None,
            condition: Condition::OpsAbove {
                signal: OpsSignal::ErrorRate,
                above: 0.5,
            },
            resolve: None,
            for_,
            keep_firing_for: keep,
            rollback: false,
        }
    }

    /// Runs a sequence of (holds, keep) windows of 10 ms each and returns the states entered.
    fn run(rule: &Rule, seq: &[(bool, bool)]) -> Vec<Option<AlertState>> {
        let mut e = None;
        let mut out = Vec::new();
        for (i, &(holds, keep)) in seq.iter().enumerate() {
            let fire = Evaluation {
                holds,
                summary: String::new(),
                details: Value::Null,
            };
            let now = (i as i64 + 1) * 10;
            let obs = Observation {
                fire: &fire,
                keep: keep || holds,
                now,
                start: now - 10,
                window: i as u64,
            };
            let (next, entered) = step(e.take(), rule, ("m", "v", None, None), obs);
            e = if matches!(entered, Some(AlertState::Resolved | AlertState::Inactive)) {
                None
            } else {
                next
            };
            out.push(entered);
        }
        out
    }

    use AlertState::*;

    #[test]
    fn pending_then_firing_then_resolved() {
        let r = rule(Hold::Windows(3), Hold::Windows(1));
        let seq = [
            (true, false),
            (true, false),
            (true, false),
            (true, false),
            (false, false),
            (false, false),
        ];
        assert_eq!(
            run(&r, &seq),
            [
                Some(Pending),
                None,
                Some(Firing),
                None,
                None,
                Some(Resolved)
            ]
        );
    }

    #[test]
    fn pending_that_stops_holding_goes_inactive_without_firing() {
        let r = rule(Hold::Windows(3), Hold::Windows(0));
        let seq = [(true, false), (true, false), (false, false), (true, false)];
        assert_eq!(
            run(&r, &seq),
            [Some(Pending), None, Some(Inactive), Some(Pending)]
        );
    }

    #[test]
    fn an_inactive_event_keeps_the_time_its_alert_became_pending() {
        fn obs(fire: &Evaluation, now: i64) -> Observation<'_> {
            Observation {
                fire,
                keep: fire.holds,
                now,
                start: now - 10,
                window: (now / 10) as u64,
            }
        }
        let eval = |holds: bool, summary: &str| Evaluation {
            holds,
            summary: summary.into(),
            details: Value::Null,
        };
        let (yes, no) = (eval(true, "holds"), eval(false, "quiet again"));
        let r = rule(Hold::Windows(3), Hold::Windows(0));
        let key = ("m", "v", None, None);
        let (e, _) = step(None, &r, key, obs(&yes, 10));
        let (e, _) = step(e, &r, key, obs(&yes, 20));
        let (gone, entered) = step(e, &r, key, obs(&no, 30));
        assert_eq!(entered, Some(Inactive));
        let ev = event(&gone.expect("the alert that went inactive"), Inactive, 30);
        assert_eq!(
            (ev.active_at.as_str(), ev.at.as_str(), ev.summary.as_str()),
            (
                ts_to_rfc3339(10).as_str(),
                ts_to_rfc3339(30).as_str(),
                "quiet again"
            )
        );
    }

    #[test]
    fn for_zero_fires_at_once_and_keep_zero_resolves_at_once() {
        let r = rule(Hold::Windows(0), Hold::Windows(0));
        assert_eq!(
            run(&r, &[(true, false), (false, false)]),
            [Some(Firing), Some(Resolved)]
        );
    }

    #[test]
    fn hysteresis_keeps_a_flapping_alert_firing() {
        let r = rule(Hold::Windows(1), Hold::Windows(2));
        // Fires, then the condition flaps: never two quiet windows in a row past the keep.
        let seq = [
            (true, false),
            (false, false),
            (true, false),
            (false, false),
            (false, false),
            (true, false),
        ];
        assert_eq!(run(&r, &seq), [Some(Firing), None, None, None, None, None]);
        // The looser keep condition holds the alert too.
        let seq = [
            (true, false),
            (false, true),
            (false, true),
            (false, true),
            (false, false),
            (false, false),
            (false, false),
        ];
        assert_eq!(
            run(&r, &seq),
            [Some(Firing), None, None, None, None, None, Some(Resolved)]
        );
    }

    #[test]
    fn durations_run_on_event_time() {
        // Windows end every 10 ms: `for` 25 ms fires at the window ending 25 ms or more after
        // the first one that held.
        let r = rule(Hold::Duration(25), Hold::Duration(15));
        let seq = [
            (true, false),
            (true, false),
            (true, false),
            (true, false),
            (false, false),
            (false, false),
            (false, false),
        ];
        assert_eq!(
            run(&r, &seq),
            [
                Some(Pending),
                None,
                None,
                Some(Firing),
                None,
                None,
                Some(Resolved)
            ]
        );
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        assert_eq!(fingerprint("r", "m", "v"), fingerprint("r", "m", "v"));
        assert_ne!(fingerprint("r", "m", "v1"), fingerprint("r", "m", "v"));
        assert_ne!(fingerprint("ab", "c", "v"), fingerprint("a", "bc", "v"));
        assert_eq!(fingerprint("r", "m", "v").len(), 16);
    }
}
