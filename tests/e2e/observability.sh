#!/usr/bin/env bash
# End-to-end proof of vigil's observability against the real servers (Debian packages
# prometheus and prometheus-alertmanager, installed when missing):
#
#   1. `vigil demo` runs with its Alertmanager notifier pointed at a real Alertmanager; the
#      expected alert must arrive there with the right labels while firing, and go resolved
#      afterwards (checked through Alertmanager's API);
#   2. a real Prometheus scrapes vigil during the run; afterwards every PromQL expression of
#      every shipped dashboard is evaluated over the run through Prometheus' query API and
#      must return no error and at least one series (except the expressions listed, with
#      the reason, in dashboards/empty-when-healthy.json);
#   3. `promtool check rules` accepts the shipped rules, and `promtool test rules` shows
#      each of them firing on its failure and quiet on a healthy vigil;
#   4. `promtool check metrics` finds nothing to lint in /metrics while alerts fire.
#
# Starts everything on loopback ports of its own, stops it at the end, exits non-zero on any
# failed check. Run from anywhere: bash tests/e2e/observability.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

bash tests/e2e/install-observability.sh

cargo build --locked --quiet --bin vigil
vigil=$root/target/debug/vigil

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
am_port=$(port); prom_port=$(port); vigil_port=$(port)
am=http://127.0.0.1:$am_port
prom=http://127.0.0.1:$prom_port

wait_http() {  # url what: bounded wait for a server to answer
  for _ in $(seq 1 100); do
    if curl -fsS "$1" > /dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "FAIL: $2 did not come up at $1" >&2
  return 1
}

echo "== promtool check rules"
promtool check rules config/prometheus/vigil-rules.yml
echo "== promtool test rules"
promtool test rules config/prometheus/vigil-rules.test.yml

echo "== starting Alertmanager on :$am_port"
cat > "$work/am.yml" <<YML
route:
  receiver: "null"
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
YML
prometheus-alertmanager --config.file="$work/am.yml" --storage.path="$work/am" \
  --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= \
  > "$work/am.log" 2>&1 &
pids+=($!)
wait_http "$am/-/ready" Alertmanager

echo "== starting Prometheus on :$prom_port, scraping vigil on :$vigil_port"
cp config/prometheus/vigil-rules.yml "$work/"
cat > "$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["vigil-rules.yml"]
scrape_configs:
  - job_name: vigil
    static_configs:
      - targets: ["127.0.0.1:$vigil_port"]
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --web.listen-address="127.0.0.1:$prom_port" > "$work/prom.log" 2>&1 &
pids+=($!)
wait_http "$prom/-/ready" Prometheus

echo "== vigil demo, notifying $am"
start=$(date +%s)
"$vigil" demo --listen "127.0.0.1:$vigil_port" --duration 50 --alertmanager "$am" \
  > "$work/demo.log" 2>&1 &
demo=$!
pids+=($demo)
python3 tests/e2e/check.py alertmanager-firing "$am" || { cat "$work/demo.log"; exit 1; }
echo "== promtool check metrics on vigil's /metrics, alerts firing"
python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' \
  "http://127.0.0.1:$vigil_port/metrics" > "$work/metrics.txt"
promtool check metrics < "$work/metrics.txt" \
  || { echo "FAIL: promtool check metrics found the problems above" >&2; exit 1; }
wait "$demo" || { echo "FAIL: vigil demo exited non-zero" >&2; cat "$work/demo.log"; exit 1; }
end=$(date +%s)
python3 tests/e2e/check.py alertmanager-resolved "$am" || { cat "$work/demo.log"; exit 1; }
python3 tests/e2e/check.py dashboards "$prom" "$start" "$end" dashboards
echo "== observability e2e: all checks passed"
