//! `vigil demo`: the whole daemon against librdkafka's in-process mock cluster, with no
//! external service (or, with `--brokers`, against a real Kafka cluster: the end-to-end
//! test `tests/e2e/kafka_broker.sh` runs it so). A simulated serving layer sends model
//! `fraud` v1 traffic, rolls out v2 (inputs drift, errors and latency rise, scores shift),
//! and obeys the rollback commands vigil publishes on the control topic. vigil prints
//! alerts and the rollback as they happen and a summary at the end.

pub mod sim;

use crate::act::policy::RollbackCommand;
use crate::app::run::{serve_and_run, RunOptions};
use crate::app::{Display, Summary};
use crate::config::Config;
use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use sim::{Behaviour, SimModel, Simulator};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The demo's embedded configuration.
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

/// Records per second the simulated serving layer sends (wall clock and event time).
const RATE: u64 = 400;
/// Records of v1 before v2 is rolled out.
const V1_RECORDS: u64 = 5000;
/// Event-time delay of a label after its prediction (ms).
const LABEL_DELAY_MS: i64 = 5_000;

/// Options of `vigil demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// How long to run; `None` runs until cancelled.
    pub duration: Option<Duration>,
    /// Alertmanager URLs to notify (each gets every alert).
    pub alertmanager: Vec<String>,
    /// A real Kafka cluster's bootstrap servers to run against instead of the embedded mock
    /// cluster. The demo creates its topics there (one partition each) if they are missing.
    pub brokers: Option<String>,
}

/// The topics the demo reads and writes (see `config/demo.toml`).
const TOPICS: [&str; 6] = [
    "inference",
    "feedback",
    "serving-metrics",
    "vigil.alerts",
    "serving.control",
    "vigil.dead-letter",
];

/// What the demo saw.
#[derive(Debug)]
pub struct DemoReport {
    /// vigil's own summary.
    pub vigil: Summary,
    /// Records the serving layer sent.
    pub sent: u64,
    /// Rollbacks the serving layer obeyed.
    pub obeyed: Vec<RollbackCommand>,
}

struct Serving {
    version: String,
    obeyed: Vec<RollbackCommand>,
}

/// Runs the demo until `duration` passes or `stop` is cancelled.
pub async fn demo(opts: DemoOptions, stop: CancellationToken) -> anyhow::Result<DemoReport> {
    let (cluster, brokers) = match &opts.brokers {
        None => {
            let cluster = MockCluster::new(1).context("starting the mock Kafka cluster")?;
            for topic in TOPICS {
                cluster
                    .create_topic(topic, 1, 1)
                    .with_context(|| format!("creating topic {topic}"))?;
            }
            let brokers = cluster.bootstrap_servers();
            (Some(cluster), brokers)
        }
        Some(brokers) => {
            create_topics(brokers).await?;
            (None, brokers.clone())
        }
    };
    let state = tempfile::tempdir().context("creating a state directory")?;
    let mut config = Config::from_toml_str(DEMO_CONFIG).context("embedded demo config")?;
    if let Some(k) = &mut config.kafka {
        k.brokers = brokers.clone();
    }
    config.listen = opts.listen;
    if !opts.alertmanager.is_empty() {
        let urls = opts
            .alertmanager
            .iter()
            .map(|u| reqwest::Url::parse(u).with_context(|| format!("--alertmanager {u}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut am = crate::act::alertmanager::AlertmanagerConfig {
            urls,
            generator_url: reqwest::Url::parse(&format!("http://{}/", opts.listen)).ok(),
            ..Default::default()
        };
        am.static_labels
            .insert("source".into(), "vigil-demo".into());
        config.notify.alertmanagers.push(am);
    }
    config.state_dir = Some(state.path().to_path_buf());
    let config = Arc::new(config);

    let serving = Arc::new(Mutex::new(Serving {
        version: "v1".into(),
        obeyed: Vec::new(),
    }));
    let sim_stop = CancellationToken::new();
    let producer = tokio::spawn(produce(brokers.clone(), serving.clone(), sim_stop.clone()));
    // On a cluster of its own the control topic starts empty; on a real one it may hold an
    // earlier run's commands, which this run's serving layer must not obey.
    let from = if cluster.is_some() {
        Offset::Beginning
    } else {
        Offset::End
    };
    let control = tokio::spawn(obey(
        brokers.clone(),
        from,
        serving.clone(),
        sim_stop.clone(),
    ));

    let vigil_stop = stop.child_token();
    if let Some(d) = opts.duration {
        let t = vigil_stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            t.cancel();
        });
    }
    let summary = serve_and_run(
        config,
        RunOptions {
            stdout: Some(Display::Human),
            shutdown_deadline: Duration::from_secs(20),
            reload: None,
        },
        vigil_stop,
        |addr| crate::say!("vigil demo: serving http://{addr}/metrics and /api/v1/alerts"),
    )
    .await;
    sim_stop.cancel();
    let sent = producer.await.unwrap_or(Ok(0))?;
    control.await.ok();
    drop(cluster);
    let obeyed = serving.lock().map(|s| s.obeyed.clone()).unwrap_or_default();
    Ok(DemoReport {
        vigil: summary?,
        sent,
        obeyed,
    })
}

