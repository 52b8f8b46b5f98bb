//! Delivery counts per notifier: atomics the notifiers read back ([`Stats`]) and an
//! optional [`DeliveryObserver`] (the metrics module) told every count. The notifier name
//! is the only label: it comes from configuration, a bounded set.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What happened to notifications, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered (2xx).
    Sent,
    /// Not delivered: permanent failure or retries exhausted.
    Failed,
    /// Dropped because the queue was full.
    Dropped,
    /// Retried after a transient failure.
    Retried,
}

impl Outcome {
    /// Every outcome, for pre-registering series.
    pub const ALL: [Outcome; 4] = [
        Outcome::Sent,
        Outcome::Failed,
        Outcome::Dropped,
        Outcome::Retried,
    ];
}

/// Receives delivery counts (the metrics module implements it for `vigil_notifications_*`).
pub trait DeliveryObserver: Send + Sync + 'static {
    /// `count` notifications of `notifier` had `outcome`.
    fn record(&self, notifier: &str, outcome: Outcome, count: u64);
    /// Called once per notifier at start, so that its series exist at zero.
    fn register(&self, notifier: &str) {
        for o in Outcome::ALL {
            self.record(notifier, o, 0);
        }
    }
}

/// Per-notifier counters, shared by its workers.
#[derive(Debug, Default)]
pub struct Stats {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retried: AtomicU64,
}

/// A copy of a notifier's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Notifications delivered.
    pub sent: u64,
    /// Notifications that failed permanently or ran out of retries.
    pub failed: u64,
    /// Notifications dropped on a full queue.
    pub dropped: u64,
    /// Retry attempts (each counts the notifications its job carries).
    pub retried: u64,
}

impl Stats {
    /// The current counts.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
        }
    }
}

/// A notifier's name with its counters and observer: what every count goes through.
#[derive(Clone)]
pub struct Meter {
    name: Arc<str>,
    stats: Arc<Stats>,
    observer: Option<Arc<dyn DeliveryObserver>>,
}

impl fmt::Debug for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meter")
            .field("name", &self.name)
            .field("stats", &self.stats.snapshot())
            .finish()
    }
}

impl Meter {
    /// Counters for `name`, registered with `observer`.
    pub fn new(name: &str, observer: Option<Arc<dyn DeliveryObserver>>) -> Meter {
        if let Some(o) = &observer {
            o.register(name);
        }
        Meter {
            name: name.into(),
            stats: Arc::default(),
            observer,
        }
    }

    /// The notifier name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Counts `n` notifications with `outcome`.
    pub fn add(&self, outcome: Outcome, n: u64) {
        let c = match outcome {
            Outcome::Sent => &self.stats.sent,
            Outcome::Failed => &self.stats.failed,
            Outcome::Dropped => &self.stats.dropped,
            Outcome::Retried => &self.stats.retried,
        };
        c.fetch_add(n, Ordering::Relaxed);
        if let Some(o) = &self.observer {
            o.record(&self.name, outcome, n);
        }
    }
}
