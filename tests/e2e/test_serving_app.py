"""The wrapped scoring app in-process: MLflow's real FastAPI app around a real pyfunc model that raises on
negative inputs, behind ``MonitoredApp`` (no registry, no port: fast). What the example's test cannot make
happen: a model exception, counted as one and answered with MLflow's body; the request-id field left out
on demand; CSV answers left as MLflow wrote them."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.models import infer_signature
from mlflow.pyfunc import scoring_server

from jupyter_mlops.serving.app import MonitoredApp, ObservedModel
from jupyter_mlops.serving.feedback import Feedback
from jupyter_mlops.serving.metrics import ServingMetrics
from jupyter_mlops.serving.monitor import Monitor
from jupyter_mlops.serving.reference import Reference
from jupyter_mlops.serving.window import Window
from tests.support.serving import samples_named

pytestmark = pytest.mark.e2e


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        if (model_input["x"] < 0).any():
            raise ValueError("negative x")
        return model_input["x"] * 2


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("doubler")
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    mlflow.pyfunc.save_model(str(folder / "model"), python_model=Doubler(),
                             signature=infer_signature(frame, frame["x"] * 2))
    return mlflow.pyfunc.load_model(str(folder / "model"))


def client(loaded, root: Path, **options) -> tuple[TestClient, Monitor]:
    monitor = Monitor(reference=Reference(None, None, note="none here"), window=Window(100, 50), feedback=Feedback(100),
                      root=root, name="doubler", record={"model": "doubler", "version": "1"},
                      metrics_of=lambda source: ServingMetrics("doubler", "1", {}, source))
    app = MonitoredApp(scoring_server.init(ObservedModel(loaded)), monitor, max_body_bytes=10_000, **options)
    return TestClient(app), monitor


def errors(monitor: Monitor, kind: str) -> float:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(monitor.metrics.registry).decode()
    samples = {(s.name, frozenset(s.labels.items())): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    return sum(samples_named(samples, "mlops_serving_errors_total", kind=kind).values())


def test_a_model_exception_is_mlflows_400_counted_and_the_next_request_answered(loaded, tmp_path):
    http, monitor = client(loaded, tmp_path)
    failed = http.post("/invocations", json={"dataframe_split": {"columns": ["x"], "data": [[-1.0]]}})
    assert failed.status_code == 400 and failed.headers["x-request-id"]
    assert failed.json()["message"].startswith("Encountered an unexpected error while evaluating the model")
    assert errors(monitor, "model_exception") == 1 and errors(monitor, "bad_payload") == 0
    good = http.post("/invocations", json={"dataframe_split": {"columns": ["x"], "data": [[3.0]]}})
    assert good.status_code == 200
    assert good.json() == {"predictions": [{"x": 6.0}], "request_id": good.headers["x-request-id"]}


def test_bodies_byte_identical_to_mlflow_on_demand_and_for_csv(loaded, tmp_path):
    ours, _ = client(loaded, tmp_path, request_id_field=False)
    theirs = TestClient(scoring_server.init(loaded))
    for body, content_type in ((json.dumps({"inputs": [{"x": 1.5}]}), "application/json"), ("x\n1.5\n", "text/csv")):
        a = ours.post("/invocations", content=body, headers={"Content-Type": content_type, "X-Request-Id": "mine-1"})
        b = theirs.post("/invocations", content=body, headers={"Content-Type": content_type})
        assert a.status_code == b.status_code == 200 and a.content == b.content
        assert a.headers["x-request-id"] == "mine-1"  # a client's own id is kept
    with_field, _ = client(loaded, tmp_path)
    csv = with_field.post("/invocations", content="x\n1.5\n", headers={"Content-Type": "text/csv"})
    assert "request_id" in csv.json()  # MLflow answers CSV with JSON predictions: the field is there too
    odd = with_field.post("/invocations", json={"inputs": [{"x": 1.0}]}, headers={"X-Request-Id": "bad id\"}"})
    assert odd.headers["x-request-id"] != "bad id\"}" and len(odd.headers["x-request-id"]) == 32
