#!/usr/bin/env python3
"""Re-combines the per-detector ratios of `nab_direct --raw` into the `anomaly` score, as
`MetricScorer::score` combines them (src/detect/metric/mod.rs), optionally with other
combination settings, and scores the result with NAB's scorer on the whole corpus and on
its even- and odd-indexed halves (the keys of combined_windows.json in sorted order; each
half scored with its own windows and threshold). For exploring the combination layer in
seconds instead of a release build per variant; the detectors themselves are not re-run.

    cargo run --release --example nab_direct -- ../shared/benchmarks/nab/data /tmp/nab --raw
    python3 scripts/nab_recombine.py /tmp/nab --check          # mirror == shipped column?
    python3 scripts/nab_recombine.py /tmp/nab '{"w": [1, 0.9, 1, 1, 1, 1]}'

Settings (JSON object, every key optional): `w`, six weights on the ratios (robust, EWMA
sample, EWMA chart, seasonal, pattern, novelty; default 1), and `level`, `keep`,
`refractory`, `factor`, `threshold` (the shipped `sustained_level` 0.7,
`sustained_retention` 0.9, `refractory` 100, `refractory_factor` 0.5, `alert_threshold`
0.9). Standard library only.

usage: nab_recombine.py RESULTS_DIR [--check | SETTINGS_JSON] [NAB_DIR]
"""
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile


def ratio_score(r):
    if r != r or r <= 0:
        return 0.0
    return min(max(1 - 10 ** (-(r ** 4)), 0.0), 1.0)


def combine(ratios, w=(1,) * 6, level=0.7, keep=0.9, refractory=100, factor=0.5,
            threshold=0.9):
    out, sustained, left = [], 0.0, 0
    for r in ratios:
        r = [a * b for a, b in zip(r, w)]
        top = max(r + [0.0])
        point = max(r[:4] + [0.0])  # robust, EWMA sample, EWMA chart, seasonal
        sustained = keep * sustained + max(point - level, 0.0)
        a = ratio_score(max(top, sustained))
        if left > 0:
            left -= 1
            a *= factor
        elif a >= threshold:
            left = refractory
        out.append(a)
    return out


def load(res):
    data = {}
    for path in sorted(glob.glob(os.path.join(res, "*", "vigil_*.csv"))):
        rows = list(csv.DictReader(open(path)))
        if rows and "raw_r0" not in rows[0]:
            sys.exit(f"{path}: no raw_r0..raw_r5 columns (run nab_direct with --raw)")
        key = os.path.basename(os.path.dirname(path)) + "/" + os.path.basename(path)[6:]
        data[key] = dict(
            rows=[(r["timestamp"], r["value"]) for r in rows],
            ratios=[[float(r[f"raw_r{j}"]) for j in range(6)] for r in rows],
            anomaly=[float(r["anomaly_score"]) for r in rows])
    if not data:
        sys.exit(f"no results under {res}")
    return data


def score(nab, res, windows):
    out = subprocess.run([sys.executable, os.path.join(nab, "nab_score.py"), res, windows,
                          "--detector", "vigil"], capture_output=True, text=True,
                         check=True).stdout
    return [float(l.split("normalized=")[1].split()[0])
            for l in out.splitlines() if "normalized=" in l]


def main():
    res = sys.argv[1]
    arg = sys.argv[2] if len(sys.argv) > 2 else "{}"
    nab = sys.argv[3] if len(sys.argv) > 3 else os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "benchmarks", "nab")
    data = load(res)
    if arg == "--check":
        bad = sum(abs(x - y) > 1e-8 for d in data.values()
                  for x, y in zip(combine(d["ratios"]), d["anomaly"]))
        rows = sum(len(d["anomaly"]) for d in data.values())
        print(f"{bad} of {rows} rows differ from the shipped anomaly column")
        sys.exit(1 if bad else 0)
    settings = json.loads(arg)
    if "w" in settings:
        settings["w"] = tuple(settings["w"])
    with tempfile.TemporaryDirectory() as tmp:
        for key, d in data.items():
            cat, name = key.split("/")
            os.makedirs(os.path.join(tmp, cat), exist_ok=True)
            with open(os.path.join(tmp, cat, f"vigil_{name}"), "w") as f:
                f.write("timestamp,value,anomaly_score\n")
                for (t, v), a in zip(d["rows"], combine(d["ratios"], **settings)):
                    f.write(f"{t},{v},{a:.9f}\n")
        windows = json.load(open(os.path.join(nab, "combined_windows.json")))
        keys = sorted(windows)
        halves = []
        for part in (keys[0::2], keys[1::2]):
            p = os.path.join(tmp, f"half{len(halves)}.json")
            json.dump({k: windows[k] for k in part}, open(p, "w"))
            halves.append(score(nab, tmp, p)[0])
        full = score(nab, tmp, os.path.join(nab, "combined_windows.json"))
    print(json.dumps({"settings": settings, "standard": full[0], "low_fp": full[1],
                      "low_fn": full[2], "standard_even_half": halves[0],
                      "standard_odd_half": halves[1]}))


if __name__ == "__main__":
    main()
