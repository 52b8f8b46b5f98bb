#!/usr/bin/env python3
"""Runs vigil's default serving-metric detectors over the Numenta Anomaly Benchmark.

For every series of NAB (NAB_DIR/data/<category>/<name>.csv, columns timestamp,value) this
writes the rows as vigil metric records, runs `vigil replay` over them (one process per
series, default config: the metric detectors vigil ships, one parameter set for the whole
corpus, streaming, no look-ahead), and writes NAB's results layout
OUT_DIR/<category>/vigil_<name>.csv with columns timestamp,value,anomaly_score, where
anomaly_score is the combined `anomaly` score of --scores-out. Then it runs NAB's scorer.

usage: nab.py VIGIL_BINARY NAB_DIR OUT_DIR     (scripts/nab.sh builds vigil and calls this)
Standard library only.
"""
import csv
import datetime
import glob
import json
import os
import subprocess
import sys


def to_records(path):
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            ts = datetime.datetime.strptime(r["timestamp"], "%Y-%m-%d %H:%M:%S")
            iso = ts.replace(tzinfo=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            rows.append((r["timestamp"], r["value"], json.dumps({
                "kind": "metric", "ts": iso, "name": "value",
                "labels": {"series": os.path.basename(path)[:-4]}, "value": float(r["value"]),
            })))
    return rows


def main():
    vigil, nab, out = sys.argv[1], sys.argv[2], sys.argv[3]
    files = sorted(glob.glob(os.path.join(nab, "data", "*", "*.csv")))
    assert files, f"no NAB data under {nab}/data"
    for i, path in enumerate(files, 1):
        category = os.path.basename(os.path.dirname(path))
        name = os.path.basename(path)
        rows = to_records(path)
        proc = subprocess.run(
            [vigil, "replay", "--input", "-", "--scores-out", "-",
             "--alerts-out", os.devnull, "--commands-out", os.devnull],
            input="\n".join(r[2] for r in rows) + "\n", capture_output=True, text=True, check=True)
        scores = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
        by_ts = {s["ts"][:19]: s["anomaly"] for s in scores if s.get("kind") == "metric"}
        # A record vigil rejects (after a gap in a series longer than
        # limits.max_timestamp_skew, the first two are held back) has no score: 0.
        rejected = sum(1 for r in rows if json.loads(r[2])["ts"][:19] not in by_ts)
        os.makedirs(os.path.join(out, category), exist_ok=True)
        with open(os.path.join(out, category, f"vigil_{name}"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["timestamp", "value", "anomaly_score"])
            for ts, value, rec in rows:
                a = by_ts.get(json.loads(rec)["ts"][:19], 0.0)
                w.writerow([ts, value, f"{a:.6f}"])
        print(f"[{i}/{len(files)}] {category}/{name}: {len(rows)} rows, {rejected} rejected",
              file=sys.stderr)
    subprocess.run([sys.executable, os.path.join(nab, "nab_score.py"), out,
                    os.path.join(nab, "combined_windows.json"), "--detector", "vigil"], check=True)


if __name__ == "__main__":
    main()
