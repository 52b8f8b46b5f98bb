#!/usr/bin/env python3
"""Checks for tests/e2e/observability.sh against the real Alertmanager and Prometheus.

    check.py alertmanager-firing AM_URL     the demo's rollout alert arrives, firing, labelled
    check.py alertmanager-resolved AM_URL   ... and is resolved afterwards
    check.py dashboards PROM_URL START END DIR
                                            every dashboard expression evaluates, non-empty
Standard library only. Waits are bounded polls of an API, never blind sleeps.
"""
import json
import sys
import time
import urllib.parse
import urllib.request

EXPECTED = {"alertname": "error_rate_regression", "rule": "error_rate_regression",
            "model": "fraud", "version": "v2", "severity": "critical"}


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def poll(what, fn, attempts=150, every=0.4):
    last = None
    for _ in range(attempts):
        ok, last = fn()
        if ok:
            return last
        time.sleep(every)
    print(f"FAIL: {what}; last seen: {json.dumps(last)[:2000]}", file=sys.stderr)
    sys.exit(1)


def matching(alerts):
    return [a for a in alerts if all(a["labels"].get(k) == v for k, v in EXPECTED.items())]


def am_firing(am):
    def fn():
        alerts = get(f"{am}/api/v2/alerts?active=true")
        hits = [a for a in matching(alerts) if a["status"]["state"] == "active"]
        return bool(hits), hits or alerts
    hits = poll("the demo's error_rate_regression alert never reached Alertmanager as active", fn)
    a = hits[0]
    for k in ("summary", "description"):
        if not a["annotations"].get(k):
            print(f"FAIL: alert lacks annotation {k}: {a}", file=sys.stderr)
            sys.exit(1)
    print(f"ok: firing alert in Alertmanager: {a['labels']}")


def am_resolved(am):
    def fn():
        # Alertmanager drops resolved alerts from the active set: the alert is resolved once
        # it is no longer active and, if still listed, its endsAt lies in the past.
        alerts = get(f"{am}/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true")
        active = [a for a in matching(alerts) if a["status"]["state"] == "active"]
        return not active, active
    poll("the alert did not go resolved in Alertmanager", fn)
    print("ok: the alert is resolved in Alertmanager")


def exprs(v, out):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "expr":
                out.append(x)
            else:
                exprs(x, out)
    elif isinstance(v, list):
        for x in v:
            exprs(x, out)


def dashboards(prom, start, end, d):
    import glob
    import os
    skip = json.load(open(os.path.join(d, "empty-when-healthy.json")))
    failures, checked = [], 0
    for path in sorted(glob.glob(os.path.join(d, "vigil-*.json"))):
        board = json.load(open(path))
        found = []
        exprs(board, found)
        for e in found:
            q = e.replace('version=~"$version"', 'version=~".*"').replace("$model", "fraud")
            url = f"{prom}/api/v1/query_range?" + urllib.parse.urlencode(
                {"query": q, "start": start, "end": int(end) + 5, "step": "2"})
            try:
                r = get(url)
            except Exception as ex:  # an HTTP 400 carries Prometheus' parse error
                failures.append(f"{os.path.basename(path)}: {e}: {ex}")
                continue
            checked += 1
            if r.get("status") != "success":
                failures.append(f"{os.path.basename(path)}: {e}: {r.get('error')}")
            elif not r["data"]["result"]:
                if e in skip:
                    print(f"skip (empty when healthy: {skip[e]}): {e}")
                else:
                    failures.append(f"{os.path.basename(path)}: {e}: no series")
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    print(f"{checked} expressions evaluated, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "alertmanager-firing":
        am_firing(sys.argv[2])
    elif cmd == "alertmanager-resolved":
        am_resolved(sys.argv[2])
    elif cmd == "dashboards":
        dashboards(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        sys.exit(f"unknown check {cmd}")
