#!/usr/bin/env python3
"""Reference values for vigil's performance metrics, computed by scikit-learn and numpy.

Writes testdata/fixtures/performance.json, which tests/integration/reference_performance.rs reads:
vigil's accuracy, precision, recall, F1, ROC AUC, log loss, MAE, RMSE and MAPE
(src/detect/perf) must reproduce scikit-learn's to 1e-6 relative, and its confidence-based
estimate (CBPE) the numpy computation below. Inputs are generated here (seeded) and stored
rounded to 6 decimals; the reference values are computed on the stored, rounded inputs.

Conventions, as vigil's:
- binary: precision, recall and F1 of the positive class, `None` (null) where scikit-learn
  would divide by zero (`zero_division=np.nan`); log loss and AUC from the probability of the
  positive class;
- multiclass: macro averages over the classes present in labels or predictions, with
  `zero_division=0` (scikit-learn's default value, without its warning);
- MAPE as a fraction, with scikit-learn's epsilon for zero labels.

Regenerate (from the repository root):
    python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements.txt
    .venv/bin/python scripts/perf_fixtures.py
"""
import json
import math
import os

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    precision_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

OUT = os.path.join(os.path.dirname(__file__), "..", "testdata", "fixtures", "performance.json")
rng = np.random.default_rng(20261215)


def r6(x):
    return [round(float(v), 6) for v in x]


def num(x):
    """A finite float, or None for NaN (undefined)."""
    x = float(x)
    return None if math.isnan(x) else x


def cbpe(p_pos, pred_pos):
    """Expected confusion matrix of calibrated probabilities (NannyML's CBPE)."""
    p = np.asarray(p_pos, dtype=float)
    pred = np.asarray(pred_pos, dtype=bool)
    tp = np.sum(np.where(pred, p, 0.0))
    fp = np.sum(np.where(pred, 1.0 - p, 0.0))
    fn = np.sum(np.where(pred, 0.0, p))
    ratio = lambda a, b: None if b == 0 else float(a / b)
    return {
        "accuracy": float(np.mean(np.where(pred, p, 1.0 - p))),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
    }


def binary_case(name, y_true, score, y_pred, positive, score_meaning="positive_class"):
    """y_true: labels; score: as logged; y_pred: predicted labels (strings)."""
    score = r6(score)
    yt = np.array([str(v) == positive for v in y_true])
    yp = np.array([v == positive for v in y_pred])
    if score_meaning == "positive_class":
        p_pos = np.array(score)
    else:  # the score is the probability of the predicted label
        p_pos = np.where(yp, score, 1.0 - np.array(score))
    nan = dict(zero_division=np.nan)
    expected = {
        "accuracy": float(accuracy_score(yt, yp)),
        "precision": num(precision_score(yt, yp, **nan)),
        "recall": num(recall_score(yt, yp, **nan)),
        "f1": num(f1_score(yt, yp, **nan)),
        "roc_auc": float(roc_auc_score(yt, p_pos)) if 0 < yt.sum() < len(yt) else None,
        "log_loss": float(log_loss(yt, p_pos, labels=[False, True])),
    }
    return {
        "name": name,
        "task": "binary",
        "positive_class": positive,
        "score_meaning": score_meaning,
        "y_true": list(y_true),
        "score": score,
        "y_pred": list(y_pred),
        "expected": expected,
        "cbpe": cbpe(p_pos, yp),
    }


def binary_cases():
    cases = []
    # Calibrated, balanced: y ~ Bernoulli(p).
    p = rng.beta(2, 2, 1000)
    y = (rng.random(1000) < p).astype(int)
    s = r6(p)
    cases.append(binary_case("binary_balanced", [int(v) for v in y], s,
                             ["1" if v >= 0.5 else "0" for v in s], "1"))
    # Calibrated, imbalanced (about 4% positives).
    p = rng.beta(0.4, 9, 3000)
    y = (rng.random(3000) < p).astype(int)
    s = r6(p)
    cases.append(binary_case("binary_imbalanced", [int(v) for v in y], s,
                             ["1" if v >= 0.5 else "0" for v in s], "1"))
    # Perfectly separable: AUC 1.
    y = rng.integers(0, 2, 200)
    s = np.where(y == 1, rng.uniform(0.6, 1.0, 200), rng.uniform(0.0, 0.4, 200))
    cases.append(binary_case("binary_separable", [int(v) for v in y], s,
                             ["1" if v >= 0.5 else "0" for v in r6(s)], "1"))
    # Heavy ties: scores on a 0.1 grid.
    p = rng.uniform(0, 1, 500)
    y = (rng.random(500) < p).astype(int)
    s = np.round(p, 1)
    cases.append(binary_case("binary_ties", [int(v) for v in y], s,
                             ["1" if v >= 0.5 else "0" for v in r6(s)], "1"))
    # Probabilities of exactly 0 and 1, some of them wrong: log loss clips.
    y = rng.integers(0, 2, 60)
    s = rng.choice([0.0, 1.0, 0.3, 0.7], 60)
    cases.append(binary_case("binary_extremes", [int(v) for v in y], s,
                             ["1" if v >= 0.5 else "0" for v in s], "1"))
    # String classes with a configured positive class and a 0.3 decision threshold.
    p = rng.beta(1, 3, 800)
    y = np.where(rng.random(800) < p, "fraud", "legit")
    s = r6(p)
    cases.append(binary_case("binary_strings_threshold", [str(v) for v in y], s,
                             ["fraud" if v >= 0.3 else "legit" for v in s], "fraud"))
    # Boolean labels, score = probability of the predicted label (decode's `probs` rule).
    p = rng.beta(2, 5, 600)
    y = np.where(rng.random(600) < p, "true", "false")
    pred = np.where(p >= 0.5, "true", "false")
    s = np.where(p >= 0.5, p, 1.0 - p)
    cases.append(binary_case("binary_predicted_label_score", [str(v) for v in y], s,
                             [str(v) for v in pred], "true", "predicted_label"))
    # No positive predictions: precision undefined.
    y = rng.integers(0, 2, 100)
    s = rng.uniform(0.0, 0.45, 100)
    cases.append(binary_case("binary_no_positive_predictions", [int(v) for v in y], s,
                             ["0"] * 100, "1"))
    return cases


