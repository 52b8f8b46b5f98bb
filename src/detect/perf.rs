//! Model performance from joined (prediction, label) pairs, per window, and a label-free
//! estimate of it. Values match scikit-learn 1.9 on fixtures that `scripts/perf_fixtures.py`
//! generates (`testdata/fixtures/performance.json`, checked by
//! `tests/integration/reference_performance.rs`).
//!
//! - [`PerfConfig::outcome`] reads one [`Joined`] pair as an [`Outcome`]: for a binary
//!   classifier whether the label and the prediction are the positive class and the
//!   predicted probability of the positive class; for a multiclass one the two classes; for
//!   a regressor the two numbers. [`Outcome::error`] (0/1 error or absolute error) and
//!   [`Outcome::loss`] (log loss or squared error) are the per-request indicators that an
//!   online change detector consumes ([`error_of`], [`loss_of`]).
//! - [`PerfWindow`] accumulates outcomes with bounded memory and [`PerfWindow::finish`]es
//!   into a [`PerformanceReport`]: accuracy, precision, recall and F1 (binary, or the macro
//!   average over classes), ROC AUC (binary, on a seeded sample), log loss, MAE, RMSE and
//!   MAPE, each `None` when undefined.
//! - [`CbpeWindow`] estimates a probabilistic binary classifier's accuracy, precision,
//!   recall and F1 from its predictions alone (confidence-based performance estimation, as
//!   NannyML's CBPE), assuming calibrated probabilities; [`CbpeEstimate::error_against`]
//!   compares the estimate with the realised values once labels arrive.
//!
//! Memory of a window: its counters, at most `max_classes + 1` class rows, and two seeded
//! reservoirs of at most `auc_sample_size` f64 (default 5,000: 80 KiB). Pure: no I/O, no
//! clock, randomness only from the caller's seed.

use super::join::{Joined, PredictionSummary};
use serde::{Deserialize, Serialize};

mod cbpe;
mod window;

pub use cbpe::{CbpeEstimate, CbpeWindow, EstimateError};
pub use window::{PerfWindow, PerformanceReport};

/// Probabilities are clipped to `[EPS, 1 - EPS]` before the logarithm, as scikit-learn's
/// `log_loss` does for float64 input (`numpy.finfo(float64).eps`, 2.2e-16): a confident
/// mistake costs at most `-ln(EPS)` = 36.04.
pub const LOG_LOSS_EPS: f64 = f64::EPSILON;

/// The smallest `|y|` that MAPE divides by, as scikit-learn's
/// `mean_absolute_percentage_error` (`numpy.finfo(float64).eps`): a zero label with a
/// non-zero error gives a huge but finite term.
pub const MAPE_EPS: f64 = f64::EPSILON;

/// What the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Two classes, one of them positive.
    #[default]
    Binary,
    /// Several classes; precision, recall and F1 are macro averages.
    Multiclass,
    /// A number.
    Regression,
}

/// How to read a binary classifier's `score`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreMeaning {
    /// The score is the probability of the positive class, whatever the predicted label
    /// (`{"score": 0.08, "label": "legit"}`): the usual log of a binary classifier.
    #[default]
    PositiveClass,
    /// The score is the probability of the predicted label (`{"score": 0.92, "label":
    /// "legit"}`): what decode makes of a `probs` vector (the highest probability).
    PredictedLabel,
}

/// How joined pairs are scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerfConfig {
    /// What the model predicts. Default `binary`.
    pub task: Task,
    /// The positive class of a binary classifier, compared with label and predicted-class
    /// names (a numeric label `1` is the name `"1"`). Default: `"1"` or `"true"` (any case);
    /// string classes such as `"fraud"` need it set. As a number it is also the index of the
    /// positive class in `probs` (default index 1).
    pub positive_class: Option<String>,
    /// How to read the score of a binary classifier. Default `positive_class`.
    pub score: ScoreMeaning,
    /// A binary prediction without a predicted label is positive when the probability of
    /// the positive class is at least this. Default 0.5.
    pub threshold: f64,
    /// Most (score, label) pairs kept per window for ROC AUC. Default 5,000 (80 KiB): the
    /// AUC's sampling error is then below 0.01 for any class balance with 200 or more
    /// pairs of the rarer class.
    pub auc_sample_size: usize,
    /// Most classes tracked per window (multiclass); further classes pool into one row
    /// and the report says so. Accuracy stays exact. Default 64.
    pub max_classes: usize,
}

impl Default for PerfConfig {
    fn default() -> Self {
        PerfConfig {
            task: Task::Binary,
            positive_class: None,
            score: ScoreMeaning::PositiveClass,
            threshold: 0.5,
            auc_sample_size: 5_000,
            max_classes: 64,
        }
    }
}

/// One joined pair, read for scoring.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A binary classification.
    Binary {
        /// The label is the positive class.
        actual: bool,
        /// The prediction is the positive class.
        predicted: bool,
        /// The predicted probability (or score) of the positive class, when known.
        p_positive: Option<f64>,
    },
    /// A multiclass classification.
    Multiclass {
        /// The label's class.
        actual: String,
        /// The predicted class.
        predicted: String,
        /// The predicted probability of the label's class (needs `probs` and class names
        /// that are indices).
        p_actual: Option<f64>,
    },
    /// A regression.
    Regression {
        /// The label.
        actual: f64,
        /// The prediction.
        predicted: f64,
    },
}

/// `-ln p` with `p` clipped as scikit-learn clips it; `None` unless `p` is in [0, 1].
pub(crate) fn log_loss_term(p: f64) -> Option<f64> {
    (0.0..=1.0)
        .contains(&p)
        .then(|| -p.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS).ln())
}

