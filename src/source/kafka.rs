//! The Kafka source: a consumer-group member with auto-commit off. The app commits offsets
//! itself, only after the effects of the records behind them are published and the state
//! that covers them is snapshotted (at-least-once; rollback commands are deduplicated by
//! their idempotency keys). The consumer context reports partition assignment (readiness)
//! and per-partition lag from librdkafka's statistics.

use crate::config::KafkaConfig;
use crate::telemetry::Shared;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, TopicPartitionList};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Consumer callbacks wired to telemetry.
pub struct VigilContext {
    shared: Arc<Shared>,
}

impl ClientContext for VigilContext {
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
        .create_with_context(VigilContext { shared })?;
    let topics: Vec<&str> = cfg.topics.keys().map(String::as_str).collect();
    rdkafka::consumer::Consumer::subscribe(&consumer, &topics)?;
    Ok(consumer)
}
