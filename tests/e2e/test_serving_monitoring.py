"""Issue 23 on the example: the registered candidate served by ``jupyter mlops serve``, watched in production.

The example is tracked, verified and registered (``test_model_serving``'s fixtures), then served by
``mlflow models serve`` and by ``jupyter mlops serve`` side by side. Its predictions equal MLflow's; the
example's own rows, then rows made by ``make_data.py --shift monthly_charges=15``, make ``/metrics`` show
drift for ``monthly_charges`` only; a real Prometheus scrapes it with the written config, the PromQL drift
gauge says so too, the written rules pass ``promtool`` and the drift alert fires; feedback gives the
accuracy and AUC computed by hand; hostile requests are 4xx, counted, and the next request is answered; a
restart keeps the window; ``drift --live`` shows the drift.

One project, one server (papermill, verify and the server's start cost a minute): one test, so that
``-n 2`` never builds them twice.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from tests.e2e.test_model_serving import EXAMPLES, cli, registered, served  # noqa: F401 - module fixtures
from tests.support.serving import (
    PROMTOOL,
    Prometheus,
    Served,
    assert_grafana_dashboard,
    metric_names,
    metric_samples,
    request,
    samples_named,
    split_payload,
)
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

CATEGORICAL = ["contract", "payment_method", "internet_service"]
WINDOW = 2000


def features(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The notebook's encoding of a churn table, in the model's column order."""
    X = pd.get_dummies(df.drop(columns=["customer_id", "churned"]), columns=CATEGORICAL, dtype=int)
    return X.reindex(columns=columns, fill_value=0)


@pytest.fixture(scope="module")
def monitored(registered: Path):  # noqa: F811 - the imported module fixture
    server = Served(registered, "churn@candidate", "--window", str(WINDOW), "--sample", "1000",
                    "--max-body-mb", "1", "--write-monitoring", "monitoring", "--scrape-interval", "1s",
                    "--alert-for", "0s")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_served_monitored_scraped_alerted_labelled_hostile_restarted(registered, served, monitored):  # noqa: F811
    model = joblib.load(registered / "model.joblib")
    columns = list(model.feature_names_in_)
    check_banner(registered, monitored)
    check_same_answers_as_mlflow(registered, served, monitored, columns)
    prometheus = Prometheus(registered / "monitoring" / "prometheus.yml", registered / "prometheus").start()
    try:
        check_drift_of_monthly_charges_only(registered, monitored, prometheus, columns)
        check_dashboard_panels_are_the_metrics(registered, monitored, prometheus)
    finally:
        prometheus.stop()
    check_feedback_quality(registered, monitored, model, columns)
    check_hostile_inputs(monitored, registered, columns)
    check_restart_keeps_the_window(monitored)
    check_drift_live(registered, monitored)


def check_banner(root: Path, server: Served) -> None:
    from jupyter_mlops.journal import Journal

    journal = Journal(root / ".mlops" / "journal.sqlite", create=False)
    session = journal.find_session("latest")
    journal.close()
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    out = server.output()
    assert f"serving churn version 1 (@candidate): session {session[:12]}, notebook churn.ipynb, " \
           f"commit {head[:12]}" in out
    assert f"listening on {server.url}" in out
    assert "drift reference: data/churn.csv" in out and "10 one-hot from contract, internet_service, payment_method" \
        in out


