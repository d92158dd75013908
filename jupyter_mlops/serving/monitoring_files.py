"""The operations files of a served version: Prometheus scrape config, alert rules, a Grafana dashboard.

``serve … --write-monitoring DIR`` writes

* ``prometheus.yml``: scrape this server's ``/metrics`` every ``scrape_interval``, evaluate the rules below;
* ``alerts.yml``: a column drifts (PSI ≥ 0.2, ``monitor/drift.py``'s threshold), the error rate is above
  ``error_rate``, p99 latency above ``p99_seconds``, no ``/invocations`` for ``no_traffic_minutes``, and
  the server does not answer the scrape at all; each must hold ``alert_for`` before it fires;
* ``grafana/dashboards/jupyter-mlops-serving.json``: one dashboard whose panels are the server's metrics
  (traffic, latency, errors, drift per column, the MLWatcher statistics of the inputs and of the predicted
  probability against its training range, feedback quality, the process), for Grafana's file provisioning,
  with ``grafana/provisioning/dashboards/jupyter-mlops.yml`` (the provider pointing at that folder) and
  ``grafana/provisioning/datasources/prometheus.yml`` (the Prometheus above, uid ``prometheus``).

Everything is generated from the metric names of ``metrics.py`` and the thresholds of ``drift.py``, so the
files and the server cannot disagree. Pure text generation (JSON for YAML: JSON is YAML).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_mlops.monitor.drift import PSI_DRIFT, PSI_WARN
from jupyter_mlops.serving.metrics import PREFIX

JOB = "jupyter-mlops-serving"
DATASOURCE_UID = "prometheus"
DASHBOARD_UID = "jupyter-mlops-serving"
DASHBOARD_FILE = "jupyter-mlops-serving.json"
GRAFANA_SCHEMA_VERSION = 39
_DURATION = re.compile(r"^\d+(ms|s|m|h|d)$")


@dataclass(frozen=True)
class MonitoringSettings:
    scrape_interval: str = "15s"
    alert_for: str = "5m"
    no_traffic_minutes: int = 15
    p99_seconds: float = 0.5
    error_rate: float = 0.05

    def check(self) -> None:
        for name in ("scrape_interval", "alert_for"):
            if not _DURATION.match(getattr(self, name)):
                raise ValueError(f"{name} {getattr(self, name)!r} is not a Prometheus duration (e.g. 15s, 5m)")


def write(folder: Path, target: str, settings: MonitoringSettings) -> list[Path]:
    """Write the files for the server at ``target`` (``host:port``) into ``folder``; returns their paths."""
    settings.check()
    files = {
        "prometheus.yml": scrape_config(target, settings),
        "alerts.yml": alert_rules(settings),
        f"grafana/dashboards/{DASHBOARD_FILE}": dashboard(),
        "grafana/provisioning/dashboards/jupyter-mlops.yml": {
            "apiVersion": 1,
            "providers": [{"name": "jupyter-mlops", "type": "file", "folder": "jupyter-mlops",
                           "options": {"path": str((folder / "grafana" / "dashboards").resolve())}}]},
        "grafana/provisioning/datasources/prometheus.yml": {
            "apiVersion": 1,
            "datasources": [{"name": "Prometheus", "type": "prometheus", "uid": DATASOURCE_UID, "access": "proxy",
                             "url": "http://127.0.0.1:9090", "isDefault": True}]},
    }
    written = []
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2) + "\n")
        written.append(path)
    return written


def scrape_config(target: str, settings: MonitoringSettings) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": settings.scrape_interval, "evaluation_interval": settings.scrape_interval},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [{"job_name": JOB, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}],
    }


def alert_rules(settings: MonitoringSettings) -> dict[str, Any]:
    per = "model, version"
    invocations = 'endpoint="/invocations"'
    window = "5m"
    return {"groups": [{"name": "jupyter-mlops-serving", "rules": [
        {"alert": "MlopsInputDrift",
         "expr": f"{PREFIX}_input_drift_psi >= {PSI_DRIFT}",
         "for": settings.alert_for, "labels": {"severity": "warning"},
         "annotations": {"summary": "{{ $labels.model }} v{{ $labels.version }}: input {{ $labels.column }} "
                                    "drifted from training (PSI {{ $value | printf \"%.2f\" }})",
                         "description": f"PSI >= {PSI_DRIFT} against the training profile (warn from {PSI_WARN}). "
                                        "`jupyter mlops drift --model NAME@ALIAS --live URL` shows every column."}},
        {"alert": "MlopsHighErrorRate",
         "expr": f"sum by ({per}) (rate({PREFIX}_errors_total[{window}])) / "
                 f"sum by ({per}) (rate({PREFIX}_requests_total{{{invocations}}}[{window}])) > {settings.error_rate}",
         "for": settings.alert_for, "labels": {"severity": "warning"},
         "annotations": {"summary": "{{ $labels.model }} v{{ $labels.version }}: {{ $value | humanizePercentage }} "
                                    "of requests refused or failed"}},
        {"alert": "MlopsHighLatencyP99",
         "expr": f"histogram_quantile(0.99, sum by ({per}, le) (rate({PREFIX}_request_duration_seconds_bucket"
                 f"{{{invocations}}}[{window}]))) > {settings.p99_seconds}",
         "for": settings.alert_for, "labels": {"severity": "warning"},
         "annotations": {"summary": "{{ $labels.model }} v{{ $labels.version }}: p99 latency {{ $value }}s"}},
        {"alert": "MlopsNoTraffic",
         "expr": f"sum by ({per}) (increase({PREFIX}_requests_total{{{invocations}}}"
                 f"[{settings.no_traffic_minutes}m])) == 0",
         "for": settings.alert_for, "labels": {"severity": "info"},
         "annotations": {"summary": "{{ $labels.model }} v{{ $labels.version }}: no prediction requested for "
                                    f"{settings.no_traffic_minutes} minutes"}},
        {"alert": "MlopsServerDown",
         "expr": f'up{{job="{JOB}"}} == 0',
         "for": settings.alert_for, "labels": {"severity": "critical"},
         "annotations": {"summary": "the model server {{ $labels.instance }} does not answer the scrape"}},
    ]}]}


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard (schema version ``GRAFANA_SCHEMA_VERSION``) over the server's metrics."""
    sel = 'model="$model", version="$version"'
    panels: list[dict[str, Any]] = []
    layout = _Layout()

    def row(title: str) -> None:
        panels.append({"type": "row", "title": title, "collapsed": False, "id": len(panels) + 1,
                       "gridPos": layout.row(), "panels": []})

    def panel(kind: str, title: str, targets: list[tuple[str, str]], unit: str = "short", width: int = 8,
              description: str = "", thresholds: list[tuple[float | None, str]] | None = None) -> None:
        steps = [{"color": c, "value": v} for v, c in (thresholds or [(None, "green")])]
        panels.append({
            "type": kind, "title": title, "description": description, "id": len(panels) + 1,
            "datasource": {"type": "prometheus", "uid": "${datasource}"}, "gridPos": layout.panel(width),
            "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                            "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "none"}} if kind == "timeseries" else {},
            "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                         "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                        for i, (expr, legend) in enumerate(targets)],
        })

    drift_steps = [(None, "green"), (PSI_WARN, "orange"), (PSI_DRIFT, "red")]
    row("Traffic and latency")
    panel("timeseries", "Requests per second",
          [(f"sum by (endpoint, status) (rate({PREFIX}_requests_total{{{sel}}}[$__rate_interval]))",
            "{{endpoint}} {{status}}")], "reqps")
    panel("timeseries", "Latency of /invocations",
          [(f"histogram_quantile({q}, sum by (le) (rate({PREFIX}_request_duration_seconds_bucket"
            f'{{{sel}, endpoint="/invocations"}}[$__rate_interval])))', f"p{int(q * 100)}")
           for q in (0.5, 0.9, 0.99)], "s")
    panel("timeseries", "Rows scored per second and requests in flight",
          [(f"rate({PREFIX}_rows_total{{{sel}}}[$__rate_interval])", "rows/s"),
           (f"{PREFIX}_requests_in_flight{{{sel}}}", "in flight")])
    row("Errors")
    panel("timeseries", "Errors per second by kind",
          [(f"sum by (kind) (rate({PREFIX}_errors_total{{{sel}}}[$__rate_interval]))", "{{kind}}")], "reqps", 12,
          "bad_payload, schema_violation, model_exception, payload_too_large, timeout, bad_feedback, "
          "unknown_feedback_id")
    panel("stat", "Error rate of /invocations",
          [(f"sum(rate({PREFIX}_errors_total{{{sel}}}[$__rate_interval])) / "
            f'sum(rate({PREFIX}_requests_total{{{sel}, endpoint="/invocations"}}[$__rate_interval]))', "errors")],
          "percentunit", 12, thresholds=[(None, "green"), (0.01, "orange"), (0.05, "red")])
    row("Drift against the training data")
    panel("timeseries", "PSI per input column",
          [(f"{PREFIX}_input_drift_psi{{{sel}}}", "{{column}}")], "short", 12,
          f"PSI of the window against the training profile: warn from {PSI_WARN}, drift from {PSI_DRIFT}",
          drift_steps)
    panel("bargauge", "Current PSI per input column",
          [(f"{PREFIX}_input_drift_psi{{{sel}}}", "{{column}}")], "short", 12, thresholds=drift_steps)
    panel("timeseries", "PSI of the predictions",
          [(f"{PREFIX}_output_drift_psi{{{sel}}}", "{{output}}")], "short", 12, thresholds=drift_steps)
    panel("table", "Columns in drift",
          [(f'{PREFIX}_input_drift_verdict{{{sel}, verdict="drift"}} == 1', "{{column}}")], "short", 12)
    row("MLWatcher statistics of the window")
    panel("timeseries", "Predicted probability against its training range",
          [(f'{PREFIX}_output_stat{{{sel}, output="probability", stat=~"{s}"}}', "live {{stat}}")
           for s in ("q25|median|q75", "min|max")]
          + [(f'{PREFIX}_output_training_stat{{{sel}, output="probability", stat=~"min|median|max"}}',
              "training {{stat}}")], "short", 12)
    panel("timeseries", "Rate of each predicted class",
          [(f"{PREFIX}_predicted_class_rate{{{sel}}}", "class {{class}}")], "percentunit", 12,
          "The business rate: for churn, the share of customers predicted to leave")
    panel("timeseries", "Input means (live)",
          [(f'{PREFIX}_input_stat{{{sel}, stat="mean", column=~"$column"}}', "{{column}}")], "short", 12)
    panel("table", "Input statistics against training",
          [(f'{PREFIX}_input_stat{{{sel}, column=~"$column"}}', "{{column}} {{stat}}"),
           (f'{PREFIX}_input_training_stat{{{sel}, column=~"$column"}}', "training {{column}} {{stat}}")],
          "short", 12)
    panel("timeseries", "Nulls and unseen categories",
          [(f'{PREFIX}_input_stat{{{sel}, stat="null_fraction"}} > 0', "nulls {{column}}"),
           (f"{PREFIX}_input_unseen_fraction{{{sel}}}", "unseen {{column}}")], "percentunit", 12)
    panel("timeseries", "Frequencies of discrete values",
          [(f"{PREFIX}_input_value_frequency{{{sel}}}", "{{column}}={{value}}"),
           (f"{PREFIX}_output_value_frequency{{{sel}}}", "{{output}}={{value}}")], "percentunit", 12)
    row("Ground truth (POST /feedback)")
    panel("stat", "Accuracy", [(f"{PREFIX}_feedback_accuracy{{{sel}}}", "accuracy")], "percentunit")
    panel("stat", "AUC", [(f"{PREFIX}_feedback_auc{{{sel}}}", "auc")], "short")
    panel("timeseries", "Labelled rows",
          [(f"{PREFIX}_feedback_labelled_rows{{{sel}}}", "in window"),
           (f"rate({PREFIX}_feedback_rows_total{{{sel}}}[$__rate_interval])", "received/s")])
    row("Process")
    panel("timeseries", "CPU", [(f"rate(process_cpu_seconds_total{{{sel}}}[$__rate_interval])", "cpu")],
          "percentunit")
    panel("timeseries", "Memory", [(f"process_resident_memory_bytes{{{sel}}}", "resident")], "bytes")
    panel("timeseries", "Open file descriptors",
          [(f"process_open_fds{{{sel}}}", "open"), (f"process_max_fds{{{sel}}}", "max")])

    def variable(name: str, query: str, include_all: bool = False) -> dict[str, Any]:
        return {"name": name, "label": name, "type": "query", "refresh": 2, "includeAll": include_all,
                "multi": include_all, "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "query": {"query": query, "refId": f"{name}-variable"}, "definition": query,
                **({"allValue": ".*"} if include_all else {})}

    return {
        "uid": DASHBOARD_UID, "title": "jupyter-mlops: served model", "tags": ["jupyter-mlops", "mlflow"],
        "schemaVersion": GRAFANA_SCHEMA_VERSION, "version": 1, "editable": True, "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"}, "timezone": "browser",
        "annotations": {"list": []},
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
             "current": {"text": "Prometheus", "value": DATASOURCE_UID}},
            variable("model", f"label_values({PREFIX}_model_info, model)"),
            variable("version", f'label_values({PREFIX}_model_info{{model="$model"}}, version)'),
            variable("column", f'label_values({PREFIX}_input_stat{{model="$model", version="$version"}}, column)',
                     include_all=True),
        ]},
        "panels": panels,
    }


class _Layout:
    """Grafana's 24-column grid: panels left to right, a new line when one does not fit, rows full width."""

    def __init__(self) -> None:
        self.x = self.y = 0
        self.height = 8

    def row(self) -> dict[str, int]:
        if self.x:
            self.x, self.y = 0, self.y + self.height
        pos = {"h": 1, "w": 24, "x": 0, "y": self.y}
        self.y += 1
        return pos

    def panel(self, width: int) -> dict[str, int]:
        if self.x + width > 24:
            self.x, self.y = 0, self.y + self.height
        pos = {"h": self.height, "w": width, "x": self.x, "y": self.y}
        self.x += width
        return pos
