"""``jupyter mlops sync`` against a real MLflow SQLite store, from a journal written as a kernel writes it."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_mlops.journal import CellRunRecord, FileRecord, Journal, MetricRecord, ParamRecord

pytestmark = pytest.mark.e2e


def sync(project: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "sync", "--root", str(project), *argv],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120)


def cell(seq: int, **kw) -> CellRunRecord:
    return CellRunRecord(seq=seq, cell_id=f"c{seq}", execution_count=seq, code=f"# cell {seq}", code_hash="h",
                         started_at=time.time(), duration=0.01, status="ok", reproducible=True, **kw)


def file_record(project: Path, rel: str, mode: str) -> FileRecord:
    path = project / rel
    st = path.stat()
    return FileRecord(rel, mode, st.st_size, st.st_mtime_ns, hashlib.md5(path.read_bytes()).hexdigest())


@pytest.fixture
def journal(project: Path):
    (project / "data.csv").write_text("x,y\n1,2\n")
    (project / "model.txt").write_text("weights\n")
    (project / "churn.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    j = Journal(project / ".mlops" / "journal.sqlite")
    yield j
    j.close()


def start(journal: Journal, sid: str, *, mlflow: bool = True) -> None:
    journal.start_session(sid, experiment=None, notebook="churn.ipynb", root=str(journal.path.parent.parent),
                          python="3.11", ipython="9", options={"mlflow": mlflow})


def client(project: Path):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{project / 'mlflow.db'}")


def run_of(project: Path, sid: str):
    c = client(project)
    runs = c.search_runs([c.get_experiment_by_name("churn").experiment_id], f"tags.`mlops.session` = '{sid}'")
    assert len(runs) == 1, runs
    return runs[0]


def test_sync_sends_an_ended_session_once_and_marks_it_complete(journal, project):
    start(journal, "s1")
    journal.add_cell_run("s1", cell(1, params=[ParamRecord("lr", 0.1, "parameters")],
                                    files=[file_record(project, "data.csv", "read")]))
    journal.add_cell_run("s1", cell(2, metrics=[MetricRecord("loss", 1 / (i + 1), None, time.time(), "watched")
                                                for i in range(3)],
                                    files=[file_record(project, "model.txt", "write")]))
    journal.end_session("s1")

    first = sync(project)
    assert first.returncode == 0, first.stderr
    assert "s1" in first.stdout and "complete" in first.stdout
    again = sync(project)
    assert again.returncode == 0 and "nothing to sync" in again.stdout
    named = sync(project, "s1")  # even when named, a complete session sends nothing more
    assert named.returncode == 0 and "0 records sent" in named.stdout

    run = run_of(project, "s1")
    c = client(project)
    assert run.info.status == "FINISHED" and run.data.params == {"lr": "0.1"}
    assert [(m.step, m.value) for m in c.get_metric_history(run.info.run_id, "loss")] == [(0, 1.0), (1, 0.5),
                                                                                            (2, 1 / 3)]
    [dataset] = run.inputs.dataset_inputs
    assert dataset.dataset.digest == hashlib.md5((project / "data.csv").read_bytes()).hexdigest()
    assert {a.path for a in c.list_artifacts(run.info.run_id)} == {"notebook", "outputs"}
    assert (project / "mlruns").is_dir()  # artifacts beside the database, not in sync's cwd


def test_a_store_temporary_left_by_a_killed_creator_is_removed_when_the_store_is_made(journal, project):
    # Given what a process SIGKILLed while it created the store leaves beside it
    gone = subprocess.Popen(["true"])
    gone.wait()
    ours = project / ".mlops" / "mlflow"
    ours.mkdir(parents=True, exist_ok=True)
    left = [project / f".mlflow.db.{gone.pid}.tmp", ours / f".mlflow.db.{gone.pid}.tmp-journal"]
    for path in left:
        path.write_bytes(b"half a database")
    start(journal, "s1")
    journal.add_cell_run("s1", cell(1, params=[ParamRecord("lr", 0.1, "parameters")]))
    journal.end_session("s1")
    # When the next creator makes the store, the store is whole and the leftovers are gone
    out = sync(project)
    assert out.returncode == 0, out.stderr
    assert run_of(project, "s1").data.params == {"lr": "0.1"}
    assert sorted(p.name for p in [*project.glob(".mlflow.db*"), *ours.glob(".mlflow.db*")]) == []


def test_a_running_session_is_continued_from_its_marks_without_duplicates(journal, project):
    start(journal, "s2")
    journal.add_cell_run("s2", cell(1, metrics=[MetricRecord("loss", 1.0, 0, time.time(), "api")]))
    assert sync(project).returncode == 0
    journal.add_cell_run("s2", cell(2, params=[ParamRecord("lr", 0.1, "api")],
                                    metrics=[MetricRecord("loss", 0.5, 1, time.time(), "api")]))
    journal.add_cell_run("s2", cell(3, params=[ParamRecord("lr", 0.2, "api")]))
    out = sync(project)
    assert out.returncode == 0 and "still running" in out.stdout
    run = run_of(project, "s2")
    assert run.info.status == "RUNNING"
    assert [m.value for m in client(project).get_metric_history(run.info.run_id, "loss")] == [1.0, 0.5]
    assert run.data.params == {"lr": "0.1"} and run.data.tags["mlops.param.lr"] == "0.2"


def test_plain_sync_skips_no_mlflow_sessions_but_a_named_one_is_sent(journal, project):
    start(journal, "quiet", mlflow=False)
    journal.add_cell_run("quiet", cell(1, params=[ParamRecord("lr", 0.3, "api")]))
    journal.end_session("quiet")
    out = sync(project)
    assert out.returncode == 0 and "nothing to sync" in out.stdout
    assert not (project / "mlflow.db").exists()
    named = sync(project, "qui")
    assert named.returncode == 0, named.stderr
    run = run_of(project, "quiet")
    assert run.data.params == {"lr": "0.3"} and "not recorded" in run.data.tags["mlops.provenance"]


def test_an_unreachable_store_is_exit_1_and_bad_input_exit_2(journal, project, tmp_path):
    start(journal, "s3")
    down = sync(project, "--to", "http://127.0.0.1:9")
    assert down.returncode == 1 and len(down.stderr.strip().splitlines()) == 1 and "does not answer" in down.stderr
    assert sync(project, "nosuchsession").returncode == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    no_journal = sync(empty)
    assert no_journal.returncode == 2 and "no journal" in no_journal.stderr


def test_a_store_that_lost_the_run_gets_the_whole_session_again_once(journal, project):
    start(journal, "s4")
    journal.add_cell_run("s4", cell(1, metrics=[MetricRecord("loss", v, i, time.time(), "api")
                                                for i, v in enumerate([3.0, 2.0])]))
    journal.end_session("s4")
    assert sync(project).returncode == 0
    (project / "mlflow.db").unlink()  # a fresh database: the marks point at a run it never had
    shutil.rmtree(project / "mlruns")
    resent = sync(project, "s4")  # complete, but not in this store any more: everything again, once
    assert resent.returncode == 0 and "complete" in resent.stdout, resent.stderr
    assert sync(project, "s4").returncode == 0
    run = run_of(project, "s4")
    assert [m.value for m in client(project).get_metric_history(run.info.run_id, "loss")] == [3.0, 2.0]
