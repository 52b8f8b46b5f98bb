//! `vigil run`: the daemon. Consumes Kafka, runs the pipeline, ships effects, and every
//! `commit_interval` checkpoints: wait for every produced message to be acknowledged,
//! snapshot the state, then commit the offsets the snapshot covers.
//!
//! Shutdown order (on cancellation): stop fetching; the record in hand is finished; flush
//! alert, command and dead-letter deliveries; snapshot state; commit offsets; leave the
//! group; then the caller stops HTTP. A deadline bounds the whole drain.

use super::{load_baselines, Display, KafkaTopics, Outputs, Summary};
use crate::act::deliver::DeliveryObserver;
use crate::act::kafka::KafkaSink;
use crate::act::notify::Notifiers;
use crate::act::sink::LineSink;
use crate::act::Origin;
use crate::config::Config;
use crate::pipeline::{Effects, Pipeline, PipelineState};
use crate::source::kafka::{consumer, Consumer};
use crate::state::{Offsets, StateDir};
use crate::telemetry::{serve, Shared};
use anyhow::Context;
use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How `run` presents itself.
#[derive(Debug)]
pub struct RunOptions {
    /// Alert transitions and commands on stdout, as JSON lines or readable lines.
    pub stdout: Option<Display>,
    /// Upper bound on the shutdown drain.
    pub shutdown_deadline: Duration,
    /// Where reload requests (SIGHUP) come from, and the config file they re-read.
    pub reload: Option<Reload>,
}

/// Reload requests: each message on `requests` re-reads `path`.
#[derive(Debug)]
pub struct Reload {
    /// The config file.
    pub path: PathBuf,
    /// One message per request.
    pub requests: mpsc::Receiver<()>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            stdout: Some(Display::Json),
            shutdown_deadline: Duration::from_secs(30),
            reload: None,
        }
    }
}

async fn next_reload(r: &mut Option<Reload>) -> Option<PathBuf> {
    match r {
        Some(r) => r.requests.recv().await.map(|()| r.path.clone()),
        None => std::future::pending().await,
    }
}

/// Re-reads the config and applies it in place, or refuses (the running config stays) when
/// it is invalid or changes settings that need a restart. Returns the config in force.
fn reload(
    current: &Arc<Config>,
    path: &std::path::Path,
    pipeline: &mut Pipeline,
    out: &mut Outputs,
    shared: &Shared,
) -> Arc<Config> {
    let new = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "reload refused: the new config is invalid; the running one stays");
            return current.clone();
        }
    };
    let refused = current.restart_needed(&new);
    if !refused.is_empty() {
        tracing::error!(settings = ?refused, "reload refused: these settings need a restart; the running config stays");
        return current.clone();
    }
    let baselines = match load_baselines(&new) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "reload refused: a baseline cannot be loaded");
            return current.clone();
        }
    };
    let onnx = match super::load_onnx(&new) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "reload refused: an ONNX model cannot be loaded");
            return current.clone();
        }
    };
    let new = Arc::new(new);
    let r = pipeline.reload(new.clone(), baselines);
    pipeline.set_onnx(onnx);
    tracing::info!(
        references_rebuilt = ?r.references_rebuilt,
        windows_restarted = ?r.windows_restarted,
        rules_changed = ?r.rules_changed,
        "config reloaded"
    );
    let fx = Effects {
        alerts: r.resolved,
        ..Effects::default()
    };
    shared.metrics.observe(&fx);
    if let Err(e) = out.alerts(&fx.alerts) {
        tracing::warn!(error = %e, "shipping alerts resolved by the reload");
    }
    shared.set_alerts(pipeline.active_alerts());
    new
}

