//! Confidence-based performance estimation (CBPE, after NannyML): a probabilistic binary
//! classifier's expected confusion matrix from its predictions alone, and its error against
//! the realised values once labels arrive. Pure: no I/O, no clock.

use super::{PerfConfig, PerformanceReport};
use crate::detect::join::PredictionSummary;
use serde::{Deserialize, Serialize};

/// Expected confusion counts of a probabilistic binary classifier over its predictions,
/// labelled or not (confidence-based performance estimation). A prediction with
/// probability `p` of the positive class counts `p` of a true and `1 - p` of a false
/// positive when predicted positive, `p` of a false and `1 - p` of a true negative when
/// predicted negative. With the 0.5 threshold the expected accuracy is the mean of
/// `max(p, 1 - p)`. Unbiased if and only if the probabilities are calibrated on the
/// current inputs: what it misses is a change in the relation of inputs to labels (concept
/// drift), which only labels reveal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CbpeWindow {
    predictions: u64,
    skipped: u64,
    e_tp: f64,
    e_fp: f64,
    e_tn: f64,
    e_fn: f64,
}

/// The label-free estimate of one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CbpeEstimate {
    /// Predictions the estimate covers.
    pub predictions: u64,
    /// Predictions without a probability in [0, 1] (not covered).
    pub skipped: u64,
    /// Expected accuracy.
    pub accuracy: Option<f64>,
    /// `E[TP] / (E[TP] + E[FP])`.
    pub precision: Option<f64>,
    /// `E[TP] / (E[TP] + E[FN])`.
    pub recall: Option<f64>,
    /// `2 E[TP] / (2 E[TP] + E[FP] + E[FN])`.
    pub f1: Option<f64>,
}

/// `estimated - realised` per metric, where both are defined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EstimateError {
    /// Accuracy.
    pub accuracy: Option<f64>,
    /// Precision.
    pub precision: Option<f64>,
    /// Recall.
    pub recall: Option<f64>,
    /// F1.
    pub f1: Option<f64>,
}

impl CbpeWindow {
    /// An empty window.
    pub fn new() -> CbpeWindow {
        CbpeWindow::default()
    }

    /// Adds one prediction: the probability of the positive class and whether it was
    /// predicted positive. A probability outside [0, 1] is counted as skipped.
    pub fn push(&mut self, p_positive: f64, predicted_positive: bool) {
        if !(0.0..=1.0).contains(&p_positive) {
            self.skipped += 1;
            return;
        }
        self.predictions += 1;
        if predicted_positive {
            self.e_tp += p_positive;
            self.e_fp += 1.0 - p_positive;
        } else {
            self.e_fn += p_positive;
            self.e_tn += 1.0 - p_positive;
        }
    }

    /// Adds one prediction of a binary classifier read as `config` says; counted as
    /// skipped without a probability.
    pub fn observe(&mut self, config: &PerfConfig, p: &PredictionSummary) {
        match (config.p_positive(p), config.predicted_positive(p)) {
            (Some(x), Some(pos)) => self.push(x, pos),
            _ => self.skipped += 1,
        }
    }

    /// The estimate.
    pub fn finish(&self) -> CbpeEstimate {
        let ratio = |num: f64, den: f64| (den > 0.0).then(|| num / den);
        CbpeEstimate {
            predictions: self.predictions,
            skipped: self.skipped,
            accuracy: ratio(self.e_tp + self.e_tn, self.predictions as f64),
            precision: ratio(self.e_tp, self.e_tp + self.e_fp),
            recall: ratio(self.e_tp, self.e_tp + self.e_fn),
            f1: ratio(2.0 * self.e_tp, 2.0 * self.e_tp + self.e_fp + self.e_fn),
        }
    }

    /// Empties the window.
    pub fn clear(&mut self) {
        *self = CbpeWindow::default();
    }
}

impl CbpeEstimate {
    /// `estimated - realised` once the window's labels are in. The estimate covers every
    /// prediction and the realised values only the labelled ones, so a label feed that
    /// favours some predictions (e.g. only flagged cases get reviewed) shows up here too.
    pub fn error_against(&self, realised: &PerformanceReport) -> EstimateError {
        let d = |e: Option<f64>, r: Option<f64>| e.zip(r).map(|(e, r)| e - r);
        EstimateError {
            accuracy: d(self.accuracy, realised.accuracy),
            precision: d(self.precision, realised.precision),
            recall: d(self.recall, realised.recall),
            f1: d(self.f1, realised.f1),
        }
    }
}
