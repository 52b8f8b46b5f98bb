//! The Alertmanager notifier: sends alerts to Alertmanager as Prometheus does as a sender,
//! through the shared delivery machinery ([`super::deliver`]). It owns the alert's
//! Alertmanager shape, the table of alerts it keeps alive, and the resend timer; it must
//! not decide what fires (the alert state machine does) and it is the only place here
//! that reads the wall clock (through [`Clock`], injectable for tests).
//!
//! What it sends, `POST <url>/api/v2/alerts` with a JSON array (at most `max_batch` alerts):
//! - `labels`: the configured `static_labels`, then `alertname` = the rule, `rule`,
//!   `model`, `version`, `severity` (the alert's own labels win over static ones);
//! - `annotations`: `summary`, `description`, `details` (the statistics behind the alert,
//!   compact JSON text), and `dashboard` (the `dashboard_url` template with `{model}`,
//!   `{version}`, `{rule}`, `{fingerprint}` replaced, percent-encoded) if configured;
//! - `startsAt`: the event time the alert fired (`AlertEvent::starts_at`), but never later
//!   than the wall clock when first sent: vigil runs on event time, Alertmanager on wall
//!   time, and an alert starting in Alertmanager's future would be refused or shown wrong;
//! - `endsAt`: for a firing alert, wall-clock now + 4 x `resend_interval` at each send
//!   (Prometheus uses 4 x max(resend delay, evaluation interval); vigil has no fixed
//!   evaluation interval, so the resend interval alone), so that Alertmanager keeps it
//!   active across three lost resends and times it out if vigil dies; for a resolved
//!   alert, the event time it resolved, but never later than the wall clock (so
//!   Alertmanager sees it resolved at once) nor earlier than `startsAt`;
//! - `generatorURL`: `<generator_url>/api/v1/alerts?fingerprint=<fingerprint>` if a base is
//!   configured (vigil serves its active alerts there).
//!
//! Pending and inactive transitions are not sent (Prometheus sends firing and resolved
//! alerts only). Firing alerts are re-sent every `resend_interval` (default 1 min, like
//! Prometheus' `--rules.alert.resend-delay`); resolved ones are re-sent for
//! `resolved_retention` (default 15 min, like Prometheus) so that an Alertmanager that
//! missed the resolution still learns of it. Every URL gets every alert, in order, from a
//! queue and a worker of its own (Alertmanager HA expects each replica to be sent
//! everything; a slow one does not hold back the others). A batch is not retried past
//! `retry.max_age` (default: the resend interval), since the next resend supersedes it;
//! the same holds for dropped batches, which is why a full queue loses nothing for long.

mod clock;
mod table;

pub use clock::{Clock, ManualClock, SystemClock};
pub use table::{PostableAlert, MAX_TRACKED};

use super::deliver::{self, DeliveryObserver, Endpoint, Job, Meter, Queue, RetryPolicy, Worker};
use crate::alert::state::{ActiveAlert, AlertEvent, AlertState};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::Url;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use table::{valid_label_name, Table};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// An Alertmanager notifier's configuration (validated data; the TOML layer builds it).
#[derive(Clone, PartialEq)]
pub struct AlertmanagerConfig {
    /// Unique among notifiers; the `notifier` metric label (default `alertmanager`).
    pub name: String,
    /// Alertmanager base URLs (`http://am:9093`, or with a path prefix); every one gets
    /// every alert.
    pub urls: Vec<Url>,
    /// Labels added to every alert (e.g. `cluster`, `team`); the alert's own win.
    pub static_labels: BTreeMap<String, String>,
    /// Base URL of this vigil's HTTP API, for `generatorURL`.
    pub generator_url: Option<Url>,
    /// Dashboard link template with `{model}`, `{version}`, `{rule}`, `{fingerprint}`.
    pub dashboard_url: Option<String>,
    /// How often firing alerts are re-sent (default 1 min).
    pub resend_interval: Duration,
    /// How long resolved alerts keep being re-sent (default 15 min).
    pub resolved_retention: Duration,
    /// Per-attempt timeout (default 10 s, as Prometheus).
    pub timeout: Duration,
    /// Queue capacity per URL, in batches (default 256).
    pub queue: usize,
    /// Alerts per request (default 64, as Prometheus).
    pub max_batch: usize,
    /// Retries of a batch (default: the shared policy with `max_age` = `resend_interval`).
    pub retry: RetryPolicy,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        let resend_interval = Duration::from_secs(60);
        AlertmanagerConfig {
            name: "alertmanager".into(),
            urls: Vec::new(),
            static_labels: BTreeMap::new(),
            generator_url: None,
            dashboard_url: None,
            resend_interval,
            resolved_retention: Duration::from_secs(15 * 60),
            timeout: Duration::from_secs(10),
            queue: 256,
            max_batch: 64,
            retry: RetryPolicy {
                max_age: resend_interval,
                ..RetryPolicy::default()
            },
        }
    }
}

