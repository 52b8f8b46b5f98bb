//! Raw config -> typed [`Config`]. Every problem is collected with its path
//! (`models.fraud.window: ...`) and reported together; nothing here does I/O.

use super::raw::{RawCondition, RawConfig, RawLabels, RawModel, RawNotify, RawRollback, RawRule};
use super::{
    Config, InferenceStream, KafkaConfig, LabelSettings, LabelStream, Limits, ModelConfig,
    OnlineSpec, OnnxSpec, OtlpConfig, WindowSpec,
};
use crate::act::alertmanager::AlertmanagerConfig;
use crate::act::notify::NotifiersConfig;
use crate::act::policy::RollbackPolicy;
use crate::act::webhook::{SecretSource, WebhookConfig, WebhookKind};
use crate::alert::defaults::default_rules;
use crate::alert::rule::{
    Baseline, Condition, Direction, Hold, OpsSignal, PerfMetric, Rule, Severity,
};
use crate::alert::state::AlertState;
use crate::detect::join::JoinConfig;
use crate::detect::metric::MetricDetectorConfig;
use crate::detect::multivariate::MultivariateConfig;
use crate::detect::online::ChangeDetectorConfig;
use crate::detect::onnx::OnnxDetectorConfig;
use crate::detect::perf::{ScoreMeaning, Task};
use crate::detect::stats::Correction;
use crate::record::RecordKind;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::num::NonZeroU64;
use std::time::Duration;

/// Largest sample a KS test is given: up to here the p-value is scipy's exact one.
const MAX_SAMPLE: u64 = 10_000;

/// Every validation error, each with the path of the offending field.
#[derive(Debug, Clone, Default)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} error(s) in config:", self.0.len())?;
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
    if v < lo || v > hi {
        errs.push(path, format!("must be between {lo} and {hi}, got {v}"));
    }
    v.clamp(lo, hi)
}