def check_same_answers_as_mlflow(root: Path, mlflow_url: str, server: Served, columns: list[str]) -> None:
    df = pd.read_csv(root / "data" / "churn.csv")
    X = features(df, columns)
    _, X_test = train_test_split(X, test_size=0.25, random_state=42, stratify=df["churned"])
    rows = X_test.head(60)
    payloads = [
        (split_payload(rows), "application/json"),
        (json.dumps({"dataframe_records": json.loads(rows.to_json(orient="records"))}).encode(), "application/json"),
        (json.dumps({"inputs": json.loads(rows.to_json(orient="records"))}).encode(), "application/json"),
        (rows.to_csv(index=False).encode(), "text/csv"),
    ]
    for body, content_type in payloads:
        theirs = request(mlflow_url + "/invocations", body, content_type)
        ours = request(server.url + "/invocations", body, content_type)
        assert ours[0] == theirs[0] == 200, (ours, theirs)
        answer = json.loads(ours[2])
        assert answer["predictions"] == json.loads(theirs[2])["predictions"]
        assert answer["request_id"] == ours[1]["x-request-id"] and set(answer) == {"predictions", "request_id"}
    for path in ("/ping", "/health", "/version"):
        assert request(server.url + path)[0::2] == request(mlflow_url + path)[0::2]
    bad = json.dumps({"dataframe_split": {"columns": ["tenure_months"], "data": [[1]]}}).encode()
    theirs, ours = request(mlflow_url + "/invocations", bad), request(server.url + "/invocations", bad)
    assert ours[0] == theirs[0] == 400 and ours[2] == theirs[2]  # MLflow's error body, byte for byte
    assert re.fullmatch(r"[0-9a-f]{32}", ours[1]["x-request-id"])


def send_rows(url: str, X: pd.DataFrame, batch: int) -> list[tuple[str, list]]:
    answers = []
    for start in range(0, len(X), batch):
        status, headers, body = request(url + "/invocations", split_payload(X.iloc[start:start + batch]))
        assert status == 200, body
        answers.append((headers["x-request-id"], json.loads(body)["predictions"]))
    return answers


def psi_by_column(url: str) -> dict[str, float]:
    samples = samples_named(metric_samples(url), "mlops_serving_input_drift_psi", model="churn", version="1")
    return {dict(labels)["column"]: value for labels, value in samples.items()}


def window_settled(url: str) -> dict:
    """/metrics once the window's snapshot has taken in every row scored so far (the monitor is behind the
    request path by design)."""
    def ready():
        samples = metric_samples(url)
        scored = sum(samples_named(samples, "mlops_serving_rows_total").values())
        taken = samples_named(samples, "mlops_serving_window_scored_rows")
        return samples if taken and max(taken.values()) == scored else None

    return wait_for(ready, timeout=60, what="the window to take in the rows scored")


def check_drift_of_monthly_charges_only(root: Path, server: Served, prometheus: Prometheus, columns: list[str]) -> None:
    example = features(pd.read_csv(root / "data" / "churn.csv"), columns)
    send_rows(server.url, example, 250)
    window_settled(server.url)
    before = psi_by_column(server.url)
    assert set(before) == set(columns) and max(before.values()) < 0.1, before

    shifted_csv = root / "shifted.csv"
    subprocess.run([sys.executable, str(EXAMPLES / "make_data.py"), "--seed", "8", "--rows", str(WINDOW),
                    "--shift", "monthly_charges=15", "--out", str(shifted_csv)], check=True, capture_output=True)
    shifted = features(pd.read_csv(shifted_csv), columns)
    send_rows(server.url, shifted, 200)
    window_settled(server.url)
    after = psi_by_column(server.url)
    assert after["monthly_charges"] > 0.2, after
    assert max(v for c, v in after.items() if c != "monthly_charges") < 0.1, after
    verdicts = samples_named(metric_samples(server.url), "mlops_serving_input_drift_verdict", verdict="drift")
    assert {dict(k)["column"] for k, v in verdicts.items() if v == 1} == {"monthly_charges"}

    # the real Prometheus, with the written scrape config, sees the same
    def scraped() -> list:
        found = prometheus.query('mlops_serving_input_drift_psi{column="monthly_charges"} > 0.2')
        return found if found and prometheus.query("count(mlops_serving_input_drift_psi)") else []

    found = wait_for(scraped, timeout=60, what="Prometheus to scrape the drift gauge")
    assert found[0]["metric"]["model"] == "churn" and found[0]["metric"]["version"] == "1"
    others = prometheus.query('max(mlops_serving_input_drift_psi{column!="monthly_charges"})')
    assert float(others[0]["value"][1]) < 0.1
    assert int(prometheus.query("count(mlops_serving_input_drift_psi)")[0]["value"][1]) == len(columns)

    rules = root / "monitoring" / "alerts.yml"
    checked = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS: 5 rules found" in checked.stdout, checked.stdout + checked.stderr

    def drift_alert() -> list:
        return [a for a in prometheus.alerts() if a["labels"]["alertname"] == "MlopsInputDrift"
                and a["state"] == "firing"]

    firing = wait_for(drift_alert, timeout=60, what="the drift alert to fire")
    assert {a["labels"]["column"] for a in firing} == {"monthly_charges"}