impl std::fmt::Debug for AlertmanagerConfig {
    // URLs may carry basic-auth credentials (reqwest sends them): scheme, host, port only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.urls.iter().map(deliver::redact_url).collect();
        f.debug_struct("AlertmanagerConfig")
            .field("name", &self.name)
            .field("urls", &urls)
            .field("static_labels", &self.static_labels)
            .field(
                "generator_url",
                &self.generator_url.as_ref().map(|u| u.as_str()),
            )
            .field("dashboard_url", &self.dashboard_url)
            .field("resend_interval", &self.resend_interval)
            .field("resolved_retention", &self.resolved_retention)
            .field("timeout", &self.timeout)
            .field("queue", &self.queue)
            .field("max_batch", &self.max_batch)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Errors starting an Alertmanager notifier.
#[derive(Debug, thiserror::Error)]
pub enum AlertmanagerError {
    /// No URL is configured.
    #[error("alertmanager {name}: no urls")]
    NoUrls {
        /// The notifier.
        name: String,
    },
    /// A label name is not a Prometheus label name (Alertmanager would refuse every alert).
    #[error("alertmanager {name}: static_labels: {label:?} is not a valid label name")]
    LabelName {
        /// The notifier.
        name: String,
        /// The label.
        label: String,
    },
    /// The dashboard template does not give a URL.
    #[error("alertmanager {name}: dashboard_url does not give a valid URL")]
    Dashboard {
        /// The notifier.
        name: String,
    },
    /// A duration or a size is out of its range.
    #[error("alertmanager {name}: {field} must be {range}")]
    Range {
        /// The notifier.
        name: String,
        /// The field.
        field: &'static str,
        /// The range.
        range: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("alertmanager {name}: HTTP client: {reason}")]
    Client {
        /// The notifier.
        name: String,
        /// Why.
        reason: String,
    },
}

#[derive(Debug)]
struct Inner {
    table: Mutex<Table>,
    queues: Vec<Queue>,
    max_batch: usize,
    clock: Arc<dyn Clock>,
}

impl Inner {
    /// Queues `alerts` to every URL. Called with the table locked, so that batches reach
    /// every queue in the order the table produced them.
    fn send(&self, alerts: &[PostableAlert]) {
        for chunk in alerts.chunks(self.max_batch) {
            let body = serde_json::to_vec(chunk).expect("alerts serialise");
            for q in &self.queues {
                q.offer(Job::new(
                    body.clone(),
                    HeaderMap::new(),
                    chunk.len() as u64,
                    None,
                ));
            }
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding the lock leaves a table that is still consistent.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn resend_due(&self) {
        let mut table = self.table();
        let due = table.due(self.clock.now());
        if !due.is_empty() {
            self.send(&due);
        }
    }
}

/// A running Alertmanager notifier.
#[derive(Debug)]
pub struct Alertmanager {
    inner: Arc<Inner>,
    meter: Meter,
    workers: Vec<Worker>,
    ticker: JoinHandle<()>,
    stop: CancellationToken,
}

impl Alertmanager {
    /// Checks the configuration, builds the client and spawns one worker per URL and the
    /// resend timer (inside a tokio runtime).
    pub fn start(
        cfg: &AlertmanagerConfig,
        observer: Option<Arc<dyn DeliveryObserver>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Alertmanager, AlertmanagerError> {
        let name = || cfg.name.clone();
        if cfg.urls.is_empty() {
            return Err(AlertmanagerError::NoUrls { name: name() });
        }
        let day = Duration::from_secs(86_400);
        for (field, bad, range) in [
            (
                "resend_interval",
                cfg.resend_interval.is_zero() || cfg.resend_interval > day,
                "> 0 and at most 1 day",
            ),
            (
                "resolved_retention",
                cfg.resolved_retention > 7 * day,
                "at most 7 days",
            ),
            ("max_batch", cfg.max_batch == 0, "> 0"),
        ] {
            if bad {
                return Err(AlertmanagerError::Range {
                    name: name(),
                    field,
                    range,
                });
            }
        }
        if let Some(label) = cfg.static_labels.keys().find(|k| !valid_label_name(k)) {
            return Err(AlertmanagerError::LabelName {
                name: name(),
                label: label.clone(),
            });
        }
        if let Some(t) = &cfg.dashboard_url {
            let probe = t
                .replace("{model}", "m")
                .replace("{version}", "v")
                .replace("{rule}", "r")
                .replace("{fingerprint}", "f");
            Url::parse(&probe).map_err(|_| AlertmanagerError::Dashboard { name: name() })?;
        }
        let client = deliver::http_client(cfg.timeout).map_err(|e| AlertmanagerError::Client {
            name: name(),
            reason: e.without_url().to_string(),
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let meter = Meter::new(&cfg.name, observer);
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        for base in &cfg.urls {
            let mut url = base.clone();
            url.set_path(&format!(
                "{}/api/v2/alerts",
                base.path().trim_end_matches('/')
            ));
            let endpoint = Endpoint {
                url,
                headers: headers.clone(),
                client: client.clone(),
                retry: cfg.retry.clone(),
            };
            let (q, w) = deliver::spawn(endpoint, cfg.queue, meter.clone());
            queues.push(q);
            workers.push(w);
        }
        let inner = Arc::new(Inner {
            table: Mutex::new(Table::new(cfg)),
            queues,
            max_batch: cfg.max_batch,
            clock,
        });
        let stop = CancellationToken::new();
        // Checking four times per interval bounds the resend delay by 1.25 intervals.
        let period = (cfg.resend_interval / 4).max(Duration::from_millis(1));
        let ticker = tokio::spawn(tick(Arc::downgrade(&inner), period, stop.clone()));
        Ok(Alertmanager {
            inner,
            meter,
            workers,
            ticker,
            stop,
        })
    }

    /// The notifier name.
    pub fn name(&self) -> &str {
        self.meter.name()
    }

    /// Its counters, readable after it is shut down.
    pub(crate) fn stats_handle(&self) -> Meter {
        self.meter.clone()
    }

    /// Its counters (every URL's deliveries together).
    pub fn stats(&self) -> deliver::StatsSnapshot {
        self.meter.stats()
    }

    /// Takes an alert transition: firing and resolved ones are queued to every URL at once
    /// and kept alive; pending and inactive ones are ignored. Never waits.
    pub fn alert(&self, ev: &AlertEvent) {
        let now = self.inner.clock.now();
        let mut table = self.inner.table();
        if let Some(a) = table.on_event(ev, now) {
            self.inner.send(&[a]);
        }
    }

    /// Seeds the alerts that are firing already (from a state snapshot, after a restart:
    /// no transition will announce them again) and sends them at once.
    pub fn seed(&self, active: &[ActiveAlert]) {
        let now = self.inner.clock.now();
        let mut table = self.inner.table();
        let alerts: Vec<PostableAlert> = active
            .iter()
            .filter(|a| a.state == AlertState::Firing)
            .filter_map(|a| {
                let started = a.fired_at.clone().unwrap_or_else(|| a.active_at.clone());
                let ev = AlertEvent {
                    rule: a.rule.clone(),
                    model: a.model.clone(),
                    version: a.version.clone(),
                    series: a.series.clone(),
                    state: AlertState::Firing,
                    severity: a.severity,
                    at: started.clone(),
                    active_at: a.active_at.clone(),
                    starts_at: started,
                    ends_at: None,
                    summary: a.summary.clone(),
                    details: a.details.clone(),
                    previous_version: None,
                    fingerprint: a.fingerprint.clone(),
                };
                table.on_event(&ev, now)
            })
            .collect();
        if !alerts.is_empty() {
            self.inner.send(&alerts);
        }
    }

    /// Re-sends what is due now (the timer calls it; tests call it after moving a
    /// [`ManualClock`]).
    pub fn resend_due(&self) {
        self.inner.resend_due();
    }

    /// Stops the resend timer and drains every URL's queue until `deadline`; returns the
    /// alerts (counted per URL) left undelivered.
    pub async fn shutdown(self, deadline: Instant) -> u64 {
        self.stop.cancel();
        let _ = self.ticker.await;
        let mut left = 0;
        for w in self.workers {
            left += w.shutdown(deadline).await;
        }
        left
    }
}

async fn tick(inner: std::sync::Weak<Inner>, period: Duration, stop: CancellationToken) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => match inner.upgrade() {
                Some(inner) => inner.resend_due(),
                None => return,
            },
        }
    }
}

#[cfg(test)]
mod tests;
