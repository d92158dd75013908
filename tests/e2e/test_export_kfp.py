"""`jupyter mlops export --to kfp` end to end: the pipeline the kfp SDK compiled, run by its local runner
(``kfp.local.SubprocessRunner``: every step a subprocess of this interpreter, no cluster, no docker), against
a tracked papermill run of the same notebook.

Each test has its own repository, pipeline root and MLflow store under its ``tmp_path``, so ``-n 2`` is safe.
Each step costs a papermill run and the MLflow mirror's pass, hence two tests only.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from kfp import local

from jupyter_mlops.journal import Journal
from tests.support.repo import EXAMPLES, mlops, run
from tests.support.wait import followers_done, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    """The example's data in a fresh git + DVC repository; the steps run in this process's environment,
    which must not look like a tracked notebook's."""
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("JUPYTER_MLOPS_METRICS_FILE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    project = tmp_path / "repo"
    project.mkdir()
    run(project, "git", "init", "-q")
    run(project, "dvc", "init", "-q")
    shutil.copytree(EXAMPLES / "data", project / "data")
    return project


def papermill(repo: Path, notebook: str) -> None:
    """A tracked run of ``notebook``: its own %mlops_track records it in the journal."""
    executed = repo.parent / f"executed-{notebook}"
    run(repo, sys.executable, "-m", "papermill", notebook, str(executed), "--cwd", str(repo), "-k", "python3")
    wait_for(lambda: followers_done(repo), timeout=120, what="the MLflow follower's last pass")


def tracked_metrics(repo: Path, notebook: str) -> dict[str, float]:
    """The last value of each metric in the notebook's latest tracked session."""
    journal = Journal(repo / ".mlops" / "journal.sqlite", create=False)
    try:
        detail = journal.session_detail(journal.sessions(notebook)[-1]["id"])
    finally:
        journal.close()
    return {m["name"]: m["value"] for m in detail["metrics"]}


def load_pipeline(path: Path) -> ModuleType:
    """The exported pipeline.py as a module (kfp reads each component's source back from the file)."""
    spec = importlib.util.spec_from_file_location(f"exported_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_locally(project: Path, tmp_path: Path) -> tuple[dict, str]:
    """The exported pipeline of ``project`` on kfp's local runner: its outputs, and the MLflow store used."""
    store = tmp_path / "mlflow"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp-root"))
    task = load_pipeline(project / "pipeline.py").pipeline(project_dir=str(project), mlflow_tracking_uri=uri)
    return task.outputs, uri


def test_the_example_compiles_and_runs_locally_with_the_tracked_runs_metrics(repo, tmp_path):
    """The example's four sections compile into four steps; run (one step, to keep the test short: the
    two-step test below runs hand-offs) it reproduces the tracked run's metrics and reaches MLflow."""
    shutil.copy(EXAMPLES / "churn.ipynb", repo / "churn.ipynb")
    papermill(repo, "churn.ipynb")
    tracked = tracked_metrics(repo, "churn.ipynb")
    done = mlops(repo, "export", "churn.ipynb", "--to", "kfp", "--image", "registry.example/churn:1")
    assert "pipeline.py" in done.stdout and "pipeline.yaml" in done.stdout and not (repo / "dvc.yaml").exists()
    package = yaml.safe_load((repo / "pipeline.yaml").read_text())
    tasks = package["root"]["dag"]["tasks"]
    assert set(tasks) == {"churn-load", "churn-features", "churn-train", "churn-evaluate"}
    assert tasks["churn-evaluate"]["dependentTasks"] == ["churn-features", "churn-train"]
    assert set(package["root"]["inputDefinitions"]["parameters"]) == {
        "mlflow_tracking_uri", "project_dir", "data_path", "test_size", "n_estimators", "max_depth", "seed",
        "model_path"}
    images = {e["container"]["image"] for e in package["deploymentSpec"]["executors"].values()}
    assert images == {"registry.example/churn:1"}

    done = mlops(repo, "export", "churn.ipynb", "--to", "kfp", "--stages", "single")
    assert "removed pipeline/churn-train.ipynb" in done.stderr  # the four stages' notebooks are gone
    assert sorted(p.name for p in (repo / "pipeline").iterdir()) == ["churn.ipynb"]
    assert "registry.example/churn:1" in (repo / "pipeline.yaml").read_text()  # the image stays
    outputs, uri = run_locally(repo, tmp_path)
    metrics = outputs["churn"].metadata
    assert metrics["auc"] == pytest.approx(tracked["auc"], abs=1e-12)
    assert metrics["accuracy"] == pytest.approx(tracked["accuracy"], abs=1e-12)
    [model] = (tmp_path / "kfp-root").glob("*/churn/model_joblib")
    assert model.stat().st_size > 0
    assert not (repo / "pipeline" / "metrics").exists()  # the step ran in a copy of the project

    from mlflow import MlflowClient

    client = MlflowClient(uri)
    [run_] = client.search_runs([client.get_experiment_by_name("churn").experiment_id])
    assert run_.data.metrics["auc"] == pytest.approx(tracked["auc"], abs=1e-12)  # sent before the step ended


PREP_CELLS = (
    ("%load_ext jupyter_mlops\n%mlops_track --experiment prep --metrics rows", []),
    ("scale = 2.0", ["parameters"]),
    ("import pandas as pd\nimport jupyter_mlops", []),
    ("df = pd.read_csv('data/churn.csv')\ndf['scaled'] = df['monthly_charges'] * scale\n"
     "df[['customer_id', 'scaled']].to_csv('prepared.csv', index=False)", ["stage:prepare"]),
    ("prepared = pd.read_csv('prepared.csv')\nrows = len(df)\n"
     "jupyter_mlops.log_metric('score', float(prepared['scaled'].mean()))", ["stage:train"]),
)


def test_a_clone_without_the_data_pulls_it_through_dvc_and_hands_a_file_and_a_value_over(repo, tmp_path):
    """Two steps: the first writes prepared.csv (a Dataset) and hands df over (an Artifact) to the second;
    the raw data is not in the clone the steps run from, so the first pulls it from the DVC remote."""
    nb = {"cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {"tags": tags}, "source": source,
                     "outputs": [], "execution_count": None} for i, (source, tags) in enumerate(PREP_CELLS)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (repo / "prep.ipynb").write_text(json.dumps(nb))
    papermill(repo, "prep.ipynb")  # the journal sees prepared.csv flow from one stage to the next
    tracked = tracked_metrics(repo, "prep.ipynb")
    mlops(repo, "export", "prep.ipynb", "--to", "kfp", "--remote", str(tmp_path / "store"), "--push")
    run(repo, "git", "add", "prep.ipynb", "pipeline.py", "pipeline.yaml", "params.yaml", "pipeline", "data", ".dvc")
    run(repo, "git", "commit", "-qm", "prep")
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    assert not (clone / "data/churn.csv").exists()

    outputs, _ = run_locally(clone, tmp_path)
    assert outputs["prep_train"].metadata == pytest.approx({"rows": tracked["rows"], "score": tracked["score"]})
    [prepared] = (tmp_path / "kfp-root").glob("*/prep-prepare/prepared_csv")
    assert prepared.read_bytes() == (repo / "prepared.csv").read_bytes()
    assert not (clone / "data/churn.csv").exists()  # pulled into the step's workspace, not the project
