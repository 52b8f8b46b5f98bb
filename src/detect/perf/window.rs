//! The realised-performance window: bounded counters, class rows and a seeded AUC sample,
//! finished into a [`PerformanceReport`]. Pure: no I/O, no clock.

use super::{roc_auc, Outcome, PerfConfig, MAPE_EPS};
use crate::detect::join::Joined;
use crate::detect::series::OTHER;
use crate::detect::stats::Reservoir;
use serde::{Deserialize, Serialize};

/// Confusion counts of one class (one-vs-rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ClassRow {
    class: String,
    tp: u64,
    fp: u64,
    fn_: u64,
}

/// Realised performance of one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceReport {
    /// Joined pairs offered to the window.
    pub labelled: u64,
    /// Pairs that could be scored (the denominators below; see [`PerfConfig::outcome`]).
    pub scored: u64,
    /// Share of classifications that were correct.
    pub accuracy: Option<f64>,
    /// Binary: TP / (TP + FP), `None` without positive predictions. Multiclass: the
    /// unweighted mean over classes of each class's precision, 0 for a class never
    /// predicted (scikit-learn's `average="macro"`, `zero_division=0`).
    pub precision: Option<f64>,
    /// Binary: TP / (TP + FN), `None` without positive labels. Multiclass: macro, as
    /// `precision`.
    pub recall: Option<f64>,
    /// Binary: 2 TP / (2 TP + FP + FN), `None` when that is 0/0. Multiclass: macro mean of
    /// the per-class F1.
    pub f1: Option<f64>,
    /// Binary ROC AUC over the window's sample of (score, label) pairs; `None` unless both
    /// classes are in it.
    pub roc_auc: Option<f64>,
    /// Pairs the AUC was computed on (at most `auc_sample_size`).
    pub auc_sample: u64,
    /// Mean log loss over the pairs that carried a probability in [0, 1].
    pub log_loss: Option<f64>,
    /// Mean absolute error (regression).
    pub mae: Option<f64>,
    /// Root mean squared error (regression).
    pub rmse: Option<f64>,
    /// Mean absolute percentage error as a fraction, `|y - y_hat| / max(|y|, MAPE_EPS)`
    /// (regression; scikit-learn's definition, not multiplied by 100).
    pub mape: Option<f64>,
    /// Classes in the macro averages (multiclass).
    pub classes: u64,
    /// More than `max_classes` classes were seen and the rest pooled into one row: the
    /// macro averages are approximate.
    pub classes_truncated: bool,
}

/// Accumulates one window's outcomes with bounded memory (see the module documentation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PerfWindow {
    labelled: u64,
    scored: u64,
    correct: u64,
    classified: u64,
    tp: u64,
    fp: u64,
    tn: u64,
    fn_: u64,
    max_classes: usize,
    classes: Vec<ClassRow>,
    classes_truncated: bool,
    // Pushed in lock step: a reservoir's choices depend only on how many values it was
    // offered, never on the values, so with one seed the two keep aligned pairs.
    auc_scores: Reservoir,
    auc_labels: Reservoir,
    loss_sum: f64,
    loss_n: u64,
    abs_sum: f64,
    sq_sum: f64,
    ape_sum: f64,
    regressed: u64,
}

impl PerfWindow {
    /// An empty window. `seed` drives the AUC sample: derive it from the series (e.g.
    /// `stable_hash(&[model, version, "perf"])`) so that replays give the same values.
    pub fn new(config: &PerfConfig, seed: u64) -> PerfWindow {
        let cap = config.auc_sample_size.max(1);
        PerfWindow {
            labelled: 0,
            scored: 0,
            correct: 0,
            classified: 0,
            tp: 0,
            fp: 0,
            tn: 0,
            fn_: 0,
            max_classes: config.max_classes.max(1),
            classes: Vec::new(),
            classes_truncated: false,
            auc_scores: Reservoir::new(cap, seed),
            auc_labels: Reservoir::new(cap, seed),
            loss_sum: 0.0,
            loss_n: 0,
            abs_sum: 0.0,
            sq_sum: 0.0,
            ape_sum: 0.0,
            regressed: 0,
        }
    }

    /// Scores one joined pair and returns its outcome (for the change detectors), or
    /// counts it as labelled but unscorable.
    pub fn observe(&mut self, config: &PerfConfig, j: &Joined) -> Option<Outcome> {
        let o = config.outcome(j);
        match &o {
            Some(o) => self.push(o),
            None => self.labelled += 1,
        }
        o
    }

