//! Raw config -> typed [`Config`]. Every problem is collected with its path
//! (`models.fraud.window: ...`) and reported together; nothing here does I/O.

use super::raw::RawConfig;
use super::{Config, KafkaConfig, Limits, ModelConfig, OtlpConfig, WindowSpec};
use crate::alert::defaults::default_rules;
use crate::alert::rule::{Hold, Rule};
use crate::detect::join::JoinConfig;
use crate::detect::metric::MetricDetectorConfig;
use crate::record::RecordKind;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::num::NonZeroU64;
use std::time::Duration;

mod models;
mod notify;
mod rules;

/// Largest sample a KS test is given: up to here the p-value is scipy's exact one.
const MAX_SAMPLE: u64 = 10_000;

/// Every validation error, each with the path of the offending field.
#[derive(Debug, Clone, Default)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A note (in parentheses) is listed but not counted.
        let n = self.0.iter().filter(|e| !e.starts_with('(')).count();
        writeln!(f, "{n} error(s) in config:")?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

struct Errors(Vec<String>);

impl Errors {
    fn push(&mut self, path: impl fmt::Display, msg: impl fmt::Display) {
        self.0.push(format!("{path}: {msg}"));
    }
}

/// A table validated by hand (a detector, `[metrics]`) read as a `T`, with every key that
/// does not fit reported by its path below `path` (`outer`: its keys already read, such as
/// `kind`); what fits is returned either way (its
/// values are checked next, so that they are reported too).
fn table_as<T: serde::de::DeserializeOwned>(
    errs: &mut Errors,
    path: &str,
    outer: &[&str],
    table: toml::Table,
) -> Option<T> {
    let s = super::schema::collect::<T>(toml::Value::Table(table), path, outer);
    errs.0.extend(s.errors);
    s.raw
}

/// Parses an event-time or wall-clock duration such as `90s`, `5m`, `1h 30m`.
fn duration(errs: &mut Errors, path: &str, s: &str) -> Option<Duration> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) => Some(d),
        Err(e) => {
            errs.push(
                path,
                format!("invalid duration {s:?} ({e}); write e.g. \"30s\", \"5m\""),
            );
            None
        }
    }
}

/// Parses `"N windows"` / `"1 window"` or a duration.
fn hold(errs: &mut Errors, path: &str, s: &str) -> Option<Hold> {
    let t = s.trim();
    if let Some(n) = t
        .strip_suffix("windows")
        .or_else(|| t.strip_suffix("window"))
    {
        return match n.trim().parse::<u32>() {
            Ok(n) => Some(Hold::Windows(n)),
            Err(_) => {
                errs.push(path, format!("invalid window count in {s:?}"));
                None
            }
        };
    }
    if t == "0" {
        return Some(Hold::Windows(0));
    }
    duration(errs, path, t).map(|d| Hold::Duration(d.as_millis() as i64))
}

/// Parses `"N records"` or a non-zero duration.
fn window(errs: &mut Errors, path: &str, s: &str) -> Option<WindowSpec> {
    let t = s.trim();
    if let Some(n) = t
        .strip_suffix("records")
        .or_else(|| t.strip_suffix("record"))
    {
        return match n.trim().parse::<u64>().ok().and_then(NonZeroU64::new) {
            Some(n) => Some(WindowSpec::Records(n)),
            None => {
                errs.push(path, format!("must be a positive record count, got {s:?}"));
                None
            }
        };
    }
    let d = duration(errs, path, t)?;
    match NonZeroU64::new(d.as_millis() as u64) {
        Some(ms) => Some(WindowSpec::Duration(ms)),
        None => {
            errs.push(path, "must be > 0");
            None
        }
    }
}

fn bounded(errs: &mut Errors, path: &str, v: u64, lo: u64, hi: u64) -> u64 {
    if hi == u64::MAX && v < lo {
        errs.push(path, format!("must be at least {lo}, got {v}"));
    } else if v < lo || v > hi {
        errs.push(path, format!("must be between {lo} and {hi}, got {v}"));
    }
    v.clamp(lo, hi)
}

fn kind(errs: &mut Errors, path: &str, s: &str) -> Option<RecordKind> {
    match s {
        "inference" => Some(RecordKind::Inference),
        "label" => Some(RecordKind::Label),
        "metric" => Some(RecordKind::Metric),
        "" => {
            errs.push(path, "required: inference, label or metric");
            None
        }
        _ => {
            errs.push(
                path,
                format!("unknown kind {s:?}; expected inference, label or metric"),
            );
            None
        }
    }
}

