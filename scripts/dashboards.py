#!/usr/bin/env python3
"""Generates vigil's Grafana dashboards (dashboards/*.json) from one description.

The dashboards query only metrics vigil exports (tests/integration/dashboards.rs checks every metric
name against src/telemetry/metrics.rs; tests/e2e/observability.sh evaluates every
expression against a real Prometheus scraping vigil). Each has a Prometheus datasource
variable, so an operator imports the JSON as it is.

Regenerate after changing a panel (standard library only):
    python3 scripts/dashboards.py
"""
import json
import os

OUT = os.path.join(os.path.dirname(__file__), "..", "dashboards")
DS = {"type": "prometheus", "uid": "${datasource}"}

# Expressions that are legitimately empty in a healthy run; the e2e check skips them and
# says why. Keyed by the exact expression.
EMPTY_WHEN_HEALTHY = {
    "sum by (model, reason) (increase(vigil_rollback_suppressed_total[1h]))":
        "counts rollbacks held back by a guardrail; none are in a run where every guardrail passed",
}


def datasource_var():
    return {
        "name": "datasource", "label": "Prometheus", "type": "datasource",
        "query": "prometheus", "current": {}, "hide": 0, "refresh": 1,
    }


def query_var(name, label, query, multi=False, include_all=False):
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "query": {"query": query, "refId": name}, "definition": query,
        "refresh": 2, "sort": 1, "multi": multi, "includeAll": include_all,
        "current": {}, "hide": 0, "options": [],
    }


class Board:
    def __init__(self, uid, title, description):
        self.uid, self.title, self.description = uid, title, description
        self.panels, self.vars, self.annotations = [], [datasource_var()], []
        self.x = self.y = 0
        self.row_h = 0

    def panel(self, kind, title, targets, w=12, h=8, unit=None, description="", options=None,
              field=None):
        if self.x + w > 24:
            self.x, self.y = 0, self.y + self.row_h
            self.row_h = 0
        defaults = {"unit": unit} if unit else {}
        if field:
            defaults.update(field)
        p = {
            "id": len(self.panels) + 1, "type": kind, "title": title,
            "description": description, "datasource": DS,
            "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
            "targets": [
                {"refId": chr(65 + i), "expr": expr, "legendFormat": legend,
                 "datasource": DS, **({"instant": True, "format": "table"} if kind == "table" else {})}
                for i, (expr, legend) in enumerate(targets)
            ],
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options or {},
        }
        self.panels.append(p)
        self.x += w
        self.row_h = max(self.row_h, h)
        return p

    def annotation(self, name, expr, title, text):
        self.annotations.append({
            "name": name, "datasource": DS, "enable": True, "iconColor": "red",
            "expr": expr, "step": "60s", "titleFormat": title, "textFormat": text,
            "tagKeys": "rule,severity",
        })

    def json(self):
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": ["vigil"], "timezone": "browser", "schemaVersion": 39, "version": 1,
            "editable": True, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
            "templating": {"list": self.vars},
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts", "type": "dashboard",
            }] + self.annotations},
            "panels": self.panels,
        }


