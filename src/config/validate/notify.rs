//! `[notify]`: Alertmanager and webhook endpoints, secrets from the environment or a file.

use super::{bounded, duration, Errors};
use crate::act::alertmanager::AlertmanagerConfig;
use crate::act::notify::NotifiersConfig;
use crate::act::webhook::{SecretSource, WebhookConfig, WebhookKind};
use crate::alert::state::AlertState;
use crate::config::raw::RawNotify;
use std::collections::BTreeSet;
use std::time::Duration;

fn url(errs: &mut Errors, path: &str, s: &str) -> Option<reqwest::Url> {
    match reqwest::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
        Ok(_) => {
            errs.push(path, format!("{s:?}: only http and https URLs"));
            None
        }
        Err(e) => {
            errs.push(path, format!("not a URL: {s:?} ({e})"));
            None
        }
    }
}

pub(super) fn notify(errs: &mut Errors, raw: &RawNotify) -> NotifiersConfig {
    let mut out = NotifiersConfig::default();
    let mut names = BTreeSet::new();
    for (i, a) in raw.alertmanager.iter().enumerate() {
        let path = format!("notify.alertmanager[{i}]");
        let mut c = AlertmanagerConfig::default();
        if let Some(n) = &a.name {
            c.name = n.clone();
        }
        if a.urls.is_empty() {
            errs.push(
                format!("{path}.urls"),
                "at least one Alertmanager URL is required",
            );
        }
        c.urls = a
            .urls
            .iter()
            .enumerate()
            .filter_map(|(j, u)| url(errs, &format!("{path}.urls[{j}]"), u))
            .collect();
        c.static_labels = a.static_labels.clone();
        for k in c.static_labels.keys() {
            let valid = k
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                errs.push(
                    format!("{path}.static_labels.{k}"),
                    "not a valid label name",
                );
            }
        }
        c.generator_url = a
            .generator_url
            .as_deref()
            .and_then(|u| url(errs, &format!("{path}.generator_url"), u));
        c.dashboard_url = a.dashboard_url.clone();
        let d = |errs: &mut Errors, f: &str, v: &Option<String>, base: Duration| {
            v.as_deref()
                .and_then(|s| duration(errs, &format!("{path}.{f}"), s))
                .unwrap_or(base)
        };
        c.resend_interval = d(
            errs,
            "resend_interval",
            &a.resend_interval,
            c.resend_interval,
        );
        c.resolved_retention = d(
            errs,
            "resolved_retention",
            &a.resolved_retention,
            c.resolved_retention,
        );
        c.timeout = d(errs, "timeout", &a.timeout, c.timeout);
        if c.resend_interval.is_zero() {
            errs.push(format!("{path}.resend_interval"), "must be > 0");
        }
        c.retry.max_age = c.resend_interval;
        if let Some(q) = a.queue {
            c.queue = bounded(errs, &format!("{path}.queue"), q, 1, 1_000_000) as usize;
        }
        if let Some(b) = a.max_batch {
            c.max_batch = bounded(errs, &format!("{path}.max_batch"), b, 1, 10_000) as usize;
        }
        if !names.insert(c.name.clone()) {
            errs.push(
                format!("{path}.name"),
                format!("notifier {:?} is defined twice", c.name),
            );
        }
        out.alertmanagers.push(c);
    }
    for (i, w) in raw.webhooks.iter().enumerate() {
        let path = format!("notify.webhooks[{i}]");
        if w.name.is_empty() {
            errs.push(format!("{path}.name"), "is required");
        }
        // A bad URL is reported and the rest of the webhook is still checked (the config is
        // refused either way, so the stand-in URL is never used).
        let u = url(errs, &format!("{path}.url"), &w.url)
            .unwrap_or_else(|| reqwest::Url::parse("http://invalid.invalid/").expect("valid"));
        let mut c = WebhookConfig {
            name: w.name.clone(),
            url: u,
            ..WebhookConfig::default()
        };
        c.kind = match w.kind.as_deref().unwrap_or("alerts") {
            "alerts" => WebhookKind::Alerts,
            "commands" => WebhookKind::Commands,
            k => {
                errs.push(
                    format!("{path}.kind"),
                    format!("unknown {k:?}; expected alerts or commands"),
                );
                WebhookKind::Alerts
            }
        };
        c.headers = w.headers.clone();
        c.secret = match (&w.secret_env, &w.secret_file) {
            (Some(_), Some(_)) => {
                errs.push(
                    format!("{path}.secret_env"),
                    "give secret_env or secret_file, not both",
                );
                None
            }
            (Some(e), None) => Some(SecretSource::Env(e.clone())),
            (None, Some(f)) => Some(SecretSource::File(f.into())),
            (None, None) => None,
        };
        if let Some(states) = &w.states {
            c.states = states
                .iter()
                .filter_map(|s| match s.as_str() {
                    "pending" => Some(AlertState::Pending),
                    "firing" => Some(AlertState::Firing),
                    "resolved" => Some(AlertState::Resolved),
                    "inactive" => Some(AlertState::Inactive),
                    _ => {
                        errs.push(
                            format!("{path}.states"),
                            format!(
                                "unknown {s:?}; expected pending, firing, resolved or inactive"
                            ),
                        );
                        None
                    }
                })
                .collect();
        }
        if let Some(t) = w
            .timeout
            .as_deref()
            .and_then(|s| duration(errs, &format!("{path}.timeout"), s))
        {
            c.timeout = t;
        }
        if let Some(q) = w.queue {
            c.queue = bounded(errs, &format!("{path}.queue"), q, 1, 1_000_000) as usize;
        }
        if !names.insert(c.name.clone()) {
            errs.push(
                format!("{path}.name"),
                format!("notifier {:?} is defined twice", c.name),
            );
        }
        out.webhooks.push(c);
    }
    out
}
