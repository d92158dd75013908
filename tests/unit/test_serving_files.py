"""The operations files: the scrape config, the alert rules and the dashboard, generated from the metrics."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from jupyter_mlops.serving import monitoring_files
from tests.support.serving import assert_grafana_dashboard


def test_written_files_scrape_the_server_and_alert_on_its_metrics(tmp_path):
    settings = monitoring_files.MonitoringSettings(scrape_interval="10s", alert_for="2m", no_traffic_minutes=7,
                                                   p99_seconds=0.25, error_rate=0.02)
    written = monitoring_files.write(tmp_path, "127.0.0.1:5001", settings)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        "prometheus.yml", "alerts.yml", "grafana/dashboards/jupyter-mlops-serving.json",
        "grafana/provisioning/dashboards/jupyter-mlops.yml", "grafana/provisioning/datasources/prometheus.yml"}
    config = json.loads((tmp_path / "prometheus.yml").read_text())
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:5001"]}]
    assert config["global"] == {"scrape_interval": "10s", "evaluation_interval": "10s"}
    rules = {r["alert"]: r for r in json.loads((tmp_path / "alerts.yml").read_text())["groups"][0]["rules"]}
    assert set(rules) == {"MlopsInputDrift", "MlopsHighErrorRate", "MlopsHighLatencyP99", "MlopsNoTraffic",
                          "MlopsServerDown"}
    assert rules["MlopsInputDrift"]["expr"] == "mlops_serving_input_drift_psi >= 0.2"
    assert "[7m]" in rules["MlopsNoTraffic"]["expr"] and rules["MlopsHighLatencyP99"]["expr"].endswith("> 0.25")
    assert all(r["for"] == "2m" for r in rules.values())
    provider = json.loads((tmp_path / "grafana/provisioning/dashboards/jupyter-mlops.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == str((tmp_path / "grafana" / "dashboards").resolve())
    if shutil.which("promtool"):
        checked = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_is_a_provisionable_grafana_dashboard():
    board = monitoring_files.dashboard()
    assert_grafana_dashboard(board)
    titles = {p["title"] for p in board["panels"]}
    assert {"PSI per input column", "Latency of /invocations", "Errors per second by kind",
            "Predicted probability against its training range", "Accuracy", "AUC"} <= titles


def test_bad_durations_are_refused():
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        monitoring_files.MonitoringSettings(alert_for="5 minutes").check()
