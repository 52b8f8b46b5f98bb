#!/usr/bin/env python3
"""Compares what two `vigil run`s published, as kafka_broker.sh read it from the broker
(WORK/NAME.alerts.jsonl and WORK/NAME.control.jsonl): the reference run REF, which must have
issued exactly one rollback command, and RUN.

  exact:          RUN's alert transitions and commands equal REF's, in order, none repeated;
  at-least-once:  the same once repeats are dropped (a process killed after publishing and
                  before its snapshot publishes again after the restart), and every copy of
                  the command equals REF's one (same idempotency key).

usage: compare_runs.py exact|at-least-once WORK REF RUN
"""
import itertools
import json
import sys


def load(work, name, what):
    return [json.loads(l) for l in open(f"{work}/{name}.{what}.jsonl") if l.strip()]


def first_copies(items):
    seen, out = set(), []
    for x in items:
        k = json.dumps(x, sort_keys=True)
        if k not in seen:
            seen.add(k)
            out.append(x)
    return out


def main():
    mode, work, ref, run = sys.argv[1:]
    ref_c, run_c = load(work, ref, "control"), load(work, run, "control")
    ref_a, run_a = load(work, ref, "alerts"), load(work, run, "alerts")
    assert len(ref_c) == 1, f"reference run: {len(ref_c)} commands"
    assert ref_a, "reference run: no alert"
    alerts = run_a if mode == "exact" else first_copies(run_a)
    commands = run_c if mode == "exact" else first_copies(run_c)
    assert commands == ref_c, f"commands differ:\n{run_c}\nreference:\n{ref_c}"
    assert alerts == ref_a, "alert transitions differ (run | reference):\n" + "\n".join(
        f"{'=' if a == b else '!'} {a and (a['rule'], a['state'])} | {b and (b['rule'], b['state'])}"
        for a, b in itertools.zip_longest(alerts, ref_a))
    c = ref_c[0]
    print(f"   the reference's {len(ref_a)} alert transitions ({len(run_a) - len(ref_a)} repeated)"
          f" and its one rollback {c['from_version']} -> {c['to_version']}"
          f" ({len(run_c)} cop{'y' if len(run_c) == 1 else 'ies'}, key {c['idempotency_key']})")


if __name__ == "__main__":
    main()
