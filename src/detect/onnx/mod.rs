//! The `onnx` detector: the user's own anomaly model, an ONNX file, run in-process with
//! tract, one record or a micro-batch at a time, its output turned into an anomaly score.
//!
//! What it owns: loading and checking a model against its config ([`OnnxDetector::load`]),
//! mapping a record's features onto the model's input tensor (`mapping`: by name, with
//! optional standardisation and a value for null or absent features), running it, and the
//! output -> score mapping ([`ScoreMapping`]). What it must not do: read the clock, keep
//! globals, touch metrics or I/O other than reading the model file at load (and on reload,
//! which is a new `load`).
//!
//! # Models
//!
//! Neural models (autoencoders and anything else in tract's ONNX operator set) run on
//! tract. Tree models exported by skl2onnx and onnxmltools use ONNX-ML operators that
//! tract lacks; vigil registers its own implementations with tract's ONNX operator
//! registry (`ops`), written to give onnxruntime's outputs:
//!
//! | operator (ai.onnx.ml) | supported |
//! |---|---|
//! | `TreeEnsembleRegressor` (opsets 1-3) | modes BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, BRANCH_EQ, BRANCH_NEQ, LEAF; `nodes_missing_value_tracks_true`; aggregate SUM, AVERAGE, MIN, MAX; post_transform NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT (with one target only PROBIT has an effect, as in onnxruntime); `base_values`; float or double thresholds, weights and base values (`*_as_tensor`); float or double input, 2-D |
//! | `TreeEnsembleClassifier` (opsets 1-3) | the same, with `classlabels_int64s` or `classlabels_strings` (at least two classes); outputs label and scores |
//! | `LabelEncoder` (opsets 2-4) | int64, float or double keys and values (`keys_*`/`values_*`, `keys_tensor`/`values_tensor`, `default_*`); not strings |
//! | `ArrayFeatureExtractor`, `CategoryMapper`, `LinearClassifier`, `LinearRegressor`, `Normalizer` | as tract implements them |
//!
//! Anything else is refused at load with [`OnnxError::UnsupportedOperator`] naming the node
//! (ZipMap, `TreeEnsemble` of ai.onnx.ml opset 5, SVMs, Scaler, Imputer, operators of other
//! domains...), and so is any attribute value outside the table
//! ([`OnnxError::UnsupportedAttribute`], e.g. `BRANCH_MEMBER`, string label encoders).
//! Nodes the selected output does not depend on are pruned first, so a ZipMap after the
//! probabilities does not stop a classifier whose `probabilities` output is selected.
//!
//! # Tree graphs are simplified at load
//!
//! skl2onnx writes an IsolationForest as one single-tree `TreeEnsembleRegressor` per tree,
//! each followed by ~25 element-wise nodes that turn the leaf reached into a path length,
//! and a `Sum` of them: 50 trees make 1,360 nodes, run one by one for every record. Two
//! rewrites (`fold`), each exact, leave one ensemble and the final arithmetic:
//!
//! 1. *Leaf folding*: a single-tree, single-target ensemble followed by a chain of
//!    element-wise nodes (against scalar constants) has as many possible results as the
//!    tree has leaves; the chain is evaluated once per leaf (by tract, on the same
//!    operators) and its results become the leaf weights.
//! 2. *Ensemble merging*: a `Sum` of single-target ensembles over column subsets of the
//!    same float input is one ensemble over that input (columns renumbered), whose trees
//!    are summed in the same order and precision.
//!
//! [`OnnxDetector::info`] says what was folded and merged.

mod attrs;
mod config;
mod error;
mod fold;
mod graph;
mod mapping;
mod ops;
mod tree;

pub use config::{
    ErrorMetric, FeatureInput, InputDtype, OnnxDetectorConfig, OutputRef, OutputSpec, ScoreMapping,
};
pub use error::OnnxError;

