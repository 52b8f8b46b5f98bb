//! Configuration: the raw file ([`raw`]) and the validated, typed [`Config`] every stage is
//! built from. Loading does file I/O only to read the TOML (and, when asked, baseline files);
//! [`Config::from_toml_str`] does none, which is what `vigil check-config` runs.

pub mod raw;
mod schema;
mod validate;

use crate::act::notify::NotifiersConfig;
use crate::act::policy::RollbackPolicy;
use crate::alert::rule::Rule;
use crate::detect::join::JoinConfig;
use crate::detect::metric::MetricDetectorConfig;
use crate::detect::multivariate::MultivariateConfig;
use crate::detect::online::ChangeDetectorConfig;
use crate::detect::onnx::OnnxDetectorConfig;
use crate::detect::perf::{PerfConfig, Task};
use crate::detect::stats::Correction;
use crate::record::RecordKind;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use validate::ConfigErrors;

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Kafka settings; `None` when the file has no `[kafka]` (replay-only configs).
    pub kafka: Option<KafkaConfig>,
    /// HTTP listen address for /metrics, /healthz, /readyz, /api/v1/alerts.
    pub listen: SocketAddr,
    /// State directory (snapshots, command log); `None` keeps state in memory only.
    pub state_dir: Option<PathBuf>,
    /// Bounds that keep memory finite whatever the traffic.
    pub limits: Limits,
    /// Settings for models without their own `[models.NAME]` table.
    pub defaults: ModelConfig,
    /// Per-model settings (already merged over `defaults`).
    pub models: BTreeMap<String, ModelConfig>,
    /// Alert rules (the built-in ones when the file has no `[[rules]]`).
    pub rules: Vec<Rule>,
    /// The label join (`[labels]`): TTL and capacity, for all models together.
    pub join: JoinConfig,
    /// Notifiers (`[notify]`): Alertmanager and webhooks.
    pub notify: NotifiersConfig,
    /// OTLP push of the metrics (`[telemetry]`), when an endpoint is configured.
    pub otlp: Option<OtlpConfig>,
    /// Serving-metric anomaly detection (`[metrics]`); `None` when `enabled = false`.
    pub metrics: Option<MetricDetectorConfig>,
}

/// Pushing the metrics by OTLP/HTTP (protobuf), beside `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// The metrics endpoint, e.g. `http://collector:4318/v1/metrics`.
    pub endpoint: String,
    /// How often (wall clock; default 15 s).
    pub interval: Duration,
}

/// How a model's labels are joined and scored (`[defaults.labels]`, `[models.X.labels]`).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelSettings {
    /// Keep predictions so that labels can be joined to them (default true).
    pub enabled: bool,
    /// The task; `None` reads it off the first label (a number other than 0/1:
    /// regression; `0`/`1`/`true`/`false`, or any class with `positive_class` set: binary;
    /// other classes: multiclass).
    pub task: Option<Task>,
    /// How outcomes are scored (positive class, score meaning, threshold, AUC sample).
    pub perf: PerfConfig,
    /// Label windows per (model, version): `N labels` (default 500) or an event-time span.
    pub window: WindowSpec,
    /// Labelled predictions that form the model's reference performance (default 500).
    pub reference_labels: u64,
    /// Label windows with fewer labels report but are not compared with (default 100).
    pub min_window_labels: u64,
    /// The online change detector on the per-labelled-request error (0/1, or the absolute
    /// error of a regressor): default ADWIN (delta 0.002). `None` turns it off.
    pub change_detector: Option<ChangeDetectorConfig>,
    /// Which per-request stream it watches: `label_error` (default) or `label_loss`.
    pub change_stream: LabelStream,
}

/// The per-labelled-request stream a label change detector watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelStream {
    /// 0/1 error (classifiers) or absolute error (regressors).
    Error,
    /// Log loss (classifiers) or squared error (regressors).
    Loss,
}

impl LabelStream {
    /// The stream name in change reports and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelStream::Error => "label_error",
            LabelStream::Loss => "label_loss",
        }
    }
}

/// An inference stream an online change detector watches, per (model, version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InferenceStream {
    /// The numeric prediction.
    Score,
    /// Latency in ms.
    Latency,
    /// The per-request error indicator from `status` (0/1).
    Error,
    /// A numeric feature.
    Feature(String),
}

