//! Wiring only: builds the pipeline and its outputs from config, runs a source through them
//! ([`replay`] for JSONL, [`run`] for Kafka, [`baseline`] to build reference profiles), and
//! owns the ordered shutdown. No detection logic lives here.

pub mod baseline;
pub mod replay;
pub mod run;

use crate::act::kafka::KafkaSink;
use crate::act::notify::{Completion, Notifiers};
use crate::act::policy::{Decision, RollbackCommand};
use crate::act::sink::{LineSink, SinkError};
use crate::act::{DeadLetter, Origin};
use crate::alert::state::AlertEvent;
use crate::config::Config;
use crate::detect::onnx::OnnxDetector;
use crate::detect::profile::ReferenceProfile;
use crate::pipeline::Effects;
use crate::state::{CommandLog, StateError};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The format tag of baseline files.
pub const BASELINE_FORMAT: &str = "vigil-baseline/1";

/// A baseline file: reference profiles by model, built by `vigil baseline`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineFile {
    /// [`BASELINE_FORMAT`].
    pub format: String,
    /// Profiles by model name.
    pub models: BTreeMap<String, ReferenceProfile>,
}

/// Loads every baseline file the config names: `[defaults] baseline` applies to every model
/// it contains, `[models.X] baseline` to X.
pub fn load_baselines(config: &Config) -> anyhow::Result<BTreeMap<String, ReferenceProfile>> {
    let mut out = BTreeMap::new();
    let read = |p: &Path| -> anyhow::Result<BaselineFile> {
        let bytes =
            std::fs::read(p).with_context(|| format!("reading baseline {}", p.display()))?;
        let file: BaselineFile = serde_json::from_slice(&bytes)
            .with_context(|| format!("parsing baseline {}", p.display()))?;
        anyhow::ensure!(
            file.format == BASELINE_FORMAT,
            "baseline {} has format {:?}, expected {BASELINE_FORMAT:?}",
            p.display(),
            file.format
        );
        Ok(file)
    };
    if let Some(p) = &config.defaults.baseline {
        out.extend(read(p)?.models);
    }
    for (name, m) in &config.models {
        if let Some(p) = &m.baseline {
            let mut file = read(p)?;
            let profile = file.models.remove(name).with_context(|| {
                format!("baseline {} has no profile for model {name:?}", p.display())
            })?;
            out.insert(name.clone(), profile);
        }
    }
    Ok(out)
}

/// Loads every model's ONNX detectors (file I/O, at start and on reload). An error names
/// the model, the detector, the file, and what was expected.
pub fn load_onnx(config: &Config) -> anyhow::Result<BTreeMap<String, Vec<OnnxDetector>>> {
    let mut out = BTreeMap::new();
    for (model, m) in &config.models {
        let mut list = Vec::new();
        for spec in &m.onnx {
            let d = OnnxDetector::load(&spec.detector)
                .with_context(|| format!("models.{model}: onnx detector {:?}", spec.name))?;
            list.push(d);
        }
        if !list.is_empty() {
            out.insert(model.clone(), list);
        }
    }
    Ok(out)
}

/// Topics of the Kafka outputs.
#[derive(Debug, Clone, Default)]
pub struct KafkaTopics {
    /// Alert transitions.
    pub alerts: Option<String>,
    /// Rollback commands.
    pub commands: Option<String>,
    /// Dead letters.
    pub dead_letter: Option<String>,
}

/// How alerts and commands are shown on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// JSON lines (machine-readable).
    Json,
    /// One readable line each (the demo).
    Human,
}

/// One scored serving-metric sample, as `--scores-out` writes it.
#[derive(Serialize)]
struct MetricLine<'a> {
    kind: &'static str,
    ts: String,
    name: &'a str,
    labels: &'a BTreeMap<String, String>,
    value: f64,
    scores: &'a BTreeMap<String, f64>,
    anomaly: f64,
}

/// Counts for the end-of-run summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Records processed.
    pub records: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Windows evaluated.
    pub windows: u64,
    /// Feature values of accepted records that were not monitored (of the other type than
    /// their series, beyond the model's feature cap, or of a feature not in the reference).
    pub unmonitored_values: u64,
    /// Of those, the values of features the model's reference does not have.
    pub not_in_reference: u64,
    /// Label records accepted.
    pub labels: u64,
    /// Labels joined to their prediction.
    pub labels_joined: u64,
    /// Labels that left the join store unjoined (expired, evicted at its cap, or with a
    /// key over the size limit).
    pub labels_unjoined: u64,
    /// Labels still waiting for their prediction at the end (replay).
    pub labels_waiting: u64,
    /// Serving-metric samples scored.
    pub metric_samples: u64,
    /// Idle models forgotten to make room for new ones.
    pub models_evicted: u64,
    /// Alert transitions by state.
    pub alerts: BTreeMap<String, u64>,
    /// Rollback commands issued (new, not deduplicated ones).
    pub commands: Vec<RollbackCommand>,
}

