"""``register``'s gate on real kernel sessions, and the whole model path against a real ``mlflow server``.

A session whose state is not reproducible is refused with its reason, ``--allow-unverified`` or not; a
reproducible session without a passing verify is refused until ``--allow-unverified``, which the version's
tags then record. Over HTTP, the follower logs the cell's model as a LoggedModel on the server, and
``register`` makes the version from it (no second LoggedModel) and ``show --model`` reads it back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_mlflow_server import mlflow_server
from tests.support.kernel import Kernel
from tests.support.wait import followers_done, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kernel]

CELLS = {
    "load": "%load_ext jupyter_mlops",
    "track": "%mlops_track --notebook nb.ipynb --experiment clf --params C {mlflow}",
    "imports": "import joblib\nimport pandas as pd\nfrom sklearn.linear_model import LogisticRegression",
    "data": "df = pd.read_csv('data.csv')",
    "param": "C = 1.0",
    "fit": "model = LogisticRegression(C=C).fit(df[['x', 'z']], df['y'])\njoblib.dump(model, 'model.joblib')",
}


def write_project(project: Path, cells: dict[str, str]) -> None:
    rows = "\n".join(f"{i},{(i * 7) % 5},{int(i % 3 == 0)}" for i in range(30))
    (project / "data.csv").write_text("x,z,y\n" + rows + "\n")
    nb = {"cells": [{"cell_type": "code", "id": cid, "source": src, "metadata": {}, "outputs": [],
                     "execution_count": None} for cid, src in cells.items()],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (project / "nb.ipynb").write_text(json.dumps(nb))


def run_cells(project: Path, cells: dict[str, str], env: dict[str, str] | None = None) -> Kernel:
    kernel = Kernel(project, env=env)
    for cid, code in cells.items():
        kernel.cell(code, cid)
    return kernel


def register(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "register", "--name", "clf", *args],
                          cwd=project, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def registry(project: Path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{project / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_a_session_run_out_of_order_is_refused_with_its_reason_even_unverified(project):
    cells = {**CELLS, "track": CELLS["track"].format(mlflow="--no-mlflow")}
    write_project(project, {**cells, "param": "C = 0.5"})  # as saved after the edit below
    kernel = run_cells(project, cells)
    try:
        kernel.cell("C = 0.5", "param")  # edited and re-run after the model was fitted with C = 1.0
    finally:
        kernel.shutdown()
    for extra in ((), ("--allow-unverified",)):
        refused = register(project, "--alias", "candidate", *extra)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        first, hint = refused.stderr.splitlines()[:2]
        assert "is not reproducible (stale-input: cell 6 used C before cell 5 changed it; fix: run cell 6)" in first
        assert hint.startswith("hint: restart the kernel and run all cells")
    assert not (project / "mlflow.db").exists() or registry(project).search_registered_models() == []


def test_an_unverified_session_is_refused_until_allow_unverified_which_the_version_records(project):
    cells = {**CELLS, "track": CELLS["track"].format(mlflow="--no-mlflow")}
    write_project(project, cells)
    run_cells(project, cells).shutdown()
    refused = register(project)
    assert refused.returncode == 1
    assert "`jupyter mlops verify` has not passed for session" in refused.stderr
    assert "no verify compared with it" in refused.stderr and "--allow-unverified" in refused.stderr

    done = register(project, "--allow-unverified", "--alias", "candidate")
    assert done.returncode == 0, done.stderr
    version = registry(project).get_model_version_by_alias("clf", "candidate")
    assert version.tags["mlops.allow_unverified"] == "true"
    assert version.tags["mlops.verify"].startswith("unverified (--allow-unverified)")
    assert version.tags["mlops.reproducible"] == "true" and version.tags["mlops.notebook"] == "nb.ipynb"


server = pytest.fixture(scope="module", name="server")(mlflow_server)


def test_over_a_real_server_the_follower_logs_the_model_and_register_makes_its_version(project, server):
    env = {"MLFLOW_TRACKING_URI": server.uri}
    cells = {**CELLS, "track": CELLS["track"].format(mlflow="")}
    write_project(project, cells)
    run_cells(project, cells, env=env).shutdown()
    client = server.client()

    def logged() -> list:
        experiment = client.get_experiment_by_name("clf")
        return client.search_logged_models([experiment.experiment_id]) if experiment else []

    models = wait_for(logged, timeout=120, what="the follower to log the model on the server")
    wait_for(lambda: followers_done(project), timeout=120, what="the follower's last pass")
    model = models[0]
    assert model.tags["mlops.model.flavor"] == "sklearn" and model.params["C"] == "1.0"
    assert model.tags["mlops.model.signature"].startswith("inferred from the first 5 rows of data.csv")

    done = register(project, "--allow-unverified", "--alias", "candidate", env=env)
    assert done.returncode == 0, done.stderr
    assert [m.model_id for m in logged()] == [model.model_id]  # the version points at it: no second copy
    version = client.get_model_version_by_alias("clf", "candidate")
    assert version.source == model.artifact_location and version.tags["mlops.model.id"] == model.model_id
    shown = subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "show", "--model", "clf@candidate",
                            "--json"], cwd=project, capture_output=True, text=True, timeout=120,
                           env={**os.environ, **env})
    assert shown.returncode == 0, shown.stderr
    lineage = json.loads(shown.stdout)
    assert lineage["model_id"] == model.model_id and lineage["allow_unverified"] is True
    assert lineage["data"] == {"data.csv": model.tags["mlops.data.data.csv"]} and lineage["notebook"] == "nb.ipynb"