def multiclass_cases():
    cases = []
    # Four classes named by index, with probabilities: log loss too.
    k, n = 4, 1200
    probs = rng.dirichlet([2.0, 1.0, 0.5, 0.2], n)
    probs = np.round(probs, 6)
    # Rows sum to 1 again after rounding: the largest entry takes up the remainder.
    top = probs.argmax(axis=1)
    rows = np.arange(n)
    probs[rows, top] = 0.0
    probs[rows, top] = np.round(1.0 - probs.sum(axis=1), 6)
    y = np.array([rng.choice(k, p=row / row.sum()) for row in probs])
    pred = probs.argmax(axis=1)
    yt, yp = [str(v) for v in y], [str(v) for v in pred]
    zero = dict(average="macro", zero_division=0)
    cases.append({
        "name": "multiclass_probs",
        "task": "multiclass",
        "y_true": yt,
        "y_pred": yp,
        "probs": [r6(row) for row in probs],
        "expected": {
            "accuracy": float(accuracy_score(yt, yp)),
            "precision": float(precision_score(yt, yp, **zero)),
            "recall": float(recall_score(yt, yp, **zero)),
            "f1": float(f1_score(yt, yp, **zero)),
            "log_loss": float(log_loss(y, probs, labels=list(range(k)))),
        },
    })
    # String classes; one never predicted, one predicted but never true.
    n = 700
    yt = list(rng.choice(["cat", "dog", "bird", "fish"], n, p=[0.4, 0.3, 0.2, 0.1]))
    yp = []
    for t in yt:
        u = rng.random()
        if t == "fish":
            yp.append(str(rng.choice(["cat", "dog"])))
        elif u < 0.7:
            yp.append(str(t))
        elif u < 0.9:
            yp.append(str(rng.choice(["cat", "dog", "bird"])))
        else:
            yp.append("ant")
    yt = [str(v) for v in yt]
    cases.append({
        "name": "multiclass_missing_classes",
        "task": "multiclass",
        "y_true": yt,
        "y_pred": yp,
        "expected": {
            "accuracy": float(accuracy_score(yt, yp)),
            "precision": float(precision_score(yt, yp, **zero)),
            "recall": float(recall_score(yt, yp, **zero)),
            "f1": float(f1_score(yt, yp, **zero)),
        },
    })
    return cases


def regression_case(name, y_true, y_pred):
    y_true, y_pred = r6(y_true), r6(y_pred)
    return {
        "name": name,
        "task": "regression",
        "y_true": y_true,
        "score": y_pred,
        "expected": {
            "mae": float(mean_absolute_error(y_true, y_pred)),
            "rmse": float(root_mean_squared_error(y_true, y_pred)),
            "mape": float(mean_absolute_percentage_error(y_true, y_pred)),
        },
    }


def regression_cases():
    y = rng.normal(50, 10, 1000)
    cases = [regression_case("regression", y, y + rng.normal(0.5, 3, 1000))]
    # Zeros among the labels: sklearn divides by eps there.
    y = np.round(rng.exponential(2.0, 300), 1)
    y[::10] = 0.0
    pred = np.where(rng.random(300) < 0.5, y, y + rng.normal(0, 0.5, 300))
    pred[::20] = 0.0  # some zero labels predicted exactly
    cases.append(regression_case("regression_zeros", y, pred))
    return cases


def main():
    out = {
        "generated_by": "scripts/perf_fixtures.py",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "cases": binary_cases() + multiclass_cases() + regression_cases(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(out['cases'])} cases")


if __name__ == "__main__":
    main()
