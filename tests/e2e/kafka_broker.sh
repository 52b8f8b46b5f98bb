#!/usr/bin/env bash
# End-to-end proof of vigil's Kafka side against a real broker process: Tansu, an Apache
# Kafka compatible broker (see install-kafka-broker.sh for why this one), on a loopback
# port, with the test's own client (kafka_io.py: confluent-kafka, not vigil's rdkafka).
#
#   1. `vigil demo --brokers` runs against the broker: the bad rollout must be detected and
#      rolled back exactly once, and the simulated serving layer must obey the command, which
#      the test's client must also find, alone, on the control topic;
#   2. stop and restart: the demo's inference log, read back from the broker, is consumed by
#      `vigil run` twice over: once uninterrupted (the reference), and once in three
#      processes with the same consumer group and state directory, each stopped by SIGTERM
#      once it has consumed its part of the log (the next part is produced after it
#      stopped). The first stops while v2's alerts fire but before the rollback (so the
#      second issues it), the second just after it (so the third must not repeat it). The
#      three must consume every record exactly once between them (each starts at the offset
#      the one before committed), exit 0, and publish the reference's one rollback command
#      and its alert transitions, none lost, none repeated;
#   3. crash: the same log, consumed by a process that commits its first part (the first
#      cut above) with a snapshot, then is killed with SIGKILL once it has consumed past the
#      rollback (where exactly depends on timing: every place must pass), then by a
#      restarted one until the group's committed offset reaches the end of the log. The
#      alert transitions must be the reference's (a transition published after the last
#      snapshot may be published again: alerts are at-least-once, deduplicated downstream by
#      fingerprint) and the rollback command the reference's one, with its idempotency key.
#
# Exits non-zero on any failed check. Run from anywhere: bash tests/e2e/kafka_broker.sh
# (VIGIL_E2E_KEEP=1 keeps the work directory: logs, topics' contents, state directories).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

bash tests/e2e/install-kafka-broker.sh
cargo build --locked --quiet --bin vigil
vigil=$root/target/debug/vigil
tansu=$root/target/tools/bin/tansu
kio() { "$root/target/tools/venv/bin/python" "$root/tests/e2e/kafka_io.py" "$1" "$broker" "${@:2}"; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n ${VIGIL_E2E_KEEP:-} ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
broker=127.0.0.1:$(port)

echo "== starting tansu on $broker"
"$tansu" broker --listener-url "tcp://$broker" --advertised-listener-url "tcp://$broker" \
  --storage-engine memory://tansu/ > "$work/tansu.log" 2>&1 &
pids+=($!)
kio wait || { cat "$work/tansu.log"; fail "the broker did not answer metadata requests"; }

echo "== 1. vigil demo --brokers $broker"
"$vigil" demo --brokers "$broker" --listen "127.0.0.1:$(port)" --duration 45 \
  > "$work/demo.log" 2>&1 || { cat "$work/demo.log"; fail "vigil demo exited non-zero"; }
grep -q '^  rollback commands issued:  1$' "$work/demo.log" \
  || { cat "$work/demo.log"; fail "the demo did not issue exactly one rollback command"; }
[[ $(grep -c '^  serving obeyed: .*fraud v2 -> v1' "$work/demo.log") -eq 1 ]] \
  || { cat "$work/demo.log"; fail "serving did not obey exactly one rollback fraud v2 -> v1"; }
kio read serving.control > "$work/demo-commands.jsonl"
python3 - "$work/demo-commands.jsonl" <<'PY' || fail "the control topic does not hold exactly the one rollback"
import json, sys
cmds = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(cmds) == 1, cmds
c = cmds[0]
assert (c["kind"], c["model"], c["from_version"], c["to_version"], c["dry_run"]) == (
    "rollback", "fraud", "v2", "v1", False), c
print(f"   control topic: one rollback {c['from_version']} -> {c['to_version']}, key {c['idempotency_key']}")
PY

echo "== 2. stop and restart against the demo's inference log"
kio read inference > "$work/log.jsonl"
total=$(wc -l < "$work/log.jsonl")
# Cut 1000 records into v2 (two 500-record windows: its alerts fire, no command yet, as the
# rollback policy wants two firing windows of 200 records after the pending one) and 1800.
v2=$(grep -n -m 1 '"version":"v2"' "$work/log.jsonl" | cut -d: -f1)
[[ -n $v2 ]] || fail "the demo's log has no v2 record"
cut1=$((v2 - 1 + 1000)) cut2=$((v2 - 1 + 1800))
[[ $total -gt $((cut2 + 1000)) ]] || fail "the demo logged only $total predictions"
sed -n "1,${cut1}p" "$work/log.jsonl" > "$work/part1.jsonl"
sed -n "$((cut1 + 1)),${cut2}p" "$work/log.jsonl" > "$work/part2.jsonl"
sed -n "$((cut2 + 1)),\$p" "$work/log.jsonl" > "$work/part3.jsonl"
kio create ref.log ref.labels ref.metrics ref.alerts ref.control ref.dlq \
  run.log run.labels run.metrics run.alerts run.control run.dlq \
  crash.log crash.labels crash.metrics crash.alerts crash.control crash.dlq
kio produce ref.log "$work/log.jsonl"
kio produce run.log "$work/part1.jsonl"

# The demo's configuration, on this broker, reading topics NAME.log (inference),
# NAME.labels and NAME.metrics (empty), writing NAME.alerts, NAME.control and NAME.dlq.
config() {  # name state-dir http-port
  sed -e "s|^brokers = .*|brokers = \"$broker\"|" \
    -e "s|^group_id = .*|group_id = \"vigil-e2e-$1\"|" \
    -e "s|^alerts_topic = .*|alerts_topic = \"$1.alerts\"|" \
    -e "s|^commands_topic = .*|commands_topic = \"$1.control\"|" \
    -e "s|^dead_letter_topic = .*|dead_letter_topic = \"$1.dlq\"|" \
    -e "s|^dir = .*|dir = \"$2\"|" \
    -e "s|^name = \"inference\"|name = \"$1.log\"|" \
    -e "s|^name = \"feedback\"|name = \"$1.labels\"|" \
    -e "s|^name = \"serving-metrics\"|name = \"$1.metrics\"|" \
    config/demo.toml
  printf '\n[http]\nlisten = "127.0.0.1:%s"\n' "$3"
  # A killed member holds its partitions until its session times out (45 s by default).
  printf '\n[kafka.consumer_properties]\n"session.timeout.ms" = "6000"\n'
}

records() {  # http-port: records consumed so far, from /metrics (0 while it is not up)
  local text
  text=$(curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null) || text=
  awk '$1 ~ /^vigil_records_total([{]|$)/ { s += $NF } END { print s + 0 }' <<< "$text"
}

# `vigil run` in the background: start_vigil CONFIG LOG sets $pid.
start_vigil() {
  "$vigil" run --config "$1" > "$2" 2>&1 &
  pid=$!
  pids+=("$pid")
}

# await LOG SECONDS WHAT COMMAND...: runs COMMAND every 0.1 s until it succeeds, failing
# (with vigil's LOG) if vigil ($pid) exits first or SECONDS pass.
await() {
  local log=$1 end=$((SECONDS + $2)) what=$3
  shift 3
  until "$@"; do
    kill -0 "$pid" 2>/dev/null || { cat "$log"; fail "vigil run exited before $what"; }
    ((SECONDS < end)) || { cat "$log"; fail "no $what within $2 s"; }
    sleep 0.1
  done
}
consumed() { [[ $(records "$1") -ge $2 ]]; }                        # http-port records
committed() { [[ $(kio committed "$1" "$2") -eq $3 ]]; }            # group topic offset

# stop_vigil LOG: SIGTERM; vigil ($pid) must exit 0 within 30 s.
stop_vigil() {
  local end=$((SECONDS + 30))
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < end)) || { cat "$1"; fail "vigil run did not exit within 30 s of SIGTERM"; }
    sleep 0.1
  done
  wait "$pid" || { cat "$1"; fail "vigil run exited non-zero after SIGTERM"; }
}

