//! What Alertmanager is sent, as pure functions of the alert transition and the wall-clock
//! time handed in: the `postableAlert` shape and the table of alerts kept alive (which
//! ones are due for a resend, when a resolution is forgotten).

use super::AlertmanagerConfig;
use crate::alert::state::{AlertEvent, AlertState};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use reqwest::Url;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Alerts kept alive at most; beyond it, resolved ones are forgotten first (upstream caps
/// rules x models x versions far below this).
pub const MAX_TRACKED: usize = 10_000;

/// One alert as Alertmanager's API v2 takes it (`postableAlert`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    /// Identity and routing.
    pub labels: BTreeMap<String, String>,
    /// Information that does not identify the alert.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339.
    pub ends_at: String,
    /// Link back to vigil.
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
}

pub(super) fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How alerts are shaped: the configuration that does not change while running.
#[derive(Debug, Clone)]
struct Shape {
    static_labels: BTreeMap<String, String>,
    generator_url: Option<Url>,
    dashboard_url: Option<String>,
    keep_alive: TimeDelta,
}

impl Shape {
    fn build(&self, ev: &AlertEvent, starts_at: DateTime<Utc>) -> PostableAlert {
        let mut labels = self.static_labels.clone();
        for (k, v) in [
            ("alertname", ev.rule.as_str()),
            ("rule", ev.rule.as_str()),
            ("model", ev.model.as_str()),
            ("version", ev.version.as_str()),
            ("severity", ev.severity.as_str()),
        ] {
            labels.insert(k.to_string(), v.to_string());
        }
        if let Some(s) = &ev.series {
            labels.insert("series".to_string(), s.clone());
        }
        // What the alert compares with (the reference or the previous version) is in the
        // summary, which its rule words; the version before this one is an annotation of
        // its own, not a claim about the comparison.
        let description = format!(
            "{} ({}) on model {} version {}: {}",
            ev.rule, ev.severity, ev.model, ev.version, ev.summary
        );
        let mut annotations = BTreeMap::from([
            ("summary".to_string(), ev.summary.clone()),
            ("description".to_string(), description),
            ("details".to_string(), ev.details.to_string()),
        ]);
        if let Some(p) = &ev.previous_version {
            annotations.insert("previous_version".into(), p.clone());
        }
        if let Some(t) = &self.dashboard_url {
            annotations.insert("dashboard".into(), fill(t, ev));
        }
        PostableAlert {
            labels,
            annotations,
            starts_at: rfc3339(starts_at),
            ends_at: String::new(),
            generator_url: self.generator_url.as_ref().map(|base| {
                format!(
                    "{}/api/v1/alerts?fingerprint={}",
                    base.as_str().trim_end_matches('/'),
                    encode(&ev.fingerprint)
                )
            }),
        }
    }
}

fn fill(template: &str, ev: &AlertEvent) -> String {
    template
        .replace("{model}", &encode(&ev.model))
        .replace("{version}", &encode(&ev.version))
        .replace("{rule}", &encode(&ev.rule))
        .replace("{fingerprint}", &encode(&ev.fingerprint))
}

#[derive(Debug, Clone)]
pub(super) struct Tracked {
    alert: PostableAlert,
    starts_at: DateTime<Utc>,
    resolved: Option<DateTime<Utc>>,
    last_sent: DateTime<Utc>,
}

/// The alerts kept alive, by vigil fingerprint. Pure: time comes in as an argument.
#[derive(Debug, Clone)]
pub(super) struct Table {
    shape: Shape,
    resend: TimeDelta,
    retention: TimeDelta,
    pub(super) alerts: BTreeMap<String, Tracked>,
}

impl Table {
    pub(super) fn new(cfg: &AlertmanagerConfig) -> Table {
        let delta = |d: Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
        Table {
            shape: Shape {
                static_labels: cfg.static_labels.clone(),
                generator_url: cfg.generator_url.clone(),
                dashboard_url: cfg.dashboard_url.clone(),
                keep_alive: delta(cfg.resend_interval.saturating_mul(4)),
            },
            resend: delta(cfg.resend_interval),
            retention: delta(cfg.resolved_retention),
            alerts: BTreeMap::new(),
        }
    }

    /// The alert to send now for a transition, if any.
    pub(super) fn on_event(
        &mut self,
        ev: &AlertEvent,
        now: DateTime<Utc>,
    ) -> Option<PostableAlert> {
        match ev.state {
            AlertState::Pending | AlertState::Inactive => None,
            AlertState::Firing => {
                let starts_at = parse_time(Some(&ev.starts_at)).unwrap_or(now).min(now);
                let mut alert = self.shape.build(ev, starts_at);
                alert.ends_at = rfc3339(now + self.shape.keep_alive);
                self.track(
                    ev,
                    Tracked {
                        alert: alert.clone(),
                        starts_at,
                        resolved: None,
                        last_sent: now,
                    },
                );
                Some(alert)
            }
            AlertState::Resolved => {
                let starts_at = self.alerts.get(&ev.fingerprint).map_or_else(
                    || parse_time(Some(&ev.starts_at)).unwrap_or(now).min(now),
                    |t| t.starts_at,
                );
                let ends = parse_time(ev.ends_at.as_deref().or(Some(&ev.at)))
                    .unwrap_or(now)
                    .min(now)
                    .max(starts_at);
                let mut alert = self.shape.build(ev, starts_at);
                alert.ends_at = rfc3339(ends);
                self.track(
                    ev,
                    Tracked {
                        alert: alert.clone(),
                        starts_at,
                        resolved: Some(now),
                        last_sent: now,
                    },
                );
                Some(alert)
            }
        }
    }

    fn track(&mut self, ev: &AlertEvent, t: Tracked) {
        if self.alerts.len() >= MAX_TRACKED && !self.alerts.contains_key(&ev.fingerprint) {
            let oldest_resolved = self
                .alerts
                .iter()
                .filter_map(|(k, t)| t.resolved.map(|r| (r, k.clone())))
                .min();
            match oldest_resolved {
                Some((_, k)) => {
                    self.alerts.remove(&k);
                }
                None => {
                    tracing::warn!(
                        max = MAX_TRACKED,
                        "too many active alerts; this one is sent once, not kept alive"
                    );
                    return;
                }
            }
        }
        self.alerts.insert(ev.fingerprint.clone(), t);
    }

    /// The alerts due for a resend at `now` (firing ones with a fresh `endsAt`); forgets
    /// resolved ones past their retention.
    pub(super) fn due(&mut self, now: DateTime<Utc>) -> Vec<PostableAlert> {
        self.alerts
            .retain(|_, t| t.resolved.is_none_or(|r| now - r < self.retention));
        let mut out = Vec::new();
        for t in self.alerts.values_mut() {
            if now - t.last_sent < self.resend {
                continue;
            }
            t.last_sent = now;
            if t.resolved.is_none() {
                t.alert.ends_at = rfc3339(now + self.shape.keep_alive);
            }
            out.push(t.alert.clone());
        }
        out
    }
}