    /// Adds one outcome.
    pub fn push(&mut self, o: &Outcome) {
        self.labelled += 1;
        self.scored += 1;
        if let Some(l) = o.loss() {
            if !matches!(o, Outcome::Regression { .. }) {
                self.loss_sum += l;
                self.loss_n += 1;
            }
        }
        match o {
            Outcome::Binary {
                actual,
                predicted,
                p_positive,
            } => {
                self.classified += 1;
                self.correct += u64::from(actual == predicted);
                match (actual, predicted) {
                    (true, true) => self.tp += 1,
                    (false, true) => self.fp += 1,
                    (false, false) => self.tn += 1,
                    (true, false) => self.fn_ += 1,
                }
                if let Some(s) = p_positive {
                    self.auc_scores.push(*s);
                    self.auc_labels.push(f64::from(u8::from(*actual)));
                }
            }
            Outcome::Multiclass {
                actual, predicted, ..
            } => {
                self.classified += 1;
                let a = self.row(actual);
                if actual == predicted {
                    self.correct += 1;
                    self.classes[a].tp += 1;
                } else {
                    self.classes[a].fn_ += 1;
                    let p = self.row(predicted);
                    self.classes[p].fp += 1;
                }
            }
            Outcome::Regression { actual, predicted } => {
                let e = (actual - predicted).abs();
                self.abs_sum += e;
                self.sq_sum += e * e;
                self.ape_sum += e / actual.abs().max(MAPE_EPS);
                self.regressed += 1;
            }
        }
    }

    /// The row of `class`, created if there is room, else the pooled row.
    fn row(&mut self, class: &str) -> usize {
        if let Some(i) = self.classes.iter().position(|r| r.class == class) {
            return i;
        }
        let name = if self.classes.len() < self.max_classes {
            class
        } else {
            self.classes_truncated = true;
            if let Some(i) = self.classes.iter().position(|r| r.class == OTHER) {
                return i;
            }
            OTHER
        };
        self.classes.push(ClassRow {
            class: name.to_string(),
            tp: 0,
            fp: 0,
            fn_: 0,
        });
        self.classes.len() - 1
    }

    /// Pairs offered so far.
    pub fn labelled(&self) -> u64 {
        self.labelled
    }

    /// The window's performance.
    pub fn finish(&self) -> PerformanceReport {
        let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
        let (mut precision, mut recall, mut f1) = (None, None, None);
        if self.tp + self.fp + self.tn + self.fn_ > 0 {
            precision = ratio(self.tp, self.tp + self.fp);
            recall = ratio(self.tp, self.tp + self.fn_);
            f1 = ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_);
        } else if !self.classes.is_empty() {
            let k = self.classes.len() as f64;
            let mean = |f: &dyn Fn(&ClassRow) -> f64| self.classes.iter().map(f).sum::<f64>() / k;
            precision = Some(mean(&|r| ratio(r.tp, r.tp + r.fp).unwrap_or(0.0)));
            recall = Some(mean(&|r| ratio(r.tp, r.tp + r.fn_).unwrap_or(0.0)));
            f1 = Some(mean(&|r| {
                ratio(2 * r.tp, 2 * r.tp + r.fp + r.fn_).unwrap_or(0.0)
            }));
        }
        let labels: Vec<bool> = self.auc_labels.values().iter().map(|&y| y > 0.5).collect();
        let n = self.regressed as f64;
        let reg = |sum: f64| (self.regressed > 0).then(|| sum / n);
        PerformanceReport {
            labelled: self.labelled,
            scored: self.scored,
            accuracy: ratio(self.correct, self.classified),
            precision,
            recall,
            f1,
            roc_auc: roc_auc(self.auc_scores.values(), &labels),
            auc_sample: labels.len() as u64,
            log_loss: (self.loss_n > 0).then(|| self.loss_sum / self.loss_n as f64),
            mae: reg(self.abs_sum),
            rmse: reg(self.sq_sum).map(f64::sqrt),
            mape: reg(self.ape_sum),
            classes: self.classes.len() as u64,
            classes_truncated: self.classes_truncated,
        }
    }

    /// Empties the window for the next one, keeping the allocations and the random stream
    /// (both reservoirs' streams advance alike, so they stay aligned).
    pub fn clear(&mut self) {
        self.auc_scores.clear();
        self.auc_labels.clear();
        self.classes.clear();
        self.classes_truncated = false;
        (self.labelled, self.scored, self.correct, self.classified) = (0, 0, 0, 0);
        (self.tp, self.fp, self.tn, self.fn_) = (0, 0, 0, 0);
        (self.loss_sum, self.loss_n) = (0.0, 0);
        (self.abs_sum, self.sq_sum, self.ape_sum, self.regressed) = (0.0, 0.0, 0.0, 0);
    }
}
