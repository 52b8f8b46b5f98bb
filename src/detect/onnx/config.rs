//! The detector's configuration: plain data (serde, with defaults where natural) that the
//! config module fills from TOML, and its I/O-free validation.

use serde::{Deserialize, Serialize};
use std::num::NonZeroUsize;
use std::path::PathBuf;

/// One detector instance: a model file, how features map onto its input, and how its output
/// becomes a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxDetectorConfig {
    /// The `.onnx` file, read at load.
    pub path: PathBuf,
    /// One entry per column of the model's input tensor, in column order.
    pub inputs: Vec<FeatureInput>,
    /// The model input vigil feeds. Optional when the model has exactly one input.
    #[serde(default)]
    pub input_name: Option<String>,
    /// Element type of that input; must match the model's.
    #[serde(default)]
    pub dtype: InputDtype,
    /// Which output to read and how it becomes an anomaly score.
    #[serde(default)]
    pub output: OutputSpec,
    /// Most rows in one model run; [`OnnxDetector::score_batch`](super::OnnxDetector::score_batch) splits larger batches.
    #[serde(default = "default_batch")]
    pub batch: NonZeroUsize,
}

fn default_batch() -> NonZeroUsize {
    NonZeroUsize::new(64).expect("64 is not zero")
}

impl Default for OnnxDetectorConfig {
    fn default() -> Self {
        OnnxDetectorConfig {
            path: PathBuf::new(),
            inputs: Vec::new(),
            input_name: None,
            dtype: InputDtype::default(),
            output: OutputSpec::default(),
            batch: default_batch(),
        }
    }
}

/// One column of the model input: the feature it comes from and how its value is prepared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureInput {
    /// The record's feature name.
    pub name: String,
    /// `(mean, std)`: the column gets `(x - mean) / std`. None: the raw value.
    #[serde(default)]
    pub scale: Option<(f64, f64)>,
    /// The raw value used when the feature is null or absent (scaled like any other).
    /// Booleans are 1 and 0; a string value is an error.
    #[serde(default)]
    pub missing: f64,
}

impl FeatureInput {
    /// A raw column with missing values as 0.
    pub fn new(name: impl Into<String>) -> FeatureInput {
        FeatureInput {
            name: name.into(),
            scale: None,
            missing: 0.0,
        }
    }
}

/// Element type of the model's input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputDtype {
    /// ONNX `float`.
    #[default]
    F32,
    /// ONNX `double`.
    F64,
}

impl InputDtype {
    /// The name used in config and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            InputDtype::F32 => "f32",
            InputDtype::F64 => "f64",
        }
    }
}

/// Which output to read, and how.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// The output, by name or position. A name may also be an intermediate value of the
    /// graph (e.g. `probabilities` ahead of a ZipMap).
    #[serde(default)]
    pub select: OutputRef,
    /// How a row of it becomes the anomaly score.
    #[serde(default)]
    pub score: ScoreMapping,
}

/// An output by name or by position among the graph's outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OutputRef {
    /// Position in the model's output list.
    Index(usize),
    /// Output (or intermediate value) name.
    Name(String),
}

impl Default for OutputRef {
    fn default() -> Self {
        OutputRef::Index(0)
    }
}

impl std::fmt::Display for OutputRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputRef::Index(i) => write!(f, "#{i}"),
            OutputRef::Name(n) => write!(f, "`{n}`"),
        }
    }
}

/// How one row of the selected output (`[N]` or `[N, C]`) becomes an anomaly score (higher
/// is more anomalous).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScoreMapping {
    /// An autoencoder's reconstruction: the error between the output and the input the
    /// model was fed (after scaling), or, with `against_input = false`, the output itself
    /// taken as the per-column error.
    ReconstructionError {
        /// Compare with the input (true) or read the output as the error (false).
        #[serde(default = "yes")]
        against_input: bool,
        /// How the per-column errors combine.
        #[serde(default)]
        metric: ErrorMetric,
    },
    /// One column of the output as the score, e.g. an IsolationForest's `scores`
    /// (decision function, lower is more anomalous: `negate = true`) or a classifier's
    /// probability of the anomalous class.
    Score {
        /// Column of the output (0 for `[N]` and `[N, 1]` outputs).
        #[serde(default)]
        column: usize,
        /// Use `-value`.
        #[serde(default)]
        negate: bool,
    },
}

fn yes() -> bool {
    true
}

impl Default for ScoreMapping {
    fn default() -> Self {
        ScoreMapping::Score {
            column: 0,
            negate: false,
        }
    }
}

/// Combination of per-column reconstruction errors `e`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorMetric {
    /// Mean of `e^2`.
    #[default]
    Mse,
    /// Mean of `|e|`.
    Mae,
    /// Largest `|e|`.
    MaxAbs,
}

impl OnnxDetectorConfig {
    /// Checks the config without I/O; every problem, with its path inside the detector's
    /// config (`inputs[2].scale: ...`).
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if self.path.as_os_str().is_empty() {
            errors.push("path: must name the model file".to_string());
        }
        if self.inputs.is_empty() {
            errors.push("inputs: at least one feature must be mapped".to_string());
        }
        let mut seen = std::collections::HashMap::new();
        for (i, input) in self.inputs.iter().enumerate() {
            if input.name.is_empty() {
                errors.push(format!("inputs[{i}].name: must not be empty"));
            }
            if let Some(j) = seen.insert(input.name.as_str(), i) {
                errors.push(format!(
                    "inputs[{i}].name: `{}` is already mapped by inputs[{j}]",
                    input.name
                ));
            }
            if let Some((mean, std)) = input.scale {
                if !mean.is_finite() {
                    errors.push(format!(
                        "inputs[{i}].scale: mean must be finite, got {mean}"
                    ));
                }
                if !(std.is_finite() && std > 0.0) {
                    errors.push(format!("inputs[{i}].scale: std must be > 0, got {std}"));
                }
            }
            if input.missing.is_infinite() {
                errors.push(format!(
                    "inputs[{i}].missing: must be finite or NaN, got {}",
                    input.missing
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
