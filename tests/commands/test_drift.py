"""``jupyter mlops drift`` on real journals, real files and a real MLflow model registry."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.commands.main import main
from jupyter_mlops.journal import FileRecord, Journal
from jupyter_mlops.monitor.profiler import profile_pending
from jupyter_mlops.sinks.mlflow_batch import SESSION_TAG


def batch(seed: int, *, shift: float = 0.0, rows: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"charges": rng.normal(60.0, 10.0, rows) + shift, "calls": rng.poisson(2.0, rows),
                         "plan": rng.choice(["m", "y"], rows, p=[0.6, 0.4])})


def session_reading(project, sid: str, df: pd.DataFrame, started: float, rel: str = "data/t.csv") -> None:
    """A session that read ``df`` as ``rel``, with the profiler's work done (what a tracked run leaves)."""
    path = project / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    st = path.stat()
    j = Journal(project / ".mlops" / "journal.sqlite")
    j.start_session(sid, experiment="e", notebook="nb.ipynb", root=str(project), python="3", ipython="9",
                    options={})
    j._db.execute("UPDATE sessions SET started_at=?, state='ended' WHERE id=?", (started, sid))
    j.add_session_records(sid, files=[FileRecord(rel, "read", st.st_size, st.st_mtime_ns,
                                                 hashlib.md5(path.read_bytes()).hexdigest())])
    profile_pending(j, log=lambda _: None)
    j.close()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["drift", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_previous_against_latest_shows_the_shifted_column_and_exits_1(project, capsys):
    session_reading(project, "s-train", batch(1), 1.0)
    session_reading(project, "s-new", batch(2, shift=12.0), 2.0)
    code, out, _ = run(capsys, "--root", str(project))
    assert code == 1
    assert "data/t.csv: drift" in out and "charges" in out
    code, out, _ = run(capsys, "--root", str(project), "--json")
    report = json.loads(out)
    assert (report["reference"], report["current"]) == ({"session": "s-train"}, {"session": "s-new"})
    columns = {c["name"]: c["verdict"] for c in report["inputs"][0]["columns"]}
    assert columns == {"charges": "drift", "calls": "ok", "plan": "ok"}
    assert report["thresholds"] == {"warn": 0.1, "drift": 0.2}


def test_no_drift_between_two_samples_of_the_same_data_exits_0(project, capsys):
    session_reading(project, "s1", batch(1), 1.0)
    session_reading(project, "s2", batch(2), 2.0)
    code, out, _ = run(capsys, "s1", "s2", "--root", str(project))
    assert code == 0 and out.startswith("drift: ok"), out


def test_profiles_missing_when_no_profiler_runs_are_made_by_the_command(project, capsys):
    session_reading(project, "s1", batch(1), 1.0)
    j = Journal(project / ".mlops" / "journal.sqlite")
    j._db.execute("DELETE FROM profiles")
    j.close()
    session_reading(project, "s2", batch(1), 2.0, rel="data/t.csv")  # same content: one md5, profiled now
    code, out, _ = run(capsys, "--root", str(project), "--json")
    assert code == 0 and json.loads(out)["inputs"][0]["verdict"] == "ok"


def test_a_single_session_has_nothing_to_compare_with(project, capsys):
    session_reading(project, "s1", batch(1), 1.0)
    code, _, err = run(capsys, "--root", str(project))
    assert code == 2 and "no session before s1" in err and "hint:" in err


@pytest.fixture
def registry(project, monkeypatch):
    """A real MLflow store for the project, with a registered version tagged with a training session."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{project / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return MlflowClient(tracking_uri=uri)


def test_model_drift_compares_a_new_batch_with_the_training_data_of_the_registered_version(
        project, capsys, registry):
    session_reading(project, "s-train", batch(1), 1.0)
    registry.create_registered_model("churn")
    version = registry.create_model_version("churn", source=str(project / "model"),
                                            tags={SESSION_TAG: "s-train"})  # as `register` tags it
    registry.set_registered_model_alias("churn", "champion", version.version)
    batch(3, shift=15.0).to_csv(project / "new.csv", index=False)
    batch(4).to_csv(project / "same.csv", index=False)
    code, out, _ = run(capsys, "--root", str(project), "--model", "churn@champion", str(project / "new.csv"),
                       "--json")
    report = json.loads(out)
    assert code == 1 and report["reference"] == {"model": "churn@champion", "version": "1", "session": "s-train"}
    [item] = report["inputs"]
    assert item["reference"] == "data/t.csv"  # matched on its columns
    assert {c["name"]: c["verdict"] for c in item["columns"]}["charges"] == "drift"
    code, out, _ = run(capsys, "--root", str(project), "--model", "churn/1", str(project / "same.csv"))
    assert code == 0 and "drift: ok" in out


def test_model_drift_falls_back_on_the_run_session_tag(project, capsys, registry):
    session_reading(project, "s-train", batch(1), 1.0)
    experiment = registry.create_experiment("e")
    run_id = registry.create_run(experiment, tags={SESSION_TAG: "s-train"}).info.run_id
    registry.create_registered_model("m")
    registry.create_model_version("m", source=str(project / "model"), run_id=run_id)
    code, out, _ = run(capsys, "--root", str(project), "--model", "m/1", str(project / "data" / "t.csv"))
    assert code == 0 and "data/t.csv: ok" in out


def test_an_unknown_model_is_a_not_found_with_a_hint(project, capsys, registry):
    session_reading(project, "s-train", batch(1), 1.0)
    code, _, err = run(capsys, "--root", str(project), "--model", "nope@x", str(project / "data" / "t.csv"))
    assert code == 2 and "nope@x" in err and "hint:" in err


def test_the_command_is_reachable_as_jupyter_mlops_drift(project):
    session_reading(project, "s1", batch(1), 1.0)
    session_reading(project, "s2", batch(1, shift=30.0), 2.0)
    done = subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "drift", "--root", str(project)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "charges" in done.stdout, done.stderr
