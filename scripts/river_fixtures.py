#!/usr/bin/env python3
"""Reference change points for vigil's online change detectors (src/detect/online/).

Generates seeded streams (Gaussian mean and variance changes, a gradual drift, a stream with
two changes and one with many, stationary streams, Bernoulli error streams whose rate jumps
or stays put) and runs River's detectors over them with River's defaults and a few other
settings:

    river.drift.ADWIN, river.drift.PageHinkley, river.drift.binary.DDM, river.drift.binary.EDDM

River has no CUSUM, so this script carries a small reference implementation of the two-sided
tabular CUSUM (`TabularCusum` below, after Montgomery, "Introduction to Statistical Quality
Control", section 9.1) and runs it the same way.

For every (stream, detector) pair it records each 0-based observation index at which
`drift_detected` is true, with the detector's statistic and its before/after mean estimates
where River exposes enough to compute them. Writes testdata/fixtures/river.json, which
tests/integration/reference_online.rs reads: vigil must report exactly the same indices.

Streams are stored rounded to 6 decimals (binary streams as 0/1) and the detectors run on the
stored, rounded values. The recorded statistics and means are written as strings (Python's
shortest round-trip repr): the tests compare them bit for bit, and serde_json's default
float parser can be one unit in the last place off on 16 and 17 digit numbers, while Rust's
`str::parse` is exact. The detector settings are written in the form vigil's
`ChangeDetectorConfig` deserialises (`{"kind": "adwin", ...}`), every field spelled out.

Regenerate (from the repository root):
    python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements.txt
    .venv/bin/python scripts/river_fixtures.py
"""
import json
import math
import os

import numpy as np
import river
from river import drift

OUT = os.path.join(os.path.dirname(__file__), "..", "testdata", "fixtures", "river.json")
rng = np.random.default_rng(20261202)


def r6(x):
    return [round(float(v), 6) for v in x]


# ----------------------------------------------------------------------------------------
# Streams


def numeric_streams():
    out = []

    def add(name, values):
        out.append({"name": name, "kind": "numeric", "values": r6(values)})

    add("gauss_mean_shift", np.concatenate([rng.normal(0, 1, 2500), rng.normal(1, 1, 2500)]))
    add("gauss_small_shift", np.concatenate([rng.normal(0, 1, 3000), rng.normal(0.3, 1, 3000)]))
    add("variance_change", np.concatenate([rng.normal(0, 1, 2500), rng.normal(0, 3, 2500)]))
    ramp = np.concatenate([np.zeros(2000), np.linspace(0, 2, 2000), np.full(1000, 2.0)])
    add("gradual_drift", ramp + rng.normal(0, 1, 5000))
    add("two_changes", np.concatenate([
        rng.normal(0, 1, 2000), rng.normal(1.5, 1, 2000), rng.normal(-0.5, 1, 2000)]))
    means = rng.integers(-2, 3, 10)
    add("many_changes", np.concatenate([rng.normal(m, 1, 500) for m in means]))
    for i in range(3):
        add(f"stationary_gauss_{i}", rng.normal(0, 1, 5000))
    add("stationary_uniform", rng.uniform(0, 1, 5000))
    add("stationary_lognormal", rng.lognormal(0, 0.5, 5000))
    add("stationary_scaled", rng.normal(100, 5, 5000))
    # Frequent changes of mean and spread, to exercise the resets.
    lengths = rng.integers(150, 400, 30)
    add("regime_switches", np.concatenate([
        rng.normal(rng.normal(0, 2), rng.choice([0.5, 1.0, 2.0]), n) for n in lengths]))
    return out


def binary_streams():
    out = []

    def add(name, segments):
        bits = np.concatenate([rng.random(n) < p for p, n in segments]).astype(int)
        out.append({"name": name, "kind": "binary", "values": [int(b) for b in bits]})

    add("bernoulli_jump_a", [(0.1, 2500), (0.3, 2500)])
    add("bernoulli_jump_b", [(0.2, 1500), (0.5, 2500)])
    add("bernoulli_jump_c", [(0.02, 3000), (0.1, 3000)])
    add("bernoulli_two_jumps", [(0.1, 2000), (0.4, 2000), (0.1, 2000)])
    add("bernoulli_regimes", [(p, 400) for p in rng.uniform(0.02, 0.5, 20)])
    add("bernoulli_stationary_a", [(0.05, 5000)])
    add("bernoulli_stationary_b", [(0.3, 5000)])
    return out


