#!/usr/bin/env python3
"""Where vigil's NAB points go: per category, the windows found and missed, the reward
earned, and the false-positive rows and their cost, each row attributed to the detector
whose ratio was on top (or `sustained` when the sustained evidence decided it).

Input: the results of `nab_direct --raw` (which adds the per-detector ratios raw_r0..raw_r5
and the `sustained` score), e.g.

    cargo run --release --example nab_direct -- ../shared/benchmarks/nab/data /tmp/nab --raw
    python3 scripts/nab_breakdown.py /tmp/nab

The threshold is the standard profile's, as NAB's scorer picks it (run here), and the
sums use the scorer's rules (nab_score.py): probation, earliest detection per window,
scaled-sigmoid reward and false-positive weight. Standard library only.

usage: nab_breakdown.py RESULTS_DIR [NAB_DIR]    (NAB_DIR defaults to ../shared/benchmarks/nab)
"""
import collections
import csv
import json
import math
import os
import subprocess
import sys

DETECTORS = ["robust", "ewma_point", "ewma_chart", "seasonal", "pattern", "novelty"]
A_FP = 0.11  # standard profile


def sigmoid(y):
    return -1.0 if y > 3 else 2 / (1 + math.exp(5 * y)) - 1


def ratio_score(r):
    return 0.0 if r <= 0 else 1 - 10 ** (-(r ** 4))


def main():
    res = sys.argv[1]
    nab = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "benchmarks", "nab")
    windows_path = os.path.join(nab, "combined_windows.json")
    out = subprocess.run(
        [sys.executable, os.path.join(nab, "nab_score.py"), res, windows_path,
         "--detector", "vigil"], capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if "standard" in l and "threshold=" in l)
    thr = float(line.split("threshold=")[1].split()[0])
    windows = json.load(open(windows_path))
    rows_by = collections.defaultdict(lambda: collections.Counter())
    fp_by_detector = collections.defaultdict(collections.Counter)
    tp_by_detector = collections.defaultdict(collections.Counter)
    for key, ws in sorted(windows.items()):
        cat, name = key.split("/")
        rows = list(csv.DictReader(open(os.path.join(res, cat, f"vigil_{name}"))))
        n = len(rows)
        probation = min(int(0.15 * n), 750)
        index = {r["timestamp"].split(".")[0]: i for i, r in enumerate(rows)}
        spans = [(index[a.split(".")[0]], index[b.split(".")[0]]) for a, b in ws]
        label = [None] * n
        for k, (lo, hi) in enumerate(spans):
            for i in range(lo, hi + 1):
                label[i] = k
        found = [None] * len(spans)
        c = rows_by[cat]
        c["windows"] += len(spans)
        for i in range(probation, n):
            if float(rows[i]["anomaly_score"]) < thr:
                continue
            ratios = [float(rows[i][f"raw_r{j}"]) for j in range(6)]
            top = max(ratios)
            who = (DETECTORS[ratios.index(top)]
                   if ratio_score(top) >= float(rows[i]["sustained"]) - 1e-12 else "sustained")
            k = label[i]
            if k is not None:
                if found[k] is None:
                    found[k] = i
                    tp_by_detector[cat][who] += 1
                continue
            before = [s for s in spans if s[1] < i]
            if before:
                lo, hi = before[-1]
                cost = A_FP * sigmoid(abs(hi - i) / (hi - lo))
            else:
                cost = -A_FP
            c["fp_rows"] += 1
            c["fp_cost"] += cost
            fp_by_detector[cat][who] += 1
        for k, (lo, hi) in enumerate(spans):
            if found[k] is None:
                c["missed"] += 1
            else:
                c["reward"] += sigmoid(-(hi - found[k] + 1) / (hi - lo + 1)) / sigmoid(-1)
    print(f"standard-profile threshold {thr}")
    print(f"{'category':24} {'windows':>7} {'missed':>6} {'reward':>7} {'fp rows':>7} {'fp cost':>8}")
    total = collections.Counter()
    for cat in sorted(rows_by):
        c = rows_by[cat]
        total.update(c)
        print(f"{cat:24} {c['windows']:7d} {c['missed']:6d} {c['reward']:7.2f} "
              f"{c['fp_rows']:7d} {c['fp_cost']:8.2f}")
    raw = total["reward"] - total["missed"] + total["fp_cost"]
    print(f"{'all':24} {total['windows']:7d} {total['missed']:6d} {total['reward']:7.2f} "
          f"{total['fp_rows']:7d} {total['fp_cost']:8.2f}   raw {raw:.2f}, normalised "
          f"{100 * (raw + total['windows']) / (2 * total['windows']):.2f}")
    print("\nrows above the threshold by the detector on top (false positives | first in window):")
    for cat in sorted(rows_by):
        print(f"  {cat:24} FP {dict(fp_by_detector[cat].most_common())} | "
              f"TP {dict(tp_by_detector[cat].most_common())}")


if __name__ == "__main__":
    main()