use crate::record::FeatureValue;
use mapping::FeatureMap;
use serde::Serialize;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// What loading did to the graph.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ModelInfo {
    /// The model input fed.
    pub input: String,
    /// The output read.
    pub output: String,
    /// Nodes in the file's graph.
    pub nodes_in_file: usize,
    /// Nodes left after pruning, folding and merging (before tract's own optimisation).
    pub nodes_prepared: usize,
    /// Single-tree ensembles whose element-wise tail was folded into their leaves.
    pub trees_folded: usize,
    /// Ensembles merged into others.
    pub ensembles_merged: usize,
    /// Why leaf folding was skipped, if it was attempted and failed (the model then runs
    /// unfolded, with the same results, slower).
    pub fold_skipped: Option<String>,
    /// Whether the model takes one row per run (its batch dimension is fixed at 1).
    pub single_row: bool,
}

/// A loaded model, ready to score records. Holds the optimised tract plans (one for a single
/// row, one for micro-batches) and reusable buffers; scoring is a pure function of the
/// record and the model.
pub struct OnnxDetector {
    path: PathBuf,
    map: FeatureMap,
    batch: usize,
    score: ScoreMapping,
    out_cols: usize,
    runner: graph::Runner,
    x32: Vec<f32>,
    x64: Vec<f64>,
    y: Vec<f64>,
    info: ModelInfo,
}

impl std::fmt::Debug for OnnxDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxDetector")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// One record's features, as [`crate::record::InferenceRecord::features`] holds them.
pub type Features<'a> = [(Cow<'a, str>, FeatureValue<'a>)];

impl OnnxDetector {
    /// Loads the model, checks it against the config (input type and shape, feature count,
    /// supported operators, output shape for the score mapping), simplifies tree graphs
    /// and optimises it into runnable plans.
    pub fn load(cfg: &OnnxDetectorConfig) -> Result<OnnxDetector, OnnxError> {
        Self::load_with(cfg, true)
    }

    /// [`Self::load`], with the tree rewrites (`fold`) on or off.
    fn load_with(cfg: &OnnxDetectorConfig, simplify: bool) -> Result<OnnxDetector, OnnxError> {
        cfg.validate().map_err(|errors| OnnxError::Config {
            path: cfg.path.clone(),
            errors,
        })?;
        let prepared = graph::prepare(cfg, simplify)?;
        let width = cfg.inputs.len();
        let runner = graph::Runner::new(&cfg.path, &prepared, cfg.dtype, width, cfg.batch.get())?;
        let out_cols = runner.out_cols();
        let info = prepared.info;
        check_score(&cfg.path, &info.output, &cfg.output.score, out_cols, width)?;
        let batch = if info.single_row { 1 } else { cfg.batch.get() };
        Ok(OnnxDetector {
            path: cfg.path.clone(),
            map: FeatureMap::new(&cfg.inputs),
            batch,
            score: cfg.output.score.clone(),
            out_cols,
            runner,
            x32: vec![
                0.0;
                if cfg.dtype == InputDtype::F32 {
                    batch * width
                } else {
                    0
                }
            ],
            x64: vec![
                0.0;
                if cfg.dtype == InputDtype::F64 {
                    batch * width
                } else {
                    0
                }
            ],
            y: Vec::with_capacity(batch * out_cols),
            info,
        })
    }

    /// What loading did: input and output used, graph sizes, folding and merging.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Most rows per model run.
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// Columns of the selected output.
    pub fn output_columns(&self) -> usize {
        self.out_cols
    }

    /// The anomaly score of one record.
    pub fn score_one(&mut self, features: &Features<'_>) -> Result<f64, OnnxError> {
        self.fill(0, 0, features)?;
        self.run(1)?;
        Ok(self.row_score(0))
    }

