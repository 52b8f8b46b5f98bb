#!/usr/bin/env bash
# Checks that the fast decoder's differential tests can fail: plants one bug at a time in
# src/source/decode/fast.rs, runs `decode::fast::tests`, restores the file, and prints for
# each bug whether the tests caught it. Needs a clean fast.rs (it is restored from a copy).
#
# Expected (checked when this was written): `recip` and `negzero` are caught; `sixteen` and
# `leadzero` survive because they are equivalent to the original code, not bugs (a 16-digit
# integer is still rounded once, as serde_json does; after `01` the object reader meets `1`
# where it wants `,` or `}` and refuses, so serde_json words the error either way).
#
# usage: scripts/plant-decoder-bugs.sh
set -uo pipefail
cd "$(dirname "$0")/.."
f=src/source/decode/fast.rs
orig=$(mktemp)
cp "$f" "$orig"
trap 'cp "$orig" "$f"; rm -f "$orig"' EXIT
plant() { # name, text to replace, replacement
  cp "$orig" "$f"
  python3 - "$f" "$2" "$3" <<'PY' || { echo "$1: could not plant (text not found)"; return; }
import sys
p, old, new = sys.argv[1:]
s = open(p).read()
if old not in s:
    sys.exit(1)
open(p, "w").write(s.replace(old, new, 1))
PY
  # A bug that does not compile proves nothing about the tests: say so, not "caught".
  if ! cargo test --lib -q --no-run > /dev/null 2>&1; then
    echo "$1: does not compile"
  elif cargo test --lib -q decode::fast::tests > /dev/null 2>&1; then
    echo "$1: survived (the tests passed)"
  else
    echo "$1: caught (the tests failed)"
  fi
}
cargo test --lib -q decode::fast::tests > /dev/null 2>&1 || { echo "the tests fail without a planted bug"; exit 1; }
plant recip 'let x = sig as f64 / POW10[frac];' 'let x = sig as f64 * (1.0 / POW10[frac]);'
plant negzero 'Some(if neg { -x } else { x })' 'Some(if neg && x != 0.0 { -x } else { x })'
plant sixteen 'if digits > 15 {' 'if digits > 16 {'
plant leadzero 'if self.peek().is_some_and(|c| c.is_ascii_digit()) {' 'if false {'