/// Serves HTTP on the configured address and runs the daemon until `stop` is cancelled;
/// HTTP stops last. `on_listen` is told the bound address.
pub async fn serve_and_run(
    config: Arc<Config>,
    opts: RunOptions,
    stop: CancellationToken,
    on_listen: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<Summary> {
    // Refused before anything is bound or connected, so that the error is the only output.
    anyhow::ensure!(
        config.kafka.is_some(),
        "`vigil run` needs a [kafka] section in the config"
    );
    let shared = Shared::with_otlp(config.otlp.as_ref())?;
    let http_stop = CancellationToken::new();
    let (addr, server) = serve(config.listen, shared.clone(), http_stop.clone())
        .await
        .with_context(|| format!("binding http.listen {}", config.listen))?;
    on_listen(addr);
    let http = tokio::spawn(server);
    let result = run(config, shared.clone(), stop, opts).await;
    http_stop.cancel();
    if let Ok(Err(e)) = http.await {
        tracing::warn!(error = %e, "http server");
    }
    // The OTLP reader's final push blocks on HTTP: off the async workers.
    let s = shared.clone();
    let _ = tokio::task::spawn_blocking(move || s.metrics.shutdown()).await;
    result
}

/// Runs the Kafka daemon until `stop` is cancelled, then drains in order.
pub async fn run(
    mut config: Arc<Config>,
    shared: Arc<Shared>,
    stop: CancellationToken,
    mut opts: RunOptions,
) -> anyhow::Result<Summary> {
    let kcfg = config
        .kafka
        .clone()
        .context("`vigil run` needs a [kafka] section in the config")?;
    let baselines = load_baselines(&config)?;
    let state_dir = config
        .state_dir
        .as_deref()
        .map(StateDir::open)
        .transpose()?;
    let snapshot = match &state_dir {
        Some(d) => d.load_snapshot()?,
        None => None,
    };
    let (state, mut offsets) = match snapshot {
        Some(s) => {
            tracing::info!(records = s.pipeline.records, "resuming from snapshot");
            (s.pipeline, s.offsets)
        }
        None => (PipelineState::default(), Offsets::new()),
    };
    let onnx = super::load_onnx(&config)?;
    let mut pipeline = Pipeline::with_state(config.clone(), state, baselines);
    pipeline.set_onnx(onnx);
    let mut out = Outputs {
        alerts: opts.stdout.map(|_| LineSink::stdout()),
        commands: opts.stdout.map(|_| LineSink::stdout()),
        display: opts.stdout,
        kafka: Some((
            KafkaSink::new(
                &kcfg.brokers,
                kcfg.properties.iter().chain(&kcfg.producer_properties),
            )?,
            KafkaTopics {
                alerts: kcfg.alerts_topic.clone(),
                commands: kcfg.commands_topic.clone(),
                dead_letter: kcfg.dead_letter_topic.clone(),
            },
        )),
        ..Default::default()
    };
    if let Some(d) = &state_dir {
        let log = d.commands()?;
        pipeline.seed_issued(log.keys().cloned());
        out.command_log = Some(log);
    }
    if !config.notify.is_empty() {
        let observer: Arc<dyn DeliveryObserver> = shared.clone();
        let n =
            Notifiers::start(&config.notify, Some(observer)).context("starting the notifiers")?;
        // Alerts that were firing before a restart keep being re-sent to Alertmanager.
        n.seed_firing(&pipeline.active_alerts());
        out.notifiers = Some(n);
    }
    let resent = out.resend_undelivered()?;
    if resent > 0 {
        tracing::warn!(
            commands = resent,
            "re-sent rollback commands not acknowledged before the restart"
        );
    }
    shared.set_alerts(pipeline.active_alerts());
    let consumer = consumer(&kcfg, shared.clone()).context("creating the Kafka consumer")?;
    tracing::info!(brokers = %kcfg.brokers, group = %kcfg.group_id, "consuming");

    let mut fx = Effects::default();
    let mut dirty = false;
    let mut consume_errors = crate::source::kafka::LogThrottle::default();
    let mut tick = tokio::time::interval(kcfg.commit_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            Some(path) = next_reload(&mut opts.reload) => {
                config = reload(&config, &path, &mut pipeline, &mut out, &shared);
            }
            _ = tick.tick() => {
                if dirty {
                    checkpoint(&consumer, pipeline.state(), &mut out, state_dir.as_ref(), &offsets, &shared, CommitMode::Async).await?;
                    dirty = false;
                }
            }
            msg = consumer.recv() => {
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        if let Some(repeated) = consume_errors.note(&e.to_string()) {
                            tracing::warn!(error = %e, repeated, "consume error");
                        }
                        continue;
                    }
                };
                let (topic, partition, offset) = (msg.topic(), msg.partition(), msg.offset());
                // Records the restored snapshot already covers were processed before the
                // restart; their offsets may not have been committed.
                let covered = offsets.get(topic).and_then(|p| p.get(&partition)).is_some_and(|&n| offset < n);
                if !covered {
                    let payload = msg.payload().unwrap_or(&[]);
                    let hint = kcfg.topics.get(topic).copied();
                    pipeline.process(payload, hint, &mut fx);
                    shared.metrics.observe(&fx);
                    if !fx.alerts.is_empty() {
                        shared.set_alerts(pipeline.active_alerts());
                    }
                    out.ship(&fx, Origin::Kafka { topic, partition, offset }, payload)?;
                }
                offsets.entry(topic.to_string()).or_default().insert(partition, offset + 1);
                dirty = true;
                shared.handled.send_modify(|n| *n += 1);
                if !fx.decisions.is_empty() {
                    // A rollback should not wait for the next tick.
                    checkpoint(&consumer, pipeline.state(), &mut out, state_dir.as_ref(), &offsets, &shared, CommitMode::Async).await?;
                    dirty = false;
                }
            }
        }
    }
    tracing::info!("draining: flushing effects, snapshotting state, committing offsets");
    let drain = checkpoint(
        &consumer,
        pipeline.state(),
        &mut out,
        state_dir.as_ref(),
        &offsets,
        &shared,
        CommitMode::Sync,
    );
    let started = std::time::Instant::now();
    tokio::time::timeout(opts.shutdown_deadline, drain)
        .await
        .context("shutdown deadline passed before the drain finished")??;
    if let Some(n) = out.notifiers.take() {
        let left = opts.shutdown_deadline.saturating_sub(started.elapsed());
        let report = n.shutdown(left).await;
        for n in report.notifiers.iter().filter(|n| n.undelivered > 0) {
            tracing::warn!(
                notifier = %n.name,
                undelivered = n.undelivered,
                "notifications left undelivered at the shutdown deadline: alerts still \
                 firing are sent again after the next start{}",
                if state_dir.is_some() {
                    "; rollback commands among them are re-sent from the command log"
                } else {
                    "; rollback commands among them are not re-sent (no state dir)"
                }
            );
        }
    }
    consumer.unsubscribe();
    Ok(out.summary)
}