def fleet():
    b = Board("vigil-fleet", "vigil: fleet overview",
              "Every model vigil watches: what is live, what is firing, where inputs drift, rollbacks.")
    b.panel("stat", "Models live", [("count(sum by (model) (rate(vigil_inference_records_total[15m])) > 0) or vector(0)", "")], w=6, h=4)
    b.panel("stat", "Versions live", [("count(sum by (model, version) (rate(vigil_inference_records_total[15m])) > 0) or vector(0)", "")], w=6, h=4)
    b.panel("stat", "Alerts firing", [("count(vigil_alert_state == 2) or vector(0)", "")], w=6, h=4,
            field={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}})
    b.panel("stat", "Rollbacks (24h)", [("sum(increase(vigil_rollback_commands_total[24h])) or vector(0)", "")], w=6, h=4)
    b.panel("table", "Firing and pending alerts", [("vigil_alert_state > 0", "")], w=24, h=7,
            description="1 pending, 2 firing; one row per (rule, model, version).")
    b.panel("status-history", "Input drift: KS statistic by model and feature",
            [('max by (model, feature) (vigil_drift_statistic{baseline="reference", feature!~"prediction.*"})', "{{model}} / {{feature}}")],
            w=24, h=10, description="The drift heat map: each row a (model, feature), colour the latest window's test statistic.",
            field={"thresholds": {"mode": "absolute", "steps": [
                {"color": "green", "value": None}, {"color": "yellow", "value": 0.1}, {"color": "red", "value": 0.2}]}})
    b.panel("timeseries", "Features drifting (adjusted p < 1e-4)",
            [('sum by (model) (vigil_drift_flag{baseline="reference", feature!~"prediction.*"})', "{{model}}")], w=12)
    b.panel("timeseries", "Rollback commands", [("sum by (model, dry_run) (increase(vigil_rollback_commands_total[1h]))", "{{model}} dry_run={{dry_run}}")], w=12)
    b.panel("timeseries", "Inference records per second", [("sum by (model) (rate(vigil_inference_records_total[5m]))", "{{model}}")], w=12, unit="reqps")
    b.panel("timeseries", "Error rate by model and version", [("vigil_error_rate", "{{model}} {{version}}")], w=12, unit="percentunit")
    b.panel("timeseries", "Serving metric anomaly score (combined)", [('max by (series) (vigil_metric_anomaly_score{detector="anomaly"})', "{{series}}")], w=24,
            description="Every serving-metric series vigil scores; 0.9 and above pages (metric_anomaly).",
            field={"min": 0, "max": 1})
    return b


def model():
    b = Board("vigil-model", "vigil: model drill-down",
              "One model: drift per feature, prediction shift, errors, latency, versions compared, alerts.")
    b.vars.append(query_var("model", "Model", "label_values(vigil_inference_records_total, model)"))
    b.vars.append(query_var("version", "Version", 'label_values(vigil_inference_records_total{model="$model"}, version)', multi=True, include_all=True))
    sel = 'model="$model", version=~"$version"'
    b.panel("timeseries", "Feature drift: KS / chi-squared statistic",
            [(f'vigil_drift_statistic{{{sel}, baseline="reference", feature!~"prediction.*"}}', "{{version}} {{feature}} ({{test}})")], w=12)
    b.panel("timeseries", "Feature drift: adjusted p-value",
            [(f'vigil_drift_p_value_adjusted{{{sel}, baseline="reference", feature!~"prediction.*"}}', "{{version}} {{feature}}")], w=12,
            field={"custom": {"scaleDistribution": {"type": "log", "log": 10}}})
    b.panel("timeseries", "Feature drift: PSI",
            [(f'vigil_drift_psi{{{sel}, baseline="reference", feature!~"prediction.*"}}', "{{version}} {{feature}}")], w=12)
    b.panel("timeseries", "Prediction shift (vs reference and previous version)",
            [(f'vigil_drift_statistic{{{sel}, feature=~"prediction.*"}}', "{{version}} {{feature}} vs {{baseline}}")], w=12)
    b.panel("timeseries", "Error rate by version", [('vigil_error_rate{model="$model"}', "{{version}}")], w=12, unit="percentunit",
            description="All versions of the model, to compare a rollout with its predecessor.")
    b.panel("timeseries", "Latency percentiles", [(f'vigil_latency_seconds{{{sel}}}', "{{version}} p{{percentile}}")], w=12, unit="s")
    b.panel("timeseries", "Inference records per second by version", [('sum by (version) (rate(vigil_inference_records_total{model="$model"}[5m]))', "{{version}}")], w=12, unit="reqps")
    b.panel("timeseries", "Alert state (1 pending, 2 firing)", [('vigil_alert_state{model="$model"}', "{{version}} {{rule}}")], w=12)
    b.panel("timeseries", "Realised performance on labelled traffic", [(f'vigil_performance{{{sel}}}', "{{version}} {{metric}}")], w=12,
            description="Label windows: labels joined to their predictions.")
    b.panel("timeseries", "Accuracy: estimated from confidences vs realised", [
        (f'vigil_estimated_accuracy{{{sel}}}', "{{version}} estimated"),
        (f'vigil_performance{{{sel}, metric="accuracy"}}', "{{version}} realised"),
    ], w=12, unit="percentunit", description="The estimate needs no labels: it moves before the labels arrive.")
    b.panel("timeseries", "Estimate error (estimated - realised accuracy)", [(f'vigil_estimate_error{{{sel}}}', "{{version}}")], w=12, unit="percentunit")
    b.panel("timeseries", "Serving metrics of this model: anomaly scores by detector",
            [('vigil_metric_anomaly_score{series=~".*model=\\"$model\\".*"}', "{{series}} {{detector}}")], w=24, field={"min": 0, "max": 1})
    b.annotation("vigil alerts", 'changes(vigil_alert_state{model="$model"}[2m]) > 0',
                 "{{rule}} {{version}}", "alert state changed")
    return b