/// Where the effects of records go.
#[derive(Default)]
pub struct Outputs {
    /// Alert transitions as lines.
    pub alerts: Option<LineSink>,
    /// How `alerts` and `commands` lines look.
    pub display: Option<Display>,
    /// Rollback commands as lines.
    pub commands: Option<LineSink>,
    /// Window reports as lines.
    pub scores: Option<LineSink>,
    /// Dead letters as lines.
    pub dead_letter: Option<LineSink>,
    /// Kafka producer and topics.
    pub kafka: Option<(KafkaSink, KafkaTopics)>,
    /// Durable command log (deduplicates across restarts; the outbox of deliveries).
    pub command_log: Option<CommandLog>,
    /// Alertmanager and webhook notifiers.
    pub notifiers: Option<Notifiers>,
    /// Commands not yet acknowledged by every sink, oldest first.
    pub pending: Vec<PendingCommand>,
    /// Running counts.
    pub summary: Summary,
}

/// A rollback command on its way out.
pub struct PendingCommand {
    /// The command.
    pub cmd: RollbackCommand,
    /// The Kafka record that caused it: offsets from there on are not committed until it
    /// is delivered (`None` for a command re-sent from the log at start).
    pub hold: Option<(String, i32, i64)>,
    /// Webhook deliveries under way.
    pub completion: Option<Completion>,
}

/// Shipping failed.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// A sink failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The command log failed.
    #[error(transparent)]
    State(#[from] StateError),
}

fn human_alert(a: &AlertEvent) -> String {
    format!(
        "[{}] ALERT {:<8} {:<8} {} {}/{}: {}",
        a.at,
        a.state.as_str().to_uppercase(),
        a.severity,
        a.rule,
        a.model,
        a.version,
        a.summary
    )
}

fn human_command(c: &RollbackCommand) -> String {
    format!(
        "[{}] ROLLBACK {}{} {} -> {} ({}), incident {}, key {}",
        c.issued_at,
        if c.dry_run { "(dry run) " } else { "" },
        c.model,
        c.from_version,
        c.to_version,
        c.reason,
        c.incident,
        c.idempotency_key
    )
}

impl Outputs {
    /// Ships everything one record caused. `payload` and `origin` describe the record for
    /// the dead-letter sink.
    pub fn ship(
        &mut self,
        fx: &Effects,
        origin: Origin<'_>,
        payload: &[u8],
    ) -> Result<(), ShipError> {
        self.summary.records += 1;
        if fx.accepted == Some(crate::record::RecordKind::Label) {
            self.summary.labels += 1;
        }
        if let Some((_, d)) = &fx.dropped_values {
            self.summary.unmonitored_values += d.total();
            self.summary.not_in_reference += d.not_in_reference;
        }
        if let Some((m, _)) = &fx.evicted_model {
            self.summary.models_evicted += 1;
            tracing::info!(
                model = %m,
                "forgot an idle model to make room for a new one (limits.max_models reached)"
            );
        }
        if fx.is_quiet() {
            return Ok(());
        }
        if let Some(r) = &fx.rejection {
            self.summary.rejected += 1;
            let dl = DeadLetter::new(r, origin.clone(), payload);
            if let Some(s) = &mut self.dead_letter {
                s.write(&dl)?;
            }
            if let Some((k, t)) = &mut self.kafka {
                if let Some(topic) = &t.dead_letter {
                    k.send_json(topic, dl.reason, &dl)?;
                }
            }
        }
        for r in &fx.reports {
            match &r.metric {
                Some(m) => {
                    self.summary.metric_samples += 1;
                    if let Some(s) = &mut self.scores {
                        s.write(&MetricLine {
                            kind: "metric",
                            ts: crate::record::ts_to_rfc3339(r.start),
                            name: &m.name,
                            labels: &m.labels,
                            value: m.value,
                            scores: &m.scores,
                            anomaly: m.anomaly,
                        })?;
                    }
                }
                None => {
                    self.summary.windows += 1;
                    if let Some(s) = &mut self.scores {
                        s.write(r)?;
                    }
                }
            }
        }
        self.alerts(&fx.alerts)?;
        for d in &fx.decisions {
            match d {
                Decision::Issue(cmd) => {
                    let hold = match &origin {
                        Origin::Kafka {
                            topic,
                            partition,
                            offset,
                        } => Some((topic.to_string(), *partition, *offset)),
                        Origin::File { .. } => None,
                    };
                    self.command(cmd, hold)?
                }
                Decision::Suppressed {
                    model,
                    version,
                    rule,
                    reason,
                } => {
                    tracing::debug!(%model, %version, %rule, reason = reason.as_str(), "rollback held back")
                }
            }
        }
        Ok(())
    }

