#!/usr/bin/env bash
# Replay throughput benchmark (BENCHMARKS.md reports its output).
#
# Builds release, writes (once) a log of RECORDS records from MODELS models with 20 numeric
# and 5 categorical features each (model-0 rolls out a regressed v2 halfway), then measures,
# interleaved, REPS times each, in the same run:
#   1. the parse-only baselines on that file: serde_json skipping every value (IgnoredAny,
#      the floor of any JSON pipeline) and vigil's decoder alone;
#   2. `vigil replay` with the built-in defaults over the same file: wall time, peak RSS.
# The machine is shared and noisy, so each figure is the median of REPS runs, and the
# replay/parse ratio, taken within one run, is the number to compare across machines.
# Prints one JSON line.
#
# usage: bench/replay.sh [RECORDS] [MODELS] [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
models=${2:-10}
reps=${3:-3}
out=bench/out
mkdir -p "$out"
cargo build --release --quiet --bin vigil --example gen_stream --example parse_only
stream="$out/stream-$records-$models.jsonl"
[ -s "$stream" ] || target/release/examples/gen_stream "$records" "$models" > "$stream"
cat "$stream" > /dev/null  # warm the page cache

: > "$out/runs.jsonl"
for i in $(seq "$reps"); do
  target/release/examples/parse_only "$stream" >> "$out/runs.jsonl"
  echo >> "$out/runs.jsonl"
  /usr/bin/time -f '{"replay_seconds": %e, "peak_rss_kib": %M}' -o "$out/time.json" \
    target/release/vigil replay --input "$stream" \
    --alerts-out "$out/alerts.jsonl" --commands-out "$out/commands.jsonl" \
    --scores-out "$out/scores.jsonl" 2> "$out/replay.stderr"
  cat "$out/time.json" >> "$out/runs.jsonl"
done
python3 - "$records" "$(wc -c < "$stream")" "$out/runs.jsonl" "$out/commands.jsonl" <<'PY'
import json, statistics, sys
records, size, runs, commands = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = [json.loads(l) for l in open(runs) if l.strip()]
parse = [r for r in rows if "decode_records_per_s" in r]
replay = [r for r in rows if "replay_seconds" in r]
med = statistics.median
secs = med(r["replay_seconds"] for r in replay)
ignored = med(r["ignored_any_records_per_s"] for r in parse)
decode = med(r["decode_records_per_s"] for r in parse)
print(json.dumps({
    "records": records,
    "bytes": size,
    "reps": len(replay),
    "replay_seconds_median": secs,
    "replay_records_per_s": round(records / secs),
    "replay_peak_rss_mib": round(max(r["peak_rss_kib"] for r in replay) / 1024, 1),
    "parse_ignored_any_records_per_s": round(ignored),
    "parse_vigil_decode_records_per_s": round(decode),
    "replay_vs_ignored_any": round(records / secs / ignored, 3),
    "rollback_commands": sum(1 for l in open(commands) if l.strip()),
}))
PY