fn kind(errs: &mut Errors, path: &str, s: &str) -> Option<RecordKind> {
    match s {
        "inference" => Some(RecordKind::Inference),
        "label" => Some(RecordKind::Label),
        "metric" => Some(RecordKind::Metric),
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
    if let Some(s) = &l.max_timestamp_skew {
        if let Some(d) = duration(&mut errs, "limits.max_timestamp_skew", s) {
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
                errs.push(format!("kafka.topics[{i}].name"), "must not be empty");
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
        for key in k.properties.keys() {
            if matches!(
                key.as_str(),
                "group.id"
                    | "bootstrap.servers"
                    | "enable.auto.commit"
                    | "enable.auto.offset.store"
            ) {
                errs.push(
                    format!("kafka.properties.{key:?}"),
                    "is set by vigil itself (use kafka.brokers / kafka.group_id)",
                );
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
        }
    });

    let listen = match raw.http.listen.as_deref() {
        None => "127.0.0.1:9464".parse().expect("valid literal address"),
        Some(s) => s.parse().unwrap_or_else(|e| {
            errs.push("http.listen", format!("invalid address {s:?} ({e})"));
            "127.0.0.1:9464".parse().expect("valid literal address")
        }),
    };

    let defaults = model(
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
            let merged = model(&mut errs, &format!("models.{name}"), &defaults, m);
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
                .filter_map(|(i, r)| rule(&mut errs, &format!("rules[{i}]"), r))
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

    let notify = notify(&mut errs, &raw.notify);
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

fn model(errs: &mut Errors, path: &str, base: &ModelConfig, m: &RawModel) -> ModelConfig {
    let mut out = base.clone();
    if let Some(s) = &m.window {
        if let Some(w) = window(errs, &format!("{path}.window"), s) {
            out.window = w;
        }
    }
    if let Some(v) = m.reference_size {
        out.reference_size = bounded(errs, &format!("{path}.reference_size"), v, 10, u64::MAX);
    }
    if let Some(v) = m.reference_sample_size {
        out.reference_sample_size = bounded(
            errs,
            &format!("{path}.reference_sample_size"),
            v,
            10,
            MAX_SAMPLE,
        ) as usize;
    }
    if let Some(v) = m.window_sample_size {
        out.window_sample_size = bounded(
            errs,
            &format!("{path}.window_sample_size"),
            v,
            10,
            MAX_SAMPLE,
        ) as usize;
    }
    if let Some(v) = m.min_window_records {
        out.min_window_records = v;
    }
    if let Some(v) = m.psi_bins {
        out.psi_bins = bounded(errs, &format!("{path}.psi_bins"), v, 2, 100) as usize;
    }
    if let Some(s) = &m.correction {
        out.correction = match s.as_str() {
            "none" => Correction::None,
            "bonferroni" => Correction::Bonferroni,
            "benjamini_hochberg" | "bh" => Correction::BenjaminiHochberg,
            _ => {
                errs.push(
                    format!("{path}.correction"),
                    format!("unknown {s:?}; expected none, bonferroni or benjamini_hochberg"),
                );
                out.correction
            }
        };
    }
    if let Some(b) = &m.baseline {
        out.baseline = Some(b.into());
    }
    if let Some(x) = &m.exclude_features {
        out.exclude_features = x.clone();
    }
    if let Some(r) = &m.rollback {
        out.rollback = rollback(errs, &format!("{path}.rollback"), &base.rollback, r);
    }
    if let Some(l) = &m.labels {
        out.labels = labels(errs, &format!("{path}.labels"), &base.labels, l);
    }
    if let Some(d) = &m.detectors {
        let (online, multivariate, onnx) = detectors(errs, &format!("{path}.detectors"), d);
        out.online = online;
        out.multivariate = multivariate;
        if !onnx.is_empty() && path == "defaults" {
            errs.push(
                format!("{path}.detectors"),
                "onnx detectors belong to one model's features: configure them under \
                 [[models.NAME.detectors]]",
            );
        }
        out.onnx = onnx;
    }
    out
}

fn labels(errs: &mut Errors, path: &str, base: &LabelSettings, l: &RawLabels) -> LabelSettings {
    let mut s = base.clone();
    if let Some(v) = l.enabled {
        s.enabled = v;
    }
    if let Some(t) = &l.task {
        s.task = match t.as_str() {
            "auto" => None,
            "binary" => Some(Task::Binary),
            "multiclass" => Some(Task::Multiclass),
            "regression" => Some(Task::Regression),
            _ => {
                errs.push(
                    format!("{path}.task"),
                    format!("unknown {t:?}; expected auto, binary, multiclass or regression"),
                );
                s.task
            }
        };
    }
    if let Some(p) = &l.positive_class {
        if p.is_empty() {
            errs.push(format!("{path}.positive_class"), "must not be empty");
        }
        s.perf.positive_class = Some(p.clone());
    }
    if let Some(m) = &l.score {
        s.perf.score = match m.as_str() {
            "positive_class" => ScoreMeaning::PositiveClass,
            "predicted_label" => ScoreMeaning::PredictedLabel,
            _ => {
                errs.push(
                    format!("{path}.score"),
                    format!("unknown {m:?}; expected positive_class or predicted_label"),
                );
                s.perf.score
            }
        };
    }
    if let Some(t) = l.threshold {
        if !(t > 0.0 && t < 1.0) {
            errs.push(
                format!("{path}.threshold"),
                format!("must be in (0, 1), got {t}"),
            );
        }
        s.perf.threshold = t;
    }
    if let Some(w) = &l.window {
        let t = w.trim();
        let counted = t.strip_suffix("labels").or_else(|| t.strip_suffix("label"));
        match counted {
            Some(n) => match n.trim().parse::<u64>().ok().and_then(NonZeroU64::new) {
                Some(n) => s.window = WindowSpec::Records(n),
                None => errs.push(
                    format!("{path}.window"),
                    format!("must be a positive label count, got {w:?}"),
                ),
            },
            None => {
                if let Some(spec) = window(errs, &format!("{path}.window"), t) {
                    s.window = spec;
                }
            }
        }
    }
    if let Some(v) = l.reference_labels {
        s.reference_labels = bounded(errs, &format!("{path}.reference_labels"), v, 10, 10_000_000);
    }
    if let Some(v) = l.min_window_labels {
        s.min_window_labels = v;
    }
    match &l.change_detector {
        None => {}
        Some(toml::Value::String(n)) if n == "none" => s.change_detector = None,
        Some(toml::Value::Table(t)) => {
            s.change_detector = online(errs, &format!("{path}.change_detector"), t.clone())
        }
        Some(_) => errs.push(
            format!("{path}.change_detector"),
            "must be a table with a kind (e.g. { kind = \"adwin\" }) or \"none\"",
        ),
    }
    if let Some(st) = &l.change_stream {
        s.change_stream = match st.as_str() {
            "label_error" => LabelStream::Error,
            "label_loss" => LabelStream::Loss,
            _ => {
                errs.push(
                    format!("{path}.change_stream"),
                    format!("unknown {st:?}; expected label_error or label_loss"),
                );
                s.change_stream
            }
        };
    }
    s
}

/// The online detector kinds.
const ONLINE_KINDS: [&str; 5] = ["adwin", "page_hinkley", "cusum", "ddm", "eddm"];

/// Parses and validates one online detector table (`kind` plus its parameters).
fn online(errs: &mut Errors, path: &str, table: toml::Table) -> Option<ChangeDetectorConfig> {
    let cfg: ChangeDetectorConfig = match toml::Value::Table(table).try_into() {
        Ok(c) => c,
        Err(e) => {
            errs.push(path, e.to_string().trim().replace('\n', " "));
            return None;
        }
    };
    match cfg.validate() {
        Ok(()) => Some(cfg),
        Err(list) => {
            for e in list {
                errs.push(format!("{path}.{}", e.field()), e);
            }
            None
        }
    }
}

fn detectors(
    errs: &mut Errors,
    path: &str,
    list: &[toml::Table],
) -> (Vec<OnlineSpec>, Option<MultivariateConfig>, Vec<OnnxSpec>) {
    let mut out = Vec::new();
    let mut multivariate = None;
    let mut onnx: Vec<OnnxSpec> = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let kind = t.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        if kind == "onnx" {
            let mut t = t.clone();
            t.remove("kind");
            let name = match t.remove("name") {
                Some(toml::Value::String(n)) if !n.is_empty() => n,
                _ => {
                    errs.push(
                        format!("{p}.name"),
                        "is required (a short name for the model)",
                    );
                    continue;
                }
            };
            if onnx.iter().any(|o| o.name == name) {
                errs.push(
                    format!("{p}.name"),
                    format!("detector {name:?} is defined twice"),
                );
            }
            let quantile = match t.remove("quantile") {
                None => 0.99,
                Some(toml::Value::Float(q)) if q > 0.5 && q < 1.0 => q,
                Some(v) => {
                    errs.push(
                        format!("{p}.quantile"),
                        format!("must be in (0.5, 1), got {v}"),
                    );
                    0.99
                }
            };
            match toml::Value::Table(t).try_into::<OnnxDetectorConfig>() {
                Ok(c) => match c.validate() {
                    Ok(()) => onnx.push(OnnxSpec {
                        name,
                        quantile,
                        detector: c,
                    }),
                    Err(list) => {
                        for e in list {
                            errs.push(&p, e);
                        }
                    }
                },
                Err(e) => errs.push(&p, e.to_string().trim().replace('\n', " ")),
            }
            continue;
        }
        if kind == "multivariate" {
            let mut t = t.clone();
            t.remove("kind");
            match toml::Value::Table(t).try_into::<MultivariateConfig>() {
                Ok(c) => match c.validate() {
                    Ok(()) if multivariate.is_none() => multivariate = Some(c),
                    Ok(()) => errs.push(&p, "only one multivariate detector per model"),
                    Err(e) => errs.push(&p, e),
                },
                Err(e) => errs.push(&p, e.to_string().trim().replace('\n', " ")),
            }
            continue;
        }
        if !ONLINE_KINDS.contains(&kind) {
            errs.push(
                format!("{p}.kind"),
                format!(
                    "unknown detector {kind:?}; expected multivariate, onnx or one of {}",
                    ONLINE_KINDS.join(", ")
                ),
            );
            continue;
        }
        let mut t = t.clone();
        let stream = match t.remove("stream") {
            Some(toml::Value::String(s)) => match s.as_str() {
                "score" => Some(InferenceStream::Score),
                "latency" => Some(InferenceStream::Latency),
                "error" => Some(InferenceStream::Error),
                f if f.strip_prefix("feature:").is_some_and(|n| !n.is_empty()) => {
                    Some(InferenceStream::Feature(f["feature:".len()..].to_string()))
                }
                other => {
                    errs.push(
                        format!("{p}.stream"),
                        format!(
                            "unknown {other:?}; expected score, latency, error or feature:NAME"
                        ),
                    );
                    None
                }
            },
            Some(_) => {
                errs.push(format!("{p}.stream"), "must be a string");
                None
            }
            None => {
                errs.push(format!("{p}.stream"), "is required");
                None
            }
        };
        if matches!(kind, "ddm" | "eddm") && !matches!(stream, None | Some(InferenceStream::Error))
        {
            errs.push(
                format!("{p}.stream"),
                format!("{kind} watches a 0/1 error indicator: use stream = \"error\""),
            );
        }
        if let (Some(stream), Some(detector)) = (stream, online(errs, &p, t)) {
            out.push(OnlineSpec { stream, detector });
        }
    }
    (out, multivariate, onnx)
}

fn rollback(
    errs: &mut Errors,
    path: &str,
    base: &RollbackPolicy,
    r: &RawRollback,
) -> RollbackPolicy {
    let mut p = base.clone();
    if let Some(v) = r.enabled {
        p.enabled = v;
    }
    if let Some(v) = r.dry_run {
        p.dry_run = v;
    }
    if let Some(v) = r.min_firing_windows {
        p.min_firing_windows =
            bounded(errs, &format!("{path}.min_firing_windows"), v, 1, 1000) as u32;
    }
    if let Some(v) = r.min_window_records {
        p.min_window_records = v;
    }
    if let Some(v) = r.healthy_windows {
        p.healthy_windows = bounded(errs, &format!("{path}.healthy_windows"), v, 1, 1000) as u32;
    }
    if let Some(v) = r.onset_windows {
        p.onset_windows = bounded(errs, &format!("{path}.onset_windows"), v, 1, 100_000) as u32;
    }
    if let Some(s) = &r.cooldown {
        if let Some(d) = duration(errs, &format!("{path}.cooldown"), s) {
            p.cooldown_ms = d.as_millis() as i64;
        }
    }
    if let Some(v) = r.max_per_hour {
        p.max_per_hour = bounded(errs, &format!("{path}.max_per_hour"), v, 1, 1000) as u32;
    }
    p
}

fn rule(errs: &mut Errors, path: &str, r: &RawRule) -> Option<Rule> {
    let before = errs.0.len();
    if r.name.is_empty() {
        errs.push(format!("{path}.name"), "is required");
    }
    let severity = match r.severity.as_deref().unwrap_or("warning") {
        "info" => Severity::Info,
        "warning" => Severity::Warning,
        "critical" => Severity::Critical,
        s => {
            errs.push(
                format!("{path}.severity"),
                format!("unknown {s:?}; expected info, warning or critical"),
            );
            Severity::Warning
        }
    };
    let for_ = hold(
        errs,
        &format!("{path}.for"),
        r.for_.as_deref().unwrap_or("2 windows"),
    );
    let keep = hold(
        errs,
        &format!("{path}.keep_firing_for"),
        r.keep_firing_for.as_deref().unwrap_or("1 window"),
    );
    let when = match &r.when {
        Some(c) => condition(errs, &format!("{path}.when"), c),
        None => {
            errs.push(format!("{path}.when"), "is required");
            None
        }
    };
    let resolve = r
        .resolve_when
        .as_ref()
        .and_then(|c| condition(errs, &format!("{path}.resolve_when"), c));
    if let (Some(w), Some(res)) = (&when, &resolve) {
        if w.reads() != res.reads() {
            errs.push(
                format!("{path}.resolve_when"),
                format!(
                    "reads {} windows but `when` reads {} windows",
                    res.reads().as_str(),
                    w.reads().as_str()
                ),
            );
        }
    }
    let rollback = r.rollback.unwrap_or(false);
    // Judged on the raw condition so that the error shows even when the condition has
    // other errors of its own.
    if let (true, Some(c)) = (rollback, &r.when) {
        let compares = matches!(
            c.kind.as_str(),
            "prediction_drift" | "ops_ratio" | "ops_drop" | "performance"
        ) && matches!(c.against.as_deref(), None | Some("previous_version"));
        if !compares {
            errs.push(
                format!("{path}.rollback"),
                "only rules that compare a version with the previous version \
                 (against = \"previous_version\") may drive a rollback: rolling back \
                 cannot fix input drift",
            );
        }
    }
    if errs.0.len() > before {
        return None;
    }
    Some(Rule {
        name: r.name.clone(),
        severity,
        summary: r.summary.clone(),
        condition: when?,
        resolve,
        for_: for_?,
        keep_firing_for: keep?,
        rollback,
    })
}

fn probability(errs: &mut Errors, path: String, v: Option<f64>) -> Option<f64> {
    if let Some(p) = v {
        if !(p > 0.0 && p < 1.0) {
            errs.push(path, format!("must be in (0, 1), got {p}"));
        }
    }
    v
}

fn condition(errs: &mut Errors, path: &str, c: &RawCondition) -> Option<Condition> {
    let before = errs.0.len();
    let p_below = probability(errs, format!("{path}.p_below"), c.p_below);
    let max_p = probability(errs, format!("{path}.max_p"), c.max_p);
    let against = |errs: &mut Errors| match c.against.as_deref() {
        Some("reference") => Some(Baseline::Reference),
        Some("previous_version") | None => Some(Baseline::PreviousVersion),
        Some(s) => {
            errs.push(
                format!("{path}.against"),
                format!("unknown {s:?}; expected reference or previous_version"),
            );
            None
        }
    };
    let signal = |errs: &mut Errors| match c.signal.as_deref() {
        Some("error_rate") => Some(OpsSignal::ErrorRate),
        Some("latency_p50") => Some(OpsSignal::LatencyP50),
        Some("latency_p95") => Some(OpsSignal::LatencyP95),
        Some("latency_p99") => Some(OpsSignal::LatencyP99),
        Some("score_mean") => Some(OpsSignal::ScoreMean),
        Some("estimated_accuracy") => Some(OpsSignal::EstimatedAccuracy),
        Some(s) => {
            errs.push(
                format!("{path}.signal"),
                format!(
                    "unknown {s:?}; expected error_rate, latency_p50, latency_p95, \
                     latency_p99, score_mean or estimated_accuracy"
                ),
            );
            None
        }
        None => {
            errs.push(format!("{path}.signal"), "is required");
            None
        }
    };
    let out = match c.kind.as_str() {
        "feature_drift" | "prediction_drift" => {
            if p_below.is_none() && c.psi_above.is_none() {
                errs.push(path, "needs p_below, psi_above or both");
            }
            if c.kind == "feature_drift" {
                let at_least = c.at_least.unwrap_or(1);
                if at_least == 0 {
                    errs.push(format!("{path}.at_least"), "must be >= 1");
                }
                Condition::FeatureDrift {
                    p_below,
                    psi_above: c.psi_above,
                    at_least: at_least.min(u32::MAX as u64) as u32,
                }
            } else {
                Condition::PredictionDrift {
                    against: against(errs)?,
                    p_below,
                    psi_above: c.psi_above,
                }
            }
        }
        "ops_ratio" => {
            let ratio = c.ratio.unwrap_or_else(|| {
                errs.push(format!("{path}.ratio"), "is required");
                1.0
            });
            if ratio <= 0.0 || !ratio.is_finite() {
                errs.push(format!("{path}.ratio"), "must be > 0");
            }
            Condition::OpsRatio {
                signal: signal(errs)?,
                against: against(errs)?,
                ratio,
                min_value: c.min_value.unwrap_or(0.0),
                max_p,
            }
        }
        "ops_above" => Condition::OpsAbove {
            signal: signal(errs)?,
            above: c.above.unwrap_or_else(|| {
                errs.push(format!("{path}.above"), "is required");
                0.0
            }),
        },
        "ops_drop" => Condition::OpsDrop {
            signal: signal(errs)?,
            against: against(errs)?,
            drop: match c.drop {
                Some(d) if d >= 0.0 && d.is_finite() => d,
                Some(d) => {
                    errs.push(format!("{path}.drop"), format!("must be >= 0, got {d}"));
                    0.0
                }
                None => {
                    errs.push(format!("{path}.drop"), "is required");
                    0.0
                }
            },
        },
        "performance" => {
            let metric = match c.metric.as_deref() {
                None => {
                    errs.push(format!("{path}.metric"), "is required");
                    return None;
                }
                Some(m) => match PerfMetric::ALL.iter().find(|x| x.as_str() == m) {
                    Some(x) => *x,
                    None => {
                        let names: Vec<_> = PerfMetric::ALL.iter().map(|x| x.as_str()).collect();
                        errs.push(
                            format!("{path}.metric"),
                            format!("unknown {m:?}; expected one of {}", names.join(", ")),
                        );
                        return None;
                    }
                },
            };
            if c.drop.is_none() && c.ratio.is_none() {
                errs.push(path, "needs drop, ratio or both");
            }
            if let Some(d) = c.drop {
                if !(d >= 0.0 && d.is_finite()) {
                    errs.push(format!("{path}.drop"), format!("must be >= 0, got {d}"));
                }
            }
            if let Some(r) = c.ratio {
                if metric.higher_is_better() {
                    errs.push(
                        format!("{path}.ratio"),
                        format!(
                            "applies to metrics where lower is better; use drop for {}",
                            metric.as_str()
                        ),
                    );
                } else if !(r > 0.0 && r.is_finite()) {
                    errs.push(format!("{path}.ratio"), "must be > 0");
                }
            }
            if max_p.is_some() && metric != PerfMetric::Error {
                errs.push(
                    format!("{path}.max_p"),
                    "applies to metric = \"error\" only",
                );
            }
            Condition::Performance {
                metric,
                against: against(errs)?,
                drop: c.drop,
                ratio: c.ratio,
                max_p,
            }
        }
        "model_anomaly" => match p_below {
            Some(p) => Condition::ModelAnomaly {
                detector: c.name.clone(),
                p_below: p,
            },
            None => {
                errs.push(format!("{path}.p_below"), "is required");
                return None;
            }
        },
        "multivariate_drift" => match p_below {
            Some(p) => Condition::MultivariateDrift { p_below: p },
            None => {
                errs.push(format!("{path}.p_below"), "is required");
                return None;
            }
        },
        "metric_anomaly" => {
            let above = c.above.unwrap_or(0.9);
            if !(0.0..=1.0).contains(&above) {
                errs.push(
                    format!("{path}.above"),
                    format!("must be in [0, 1], got {above}"),
                );
            }
            Condition::MetricAnomaly {
                metric: c.name.clone(),
                above,
            }
        }
        "change_point" => {
            let stream = match c.stream.as_deref() {
                Some(s)
                    if ["label_error", "label_loss", "score", "latency", "error"].contains(&s)
                        || s.strip_prefix("feature:").is_some_and(|f| !f.is_empty()) =>
                {
                    s.to_string()
                }
                Some(s) => {
                    errs.push(
                        format!("{path}.stream"),
                        format!(
                            "unknown {s:?}; expected label_error, label_loss, score, latency, \
                             error or feature:NAME"
                        ),
                    );
                    return None;
                }
                None => "label_error".to_string(),
            };
            let direction = match c.direction.as_deref().unwrap_or("up") {
                "up" => Direction::Up,
                "down" => Direction::Down,
                "any" => Direction::Any,
                d => {
                    errs.push(
                        format!("{path}.direction"),
                        format!("unknown {d:?}; expected up, down or any"),
                    );
                    Direction::Up
                }
            };
            Condition::ChangePoint {
                stream,
                direction,
                min_change: c.min_change.unwrap_or(0.0),
            }
        }
        other => {
            errs.push(
                format!("{path}.kind"),
                format!(
                    "unknown condition {other:?}; expected feature_drift, prediction_drift, \
                     ops_ratio, ops_above, ops_drop, performance, change_point, \
                     multivariate_drift, model_anomaly or metric_anomaly"
                ),
            );
            return None;
        }
    };
    (errs.0.len() == before).then_some(out)
}

fn url(errs: &mut Errors, path: &str, s: &str) -> Option<reqwest::Url> {
    match reqwest::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
        Ok(_) => {
            errs.push(path, format!("{s:?}: only http and https URLs"));
            None
        }
        Err(e) => {
            errs.push(path, format!("not a URL: {s:?} ({e})"));
            None
        }
    }
}

fn notify(errs: &mut Errors, raw: &RawNotify) -> NotifiersConfig {
    let mut out = NotifiersConfig::default();
    let mut names = BTreeSet::new();
    for (i, a) in raw.alertmanager.iter().enumerate() {
        let path = format!("notify.alertmanager[{i}]");
        let mut c = AlertmanagerConfig::default();
        if let Some(n) = &a.name {
            c.name = n.clone();
        }
        if a.urls.is_empty() {
            errs.push(
                format!("{path}.urls"),
                "at least one Alertmanager URL is required",
            );
        }
        c.urls = a
            .urls
            .iter()
            .enumerate()
            .filter_map(|(j, u)| url(errs, &format!("{path}.urls[{j}]"), u))
            .collect();
        c.static_labels = a.static_labels.clone();
        for k in c.static_labels.keys() {
            let valid = k
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                errs.push(
                    format!("{path}.static_labels.{k}"),
                    "not a valid label name",
                );
            }
        }
        c.generator_url = a
            .generator_url
            .as_deref()
            .and_then(|u| url(errs, &format!("{path}.generator_url"), u));
        c.dashboard_url = a.dashboard_url.clone();
        let d = |errs: &mut Errors, f: &str, v: &Option<String>, base: Duration| {
            v.as_deref()
                .and_then(|s| duration(errs, &format!("{path}.{f}"), s))
                .unwrap_or(base)
        };
        c.resend_interval = d(
            errs,
            "resend_interval",
            &a.resend_interval,
            c.resend_interval,
        );
        c.resolved_retention = d(
            errs,
            "resolved_retention",
            &a.resolved_retention,
            c.resolved_retention,
        );
        c.timeout = d(errs, "timeout", &a.timeout, c.timeout);
        if c.resend_interval.is_zero() {
            errs.push(format!("{path}.resend_interval"), "must be > 0");
        }
        c.retry.max_age = c.resend_interval;
        if let Some(q) = a.queue {
            c.queue = bounded(errs, &format!("{path}.queue"), q, 1, 1_000_000) as usize;
        }
        if let Some(b) = a.max_batch {
            c.max_batch = bounded(errs, &format!("{path}.max_batch"), b, 1, 10_000) as usize;
        }
        if !names.insert(c.name.clone()) {
            errs.push(
                format!("{path}.name"),
                format!("notifier {:?} is defined twice", c.name),
            );
        }
        out.alertmanagers.push(c);
    }
    for (i, w) in raw.webhooks.iter().enumerate() {
        let path = format!("notify.webhooks[{i}]");
        if w.name.is_empty() {
            errs.push(format!("{path}.name"), "is required");
        }
        let Some(u) = url(errs, &format!("{path}.url"), &w.url) else {
            continue;
        };
        let mut c = WebhookConfig {
            name: w.name.clone(),
            url: u,
            ..WebhookConfig::default()
        };
        c.kind = match w.kind.as_deref().unwrap_or("alerts") {
            "alerts" => WebhookKind::Alerts,
            "commands" => WebhookKind::Commands,
            k => {
                errs.push(
                    format!("{path}.kind"),
                    format!("unknown {k:?}; expected alerts or commands"),
                );
                WebhookKind::Alerts
            }
        };
        c.headers = w.headers.clone();
        c.secret = match (&w.secret_env, &w.secret_file) {
            (Some(_), Some(_)) => {
                errs.push(
                    format!("{path}.secret_env"),
                    "give secret_env or secret_file, not both",
                );
                None
            }
            (Some(e), None) => Some(SecretSource::Env(e.clone())),
            (None, Some(f)) => Some(SecretSource::File(f.into())),
            (None, None) => None,
        };
        if let Some(states) = &w.states {
            c.states = states
                .iter()
                .filter_map(|s| match s.as_str() {
                    "pending" => Some(AlertState::Pending),
                    "firing" => Some(AlertState::Firing),
                    "resolved" => Some(AlertState::Resolved),
                    "inactive" => Some(AlertState::Inactive),
                    _ => {
                        errs.push(
                            format!("{path}.states"),
                            format!(
                                "unknown {s:?}; expected pending, firing, resolved or inactive"
                            ),
                        );
                        None
                    }
                })
                .collect();
        }
        if let Some(t) = w
            .timeout
            .as_deref()
            .and_then(|s| duration(errs, &format!("{path}.timeout"), s))
        {
            c.timeout = t;
        }
        if let Some(q) = w.queue {
            c.queue = bounded(errs, &format!("{path}.queue"), q, 1, 1_000_000) as usize;
        }
        if !names.insert(c.name.clone()) {
            errs.push(
                format!("{path}.name"),
                format!("notifier {:?} is defined twice", c.name),
            );
        }
        out.webhooks.push(c);
    }
    out
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
    let cfg: MetricDetectorConfig = match toml::Value::Table(t).try_into() {
        Ok(c) => c,
        Err(e) => {
            errs.push("metrics", e.to_string().trim().replace('\n', " "));
            return None;
        }
    };
    for p in cfg.problems() {
        errs.push(format!("metrics.{}", p.field), p.message);
    }
    enabled.then_some(cfg)
}
