//! The Kafka source: a consumer-group member with auto-commit off. The app commits offsets
//! itself, only after the effects of the records behind them are published and the state
//! that covers them is snapshotted (at-least-once; rollback commands are deduplicated by
//! their idempotency keys). The consumer context reports partition assignment (readiness)
//! and per-partition lag from librdkafka's statistics.

use crate::config::KafkaConfig;
use crate::telemetry::Shared;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, TopicPartitionList};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Consumer callbacks wired to telemetry.
pub struct VigilContext {
    shared: Arc<Shared>,
    errors: Mutex<LogThrottle>,
}

/// Repeated errors, logged without flooding: while the brokers are down librdkafka reports
/// one every few tens of milliseconds. [`LogThrottle::note`] says to log a message the
/// first time it comes and then at most every [`LogThrottle::EVERY`], with how many times
/// it came in between. (The wall clock is right here: this paces a log, not a verdict.)
#[derive(Debug, Default)]
pub struct LogThrottle {
    /// Per message: when it was last logged, and how many times it came since.
    recent: Vec<(String, Instant, u64)>,
}

impl LogThrottle {
    /// The least time between two logs of one message.
    pub const EVERY: Duration = Duration::from_secs(30);
    /// Distinct messages remembered; the one logged longest ago is forgotten first.
    const MESSAGES: usize = 16;

    /// `Some(repeated)` if `message` is to be logged now, `repeated` being how many times
    /// it came, unlogged, since it was last logged.
    pub fn note(&mut self, message: &str) -> Option<u64> {
        self.note_at(message, Instant::now())
    }

    fn note_at(&mut self, message: &str, now: Instant) -> Option<u64> {
        if let Some(e) = self.recent.iter_mut().find(|(m, _, _)| m == message) {
            if now.duration_since(e.1) < Self::EVERY {
                e.2 += 1;
                return None;
            }
            let repeated = e.2;
            (e.1, e.2) = (now, 0);
            return Some(repeated);
        }
        if self.recent.len() >= Self::MESSAGES {
            let oldest = (0..self.recent.len())
                .min_by_key(|&i| self.recent[i].1)
                .expect("not empty");
            self.recent.swap_remove(oldest);
        }
        self.recent.push((message.to_string(), now, 0));
        Some(0)
    }
}

/// A librdkafka client error (a [`ClientContext::error`]), logged through `throttle`;
/// `client` names the client (consumer, producer).
pub fn log_client_error(
    throttle: &Mutex<LogThrottle>,
    client: &str,
    error: KafkaError,
    reason: &str,
) {
    let message = format!("{error}: {reason}");
    let log = throttle.lock().ok().and_then(|mut t| t.note(&message));
    if let Some(repeated) = log {
        tracing::error!(error = %message, repeated, client, "kafka client error");
    }
}

impl ClientContext for VigilContext {
    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error(&self.errors, "consumer", error, reason);
    }

    fn stats(&self, stats: Statistics) {
        for (topic, t) in &stats.topics {
            for (p, part) in &t.partitions {
                // -1 is librdkafka's "unknown"; partition -1 is its internal UA partition.
                if *p >= 0 && part.consumer_lag >= 0 {
                    self.shared
                        .metrics
                        .consumer_lag(topic, *p, part.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for VigilContext {
    fn post_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions assigned");
                self.shared.ready.store(true, Ordering::Relaxed);
            }
            Rebalance::Revoke(tpl) => {
                // Nothing is committed here: offsets are committed only with a snapshot, so
                // the next owner resumes from the last checkpoint (at-least-once).
                tracing::info!(partitions = tpl.count(), "partitions revoked");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "offset commit failed");
        }
    }
}

/// The consumer type vigil uses.
pub type Consumer = StreamConsumer<VigilContext>;

/// Creates the consumer and subscribes it to the configured topics.
pub fn consumer(cfg: &KafkaConfig, shared: Arc<Shared>) -> KafkaResult<Consumer> {
    let mut cc = ClientConfig::new();
    cc.set("statistics.interval.ms", "5000")
        .set("auto.offset.reset", "earliest");
    for (k, v) in cfg.properties.iter().chain(&cfg.consumer_properties) {
        cc.set(k, v);
    }
    let consumer: Consumer = cc
        .set("bootstrap.servers", &cfg.brokers)
        .set("group.id", &cfg.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .create_with_context(VigilContext {
            shared,
            errors: Mutex::default(),
        })?;
    let topics: Vec<&str> = cfg.topics.keys().map(String::as_str).collect();
    rdkafka::consumer::Consumer::subscribe(&consumer, &topics)?;
    Ok(consumer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_error_is_logged_once_per_interval_with_its_count() {
        let mut t = LogThrottle::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_millis(s);
        assert_eq!(t.note_at("down", at(0)), Some(0));
        assert_eq!(
            t.note_at("refused", at(10)),
            Some(0),
            "another message: at once"
        );
        for i in 1..=100 {
            assert_eq!(t.note_at("down", at(20 * i)), None);
        }
        assert_eq!(t.note_at("down", at(30_000)), Some(100));
        assert_eq!(t.note_at("down", at(30_001)), None);
        assert_eq!(t.note_at("refused", at(30_010)), Some(0));
        // Memory is bounded: past MESSAGES distinct messages the oldest is forgotten.
        for i in 0..100 {
            t.note_at(&format!("m{i}"), at(40_000 + i));
        }
        assert_eq!(t.recent.len(), LogThrottle::MESSAGES);
        assert_eq!(t.note_at("m99", at(40_200)), None);
        assert_eq!(
            t.note_at("down", at(40_201)),
            Some(0),
            "forgotten: logged at once, anew"
        );
    }
}
