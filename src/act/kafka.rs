//! The Kafka sink: alerts, rollback commands and dead letters produced to their topics by
//! one idempotent producer. Deliveries are tracked so that the app can wait for every
//! effect of a batch of records to be acknowledged before it commits their offsets.

use super::sink::SinkError;
use crate::source::kafka::LogThrottle;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::ClientContext;
use std::sync::Mutex;
use std::time::Duration;

/// The producer's callbacks: its client errors logged without flooding (see
/// [`LogThrottle`]), as the consumer's are.
#[derive(Default)]
pub struct SinkContext {
    errors: Mutex<LogThrottle>,
}

impl ClientContext for SinkContext {
    fn error(&self, error: KafkaError, reason: &str) {
        crate::source::kafka::log_client_error(&self.errors, "producer", error, reason);
    }
}

/// Producer of vigil's output topics.
pub struct KafkaSink {
    producer: FutureProducer<SinkContext>,
    inflight: Vec<(String, DeliveryFuture)>,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("inflight", &self.inflight.len())
            .finish()
    }
}

impl KafkaSink {
    /// Creates the producer. `properties` are the user's librdkafka properties for it
    /// (`kafka.properties`, then `kafka.producer_properties`); vigil's own settings win.
    pub fn new<'a>(
        brokers: &str,
        properties: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<KafkaSink, SinkError> {
        let mut cfg = ClientConfig::new();
        for (k, v) in properties {
            cfg.set(k, v);
        }
        let producer: FutureProducer<SinkContext> = cfg
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .create_with_context(SinkContext::default())
            .map_err(|e| SinkError::Kafka {
                topic: "-".into(),
                detail: e.to_string(),
            })?;
        Ok(KafkaSink {
            producer,
            inflight: Vec::new(),
        })
    }

    /// Enqueues one message; its delivery is awaited by [`KafkaSink::flush`].
    pub fn send(&mut self, topic: &str, key: &str, payload: &[u8]) -> Result<(), SinkError> {
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        loop {
            match self.producer.send_result(record) {
                Ok(fut) => {
                    self.inflight.push((topic.to_string(), fut));
                    return Ok(());
                }
                Err((e, r)) => {
                    // A full local queue is back-pressure, not failure: serve callbacks and
                    // try again.
                    if matches!(
                        e.rdkafka_error_code(),
                        Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ) {
                        self.producer.poll(Duration::from_millis(10));
                        record = r;
                        continue;
                    }
                    return Err(SinkError::Kafka {
                        topic: topic.to_string(),
                        detail: e.to_string(),
                    });
                }
            }
        }
    }

    /// Serialises `value` as JSON and sends it.
    pub fn send_json<T: serde::Serialize>(
        &mut self,
        topic: &str,
        key: &str,
        value: &T,
    ) -> Result<(), SinkError> {
        let bytes = serde_json::to_vec(value).map_err(|e| SinkError::Kafka {
            topic: topic.to_string(),
            detail: e.to_string(),
        })?;
        self.send(topic, key, &bytes)
    }

    /// Messages sent and not yet acknowledged.
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// Waits until every message sent so far is acknowledged by the brokers. An error
    /// means at least one was not: the caller must not commit the offsets behind it.
    pub async fn flush(&mut self) -> Result<(), SinkError> {
        let mut first_err = None;
        for (topic, fut) in self.inflight.drain(..) {
            let res = match fut.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((e, _))) => Err(e.to_string()),
                Err(_) => Err("delivery cancelled (producer dropped)".to_string()),
            };
            if let (Err(detail), None) = (res, &first_err) {
                first_err = Some(SinkError::Kafka { topic, detail });
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
