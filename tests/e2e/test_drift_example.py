"""Issue 16's done-when: the example run twice under papermill, the second time on a shifted churn.csv made by
the example's own data script; drift names the shifted column and no other, and MLflow has the profiles."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlops.journal import Journal
from tests.support.wait import followers_done, wait_for

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def papermill(project: Path) -> None:
    subprocess.run([sys.executable, "-m", "papermill", "churn.ipynb", "out/churn.ipynb", "--cwd", str(project),
                    "-k", "python3"], cwd=project, check=True, capture_output=True, text=True, timeout=300)


def cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", *args], cwd=project, capture_output=True,
                          text=True, timeout=300)


def test_a_shifted_batch_drifts_on_the_shifted_column_only_in_the_cli_and_mlflow_has_the_profiles(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(EXAMPLES / "churn.ipynb", tmp_path / "churn.ipynb")
    shutil.copytree(EXAMPLES / "data", tmp_path / "data")
    (tmp_path / "out").mkdir()
    papermill(tmp_path)
    subprocess.run([sys.executable, str(EXAMPLES / "make_data.py"), "--seed", "8", "--shift", "monthly_charges=15",
                    "--out", str(tmp_path / "data" / "churn.csv")], check=True, capture_output=True)
    papermill(tmp_path)

    done = cli(tmp_path, "drift", "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    [churn] = report["inputs"]
    assert (churn["reference"], churn["verdict"]) == ("data/churn.csv", "drift")
    verdicts = {c["name"]: c["verdict"] for c in churn["columns"]}
    assert len(verdicts) == 10
    assert {name for name, verdict in verdicts.items() if verdict != "ok"} == {"monthly_charges"}
    text = cli(tmp_path, "drift").stdout
    assert "monthly_charges" in text and "data/churn.csv: drift" in text
    assert cli(tmp_path, "drift", "latest~1", "latest~1").returncode == 0  # a session against itself

    j = Journal(tmp_path / ".mlops" / "journal.sqlite", create=False)
    sessions = [s["id"] for s in j.sessions()]
    j.close()
    from mlflow import MlflowClient

    wait_for(lambda: followers_done(tmp_path), 120, "the MLflow follower's last pass")
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("churn")
    for session in sessions:
        [run] = client.search_runs([experiment.experiment_id], f"tags.`mlops.session` = '{session}'")
        listed = [a.path for a in client.list_artifacts(run.info.run_id, "profiles/data")]
        logs = [(tmp_path / ".mlops" / f).read_text() for f in ("mlflow/follower.log", "profiles/profiler.log")]
        assert listed == ["profiles/data/churn.csv.json"], (session, logs)
        (tmp_path / session).mkdir()
        local = client.download_artifacts(run.info.run_id, "profiles/data/churn.csv.json", str(tmp_path / session))
        artifact = json.loads(Path(local).read_text())
        assert artifact["input"] == "data/churn.csv" and artifact["profile"]["rows"] == 3000
        [dataset] = [d.dataset for d in run.inputs.dataset_inputs if d.dataset.name == "data/churn.csv"]
        assert dataset.digest == artifact["md5"]
        if dataset.profile:  # the profile was made before the dataset was logged (usually; else the artifact)
            assert json.loads(dataset.profile) == artifact["profile"]