/// Publishes, persists, commits, in that order.
async fn checkpoint(
    consumer: &Consumer,
    pipeline: &PipelineState,
    out: &mut Outputs,
    state_dir: Option<&StateDir>,
    offsets: &Offsets,
    shared: &Shared,
    mode: CommitMode,
) -> anyhow::Result<()> {
    if let Some((k, _)) = &mut out.kafka {
        k.flush().await.context("publishing effects")?;
    }
    out.flush_lines()?;
    // Kafka has acknowledged everything produced so far; webhooks may still be delivering
    // rollback commands: the offsets from the record behind such a command on are held.
    let holds = out.settle(true)?;
    if let Some(d) = state_dir {
        d.write_snapshot(pipeline, offsets)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        shared.metrics.snapshot_written(now);
    }
    let mut tpl = TopicPartitionList::new();
    for (topic, parts) in offsets {
        for (p, o) in parts {
            let o = holds.get(&(topic.clone(), *p)).map_or(*o, |h| (*h).min(*o));
            tpl.add_partition_offset(topic, *p, Offset::Offset(o))?;
        }
    }
    if tpl.count() > 0 {
        if let Err(e) = consumer.commit(&tpl, mode) {
            // Not fatal: the next checkpoint commits again, and the snapshot's offsets
            // keep records from being counted twice after a restart.
            tracing::warn!(error = %e, "offset commit failed");
        }
    }
    Ok(())
}