# run_until CONFIG HTTP-PORT WANT LOG: vigil run until it has consumed WANT records, then
# stopped; it must have logged exactly WANT records at exit.
run_until() {
  start_vigil "$1" "$4"
  await "$4" 120 "$3 records consumed" consumed "$2" "$3"
  stop_vigil "$4"
  local logged
  logged=$(sed -e 's/\x1b\[[0-9;]*m//g' "$4" | sed -n 's/.*stopped.*records=\([0-9]*\).*/\1/p' | tail -n 1)
  [[ $logged -eq $3 ]] || { cat "$4"; fail "vigil run consumed $logged records, expected exactly $3"; }
}

p=$(port); config ref "$work/ref-state" "$p" > "$work/ref.toml"
"$vigil" check-config "$work/ref.toml" > /dev/null
run_until "$work/ref.toml" "$p" "$total" "$work/ref.log"
echo "   reference run: $total records"

p=$(port); config run "$work/run-state" "$p" > "$work/run.toml"
issued=()
for i in 1 2 3; do
  [[ $i -gt 1 ]] && kio produce run.log "$work/part$i.jsonl"
  want=$(wc -l < "$work/part$i.jsonl")
  run_until "$work/run.toml" "$p" "$want" "$work/run$i.log"
  n=$(grep -c 'rollback command issued' "$work/run$i.log" || true)
  issued+=("$n")
  echo "   process $i: $want records, $n rollback command(s), stopped by SIGTERM"
done
[[ ${issued[*]} == "0 1 0" ]] \
  || fail "rollback commands per process: ${issued[*]}, expected 0 1 0 (none before the cut, one in the middle part, none repeated after)"

for t in ref.alerts ref.control run.alerts run.control; do kio read "$t" > "$work/$t.jsonl"; done
python3 tests/e2e/compare_runs.py exact "$work" ref run \
  || fail "the interrupted run's output differs from the reference run's"
echo "== 3. crash (SIGKILL) and restart"
# The first part (to 1000 records into v2) is consumed and committed with a snapshot; the
# rest is produced then, and the process is killed once it has consumed past the rollback.
kio produce crash.log "$work/part1.jsonl"
p=$(port); config crash "$work/crash-state" "$p" > "$work/crash.toml"
start_vigil "$work/crash.toml" "$work/crash1.log"
await "$work/crash1.log" 60 "the first part committed" committed vigil-e2e-crash crash.log "$cut1"
cat "$work/part2.jsonl" "$work/part3.jsonl" > "$work/rest.jsonl"
kio produce crash.log "$work/rest.jsonl"
await "$work/crash1.log" 30 "$cut2 records consumed" consumed "$p" "$cut2"
got=$(records "$p")
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
echo "   killed with SIGKILL after about $got records (the first $cut1 committed, rollback at ~$((v2 + 1500)));" \
  "committed offset then $(kio committed vigil-e2e-crash crash.log)"
start_vigil "$work/crash.toml" "$work/crash2.log"
await "$work/crash2.log" 120 "the log's end committed" committed vigil-e2e-crash crash.log "$total"
stop_vigil "$work/crash2.log"
for t in crash.alerts crash.control; do kio read "$t" > "$work/$t.jsonl"; done
python3 tests/e2e/compare_runs.py at-least-once "$work" ref crash \
  || fail "the crashed run's output differs from the reference run's"
echo "== kafka broker e2e: all checks passed"
