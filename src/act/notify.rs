//! Every configured notifier behind one handle, for the app to wire in: start them from
//! their configs, hand them alert transitions and rollback commands, await command
//! deliveries, and shut them down within a deadline. It owns no delivery logic
//! ([`super::deliver`] does) and no payloads ([`super::alertmanager`],
//! [`super::webhook`] do).
//!
//! ```no_run
//! # async fn demo(cfg: vigil::act::notify::NotifiersConfig,
//! #               ev: vigil::alert::state::AlertEvent,
//! #               cmd: vigil::act::policy::RollbackCommand) {
//! use vigil::act::notify::Notifiers;
//! use std::time::Duration;
//! let notifiers = Notifiers::start(&cfg, None).expect("valid notifier config");
//! notifiers.alert(&ev);                          // never waits
//! let delivered = notifiers.command(&cmd);       // queued now...
//! if delivered.await.is_ok() { /* ...commit the offsets behind it */ }
//! let report = notifiers.shutdown(Duration::from_secs(5)).await;
//! assert!(report.is_clean());
//! # }
//! ```

use super::alertmanager::{
    Alertmanager, AlertmanagerConfig, AlertmanagerError, Clock, SystemClock,
};
use super::deliver::{DeliveryError, DeliveryObserver, StatsSnapshot};
use super::policy::RollbackCommand;
use super::webhook::{Webhook, WebhookConfig, WebhookError, WebhookKind};
use crate::alert::state::{ActiveAlert, AlertEvent};
use std::collections::BTreeSet;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Every notifier's configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifiersConfig {
    /// Alertmanager notifiers (usually one, with each replica's URL).
    pub alertmanagers: Vec<AlertmanagerConfig>,
    /// Webhooks, for alerts or for commands.
    pub webhooks: Vec<WebhookConfig>,
}

impl NotifiersConfig {
    /// Whether no notifier is configured.
    pub fn is_empty(&self) -> bool {
        self.alertmanagers.is_empty() && self.webhooks.is_empty()
    }
}

/// Errors starting the notifiers.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Two notifiers have the same name (it is their metric label).
    #[error("two notifiers are named {0:?}")]
    DuplicateName(String),
    /// An Alertmanager notifier cannot start.
    #[error(transparent)]
    Alertmanager(#[from] AlertmanagerError),
    /// A webhook cannot start.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
}

/// The running notifiers.
#[derive(Debug)]
pub struct Notifiers {
    alertmanagers: Vec<Alertmanager>,
    webhooks: Vec<Webhook>,
}

/// Resolves once a rollback command is delivered by every commands webhook, or with the
/// first [`DeliveryError`]. Await it (it implements `IntoFuture`) or call [`Completion::wait`].
#[derive(Debug)]
pub struct Completion {
    pending: Vec<(String, oneshot::Receiver<Result<(), DeliveryError>>)>,
}

impl Completion {
    /// Waits for every delivery; the first error, in notifier order, if any.
    pub async fn wait(self) -> Result<(), DeliveryError> {
        let mut first = None;
        for (name, rx) in self.pending {
            let r = rx
                .await
                .unwrap_or(Err(DeliveryError::Stopped { notifier: name }));
            if let (Err(e), None) = (r, &first) {
                first = Some(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Completion {
    /// Checks without waiting: `None` while a delivery is still under way, else the first
    /// error (in notifier order) or Ok once every delivery finished.
    pub fn poll(&mut self) -> Option<Result<(), DeliveryError>> {
        let mut first = None;
        let mut still = Vec::new();
        for (name, mut rx) in std::mem::take(&mut self.pending) {
            match rx.try_recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first.get_or_insert(e);
                }
                Err(oneshot::error::TryRecvError::Empty) => still.push((name, rx)),
                Err(oneshot::error::TryRecvError::Closed) => {
                    first.get_or_insert(DeliveryError::Stopped { notifier: name });
                }
            }
        }
        self.pending = still;
        match first {
            Some(e) => Some(Err(e)),
            None if self.pending.is_empty() => Some(Ok(())),
            None => None,
        }
    }
}

impl IntoFuture for Completion {
    type Output = Result<(), DeliveryError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.wait())
    }
}

/// What one notifier left at shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierReport {
    /// Notifier name.
    pub name: String,
    /// Notifications queued or in flight at the deadline (for an Alertmanager notifier,
    /// counted per URL); their completions resolved with [`DeliveryError::ShutDown`].
    pub undelivered: u64,
    /// Its counters at the end.
    pub stats: StatsSnapshot,
}

