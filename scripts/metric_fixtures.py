#!/usr/bin/env python3
"""Reference values for vigil's metric detectors (src/detect/metric), by numpy and scipy.

Writes testdata/fixtures/metric.json, which the unit tests in src/detect/metric/mod.rs read:

- rolling median and MAD: `numpy.median` and `scipy.stats.median_abs_deviation` (unscaled)
  of the last `window` values, at every position, on a series with ties, a constant stretch
  and outliers;
- EWMA baseline: the mean and variance that the recursion in src/detect/metric/ewma.rs
  defines, computed here in closed form as weighted sums. Sample t (1-based) enters with
  weight a_t = max(alpha, 1/t); its weight after sample T is a_t * prod_{t<j<=T} (1 - a_j).
  The mean is the weighted sum of the samples and the variance the weighted sum of squared
  deviations from that mean (the weights sum to one). Also the EWMA chart statistic
  (x_t smoothed with lambda, minus the mean before x_t, over sigma * sqrt(lambda/(2-lambda))).

Inputs are generated here (seeded) and stored rounded to 6 decimals; the reference values
are computed on the stored inputs.

Regenerate (from the repository root):
    python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements.txt
    .venv/bin/python scripts/metric_fixtures.py
"""
import json
import os

import numpy as np
import scipy.stats as st

OUT = os.path.join(os.path.dirname(__file__), "..", "testdata", "fixtures", "metric.json")
rng = np.random.default_rng(20261202)


def r6(x):
    return [round(float(v), 6) for v in x]


def series():
    x = rng.normal(50.0, 4.0, 400)
    x[60:120] = 42.0                      # a constant stretch: MAD 0 inside the window
    x[200:260] = np.round(x[200:260])     # ties
    x[[150, 151, 300, 333]] += [40.0, -35.0, 80.0, 25.0]  # outliers
    return r6(x)


def rolling(x, window):
    med, mad = [], []
    for i in range(len(x)):
        w = np.asarray(x[max(0, i - window + 1):i + 1])
        med.append(float(np.median(w)))
        mad.append(float(st.median_abs_deviation(w)))
    return med, mad


def ewma(x, alpha, lam):
    x = np.asarray(x)
    n = len(x)
    a = np.maximum(alpha, 1.0 / np.arange(1, n + 1))
    a[0] = 1.0
    means, variances, chart = [], [], []
    smooth = x[0]
    for T in range(1, n + 1):
        # Weights of samples 1..T after sample T.
        tail = np.r_[np.cumprod((1 - a[1:T])[::-1])[::-1], 1.0]
        w = a[:T] * tail
        m = float(np.dot(w, x[:T]))
        v = float(np.dot(w, (x[:T] - m) ** 2))
        means.append(m)
        variances.append(v)
    # Chart statistic of sample t (0-based, t >= 1) against the baseline after t-1 samples.
    for t in range(1, n):
        smooth = lam * x[t] + (1 - lam) * smooth
        sd = np.sqrt(variances[t - 1])
        chart.append(float((smooth - means[t - 1]) / (sd * np.sqrt(lam / (2 - lam)))) if sd > 0 else None)
    return means, variances, chart


def main():
    x = series()
    window = 50
    med, mad = rolling(x, window)
    alpha, lam = 0.05, 0.25
    means, variances, chart = ewma(x, alpha, lam)
    out = {
        "generator": "scripts/metric_fixtures.py",
        "numpy": np.__version__,
        "rolling": {"x": x, "window": window, "median": med, "mad": mad},
        "ewma": {"x": x, "alpha": alpha, "lambda": lam, "mean": means, "var": variances, "chart_z": chart},
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
