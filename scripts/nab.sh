#!/usr/bin/env bash
# Scores vigil's default serving-metric detectors on the Numenta Anomaly Benchmark through
# `vigil replay`, and prints NAB's standard, low-FP and low-FN scores (BENCHMARKS.md).
#
# usage: scripts/nab.sh OUT_DIR        (NAB_DIR defaults to ../shared/benchmarks/nab)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/nab.sh OUT_DIR}
nab=${NAB_DIR:-../shared/benchmarks/nab}
cargo build --release --quiet --bin vigil
python3 scripts/nab.py "${CARGO_TARGET_DIR:-$PWD/target}/release/vigil" "$nab" "$out"