# ----------------------------------------------------------------------------------------
# Reference CUSUM (River has none)


class TabularCusum:
    """Two-sided tabular CUSUM on a standardised stream, with re-estimation after a signal.

    Montgomery, Introduction to Statistical Quality Control (6th ed.), section 9.1.2:

        C+_i = max(0, x_i - (mu0 + K) + C+_{i-1}),   C-_i = max(0, (mu0 - K) - x_i + C-_{i-1})

    with K = k * sigma and H = h * sigma. Here x is standardised first, z = (x - mu0) / sigma,
    so that C+ = max(0, C+ + z - k) and C- = max(0, C- - z - k), signalling when either
    exceeds h (both in units of sigma). mu0 and sigma are estimated from the first `warm_up`
    observations (mean; sample standard deviation, divisor n - 1, two-pass). A warm-up with
    zero spread is discarded and collected again. No signal is raised during a warm-up.

    On a signal the new process mean is estimated as in Montgomery's eq. (9.3):
    mu0 + sigma * (k + C+ / N+) upwards, mu0 - sigma * (k + C- / N-) downwards, where N is the
    number of consecutive observations for which that side's sum has been non-zero. Then the
    detector starts over with a new warm-up (the process is assumed to have settled on a new
    level). The arithmetic order below is the one vigil uses, so that results agree exactly.
    """

    def __init__(self, k=0.5, h=5.0, warm_up=30):
        self.k, self.h, self.warm_up = k, h, warm_up
        self._reset()

    def _reset(self):
        self.buf = []
        self.mu0 = self.sigma = None
        self.cp = self.cm = 0.0
        self.np = self.nm = 0

    def update(self, x):
        """Returns None, or (statistic, mean_before, mean_after) on a signal."""
        if self.mu0 is None:
            self.buf.append(x)
            if len(self.buf) == self.warm_up:
                total = 0.0
                for v in self.buf:
                    total += v
                mean = total / len(self.buf)
                ss = 0.0
                for v in self.buf:
                    ss += (v - mean) * (v - mean)
                sd = math.sqrt(ss / (len(self.buf) - 1))
                self.buf = []
                if sd > 0.0 and math.isfinite(sd):
                    self.mu0, self.sigma = mean, sd
            return None
        z = (x - self.mu0) / self.sigma
        self.cp = max(0.0, self.cp + z - self.k)
        self.cm = max(0.0, self.cm - z - self.k)
        self.np = self.np + 1 if self.cp > 0.0 else 0
        self.nm = self.nm + 1 if self.cm > 0.0 else 0
        up, down = self.cp > self.h, self.cm > self.h
        if not (up or down):
            return None
        if up and (not down or self.cp >= self.cm):
            stat = self.cp
            after = self.mu0 + self.sigma * (self.k + self.cp / self.np)
        else:
            stat = self.cm
            after = self.mu0 - self.sigma * (self.k + self.cm / self.nm)
        out = (stat, self.mu0, after)
        self._reset()
        return out


# ----------------------------------------------------------------------------------------
# Running the detectors


def run_adwin(cfg, values):
    det = drift.ADWIN(**{k: v for k, v in cfg.items() if k != "kind"})
    found = []
    for i, x in enumerate(values):
        # River resets a detector that fired at the start of the next update; the window
        # before this update is empty then.
        fired_before = det.drift_detected
        w_prev, t_prev = (0.0, 0.0) if fired_before else (det.width, det.total)
        det.update(x)
        if det.drift_detected:
            w, t = det.width, det.total
            dropped_n = w_prev + 1 - w
            found.append({
                "index": i,
                "mean_before": (t_prev + x - t) / dropped_n,
                "mean_after": t / w,
            })
    return found


def run_page_hinkley(cfg, values):
    det = drift.PageHinkley(**{k: v for k, v in cfg.items() if k != "kind"})
    found = []
    for i, x in enumerate(values):
        det.update(x)
        if det.drift_detected:
            inc = det._sum_increase - det._min_increase
            dec = det._max_decrease - det._sum_decrease
            tests = {"up": [inc], "down": [dec], "both": [inc, dec]}[det.mode]
            found.append({"index": i, "statistic": max(t for t in tests if t > det.threshold)})
    return found


