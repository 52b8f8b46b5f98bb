//! Helpers for the integration tests: an in-process librdkafka mock cluster (the real Kafka
//! protocol, spoken by the real rdkafka client), producing and reading topics, and running
//! the daemon against it.
#![allow(dead_code)]

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use vigil::app::run::{run, RunOptions};
use vigil::app::Summary;
use vigil::config::Config;
use vigil::telemetry::Shared;

pub const INFERENCE: &str = "inference";
pub const ALERTS: &str = "vigil.alerts";
pub const COMMANDS: &str = "serving.control";
pub const DEAD_LETTER: &str = "vigil.dead-letter";

/// A mock cluster with vigil's topics (one partition each, so order is total).
pub fn cluster() -> MockCluster<'static, DefaultProducerContext> {
    let c = MockCluster::new(1).expect("mock cluster");
    for t in [INFERENCE, ALERTS, COMMANDS, DEAD_LETTER] {
        c.create_topic(t, 1, 1).expect("create topic");
    }
    c
}

/// A config for the daemon against `brokers`, with small windows.
pub fn config(brokers: &str, group: &str, state_dir: Option<&std::path::Path>) -> Arc<Config> {
    let state = state_dir
        .map(|d| format!("[state]\ndir = {:?}\n", d.display().to_string()))
        .unwrap_or_default();
    let text = format!(
        r#"
[kafka]
brokers = "{brokers}"
group_id = "{group}"
alerts_topic = "{ALERTS}"
commands_topic = "{COMMANDS}"
dead_letter_topic = "{DEAD_LETTER}"
commit_interval = "200ms"
[[kafka.topics]]
name = "{INFERENCE}"
kind = "inference"
{state}
[defaults]
window = "500 records"
reference_size = 2000
"#
    );
    Arc::new(Config::from_toml_str(&text).expect("valid test config"))
}

/// Produces `lines` to `topic` and waits for every delivery.
pub async fn produce(brokers: &str, topic: &str, lines: impl IntoIterator<Item = String>) {
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let mut futs = Vec::new();
    for l in lines {
        let mut rec = FutureRecord::to(topic).key("k").payload(l.as_bytes());
        loop {
            match p.send_result(rec) {
                Ok(f) => {
                    futs.push(f);
                    break;
                }
                // The local queue is full: let deliveries drain, then retry the same record.
                Err((_, r)) => {
                    rec = r;
                    p.poll(Duration::from_millis(5));
                }
            }
        }
    }
    for f in futs {
        f.await.expect("delivery").expect("delivered");
    }
}

/// The high watermark (message count) of partition 0 of `topic`.
pub fn count(brokers: &str, topic: &str) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("consumer");
    let (lo, hi) = c
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .expect("watermarks");
    hi - lo
}

/// Every message of partition 0 of `topic`, parsed as JSON.
pub async fn read_all(brokers: &str, topic: &str) -> Vec<serde_json::Value> {
    let n = count(brokers, topic);
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("tpl");
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    while (out.len() as i64) < n {
        let m = c.recv().await.expect("message");
        let v = serde_json::from_slice(m.payload().unwrap_or(b"null")).expect("json");
        out.push(v);
    }
    out
}

/// A running daemon.
pub struct Daemon {
    pub shared: Arc<Shared>,
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<Summary>>,
}

/// Starts the daemon.
pub fn start(config: Arc<Config>) -> Daemon {
    let shared = Shared::new().expect("telemetry");
    let stop = CancellationToken::new();
    let opts = RunOptions {
        stdout: None,
        shutdown_deadline: Duration::from_secs(30),
        reload: None,
    };
    let task = tokio::spawn(run(config, shared.clone(), stop.clone(), opts));
    Daemon { shared, stop, task }
}

impl Daemon {
    /// Waits until the daemon has handled `n` messages in total. Fails the test if the
    /// daemon exits first, or (a safety net against hangs, not a timing assertion) if
    /// nothing completes within two minutes.
    pub async fn handled(&mut self, n: u64) {
        let mut rx = self.shared.handled.subscribe();
        let wait = async {
            tokio::select! {
                r = rx.wait_for(|h| *h >= n) => { r.expect("daemon alive"); }
                r = &mut self.task => panic!("daemon exited early: {r:?}"),
            }
        };
        tokio::time::timeout(Duration::from_secs(120), wait)
            .await
            .expect("daemon handled every message");
    }

    /// Produces `lines` to `topic` in chunks of `chunk`, waiting after each until the daemon
    /// has handled everything so far: the mock cluster keeps only the last 5 MiB of a
    /// partition, so a long stream must not run ahead of the consumer.
    pub async fn feed(&mut self, brokers: &str, topic: &str, lines: Vec<String>, chunk: usize) {
        let mut done = *self.shared.handled.borrow();
        for part in lines.chunks(chunk) {
            produce(brokers, topic, part.to_vec()).await;
            done += part.len() as u64;
            self.handled(done).await;
        }
    }

    /// Stops the daemon (ordered drain) and returns its summary.
    pub async fn stop(self) -> Summary {
        self.stop.cancel();
        self.task.await.expect("join").expect("daemon result")
    }
}