/// Creates the demo's topics on a real cluster, one partition each; topics that exist are
/// left as they are.
async fn create_topics(brokers: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("connecting to --brokers")?;
    let topics: Vec<NewTopic<'_>> = TOPICS
        .iter()
        .map(|t| NewTopic::new(t, 1, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin
        .create_topics(&topics, &opts)
        .await
        .context("creating the demo's topics")?
    {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("creating topic {topic}: {code}"),
        }
    }
    Ok(())
}

/// The serving layer's traffic: v1, then a bad v2 until a rollback command says otherwise.
async fn produce(
    brokers: String,
    serving: Arc<Mutex<Serving>>,
    stop: CancellationToken,
) -> anyhow::Result<u64> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "20")
        .create()?;
    let mut sim = Simulator::new(SimModel::fraud(), 7);
    let start = chrono::Utc::now().timestamp_millis();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut sent = 0u64;
    let mut line = String::with_capacity(512);
    let mut labels: std::collections::VecDeque<(i64, String)> = Default::default();
    let bad = Behaviour {
        feature_shift: 1.0,
        drifted_features: 2,
        new_category_rate: 0.05,
        ..Behaviour::REGRESSED
    };
    while !stop.is_cancelled() {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        for _ in 0..RATE / 10 {
            let version = {
                let mut s = serving.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                if sent == V1_RECORDS && s.obeyed.is_empty() {
                    crate::say!("serving: rolling out fraud v2");
                    s.version = "v2".into();
                }
                s.version.clone()
            };
            let b = if version == "v2" {
                bad
            } else {
                Behaviour::HEALTHY
            };
            line.clear();
            let ts = start + (sent * 1000 / RATE) as i64;
            sim.record(&mut line, ts, &version, &b);
            let rec = FutureRecord::to("inference")
                .key("fraud")
                .payload(line.as_bytes());
            if let Err((e, _)) = producer.send_result(rec) {
                tracing::warn!(error = %e, "demo producer");
            }
            // The ground truth arrives on the feedback topic a few seconds later.
            let mut label = String::new();
            if sim.last_label(&mut label, ts + LABEL_DELAY_MS) {
                labels.push_back((ts + LABEL_DELAY_MS, label));
            }
            while labels.front().is_some_and(|(due, _)| *due <= ts) {
                if let Some((_, l)) = labels.pop_front() {
                    let rec = FutureRecord::to("feedback")
                        .key("fraud")
                        .payload(l.as_bytes());
                    if let Err((e, _)) = producer.send_result(rec) {
                        tracing::warn!(error = %e, "demo producer");
                    }
                }
            }
            // Once a second, the serving layer's own p99 latency gauge.
            if sent % RATE == 0 {
                let p99 = 45.0 * b.latency_scale * (1.0 + 0.03 * ((sent / RATE) % 7) as f64);
                let m = format!(
                    r#"{{"ts":"{}","name":"serving_latency_p99_ms","labels":{{"model":"fraud","version":"{version}"}},"value":{p99:.2}}}"#,
                    crate::record::ts_to_rfc3339(ts)
                );
                let rec = FutureRecord::to("serving-metrics")
                    .key("fraud")
                    .payload(m.as_bytes());
                if let Err((e, _)) = producer.send_result(rec) {
                    tracing::warn!(error = %e, "demo producer");
                }
            }
            sent += 1;
        }
    }
    Ok(sent)
}

/// The serving layer's controller: obeys rollback commands from the control topic.
async fn obey(
    brokers: String,
    from: Offset,
    serving: Arc<Mutex<Serving>>,
    stop: CancellationToken,
) {
    let consumer: StreamConsumer = match ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "demo-serving")
        .set("enable.auto.commit", "false")
        .create()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "demo control consumer");
            return;
        }
    };
    let mut tpl = TopicPartitionList::new();
    let _ = tpl.add_partition_offset("serving.control", 0, from);
    if let Err(e) = consumer.assign(&tpl) {
        tracing::warn!(error = %e, "demo control consumer");
        return;
    }
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => return,
            m = consumer.recv() => m,
        };
        let Ok(msg) = msg else { continue };
        let Some(Ok(cmd)) = msg.payload().map(serde_json::from_slice::<RollbackCommand>) else {
            continue;
        };
        if cmd.dry_run {
            continue;
        }
        if let Ok(mut s) = serving.lock() {
            if s.version == cmd.from_version {
                crate::say!(
                    "serving: obeying rollback of {} {} -> {} (key {})",
                    cmd.model,
                    cmd.from_version,
                    cmd.to_version,
                    cmd.idempotency_key
                );
                s.version = cmd.to_version.clone();
                s.obeyed.push(cmd);
            }
        }
    }
}