def check_dashboard_panels_are_the_metrics(root: Path, server: Served, prometheus: Prometheus) -> None:
    """Every panel of the written dashboard queries metrics the server exports (or Prometheus' ``up``), its
    PromQL is valid for ``promtool`` and answered by Prometheus."""
    board = json.loads((root / "monitoring" / "grafana" / "dashboards" / "jupyter-mlops-serving.json").read_text())
    exported = metric_names(server.url)  # families without samples too: value frequencies of discrete inputs
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 20
    concrete = [e.replace("$__rate_interval", "1m").replace("$model", "churn").replace("$version", "1")
                .replace("$column", ".*") for e in exprs]
    for expr in concrete:
        names = {n for n in re.findall(r"\b((?:mlops_serving|process)_[a-z_]+)\b", expr)}
        assert names and names <= exported, (expr, names - exported)
        prometheus.query(expr)  # a parse error would be an HTTP 400
    as_rules = root / "monitoring" / "panels-as-rules.yml"
    as_rules.write_text(json.dumps({"groups": [{"name": "panels", "rules": [
        {"record": f"panel:{i}", "expr": e} for i, e in enumerate(concrete)]}]}))
    checked = subprocess.run([PROMTOOL, "check", "rules", str(as_rules)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert_grafana_dashboard(board)


def check_feedback_quality(root: Path, server: Served, model, columns: list[str]) -> None:
    df = pd.read_csv(root / "data" / "churn.csv")
    X = features(df, columns)
    _, X_test, _, y_test = train_test_split(X, df["churned"], test_size=0.25, random_state=42,
                                            stratify=df["churned"])
    batch, singles = X_test.iloc[:300], X_test.iloc[300:340]
    answered = send_rows(server.url, batch, 300) + send_rows(server.url, singles, 1)
    labels = y_test.iloc[:340].tolist()
    ids = [request_id for request_id, _ in answered]
    body = {"ids": ids, "labels": [labels[:300], *labels[300:340]]}
    status, _, answer = request(server.url + "/feedback", json.dumps(body).encode())
    assert status == 200, answer
    assert json.loads(answer)["labelled_rows"] == 340
    predictions = [p for _, ps in answered for p in ps]
    accuracy = float(np.mean(np.array(predictions) == np.array(labels)))
    auc = roc_auc_score(labels, model.predict_proba(X_test.iloc[:340])[:, 1])

    def quality():
        samples = metric_samples(server.url)
        rows = samples_named(samples, "mlops_serving_feedback_labelled_rows")
        return samples if rows and max(rows.values()) == 340 else None

    samples = wait_for(quality, timeout=30, what="the labelled rows in the metrics")
    assert max(samples_named(samples, "mlops_serving_feedback_accuracy").values()) == pytest.approx(accuracy, abs=1e-12)
    assert max(samples_named(samples, "mlops_serving_feedback_auc").values()) == pytest.approx(auc, abs=1e-12)
    # labels for ids already labelled are refused: they are no longer pending
    again = json.dumps({"ids": ids[:1], "labels": [labels[:300]]}).encode()
    status, _, answer = request(server.url + "/feedback", again)
    assert status == 404 and json.loads(answer)["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def check_hostile_inputs(server: Served, root: Path, columns: list[str]) -> None:
    good = split_payload(features(pd.read_csv(root / "data" / "churn.csv").head(3), columns))
    wrong_type = json.loads(good)
    wrong_type["dataframe_split"]["data"][0][0] = "many"
    hostile = [
        ("malformed JSON", b'{"dataframe_split": {"columns": [', "application/json", 400, "bad_payload"),
        ("not a format MLflow reads", b'{"rows": [[1, 2]]}', "application/json", 400, "bad_payload"),
        ("unsupported content type", b"<rows/>", "application/xml", 415, "bad_payload"),
        ("missing columns", json.dumps({"dataframe_split": {"columns": ["tenure_months"], "data": [[3]]}}).encode(),
         "application/json", 400, "schema_violation"),
        ("a wrong type", json.dumps(wrong_type).encode(), "application/json", 400, "schema_violation"),
        ("an oversized body", b'{"dataframe_split": ' + b" " * (1024 * 1024 + 10) + b"}", "application/json", 413,
         "payload_too_large"),
    ]
    feedback = [
        ("feedback for an unknown id", json.dumps({"ids": ["no-such-id"], "labels": [1]}).encode(), 404,
         "unknown_feedback_id"),
        ("feedback that is not JSON", b"ids=1", 400, "bad_feedback"),
        ("feedback without labels", json.dumps({"ids": ["x"]}).encode(), 400, "bad_feedback"),
    ]
    cases = [(what, server.url + "/invocations", body, ct, status, kind) for what, body, ct, status, kind in hostile]
    cases += [(what, server.url + "/feedback", body, "application/json", status, kind)
              for what, body, status, kind in feedback]
    for what, url, body, content_type, expected, kind in cases:
        before = samples_named(metric_samples(server.url), "mlops_serving_errors_total", kind=kind)
        status, headers, answer = request(url, body, content_type)
        assert status == expected, (what, status, answer[:300])
        if expected == 415:  # MLflow answers an unsupported content type in plain text: kept as it is
            assert answer.startswith(b"This predictor only supports the following content types"), answer
        else:
            error = json.loads(answer)
            assert set(error) >= {"error_code", "message"} and error["message"], (what, error)
        assert headers.get("x-request-id"), what
        after = samples_named(metric_samples(server.url), "mlops_serving_errors_total", kind=kind)
        assert sum(after.values()) == sum(before.values()) + 1, (what, kind)
        status, _, answer = request(server.url + "/invocations", good)
        assert status == 200 and len(json.loads(answer)["predictions"]) == 3, what


def check_restart_keeps_the_window(server: Served) -> None:
    before = window_settled(server.url)
    server.stop()
    server.start()
    after = wait_for(lambda: _with_window(metric_samples(server.url)), timeout=30,
                     what="the restored window's statistics")
    for name in ("mlops_serving_window_rows", "mlops_serving_input_drift_psi", "mlops_serving_feedback_accuracy",
                 "mlops_serving_input_stat"):
        assert samples_named(after, name) == samples_named(before, name), name
    assert sum(samples_named(after, "mlops_serving_rows_total").values()) == 0  # counters restart, the window does not
    rows = int(max(samples_named(after, "mlops_serving_window_rows").values()))
    assert f"restored {rows} rows from .mlops/serving/windows/churn-v1-127.0.0.1-{server.port}.json" in server.output()


def _with_window(samples: dict) -> dict | None:
    return samples if samples_named(samples, "mlops_serving_window_rows") else None


def check_drift_live(root: Path, server: Served) -> None:
    """The running server's window over HTTP as a table; the saved window in .mlops/serving as JSON."""
    shown = cli(root, "drift", "--model", "churn@candidate", "--live", server.url)
    assert shown.returncode == 1, shown.stdout + shown.stderr
    assert shown.stdout.startswith(f"drift: drift — the live window of {server.url}"), shown.stdout
    assert re.search(r"^  monthly_charges +numeric +\d+\.\d{3}  drift$", shown.stdout, re.M), shown.stdout
    assert re.search(r"^  contract_one-year +numeric +0\.\d{3}  ok  the share of contract = one-year in training$",
                     shown.stdout, re.M), shown.stdout
    assert len(re.findall(r"\d  ok", shown.stdout)) == 14, shown.stdout
    saved = cli(root, "drift", "--model", "churn@candidate", "--live", str(root / ".mlops" / "serving"), "--json")
    assert saved.returncode == 1, saved.stderr
    as_json = json.loads(saved.stdout)
    verdicts = {c["name"]: c["verdict"] for c in as_json["inputs"][0]["columns"]}
    assert as_json["verdict"] == "drift" and verdicts.pop("monthly_charges") == "drift"
    assert set(verdicts.values()) == {"ok"} and len(verdicts) == 14
