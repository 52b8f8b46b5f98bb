#!/usr/bin/env bash
# Replay throughput benchmark. Builds release, writes (once) a 1M-record log of 10 models
# with 20 numeric and 5 categorical features, then in the same run measures:
#   1. the parse-only baseline (serde_json IgnoredAny, and vigil's decoder) on that file;
#   2. `vigil replay` with the built-in defaults over the same file, wall time and peak RSS.
# Prints one JSON line. usage: bench/replay.sh [RECORDS] [MODELS]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
models=${2:-10}
out=bench/out
mkdir -p "$out"
cargo build --release --quiet --bin vigil --example gen_stream --example parse_only
stream="$out/stream-$records-$models.jsonl"
[ -s "$stream" ] || target/release/examples/gen_stream "$records" "$models" > "$stream"
cat "$stream" > /dev/null  # warm the page cache for both runs

parse=$(target/release/examples/parse_only "$stream")
/usr/bin/time -f '%e %M' -o "$out/time.txt" target/release/vigil replay --input "$stream" \
  --alerts-out "$out/alerts.jsonl" --commands-out "$out/commands.jsonl" \
  --scores-out "$out/scores.jsonl" 2> "$out/replay.stderr"
read -r secs rss_kib < "$out/time.txt"
python3 - "$records" "$secs" "$rss_kib" "$parse" "$(wc -c < "$stream")" <<'PY'
import json, sys
records, secs, rss, parse, size = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), int(sys.argv[5])
print(json.dumps({
    "records": records,
    "bytes": size,
    "replay_seconds": secs,
    "replay_records_per_s": round(records / secs),
    "replay_peak_rss_mib": round(rss / 1024, 1),
    "parse_ignored_any_records_per_s": parse["ignored_any_records_per_s"],
    "parse_vigil_decode_records_per_s": parse["decode_records_per_s"],
}))
PY