impl InferenceStream {
    /// The stream name in change reports and rules.
    pub fn name(&self) -> String {
        match self {
            InferenceStream::Score => "score".into(),
            InferenceStream::Latency => "latency".into(),
            InferenceStream::Error => "error".into(),
            InferenceStream::Feature(f) => format!("feature:{f}"),
        }
    }
}

/// One online detector on an inference stream (`[[models.X.detectors]]` with an online
/// kind).
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineSpec {
    /// The stream.
    pub stream: InferenceStream,
    /// The detector and its parameters.
    pub detector: ChangeDetectorConfig,
}

impl Default for LabelSettings {
    fn default() -> Self {
        LabelSettings {
            enabled: true,
            task: None,
            perf: PerfConfig::default(),
            window: WindowSpec::Records(NonZeroU64::new(500).expect("500 is non-zero")),
            reference_labels: 500,
            min_window_labels: 100,
            change_detector: Some(ChangeDetectorConfig::Adwin(Default::default())),
            change_stream: LabelStream::Error,
        }
    }
}

/// Kafka source and sinks.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Consumer group.
    pub group_id: String,
    /// Topic name -> the kind of record it carries.
    pub topics: BTreeMap<String, RecordKind>,
    /// Where alert transitions are produced, if anywhere.
    pub alerts_topic: Option<String>,
    /// Where rollback commands are produced, if anywhere.
    pub commands_topic: Option<String>,
    /// Where rejected records go.
    pub dead_letter_topic: Option<String>,
    /// Flush, snapshot and commit cadence (wall clock: it paces I/O, not verdicts).
    pub commit_interval: Duration,
    /// librdkafka properties passed through verbatim, to consumer and producer alike.
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties for the consumer only, applied after `properties`.
    pub consumer_properties: BTreeMap<String, String>,
    /// librdkafka properties for the producer only, applied after `properties`.
    pub producer_properties: BTreeMap<String, String>,
}

/// Caps that bound memory. Records beyond a cap are rejected with a reason, never stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Models tracked at once (default 100). When a new model arrives at the cap, the
    /// model seen least recently is forgotten if it has been silent for at least
    /// `evict_idle_after_ms` of event time; otherwise the new model's records are
    /// rejected (too_many_models). So junk model names cannot lock real models out for
    /// good, and a model that is merely quiet keeps its state.
    pub max_models: usize,
    /// How long a model or a metric series must have been silent (event time) before it
    /// may be forgotten to make room for a new one at `max_models` / `max_metric_series`
    /// (default 1h). Below the caps nothing is forgotten.
    pub evict_idle_after_ms: i64,
    /// Versions tracked per model at once (default 4); the least recently seen version that
    /// is not the rollback target is forgotten to make room.
    pub max_versions_per_model: usize,
    /// Features per model (default 256); further features are ignored and counted.
    pub max_features_per_model: usize,
    /// Distinct categories kept per categorical feature (default 64); the rest pool in
    /// `__other__`.
    pub max_categories: usize,
    /// Largest accepted message in bytes (default 65536).
    pub max_record_bytes: usize,
    /// Records whose `ts` lies further than this from the newest event time seen are
    /// rejected as `bad_timestamp` (default 24h).
    pub max_timestamp_skew_ms: i64,
    /// Serving-metric series tracked at once (default 1,000, ~91 KiB each). A new series at
    /// the cap takes the place of the least recently seen one if that one has been silent
    /// for `evict_idle_after_ms` (series of replaced pods, say); otherwise its samples are
    /// rejected (too_many_series).
    pub max_metric_series: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_models: 100,
            evict_idle_after_ms: 3600 * 1000,
            max_versions_per_model: 4,
            max_features_per_model: 256,
            max_categories: 64,
            max_record_bytes: 64 * 1024,
            max_timestamp_skew_ms: 24 * 3600 * 1000,
            max_metric_series: 1000,
        }
    }
}

/// How a version's stream is cut into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    /// Tumbling windows of this many records.
    Records(NonZeroU64),
    /// Tumbling event-time windows of this many milliseconds, aligned to the epoch.
    Duration(NonZeroU64),
}