impl Outcome {
    /// The error indicator: 0 or 1 for a classifier (1: misclassified), the absolute error
    /// for a regressor.
    pub fn error(&self) -> f64 {
        match self {
            Outcome::Binary {
                actual, predicted, ..
            } => f64::from(u8::from(actual != predicted)),
            Outcome::Multiclass {
                actual, predicted, ..
            } => f64::from(u8::from(actual != predicted)),
            Outcome::Regression { actual, predicted } => (actual - predicted).abs(),
        }
    }

    /// The loss: log loss of the label's class for a classifier (`None` without a
    /// probability in [0, 1]), the squared error for a regressor. Its mean over a window is
    /// the window's log loss (as scikit-learn's `log_loss`) or MSE.
    pub fn loss(&self) -> Option<f64> {
        match self {
            Outcome::Binary {
                actual, p_positive, ..
            } => {
                let p = (*p_positive)?;
                if !(0.0..=1.0).contains(&p) {
                    return None;
                }
                // 1 - p before clipping, as scikit-learn forms the two columns.
                log_loss_term(if *actual { p } else { 1.0 - p })
            }
            Outcome::Multiclass { p_actual, .. } => log_loss_term((*p_actual)?),
            Outcome::Regression { actual, predicted } => Some((actual - predicted).powi(2)),
        }
    }
}

impl PerfConfig {
    /// Whether `class` is the positive class (binary).
    pub fn is_positive(&self, class: &str) -> bool {
        match &self.positive_class {
            Some(p) => class == p,
            None => class == "1" || class.eq_ignore_ascii_case("true"),
        }
    }

    /// The predicted probability (or score) of the positive class of a binary classifier:
    /// from `probs` when they hold the positive class's index, else from the score read as
    /// [`PerfConfig::score`] says.
    pub fn p_positive(&self, p: &PredictionSummary) -> Option<f64> {
        let index = match &self.positive_class {
            Some(c) => c.parse::<usize>().ok(),
            None => Some(1),
        };
        if let (Some(probs), Some(i)) = (&p.probs, index) {
            if let Some(&x) = probs.get(i) {
                return Some(x);
            }
        }
        let s = p.score?;
        Some(match (self.score, &p.label) {
            (ScoreMeaning::PredictedLabel, Some(l)) if !self.is_positive(l) => 1.0 - s,
            _ => s,
        })
    }

    /// Whether a binary prediction is the positive class: its label if it has one, else
    /// its probability of the positive class against [`PerfConfig::threshold`].
    pub fn predicted_positive(&self, p: &PredictionSummary) -> Option<bool> {
        match &p.label {
            Some(l) => Some(self.is_positive(l)),
            None => self.p_positive(p).map(|x| x >= self.threshold),
        }
    }

    /// Reads a joined pair for scoring; `None` when it lacks what the task needs (no
    /// predicted class or score, a non-numeric label for a regressor).
    pub fn outcome(&self, j: &Joined) -> Option<Outcome> {
        let p = &j.prediction;
        match self.task {
            Task::Binary => Some(Outcome::Binary {
                actual: self.is_positive(&j.label.class_name()),
                predicted: self.predicted_positive(p)?,
                p_positive: self.p_positive(p),
            }),
            Task::Multiclass => {
                let actual = j.label.class_name().into_owned();
                let probs = p.probs.as_deref();
                let predicted = match (&p.label, probs) {
                    (Some(l), _) => l.to_string(),
                    (None, Some(probs)) => argmax(probs)?.to_string(),
                    (None, None) => return None,
                };
                let p_actual = probs
                    .zip(actual.parse::<usize>().ok())
                    .and_then(|(probs, i)| probs.get(i).copied());
                Some(Outcome::Multiclass {
                    actual,
                    predicted,
                    p_actual,
                })
            }
            Task::Regression => Some(Outcome::Regression {
                actual: j.label.as_f64()?,
                predicted: p.score?,
            }),
        }
    }
}

/// The first index of the largest value (as decode picks the label of `probs`).
fn argmax(xs: &[f64]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, &x) in xs.iter().enumerate() {
        if best.is_none_or(|(_, b)| x > b) {
            best = Some((i, x));
        }
    }
    best.map(|(i, _)| i)
}

/// The error indicator of a joined pair ([`Outcome::error`]); `None` if it cannot be scored.
pub fn error_of(config: &PerfConfig, j: &Joined) -> Option<f64> {
    config.outcome(j).map(|o| o.error())
}

/// The loss of a joined pair ([`Outcome::loss`]); `None` if it cannot be scored or has no
/// probability.
pub fn loss_of(config: &PerfConfig, j: &Joined) -> Option<f64> {
    config.outcome(j)?.loss()
}

/// ROC AUC of `scores` against `positive`, as `sklearn.metrics.roc_auc_score`: the share of
/// (positive, negative) pairs that the scores order correctly, ties counting one half.
/// Exact on the sample given (the pair count is kept in integers). `None` unless both
/// classes are present.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let mut pairs: Vec<(f64, bool)> = scores
        .iter()
        .copied()
        .zip(positive.iter().copied())
        .collect();
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let (mut neg_below, mut twice_u, mut pos_total) = (0u64, 0u128, 0u64);
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        let (mut pos, mut neg) = (0u64, 0u64);
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            if pairs[j].1 {
                pos += 1;
            } else {
                neg += 1;
            }
            j += 1;
        }
        twice_u += 2 * pos as u128 * neg_below as u128 + pos as u128 * neg as u128;
        neg_below += neg;
        pos_total += pos;
        i = j;
    }
    let pairs_total = pos_total as u128 * neg_below as u128;
    (pairs_total > 0).then(|| twice_u as f64 / (2 * pairs_total) as f64)
}

#[cfg(test)]
mod tests;