def run_ddm(cfg, values):
    det = drift.binary.DDM(**{k: v for k, v in cfg.items() if k != "kind"})
    found = []
    for i, x in enumerate(values):
        det.update(x)
        if det.drift_detected:
            p = det._p.get()
            s = math.sqrt(p * (1 - p) / det._p.n)
            found.append({"index": i, "statistic": p + s, "mean_before": det._p_min})
    return found


def run_eddm(cfg, values):
    det = drift.binary.EDDM(**{k: v for k, v in cfg.items() if k != "kind"})
    found = []
    for i, x in enumerate(values):
        det.update(x)
        if det.drift_detected:
            d = det._error_distances
            level = (d.mean.get() + 2 * d.get() ** 0.5) / det._p2s_prime_max
            found.append({"index": i, "statistic": level})
    return found


def run_cusum(cfg, values):
    det = TabularCusum(cfg["k"], cfg["h"], cfg["warm_up"])
    found = []
    for i, x in enumerate(values):
        res = det.update(x)
        if res is not None:
            stat, before, after = res
            found.append({"index": i, "statistic": stat, "mean_before": before,
                          "mean_after": after})
    return found


ADWIN = {"kind": "adwin", "delta": 0.002, "clock": 32, "max_buckets": 5,
         "min_window_length": 5, "grace_period": 10}
PAGE_HINKLEY = {"kind": "page_hinkley", "min_instances": 30, "delta": 0.005,
                "threshold": 50.0, "alpha": 1 - 0.0001, "mode": "both"}
CUSUM = {"kind": "cusum", "k": 0.5, "h": 5.0, "warm_up": 30}
DDM = {"kind": "ddm", "warm_start": 30, "warning_threshold": 2.0, "drift_threshold": 3.0}
EDDM = {"kind": "eddm", "warm_start": 30, "alpha": 0.95, "beta": 0.9}

# (config, runner, applies to binary streams only). The first of each kind is River's
# default (vigil's Default); the others exercise other code paths.
DETECTORS = [
    (ADWIN, run_adwin, False),
    ({**ADWIN, "delta": 0.01, "clock": 1, "max_buckets": 3, "min_window_length": 10,
      "grace_period": 20}, run_adwin, False),
    (PAGE_HINKLEY, run_page_hinkley, False),
    ({**PAGE_HINKLEY, "threshold": 20.0, "mode": "up"}, run_page_hinkley, False),
    ({**PAGE_HINKLEY, "min_instances": 10, "delta": 0.05, "threshold": 20.0, "alpha": 0.999,
      "mode": "down"}, run_page_hinkley, False),
    (CUSUM, run_cusum, False),
    ({**CUSUM, "k": 0.25, "h": 8.0, "warm_up": 100}, run_cusum, False),
    (DDM, run_ddm, True),
    ({**DDM, "warm_start": 50, "warning_threshold": 1.5, "drift_threshold": 2.5}, run_ddm, True),
    (EDDM, run_eddm, True),
    ({**EDDM, "alpha": 0.8, "beta": 0.75}, run_eddm, True),
]


def exact(detections):
    """Floats as their shortest round-trip strings, for exact parsing in Rust."""
    return [{k: (v if isinstance(v, int) else repr(float(v))) for k, v in d.items()}
            for d in detections]


def main():
    streams = numeric_streams() + binary_streams()
    runs = []
    for s in streams:
        for cfg, runner, binary_only in DETECTORS:
            if binary_only and s["kind"] != "binary":
                continue
            runs.append({"stream": s["name"], "detector": cfg,
                         "detections": exact(runner(cfg, s["values"]))})
    out = {
        "generator": "scripts/river_fixtures.py",
        "river_version": river.__version__,
        "streams": streams,
        "runs": runs,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    n_det = sum(len(r["detections"]) for r in runs)
    print(f"wrote {OUT}: {len(streams)} streams, {len(runs)} runs, {n_det} detections")
    for r in runs:
        kind = r["detector"]["kind"]
        print(f"  {r['stream']:24s} {kind:13s} {[d['index'] for d in r['detections']][:12]}"
              f"{' ...' if len(r['detections']) > 12 else ''} ({len(r['detections'])})")


if __name__ == "__main__":
    main()