pub(super) fn validate(raw: RawConfig) -> Result<Config, ConfigErrors> {
    let mut errs = Errors(Vec::new());
    let mut limits = Limits::default();
    let l = &raw.limits;
    if let Some(v) = l.max_models {
        limits.max_models = bounded(&mut errs, "limits.max_models", v, 1, 100_000) as usize;
    }
    if let Some(v) = l.max_versions_per_model {
        limits.max_versions_per_model =
            bounded(&mut errs, "limits.max_versions_per_model", v, 2, 64) as usize;
    }
    if let Some(v) = l.max_features_per_model {
        limits.max_features_per_model =
            bounded(&mut errs, "limits.max_features_per_model", v, 1, 10_000) as usize;
    }
    if let Some(v) = l.max_categories {
        limits.max_categories = bounded(&mut errs, "limits.max_categories", v, 2, 10_000) as usize;
    }
    if let Some(v) = l.max_record_bytes {
        limits.max_record_bytes =
            bounded(&mut errs, "limits.max_record_bytes", v, 256, 64 << 20) as usize;
    }
    if let Some(v) = l.max_metric_series {
        limits.max_metric_series =
            bounded(&mut errs, "limits.max_metric_series", v, 1, 1_000_000) as usize;
    }
    if let Some(s) = &l.evict_idle_after {
        if let Some(d) = duration(&mut errs, "limits.evict_idle_after", s) {
            if d.as_millis() == 0 {
                // Every new model would push out one that is sending right now.
                errs.push(
                    "limits.evict_idle_after",
                    "must be positive (a model or series must have been silent for a while \
                     before a new one takes its place)",
                );
            }
            limits.evict_idle_after_ms = d.as_millis().min(i64::MAX as u128) as i64;
        }
    }
    if let Some(s) = &l.max_timestamp_skew {
        if let Some(d) = duration(&mut errs, "limits.max_timestamp_skew", s) {
            if d.is_zero() {
                // Every record but the first would be rejected as bad_timestamp.
                errs.push(
                    "limits.max_timestamp_skew",
                    "must be positive (records further than this from the stream's event \
                     time are rejected)",
                );
            }
            limits.max_timestamp_skew_ms = d.as_millis() as i64;
        }
    }

    let kafka = raw.kafka.as_ref().map(|k| {
        let mut topics = BTreeMap::new();
        if k.topics.is_empty() {
            errs.push("kafka.topics", "at least one topic is required");
        }
        for (i, t) in k.topics.iter().enumerate() {
            if t.name.is_empty() {
                errs.push(format!("kafka.topics[{i}].name"), "required, and not empty");
            }
            if let Some(kd) = kind(&mut errs, &format!("kafka.topics[{i}].kind"), &t.kind) {
                if topics.insert(t.name.clone(), kd).is_some() {
                    errs.push(
                        format!("kafka.topics[{i}].name"),
                        format!("topic {:?} listed twice", t.name),
                    );
                }
            }
        }
        let commit_interval = k
            .commit_interval
            .as_deref()
            .and_then(|s| duration(&mut errs, "kafka.commit_interval", s))
            .unwrap_or(Duration::from_secs(5));
        if commit_interval.is_zero() {
            errs.push("kafka.commit_interval", "must be > 0");
        }
        // Properties vigil sets itself: the consumer's group and commits, the producer's
        // acknowledgements and idempotence (its delivery guarantee rests on both).
        let own = |key: &str, consumer: bool, producer: bool| match key {
            "bootstrap.servers" => Some("is set by vigil itself: use kafka.brokers"),
            "group.id" if consumer => Some("is set by vigil itself: use kafka.group_id"),
            "enable.auto.commit" | "enable.auto.offset.store" if consumer => Some(
                "is set by vigil itself: it commits an offset only after the record's \
                 effects are published and its state is snapshotted",
            ),
            "acks" | "enable.idempotence" if producer => Some(
                "is set by vigil itself (acks=all, idempotence on): its delivery guarantee \
                 rests on them",
            ),
            _ => None,
        };
        for (table, props, consumer, producer) in [
            ("properties", &k.properties, true, true),
            ("consumer_properties", &k.consumer_properties, true, false),
            ("producer_properties", &k.producer_properties, false, true),
        ] {
            for key in props.keys() {
                if let Some(why) = own(key, consumer, producer) {
                    errs.push(format!("kafka.{table}.{key:?}"), why);
                }
            }
        }
        KafkaConfig {
            brokers: k.brokers.clone().unwrap_or_else(|| {
                errs.push("kafka.brokers", "is required");
                String::new()
            }),
            group_id: k.group_id.clone().unwrap_or_else(|| "vigil".to_string()),
            topics,
            alerts_topic: k.alerts_topic.clone(),
            commands_topic: k.commands_topic.clone(),
            dead_letter_topic: k.dead_letter_topic.clone(),
            commit_interval,
            properties: k.properties.clone(),
            consumer_properties: k.consumer_properties.clone(),
            producer_properties: k.producer_properties.clone(),
        }
    });

    let listen = match raw.http.listen.as_deref() {
        None => "127.0.0.1:9464".parse().expect("valid literal address"),
        Some(s) => s.parse().unwrap_or_else(|e| {
            errs.push("http.listen", format!("invalid address {s:?} ({e})"));
            "127.0.0.1:9464".parse().expect("valid literal address")
        }),
    };

    let defaults = models::model(
        &mut errs,
        "defaults",
        &ModelConfig::default(),
        &raw.defaults,
    );
    let models: BTreeMap<String, ModelConfig> = raw
        .models
        .iter()
        .map(|(name, m)| {
            if name.is_empty() || name.len() > 128 {
                errs.push(format!("models.{name:?}"), "model names are 1 to 128 bytes");
            }
            let merged = models::model(&mut errs, &format!("models.{name}"), &defaults, m);
            (name.clone(), merged)
        })
        .collect();

    let rules = match &raw.rules {
        None => default_rules(),
        Some(list) => {
            let mut names = BTreeSet::new();
            let rules: Vec<Rule> = list
                .iter()
                .enumerate()
                .filter_map(|(i, r)| rules::rule(&mut errs, &format!("rules[{i}]"), r))
                .collect();
            for (i, r) in list.iter().enumerate() {
                if !names.insert(r.name.as_str()) {
                    errs.push(
                        format!("rules[{i}].name"),
                        format!("duplicate rule {:?}", r.name),
                    );
                }
            }
            rules
        }
    };

    // Promise: a restart never repeats a rollback. Without a state directory the command
    // log cannot survive one, so live (non-dry-run) commands from the daemon require it.
    if kafka.is_some() && raw.state.dir.is_none() {
        let live = std::iter::once(("defaults".to_string(), &defaults))
            .chain(models.iter().map(|(n, m)| (format!("models.{n}"), m)))
            .find(|(_, m)| m.rollback.enabled && !m.rollback.dry_run);
        if let Some((path, _)) = live {
            errs.push(
                "state.dir",
                format!(
                    "is required when rollback commands are live ({path}.rollback.dry_run = false), \
                     so that a restart never repeats a command"
                ),
            );
        }
    }

    let mut join = JoinConfig::default();
    if let Some(s) = &raw.labels.ttl {
        if let Some(d) = duration(&mut errs, "labels.ttl", s) {
            join.ttl_ms = d.as_millis() as i64;
        }
    }
    if let Some(v) = raw.labels.max_pending {
        join.max_pending = bounded(&mut errs, "labels.max_pending", v, 1, 100_000_000) as usize;
    }

    let notify = notify::notify(&mut errs, &raw.notify);
    let otlp = raw.telemetry.otlp_endpoint.as_ref().map(|e| {
        if reqwest::Url::parse(e).is_err() {
            errs.push("telemetry.otlp_endpoint", format!("not a URL: {e:?}"));
        }
        let interval = raw
            .telemetry
            .otlp_interval
            .as_deref()
            .and_then(|s| duration(&mut errs, "telemetry.otlp_interval", s))
            .unwrap_or(Duration::from_secs(15));
        OtlpConfig {
            endpoint: e.clone(),
            interval,
        }
    });

    let metrics = metric_detectors(&mut errs, raw.metrics.clone());

    if errs.0.is_empty() {
        Ok(Config {
            metrics,
            join,
            notify,
            otlp,
            kafka,
            listen,
            state_dir: raw.state.dir.map(Into::into),
            limits,
            defaults,
            models,
            rules,
        })
    } else {
        Err(ConfigErrors(errs.0))
    }
}

fn metric_detectors(errs: &mut Errors, raw: Option<toml::Table>) -> Option<MetricDetectorConfig> {
    let Some(mut t) = raw else {
        return Some(MetricDetectorConfig::default());
    };
    let enabled = match t.remove("enabled") {
        None => true,
        Some(toml::Value::Boolean(b)) => b,
        Some(_) => {
            errs.push("metrics.enabled", "must be true or false");
            true
        }
    };
    let cfg: MetricDetectorConfig = table_as(errs, "metrics", &[], t)?;
    for p in cfg.problems() {
        errs.push(format!("metrics.{}", p.field), p.message);
    }
    enabled.then_some(cfg)
}