def itself():
    b = Board("vigil-self", "vigil: the daemon itself",
              "Is vigil keeping up and healthy: throughput, rejects, lag, notifications, snapshots, resources.")
    b.panel("timeseries", "Records consumed per second", [("sum by (kind) (rate(vigil_records_total[5m]))", "{{kind}}")], w=12, unit="reqps")
    b.panel("timeseries", "Records rejected per second, by reason", [("sum by (reason) (rate(vigil_records_rejected_total[5m]))", "{{reason}}")], w=12, unit="reqps")
    b.panel("timeseries", "Consumer lag", [("sum by (topic, partition) (vigil_consumer_lag)", "{{topic}}/{{partition}}")], w=12)
    b.panel("timeseries", "Windows evaluated per second", [("sum by (model) (rate(vigil_windows_evaluated_total[5m]))", "{{model}}")], w=12)
    b.panel("timeseries", "Notifications", [
        ("sum by (notifier) (rate(vigil_notifications_sent_total[5m]))", "{{notifier}} sent"),
        ("sum by (notifier) (rate(vigil_notifications_failed_total[5m]))", "{{notifier}} failed"),
        ("sum by (notifier) (rate(vigil_notifications_dropped_total[5m]))", "{{notifier}} dropped"),
    ], w=12)
    b.panel("stat", "Snapshot age", [("time() - max(vigil_state_snapshot_timestamp_seconds)", "")], w=6, unit="s")
    b.panel("stat", "Build", [("vigil_build_info", "{{version}}")], w=6, options={"textMode": "name"})
    b.panel("timeseries", "Resident memory", [('process_resident_memory_bytes{job="vigil"}', "{{instance}}")], w=12, unit="bytes")
    b.panel("timeseries", "CPU", [('rate(process_cpu_seconds_total{job="vigil"}[5m])', "{{instance}}")], w=12, unit="percentunit")
    b.panel("timeseries", "Labels joined per second", [("sum(rate(vigil_labels_joined_total[5m]))", "joined")], w=12, unit="reqps")
    b.panel("timeseries", "Unjoined predictions and labels", [("sum by (side, cause) (rate(vigil_labels_unjoined_total[5m]))", "{{side}} {{cause}}")], w=12, unit="reqps")
    b.panel("timeseries", "Rollbacks held back, by guardrail", [("sum by (model, reason) (increase(vigil_rollback_suppressed_total[1h]))", "{{model}} {{reason}}")], w=12)
    b.panel("timeseries", "Alert transitions", [("sum by (state) (increase(vigil_alert_transitions_total[1h]))", "{{state}}")], w=12)
    return b


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, board in [("fleet", fleet()), ("model", model()), ("vigil", itself())]:
        path = os.path.join(OUT, f"vigil-{name}.json")
        with open(path, "w") as f:
            json.dump(board.json(), f, indent=2)
            f.write("\n")
        print(f"wrote {os.path.relpath(path)}")
    with open(os.path.join(OUT, "empty-when-healthy.json"), "w") as f:
        json.dump(EMPTY_WHEN_HEALTHY, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
