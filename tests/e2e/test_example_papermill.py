"""The bundled example, run headless with papermill as the README's main job runs it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlops.journal import Journal
from tests.support.repo import ENV
from tests.support.wait import followers_done, wait_for

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(EXAMPLES / "churn.ipynb", tmp_path / "churn.ipynb")
    shutil.copytree(EXAMPLES / "data", tmp_path / "data")
    return tmp_path


def papermill(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "papermill", "churn.ipynb", "out/churn.ipynb", "--cwd", str(project),
         "-k", "python3", *args],
        cwd=project, check=True, capture_output=True, text=True, timeout=300,
    )


def test_example_run_is_tracked_with_data_params_metrics_and_model(example):
    (example / "out").mkdir()
    papermill(example)
    j = Journal(example / ".mlops" / "journal.sqlite", create=False)
    s = j.session_detail(j.find_session("latest"))
    assert (s["notebook"], s["experiment"], s["state"]) == ("churn.ipynb", "churn", "ended")
    assert all(r["status"] == "ok" for r in s["cell_runs"]) and len(s["cell_runs"]) >= 6
    params = {p["name"]: (p["value"], p["source"]) for p in s["params"]}
    assert params["n_estimators"] == (100, "parameters") and params["data_path"] == ("data/churn.csv", "parameters")
    files = {(f["path"], f["mode"]): f["md5"] for f in s["files"]}
    assert files[("data/churn.csv", "read")] == hashlib.md5((example / "data/churn.csv").read_bytes()).hexdigest()
    assert files[("model.joblib", "write")] == hashlib.md5((example / "model.joblib").read_bytes()).hexdigest()
    metrics = {(m["name"], m["source"]) for m in s["metrics"]}
    assert {("auc", "api"), ("auc", "watched"), ("accuracy", "watched")} <= metrics
    auc = next(m["value"] for m in s["metrics"] if m["name"] == "auc")
    assert 0.7 < auc < 0.95
    out = subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "runs", "churn.ipynb"], cwd=example,
                         check=True, capture_output=True, text=True).stdout
    assert "data/churn.csv" in out and "model.joblib" in out and "auc = " in out


def test_papermill_injected_params_are_recorded_and_changes_show(example):
    (example / "out").mkdir()
    papermill(example)
    papermill(example, "-p", "n_estimators", "50")
    j = Journal(example / ".mlops" / "journal.sqlite", create=False)
    s = j.session_detail(j.find_session("latest"))
    injected = {p["name"]: p["value"] for p in s["params"] if p["source"] == "injected"}
    assert injected == {"n_estimators": 50}
    out = subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "runs"], cwd=example,
                         check=True, capture_output=True, text=True).stdout
    assert "n_estimators=50 (was 100)" in out


def test_the_exiting_kernel_leaves_its_mlflow_run_to_the_follower_and_the_run_is_quiet(example):
    (example / "out").mkdir()
    run = papermill(example)
    # Nothing of ours on papermill's output: no comm without a frontend, no warning of ours. (jupyter_client
    # interrupts every kernel before shutting it down; ipykernel sometimes logs "KeyboardInterrupt caught in
    # kernel" for it, an intermittent shutdown line whose cause issue 13 still has open.)
    assert "comm target" not in run.stderr, run.stderr
    assert "jupyter-mlops" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    # While the follower builds the store after papermill exits, the user's folder shows nothing of it
    assert sorted(p.name for p in example.glob(".mlflow.db*")) == []
    j = Journal(example / ".mlops" / "journal.sqlite", create=False)
    session = j.find_session("latest")
    from mlflow import MlflowClient

    # A client opened before the store exists would build it itself, racing the sync.
    wait_for(lambda: (example / "mlflow.db").exists(), 120, "the MLflow store")
    client = MlflowClient(f"sqlite:///{example / 'mlflow.db'}")

    def finished_runs() -> list:
        experiment = client.get_experiment_by_name("churn")
        return experiment and client.search_runs(
            [experiment.experiment_id], f"tags.`mlops.session` = '{session}' and attributes.status = 'FINISHED'")

    runs = wait_for(finished_runs, 120, "the session's finished MLflow run (see .mlops/mlflow/follower.log)")
    [mlflow_run] = runs
    assert abs(mlflow_run.data.metrics["auc"] - next(
        m["value"] for m in j.session_detail(session)["metrics"] if m["name"] == "auc")) < 1e-12
    # The store was created whole, with no temporary file left beside it
    assert sorted(p.name for p in example.glob(".mlflow.db*")) == []


def test_a_fresh_clone_records_each_file_once_by_the_cell_that_did_it(tmp_path):
    """Issue 24: in a git project whose data git tracks, a fresh clone's index is racily clean and git re-reads
    the data whenever asked whether the tree is dirty. With the MLflow mirror on, nothing of ours (git for
    provenance, the follower, the profiler, the hasher) is taken for a cell: the load cell read the data, the
    train cell wrote the model, and no other cell touched a file. The session knows its commit."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(EXAMPLES / "churn.ipynb", src / "churn.ipynb")
    shutil.copytree(EXAMPLES / "data", src / "data")
    for argv in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "the example"]):
        subprocess.run(argv, cwd=src, env=ENV, check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(src), str(clone)], env=ENV, check=True)
    (clone / "out").mkdir()
    papermill(clone)
    wait_for(lambda: followers_done(clone), 120, "the MLflow follower's last pass")
    j = Journal(clone / ".mlops" / "journal.sqlite", create=False)
    try:
        s = j.session_detail(j.find_session("latest"))
        provenance = j.provenance(s["id"])
    finally:
        j.close()
    assert {(f["cell_id"], f["path"], f["mode"]) for f in s["files"]} == {
        ("load", "data/churn.csv", "read"), ("train", "model.joblib", "write")}
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    assert (provenance.git.commit, provenance.git.dirty) == (head, False)