    /// The anomaly scores of `rows`, in order, into `out` (cleared first). Runs the model on
    /// chunks of at most [`Self::batch_size`] rows.
    pub fn score_batch(
        &mut self,
        rows: &[&Features<'_>],
        out: &mut Vec<f64>,
    ) -> Result<(), OnnxError> {
        out.clear();
        out.reserve(rows.len());
        for (c, chunk) in rows.chunks(self.batch).enumerate() {
            for (i, features) in chunk.iter().enumerate() {
                self.fill(i, c * self.batch + i, features)?;
            }
            self.run(chunk.len())?;
            out.extend((0..chunk.len()).map(|i| self.row_score(i)));
        }
        Ok(())
    }

    /// The selected output itself for `rows` (row-major, [`Self::output_columns`] values
    /// per row) into `out` (cleared first), as f64. For checking a model against another
    /// runtime.
    pub fn output_batch(
        &mut self,
        rows: &[&Features<'_>],
        out: &mut Vec<f64>,
    ) -> Result<(), OnnxError> {
        out.clear();
        for (c, chunk) in rows.chunks(self.batch).enumerate() {
            for (i, features) in chunk.iter().enumerate() {
                self.fill(i, c * self.batch + i, features)?;
            }
            self.run(chunk.len())?;
            out.extend_from_slice(&self.y);
        }
        Ok(())
    }

    /// Writes one record's columns into row `slot` of the input buffer.
    fn fill(&mut self, slot: usize, row: usize, features: &Features<'_>) -> Result<(), OnnxError> {
        let width = self.map.width();
        let res = if self.x32.is_empty() {
            self.map
                .fill(features, &mut self.x64[slot * width..(slot + 1) * width])
        } else {
            self.map
                .fill(features, &mut self.x32[slot * width..(slot + 1) * width])
        };
        res.map_err(|feature| OnnxError::NotNumeric {
            path: self.path.clone(),
            input: self.info.input.clone(),
            row,
            feature: feature.to_string(),
        })
    }

    fn run(&mut self, rows: usize) -> Result<(), OnnxError> {
        let width = self.map.width();
        let res = if self.x32.is_empty() {
            self.runner
                .run(&self.x64[..rows * width], rows, &mut self.y)
        } else {
            self.runner
                .run(&self.x32[..rows * width], rows, &mut self.y)
        };
        res.map_err(|e| OnnxError::Run {
            path: self.path.clone(),
            detail: format!("{e:#}"),
        })?;
        if self.y.len() != rows * self.out_cols {
            return Err(OnnxError::Run {
                path: self.path.clone(),
                detail: format!(
                    "output `{}` has {} values for {rows} rows of {} columns",
                    self.info.output,
                    self.y.len(),
                    self.out_cols
                ),
            });
        }
        Ok(())
    }

    /// The score of row `i` of the last run.
    fn row_score(&self, i: usize) -> f64 {
        let y = &self.y[i * self.out_cols..(i + 1) * self.out_cols];
        match self.score {
            ScoreMapping::Score { column, negate } => {
                if negate {
                    -y[column]
                } else {
                    y[column]
                }
            }
            ScoreMapping::ReconstructionError {
                against_input,
                metric,
            } => {
                let width = self.map.width();
                let x = |j: usize| -> f64 {
                    if !against_input {
                        0.0
                    } else if self.x32.is_empty() {
                        self.x64[i * width + j]
                    } else {
                        self.x32[i * width + j] as f64
                    }
                };
                let errors = y.iter().enumerate().map(|(j, &v)| v - x(j));
                let n = y.len() as f64;
                match metric {
                    ErrorMetric::Mse => errors.map(|e| e * e).sum::<f64>() / n,
                    ErrorMetric::Mae => errors.map(f64::abs).sum::<f64>() / n,
                    ErrorMetric::MaxAbs => errors.map(f64::abs).fold(0.0, f64::max),
                }
            }
        }
    }
}

/// Whether the output's columns suit the score mapping.
fn check_score(
    path: &Path,
    output: &str,
    score: &ScoreMapping,
    cols: usize,
    width: usize,
) -> Result<(), OnnxError> {
    let bad = |expected: String| OnnxError::OutputShape {
        path: path.to_path_buf(),
        output: output.to_string(),
        expected,
        found: format!("[N, {cols}]"),
    };
    match *score {
        ScoreMapping::Score { column, .. } if column >= cols => Err(bad(format!(
            "at least {} columns for score column {column}",
            column + 1
        ))),
        ScoreMapping::ReconstructionError {
            against_input: true,
            ..
        } if cols != width => Err(bad(format!(
            "[N, {width}] (a reconstruction of the {width} input columns)"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