/// Monitoring settings of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Window shape (default 1000 records).
    pub window: WindowSpec,
    /// Records that form the reference when no baseline is given (default 2000).
    pub reference_size: u64,
    /// Values kept per numeric feature in the reference (default 2000, at most 10000).
    pub reference_sample_size: usize,
    /// Values kept per numeric feature per window (default 1000, at most 10000).
    pub window_sample_size: usize,
    /// Windows with fewer records are reported but not tested (default 100).
    pub min_window_records: u64,
    /// PSI bins (default 10).
    pub psi_bins: usize,
    /// False-alarm control across the tests of one window (default Benjamini-Hochberg).
    pub correction: Correction,
    /// Baseline profile file, if any.
    pub baseline: Option<PathBuf>,
    /// Features not monitored.
    pub exclude_features: Vec<String>,
    /// Rollback policy.
    pub rollback: RollbackPolicy,
    /// Labels: join and performance.
    pub labels: LabelSettings,
    /// Online change detectors on inference streams (none by default).
    pub online: Vec<OnlineSpec>,
    /// Multivariate detectors (k-means and MMD) against the reference; off by default.
    pub multivariate: Option<MultivariateConfig>,
    /// The user's ONNX anomaly models (`kind = "onnx"`), per model only.
    pub onnx: Vec<OnnxSpec>,
}

/// One ONNX anomaly model of a model (`[[models.X.detectors]] kind = "onnx"`).
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxSpec {
    /// The detector's name (metric label, row name `onnx.NAME`).
    pub name: String,
    /// Quantile of the reference's scores beyond which a record counts as anomalous
    /// (default 0.99).
    pub quantile: f64,
    /// Loading and mapping.
    pub detector: OnnxDetectorConfig,
}

impl ModelConfig {
    /// Whether `other` builds the reference differently (its size, sample, bins, features
    /// or baseline): a reload then rebuilds the model's reference.
    pub fn reference_differs(&self, other: &ModelConfig) -> bool {
        self.reference_size != other.reference_size
            || self.reference_sample_size != other.reference_sample_size
            || self.psi_bins != other.psi_bins
            || self.exclude_features != other.exclude_features
            || self.baseline != other.baseline
            || self.multivariate != other.multivariate
            || self.onnx != other.onnx
    }

    /// Whether `other` cuts or tests windows differently: a reload then restarts the
    /// model's current windows.
    pub fn windows_differ(&self, other: &ModelConfig) -> bool {
        self.window != other.window
            || self.window_sample_size != other.window_sample_size
            || self.min_window_records != other.min_window_records
            || self.correction != other.correction
            || self.online != other.online
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            window: WindowSpec::Records(NonZeroU64::new(1000).expect("1000 is non-zero")),
            reference_size: 2000,
            reference_sample_size: 2000,
            window_sample_size: 1000,
            min_window_records: 100,
            psi_bins: 10,
            correction: Correction::BenjaminiHochberg,
            baseline: None,
            exclude_features: Vec::new(),
            rollback: RollbackPolicy::default(),
            labels: LabelSettings::default(),
            online: Vec::new(),
            multivariate: None,
            onnx: Vec::new(),
        }
    }
}

/// Collects `path: must be a finite number, got X` for every nan or infinity in `v`.
fn find_non_finite(v: &toml::Value, path: &str, out: &mut Vec<String>) {
    let join = |key: &str| schema::join(path, key);
    match v {
        toml::Value::Float(x) if !x.is_finite() => {
            out.push(format!("{path}: must be a finite number, got {x}"))
        }
        toml::Value::Table(t) => t
            .iter()
            .for_each(|(k, v)| find_non_finite(v, &join(k), out)),
        toml::Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| find_non_finite(v, &format!("{path}[{i}]"), out)),
        _ => {}
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not fit the schema.
    #[error("{0}")]
    Parse(String),
    /// Validation found errors; all of them are listed.
    #[error("{0}")]
    Invalid(ConfigErrors),
}

impl Config {
    /// The built-in configuration: every model monitored with defaults, built-in rules,
    /// rollback in dry-run.
    pub fn builtin() -> Config {
        Config::from_toml_str("").expect("the empty config is valid")
    }