/// What the notifiers left at shutdown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// One per notifier, in configuration order (Alertmanager ones first).
    pub notifiers: Vec<NotifierReport>,
}

impl ShutdownReport {
    /// Whether every queued notification was delivered or given up before the deadline.
    pub fn is_clean(&self) -> bool {
        self.notifiers.iter().all(|n| n.undelivered == 0)
    }

    /// Notifications left undelivered, over every notifier.
    pub fn undelivered(&self) -> u64 {
        self.notifiers.iter().map(|n| n.undelivered).sum()
    }
}

impl Notifiers {
    /// Starts every notifier (inside a tokio runtime). `observer` receives the delivery
    /// counts (`vigil_notifications_*`); the wall clock is the system's.
    pub fn start(
        config: &NotifiersConfig,
        observer: Option<Arc<dyn DeliveryObserver>>,
    ) -> Result<Notifiers, NotifyError> {
        Notifiers::start_with_clock(config, observer, Arc::new(SystemClock))
    }

    /// [`Notifiers::start`] with another clock (tests).
    pub fn start_with_clock(
        config: &NotifiersConfig,
        observer: Option<Arc<dyn DeliveryObserver>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Notifiers, NotifyError> {
        let mut names = BTreeSet::new();
        let all = config
            .alertmanagers
            .iter()
            .map(|c| &c.name)
            .chain(config.webhooks.iter().map(|c| &c.name));
        for name in all {
            if !names.insert(name) {
                return Err(NotifyError::DuplicateName(name.clone()));
            }
        }
        let mut out = Notifiers {
            alertmanagers: Vec::new(),
            webhooks: Vec::new(),
        };
        // On an error, `out` drops what started: queues close and the tasks end.
        for c in &config.alertmanagers {
            out.alertmanagers
                .push(Alertmanager::start(c, observer.clone(), clock.clone())?);
        }
        for c in &config.webhooks {
            out.webhooks.push(Webhook::start(c, observer.clone())?);
        }
        Ok(out)
    }

    /// Whether any notifier is configured.
    pub fn is_empty(&self) -> bool {
        self.alertmanagers.is_empty() && self.webhooks.is_empty()
    }

    /// Hands an alert transition to every notifier that takes alerts. Never waits.
    pub fn alert(&self, event: &AlertEvent) {
        for a in &self.alertmanagers {
            a.alert(event);
        }
        for w in &self.webhooks {
            w.alert(event);
        }
    }

    /// Seeds the Alertmanager notifiers with the alerts already firing (after a restart
    /// from a snapshot), so that Alertmanager does not time them out.
    pub fn seed_firing(&self, active: &[ActiveAlert]) {
        for a in &self.alertmanagers {
            a.seed(active);
        }
    }

    /// Hands a rollback command to every commands webhook. Never waits; the returned
    /// [`Completion`] resolves once all have delivered it (at once if there is none).
    pub fn command(&self, cmd: &RollbackCommand) -> Completion {
        Completion {
            pending: self
                .webhooks
                .iter()
                .filter(|w| w.kind() == WebhookKind::Commands)
                .map(|w| (w.name().to_string(), w.command(cmd)))
                .collect(),
        }
    }

    /// A notifier's counters, by name.
    pub fn stats(&self, name: &str) -> Option<StatsSnapshot> {
        let am = self.alertmanagers.iter().find(|a| a.name() == name);
        let wh = self.webhooks.iter().find(|w| w.name() == name);
        am.map(Alertmanager::stats)
            .or_else(|| wh.map(Webhook::stats))
    }

    /// Stops taking notifications, delivers what is queued within `deadline`, then
    /// abandons the rest and reports it.
    pub async fn shutdown(self, deadline: Duration) -> ShutdownReport {
        let until = Instant::now() + deadline;
        let mut report = ShutdownReport::default();
        // Concurrently: each notifier drains its own queue against the same deadline.
        let mut tasks = Vec::new();
        for a in self.alertmanagers {
            let name = a.name().to_string();
            let stats = a.stats_handle();
            tasks.push((name, stats, tokio::spawn(a.shutdown(until))));
        }
        for w in self.webhooks {
            let name = w.name().to_string();
            let stats = w.stats_handle();
            tasks.push((name, stats, tokio::spawn(w.shutdown(until))));
        }
        for (name, stats, task) in tasks {
            let undelivered = task.await.unwrap_or(0);
            report.notifiers.push(NotifierReport {
                name,
                undelivered,
                stats: stats.stats(),
            });
        }
        report
    }
}
