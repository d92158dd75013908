"""Issue 15 on the example, as the README's CI gate runs it: a tracked papermill run, ``verify --expect``,
``register --alias candidate`` (right after papermill, racing the follower), then ``mlflow models serve``
of ``models:/churn@candidate`` answering over real HTTP with the notebook's own predictions.

One project and one model server (papermill, verify and the server's start cost a minute or more): one test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import joblib
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from tests.e2e.test_mlflow_server import MLFLOW
from tests.support.ports import free_port
from tests.support.serving import stop_group
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def cli(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", *args], cwd=root, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def registered(tmp_path_factory) -> Path:
    """The example, committed, run under papermill (tracked), verified with its gate, registered."""
    root = tmp_path_factory.mktemp("churn")
    git(root, "init", "-q")
    shutil.copy(EXAMPLES / "churn.ipynb", root / "churn.ipynb")
    shutil.copytree(EXAMPLES / "data", root / "data")
    (root / ".gitignore").write_text("out/\nmodel.joblib\nmlflow.db\nmlruns/\n.mlops/\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "example")
    (root / "out").mkdir()
    subprocess.run([sys.executable, "-m", "papermill", "churn.ipynb", "out/churn.ipynb", "--cwd", str(root),
                    "-k", "python3"], cwd=root, check=True, capture_output=True, text=True, timeout=300)
    verify = cli(root, "verify", "churn.ipynb", "--expect", "auc>=0.8")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    done = cli(root, "register", "--name", "churn", "--alias", "candidate")
    assert done.returncode == 0, done.stderr
    assert "registered churn version 1" in done.stdout and "models:/churn@candidate" in done.stdout
    return root


@pytest.fixture(scope="module")
def served(registered: Path) -> Iterator[str]:
    """``mlflow models serve -m models:/churn@candidate --env-manager local`` on a free local port."""
    port = free_port()
    # MLflow starts its server as `exec uvicorn` through bash: the interpreter's own bin must be on PATH,
    # as it is in an activated environment.
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{registered / 'mlflow.db'}",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    with open(registered / "serve.log", "ab") as log:
        process = subprocess.Popen(
            [MLFLOW, "models", "serve", "-m", "models:/churn@candidate", "--env-manager", "local",
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=registered, env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, (registered / "serve.log").read_text()[-3000:]
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2):
                return True
        except OSError:
            return False

    try:
        wait_for(ready, timeout=180, what="mlflow models serve to answer /ping")
        yield url
    finally:
        stop_group(process)


def client(root: Path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_tracked_verified_registered_and_served(registered, served):
    """One test, so that ``-n 2`` never builds the module's project and server twice."""
    check_logged_model_and_lineage(registered)
    check_served_predictions(registered, served)


def check_logged_model_and_lineage(registered: Path) -> None:
    from mlflow.entities import LoggedModelStatus
    from mlflow.models import Model

    from jupyter_mlops.journal import Journal

    c = client(registered)
    version = c.get_model_version_by_alias("churn", "candidate")
    model = c.get_logged_model(version.tags["mlops.model.id"])
    assert version.source == model.artifact_location  # the LoggedModel's files, not a copy of them
    journal = Journal(registered / ".mlops" / "journal.sqlite", create=False)
    session = journal.find_session("latest")
    journal.close()
    run = c.get_run(model.source_run_id)
    assert run.data.tags["mlops.session"] == session
    assert model.model_id in [o.model_id for o in run.outputs.model_outputs]
    assert run.data.tags["mlops.model.model.joblib"] == f"models:/{model.model_id} (sklearn)"
    head = git(registered, "rev-parse", "HEAD")
    assert model.status == LoggedModelStatus.READY
    assert model.tags["mlops.model.flavor"] == "sklearn" and model.tags["mlflow.source.git.commit"] == head
    assert model.tags["mlops.model.md5"] == md5(registered / "model.joblib")
    assert model.tags["mlops.data.data/churn.csv"] == md5(registered / "data" / "churn.csv")
    assert model.params["n_estimators"] == "100" and model.tags["mlops.reproducible"] == "true"

    local = _download(model.artifact_location, registered / "dl")
    mlmodel = Model.load(str(local / "MLmodel"))
    fitted = joblib.load(registered / "model.joblib")
    assert "sklearn" in mlmodel.flavors
    assert mlmodel.signature.inputs.input_names() == list(fitted.feature_names_in_)
    example = json.loads((local / "input_example.json").read_text())
    assert example["columns"] == list(fitted.feature_names_in_) and len(example["data"]) == 5

    tags = version.tags
    assert tags["mlops.session"] == session and tags["mlflow.source.git.commit"] == head
    assert tags["mlops.verify"].startswith(f"passed at {head[:12]} with auc>=0.8 against session {session}")
    assert "mlops.allow_unverified" not in tags

    shown = cli(registered, "show", "--model", "churn@candidate", "--json")
    assert shown.returncode == 0, shown.stderr
    lineage = json.loads(shown.stdout)
    assert (lineage["session"], lineage["notebook"], lineage["commit"], lineage["version"]) == (
        session, "churn.ipynb", head, "1")
    assert lineage["data"] == {"data/churn.csv": md5(registered / "data" / "churn.csv")}
    assert lineage["aliases"] == ["candidate"] and lineage["model_file"] == "model.joblib"
    assert lineage["model_id"] == model.model_id and lineage["run_id"] == run.info.run_id
    text = cli(registered, "show", "--model", "churn@candidate").stdout
    assert f"session    {session}" in text and "data/churn.csv" in text and "verify     passed" in text


def _download(artifact_uri: str, dst: Path) -> Path:
    from mlflow.artifacts import download_artifacts

    dst.mkdir(exist_ok=True)
    return Path(download_artifacts(artifact_uri=artifact_uri, dst_path=str(dst)))


def check_served_predictions(registered: Path, served: str) -> None:
    """The served candidate answers the rows of the notebook's test split with its model's predictions."""
    df = pd.read_csv(registered / "data" / "churn.csv")
    X = pd.get_dummies(df.drop(columns=["customer_id", "churned"]),
                       columns=["contract", "payment_method", "internet_service"], dtype=int)
    _, X_test, _, _ = train_test_split(X, df["churned"], test_size=0.25, random_state=42, stratify=df["churned"])
    rows = X_test.head(40)
    body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}).encode()
    request = urllib.request.Request(served + "/invocations", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        predictions = json.loads(response.read())["predictions"]
    notebook_model = joblib.load(registered / "model.joblib")
    assert predictions == notebook_model.predict(rows).tolist()
    assert 0 < sum(predictions) < len(predictions)  # both classes: a constant answer would not prove much