    /// Parses and validates a config text. Does no I/O.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        // A syntax error stops here (with its line and column); schema errors are
        // collected, each by its path, and merged with the validation errors below.
        let table: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        // TOML has `nan` and `inf`; no setting of vigil means either (a threshold of nan
        // never compares true, so a rule with one could never fire). Refused here, every
        // one by its path, rather than in each setting's own check.
        let mut errors = Vec::new();
        find_non_finite(&toml::Value::Table(table.clone()), "", &mut errors);
        let schema = schema::deserialize(table);
        errors.extend(schema.errors);
        let consequence = |e: &String| {
            schema.removed.iter().any(|p| {
                e.strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.starts_with([':', '.', '[']))
            })
        };
        let invalid = |mut errors: Vec<String>| {
            // In the file's order, so that they can be fixed top to bottom; those with no
            // line (and notes) last.
            schema::add_lines(text, &mut errors);
            errors.sort_by_key(|e| schema::line_in(e).unwrap_or(usize::MAX));
            Err(ConfigError::Invalid(validate::ConfigErrors(errors)))
        };
        let Some(raw) = schema.raw else {
            return invalid(errors);
        };
        match validate::validate(raw) {
            Ok(config) if errors.is_empty() => Ok(config),
            Ok(_) => invalid(errors),
            Err(validate::ConfigErrors(rest)) => {
                errors.extend(rest.into_iter().filter(|e| !consequence(e)));
                invalid(errors)
            }
        }
    }

    /// Reads and validates a config file. Relative baseline paths are resolved against the
    /// file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::from_toml_str(&text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |m: &mut ModelConfig| {
            if let Some(b) = &m.baseline {
                if b.is_relative() {
                    m.baseline = Some(base.join(b));
                }
            }
            for o in &mut m.onnx {
                if o.detector.path.is_relative() {
                    o.detector.path = base.join(&o.detector.path);
                }
            }
        };
        resolve(&mut config.defaults);
        config.models.values_mut().for_each(resolve);
        Ok(config)
    }

    /// The settings a running daemon cannot change by reload, by path, that differ between
    /// `self` and `new`. Empty means `new` can be applied in place.
    pub fn restart_needed(&self, new: &Config) -> Vec<String> {
        let mut out = Vec::new();
        match (&self.kafka, &new.kafka) {
            (Some(a), Some(b)) => {
                let fields = [
                    ("kafka.brokers", a.brokers != b.brokers),
                    ("kafka.group_id", a.group_id != b.group_id),
                    ("kafka.topics", a.topics != b.topics),
                    ("kafka.alerts_topic", a.alerts_topic != b.alerts_topic),
                    ("kafka.commands_topic", a.commands_topic != b.commands_topic),
                    (
                        "kafka.dead_letter_topic",
                        a.dead_letter_topic != b.dead_letter_topic,
                    ),
                    (
                        "kafka.commit_interval",
                        a.commit_interval != b.commit_interval,
                    ),
                    ("kafka.properties", a.properties != b.properties),
                    (
                        "kafka.consumer_properties",
                        a.consumer_properties != b.consumer_properties,
                    ),
                    (
                        "kafka.producer_properties",
                        a.producer_properties != b.producer_properties,
                    ),
                ];
                out.extend(
                    fields
                        .iter()
                        .filter(|(_, d)| *d)
                        .map(|(p, _)| p.to_string()),
                );
            }
            (None, None) => {}
            _ => out.push("kafka".to_string()),
        }
        if self.listen != new.listen {
            out.push("http.listen".into());
        }
        if self.state_dir != new.state_dir {
            out.push("state.dir".into());
        }
        if self.limits != new.limits {
            out.push("limits".into());
        }
        if self.notify != new.notify {
            out.push("notify".into());
        }
        if self.otlp != new.otlp {
            out.push("telemetry".into());
        }
        if self.metrics != new.metrics {
            out.push("metrics".into());
        }
        out
    }

    /// The settings that apply to `model`.
    pub fn model(&self, model: &str) -> &ModelConfig {
        self.models.get(model).unwrap_or(&self.defaults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match Config::from_toml_str(text) {
            Err(ConfigError::Invalid(ConfigErrors(e))) => e,
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn every_error_in_a_table_validated_by_hand_is_listed_by_its_path() {
        let e = errors(
            r#"
            [metrics]
            bogus = 1
            ewma_alpha = "y"

            [[models.fraud.detectors]]
            kind = "cusum"
            stream = "feature:amount"
            k = "x"
            h = "y"

            [models.fraud.labels]
            change_detector = { kind = "adwin", delta = "small", clok = 5 }
            "#,
        );
        // Each with its line (the text starts with a newline), in the file's order.
        let want = [
            ("metrics.bogus: unknown key", 3),
            ("metrics.ewma_alpha: invalid type", 4),
            ("models.fraud.detectors[0].k: invalid type", 9),
            ("models.fraud.detectors[0].h: invalid type", 10),
            ("models.fraud.labels.change_detector.clok: unknown key", 13),
            (
                "models.fraud.labels.change_detector.delta: invalid type",
                13,
            ),
        ];
        assert_eq!(e.len(), want.len(), "{e:#?}");
        for (got, (want, line)) in e.iter().zip(want) {
            assert!(
                got.starts_with(want) && got.ends_with(&format!(" (line {line})")),
                "{want} (line {line}) expected, got {got:?} in {e:#?}"
            );
        }
    }

    #[test]
    fn non_finite_numbers_are_refused_by_path_with_the_other_errors() {
        let e = errors(
            r#"
            [limits]
            max_timestamp_skew = "0s"
            evict_idle_after = "0s"

            [[rules]]
            name = "x"
            severity = "warning"
            for = "1 window"
            when = { kind = "feature_drift", psi_above = nan }

            [[rules]]
            name = "y"
            severity = "urgent"
            for = "1 window"
            when = { kind = "feature_drift", p_below = -inf }
            "#,
        );
        for want in [
            "rules[0].when.psi_above: must be a finite number, got NaN",
            "rules[1].when.p_below: must be a finite number, got -inf",
            "rules[1].severity: unknown \"urgent\"",
            "limits.max_timestamp_skew: must be positive",
            "limits.evict_idle_after: must be positive",
        ] {
            assert!(
                e.iter().any(|x| x.starts_with(want)),
                "{want} not in {e:#?}"
            );
        }
        // A required key that is missing points at its table.
        let e = errors("[kafka]\ntopics = [{ name = \"t\", kind = \"inference\" }]\n");
        assert_eq!(e, ["kafka.brokers: is required (line 1)"], "{e:#?}");
        // Every error of a webhook, not just its first; a window too small ever to be
        // alerted on.
        let e = errors(
            "[defaults]\nwindow = \"100 records\"\nmin_window_records = 5000\n\n\
             [[notify.webhooks]]\nname = \"w\"\nurl = \"not a url\"\nkind = \"alert\"\n",
        );
        for want in [
            "defaults.min_window_records: min_window_records is 5000 but a window holds 100",
            "notify.webhooks[0].url: ",
            "notify.webhooks[0].kind: unknown \"alert\"",
        ] {
            assert!(
                e.iter().any(|x| x.starts_with(want)),
                "{want} not in {e:#?}"
            );
        }
        assert_eq!(e.len(), 3, "{e:#?}");
        // Thresholds that could never, or would always, hold.
        let e = errors(
            r#"
            [[rules]]
            name = "a"
            when = { kind = "ops_ratio", signal = "error_rate", against = "previous_version", ratio = 0.5 }
            [[rules]]
            name = "b"
            when = { kind = "ops_above", signal = "error_rate", above = 2 }
            [[rules]]
            name = "c"
            when = { kind = "ops_above", signal = "latency_p99", above = 250 }
            "#,
        );
        for want in [
            "rules[0].when.ratio: must be at least 1, got 0.5",
            "rules[1].when.above: must be in [0, 1) for error_rate",
        ] {
            assert!(
                e.iter().any(|x| x.starts_with(want)),
                "{want} not in {e:#?}"
            );
        }
        assert_eq!(e.len(), 2, "{e:#?}");
        // Finite values are untouched; the empty config stays valid.
        Config::from_toml_str("[limits]\nmax_timestamp_skew = \"1h\"\n").expect("valid");
        Config::builtin();
    }
}
