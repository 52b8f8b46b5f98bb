//! Why a model cannot be loaded or a record cannot be scored.

use std::path::PathBuf;

/// Why a model cannot be loaded or a record cannot be scored. Load errors name the model
/// file, the input or node concerned, and what was expected against what was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnnxError {
    /// The config itself is invalid (see [`OnnxDetectorConfig::validate`](super::OnnxDetectorConfig::validate)).
    #[error("{}: invalid detector config: {}", path.display(), errors.join("; "))]
    Config { path: PathBuf, errors: Vec<String> },
    /// The file cannot be read or is not an ONNX model.
    #[error("{}: cannot load the model: {detail}", path.display())]
    Unreadable { path: PathBuf, detail: String },
    /// `input_name` names no input of the model.
    #[error("{}: the model has no input `{input}`; its inputs are {available}", path.display())]
    InputNotFound {
        path: PathBuf,
        input: String,
        available: String,
    },
    /// The model has several inputs and `input_name` is not set, or it needs an input
    /// besides the one vigil feeds.
    #[error("{}: {detail}; its inputs are {available}", path.display())]
    Inputs {
        path: PathBuf,
        detail: String,
        available: String,
    },
    /// The input's element type is not the configured `dtype`, or not f32/f64 at all.
    #[error("{}: input `{input}` has element type {found}, expected {expected}", path.display())]
    InputType {
        path: PathBuf,
        input: String,
        expected: String,
        found: String,
    },
    /// The input is not a `[batch, columns]` matrix vigil can feed.
    #[error("{}: input `{input}` has shape {found}, expected {expected}", path.display())]
    InputShape {
        path: PathBuf,
        input: String,
        expected: String,
        found: String,
    },
    /// The number of configured features differs from the input's columns.
    #[error(
        "{}: input `{input}` has {columns} columns but {mapped} features are mapped ({detail})",
        path.display()
    )]
    FeatureMapping {
        path: PathBuf,
        input: String,
        columns: usize,
        mapped: usize,
        detail: String,
    },
    /// The selected output does not exist.
    #[error("{}: the model has no output {output}; its outputs are {available}", path.display())]
    OutputNotFound {
        path: PathBuf,
        output: String,
        available: String,
    },
    /// The selected output cannot give a score with the configured mapping.
    #[error("{}: output `{output}` has shape {found}, expected {expected}", path.display())]
    OutputShape {
        path: PathBuf,
        output: String,
        expected: String,
        found: String,
    },
    /// A node's operator is not supported.
    #[error(
        "{}: node `{node}` uses operator {op} which vigil does not support ({detail})",
        path.display()
    )]
    UnsupportedOperator {
        path: PathBuf,
        node: String,
        op: String,
        detail: String,
    },
    /// A supported operator with an attribute value vigil does not implement.
    #[error("{}: node `{node}` ({op}): unsupported {detail}", path.display())]
    UnsupportedAttribute {
        path: PathBuf,
        node: String,
        op: String,
        detail: String,
    },
    /// A node's attributes are inconsistent.
    #[error("{}: node `{node}` ({op}) is invalid: {detail}", path.display())]
    InvalidNode {
        path: PathBuf,
        node: String,
        op: String,
        detail: String,
    },
    /// tract could not analyse or optimise the graph.
    #[error("{}: {detail}", path.display())]
    Model { path: PathBuf, detail: String },
    /// A record's feature holds a string where the model needs a number.
    #[error(
        "{}: record {row}: feature `{feature}` is a string, expected a number for input `{input}`",
        path.display()
    )]
    NotNumeric {
        path: PathBuf,
        input: String,
        row: usize,
        feature: String,
    },
    /// The model failed while running.
    #[error("{}: inference failed: {detail}", path.display())]
    Run { path: PathBuf, detail: String },
}

impl OnnxError {
    /// A bounded name for the cause, for counting.
    pub fn kind(&self) -> &'static str {
        match self {
            OnnxError::Config { .. } => "config",
            OnnxError::Unreadable { .. } => "unreadable",
            OnnxError::InputNotFound { .. } => "input_not_found",
            OnnxError::Inputs { .. } => "inputs",
            OnnxError::InputType { .. } => "input_type",
            OnnxError::InputShape { .. } => "input_shape",
            OnnxError::FeatureMapping { .. } => "feature_mapping",
            OnnxError::OutputNotFound { .. } => "output_not_found",
            OnnxError::OutputShape { .. } => "output_shape",
            OnnxError::UnsupportedOperator { .. } => "unsupported_operator",
            OnnxError::UnsupportedAttribute { .. } => "unsupported_attribute",
            OnnxError::InvalidNode { .. } => "invalid_node",
            OnnxError::Model { .. } => "model",
            OnnxError::NotNumeric { .. } => "not_numeric",
            OnnxError::Run { .. } => "run",
        }
    }

    /// Whether the error concerns one record (the model itself is fine).
    pub fn is_record_error(&self) -> bool {
        matches!(self, OnnxError::NotNumeric { .. })
    }
}