    /// Ships alert transitions (also those a reload caused).
    pub fn alerts(&mut self, alerts: &[AlertEvent]) -> Result<(), ShipError> {
        for a in alerts {
            if let Some(n) = &self.notifiers {
                n.alert(a);
            }
            *self.summary.alerts.entry(a.state.to_string()).or_default() += 1;
            if let Some(s) = &mut self.alerts {
                match self.display {
                    Some(Display::Human) => s.write_line(&human_alert(a))?,
                    _ => s.write(a)?,
                }
            }
            if let Some((k, t)) = &mut self.kafka {
                if let Some(topic) = &t.alerts {
                    k.send_json(topic, &a.fingerprint, a)?;
                }
            }
        }
        Ok(())
    }

    /// Sends a command to the Kafka commands topic and the commands webhooks, and tracks it
    /// until every one has acknowledged it.
    fn dispatch(
        &mut self,
        cmd: &RollbackCommand,
        hold: Option<(String, i32, i64)>,
    ) -> Result<(), ShipError> {
        if let Some((k, t)) = &mut self.kafka {
            if let Some(topic) = &t.commands {
                k.send_json(topic, &cmd.model, cmd)?;
            }
        }
        let completion = self.notifiers.as_ref().map(|n| n.command(cmd));
        if self.kafka.is_none() && self.notifiers.is_none() {
            // Replay: the line sink is the only destination, and it has the command.
            if let Some(log) = &mut self.command_log {
                log.mark_delivered(&cmd.idempotency_key)?;
            }
            return Ok(());
        }
        self.pending.push(PendingCommand {
            cmd: cmd.clone(),
            hold,
            completion,
        });
        Ok(())
    }

    /// Sends again, at start, the commands the log holds as issued but not delivered.
    pub fn resend_undelivered(&mut self) -> Result<usize, ShipError> {
        let list = match &self.command_log {
            Some(log) => log.undelivered(),
            None => return Ok(0),
        };
        for cmd in &list {
            tracing::warn!(key = %cmd.idempotency_key, model = %cmd.model, "re-sending a rollback command that was not acknowledged before the restart");
            self.dispatch(cmd, None)?;
        }
        Ok(list.len())
    }

    /// After the Kafka deliveries of the batch are acknowledged: marks fully delivered
    /// commands in the log, re-sends those a webhook gave up on, and returns, per
    /// partition, the first offset that must not be committed yet.
    pub fn settle(&mut self, kafka_ok: bool) -> Result<BTreeMap<(String, i32), i64>, ShipError> {
        let mut holds: BTreeMap<(String, i32), i64> = BTreeMap::new();
        let mut still = Vec::new();
        for mut p in std::mem::take(&mut self.pending) {
            let webhooks = match p.completion.as_mut().map(Completion::poll) {
                None | Some(Some(Ok(()))) => Some(true),
                Some(None) => None,
                Some(Some(Err(e))) => {
                    tracing::error!(key = %p.cmd.idempotency_key, error = %e, "rollback command not delivered; retrying");
                    p.completion = self.notifiers.as_ref().map(|n| n.command(&p.cmd));
                    None
                }
            };
            if kafka_ok && webhooks == Some(true) {
                if let Some(log) = &mut self.command_log {
                    log.mark_delivered(&p.cmd.idempotency_key)?;
                }
                continue;
            }
            if let Some((t, part, off)) = &p.hold {
                let e = holds.entry((t.clone(), *part)).or_insert(*off);
                *e = (*e).min(*off);
            }
            still.push(p);
        }
        self.pending = still;
        Ok(holds)
    }

    fn command(
        &mut self,
        cmd: &RollbackCommand,
        hold: Option<(String, i32, i64)>,
    ) -> Result<(), ShipError> {
        // Persist first: a command that is in the log is never issued again, even if the
        // records that caused it are replayed after a crash.
        if let Some(log) = &mut self.command_log {
            if !log.append(cmd)? {
                tracing::info!(key = %cmd.idempotency_key, "rollback already issued; not repeated");
                return Ok(());
            }
        }
        tracing::info!(model = %cmd.model, from = %cmd.from_version, to = %cmd.to_version, dry_run = cmd.dry_run, "rollback command issued");
        self.summary.commands.push(cmd.clone());
        if let Some(s) = &mut self.commands {
            match self.display {
                Some(Display::Human) => s.write_line(&human_command(cmd))?,
                _ => s.write(cmd)?,
            }
        }
        self.dispatch(cmd, hold)
    }

    /// Flushes the line sinks (Kafka deliveries are awaited separately).
    pub fn flush_lines(&mut self) -> Result<(), SinkError> {
        for s in [
            &mut self.alerts,
            &mut self.commands,
            &mut self.scores,
            &mut self.dead_letter,
        ]
        .into_iter()
        .flatten()
        {
            s.flush()?;
        }
        Ok(())
    }
}
