"""The mirror's marks in the journal file: unsent rows and leases (real SQLite, no MLflow)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from jupyter_mlops.journal import CellRunRecord, FileRecord, Journal, MetricRecord, ParamRecord
from jupyter_mlops.sinks import tracking_uri
from jupyter_mlops.sinks.bookkeeping import Bookkeeping, LeaseLost, Marks, mark_columns


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / ".mlops" / "journal.sqlite")
    j.start_session("s1", experiment="exp", notebook="nb.ipynb", root=str(tmp_path), python="3", ipython="9",
                    options={"mlflow": True})
    yield j
    j.close()


def run(seq, **kw):
    return CellRunRecord(seq=seq, cell_id=f"c{seq}", execution_count=seq, code="x", code_hash="h",
                         started_at=float(seq), duration=0.0, status="ok", **kw)


def test_unsent_rows_are_those_above_the_marks_and_files_wait_for_their_digest(journal):
    book = Bookkeeping(journal.path)
    journal.add_cell_run("s1", run(1, params=[ParamRecord("lr", 0.1, "parameters")],
                                   metrics=[MetricRecord("loss", 1.0, 0, 1.0, "api")],
                                   files=[FileRecord("a.csv", "read", 1, 1, "m" * 32)]))
    _, (pending_id,) = journal.add_cell_run("s1", run(2, files=[FileRecord("big.csv", "read", pending=True)]))
    journal.add_cell_run("s1", run(3, files=[FileRecord("c.csv", "read", 1, 1, "n" * 32)]))
    unsent = book.unsent("s1", Marks(), params=10, metrics=10, files=10)
    assert [r["name"] for r in unsent.params] == ["lr"] and [r["name"] for r in unsent.metrics] == ["loss"]
    assert [r["path"] for r in unsent.files] == ["a.csv"]  # stops at the one being hashed
    assert unsent.latest_cell_run["seq"] == 3
    ended = book.unsent("s1", Marks(), params=10, metrics=10, files=10, wait_pending=False)
    assert [r["path"] for r in ended.files] == ["a.csv", "big.csv", "c.csv"]
    journal.complete_file(pending_id, size=1, mtime_ns=1, md5="o" * 32, nfiles=None, error=None)
    later = book.unsent("s1", Marks(param=1, metric=1, file=unsent.files[-1]["id"], cell_run=3),
                        params=10, metrics=10, files=10)
    assert [r["path"] for r in later.files] == ["big.csv", "c.csv"]
    assert later.params == [] and later.latest_cell_run is None


def test_marks_survive_in_the_journal_for_another_process(journal):
    book = Bookkeeping(journal.path)
    assert book.claim("s1", "sqlite:///x")
    book.update("s1", "sqlite:///x", run_id="r1", **mark_columns(Marks(2, 3, 4, 5, {"loss": 7}, {"lr": "0.1"})))
    book.release("s1", "sqlite:///x")
    other = Bookkeeping(journal.path)
    row = other.sync_row("s1", "sqlite:///x")
    assert row.run_id == "r1" and row.marks == Marks(2, 3, 4, 5, {"loss": 7}, {"lr": "0.1"})
    assert other.sync_row("s1", "http://elsewhere") is None  # marks are per store


def test_a_live_lease_excludes_a_second_pusher_and_a_dead_holders_lease_is_taken_over(journal, tmp_path):
    book = Bookkeeping(journal.path)
    assert book.claim("s1", "u")
    code = ("import sys; sys.path.insert(0, sys.argv[2]); from pathlib import Path;"
            "from jupyter_mlops.sinks.bookkeeping import Bookkeeping;"
            "print(Bookkeeping(Path(sys.argv[1])).claim('s1', 'u'))")
    repo = os.getcwd()
    other = subprocess.run([sys.executable, "-c", code, str(journal.path), repo], capture_output=True, text=True,
                           check=True)
    assert other.stdout.strip() == "False"  # we are alive and hold it
    book.release("s1", "u")
    other = subprocess.run([sys.executable, "-c", code, str(journal.path), repo], capture_output=True, text=True,
                           check=True)
    assert other.stdout.strip() == "True"  # ... and that process died holding it
    assert book.claim("s1", "u")
    book.update("s1", "u", finished=0)  # ours again
    with sqlite3.connect(journal.path) as db:  # an expired lease taken over by another host
        db.execute("UPDATE mlflow_sync SET lease_owner='elsewhere:1:1'")
    with pytest.raises(LeaseLost):
        book.update("s1", "u", finished=1)


def test_tracking_uri_defaults_to_sqlite_at_the_root_and_normalises_relative_paths(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri.resolve(tmp_path) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///sub/m.db")
    assert tracking_uri.resolve(tmp_path, cwd=tmp_path) == f"sqlite:///{tmp_path / 'sub' / 'm.db'}"
    assert tracking_uri.resolve(tmp_path, "http://h:5000/") == "http://h:5000"
    assert tracking_uri.sqlite_dir(f"sqlite:///{tmp_path / 'm.db'}") == tmp_path
    assert tracking_uri.unreachable("sqlite:///x") is None
    assert "does not answer" in tracking_uri.unreachable("http://127.0.0.1:9")


def test_subscriptions_are_per_interpreter_closed_by_the_kernel_and_dropped_by_the_follower(journal):
    kernel, follower = Bookkeeping(journal.path), Bookkeeping(journal.path)
    version = follower.data_version()
    kernel.follow("s1", "sqlite:///x", "/venv/bin/python")
    assert follower.data_version() != version  # what the follower polls: the kernel committed
    [sub] = follower.followed("/venv/bin/python")
    assert (sub.session_id, sub.uri, sub.closed, sub.pid) == ("s1", "sqlite:///x", False, os.getpid())
    assert follower.followed("/other/python") == []  # another interpreter's follower leaves it alone
    assert not follower.is_closed("s1", "sqlite:///x")
    kernel.close_follow("s1", "sqlite:///x")
    assert follower.is_closed("s1", "sqlite:///x") and not follower.is_closed("s1", "sqlite:///y")
    assert sub.closed is False  # a snapshot: what the follower re-reads before calling a kernel dead
    assert follower.followed("/venv/bin/python")[0].closed is True
    follower.unfollow("s1", "sqlite:///x")
    assert follower.followed("/venv/bin/python") == []


def test_notices_are_read_once_and_a_line_being_written_waits(tmp_path):
    from jupyter_mlops.sinks.follower_daemon import NoticeReader

    path = tmp_path / "s1.notices"
    reader = NoticeReader(path)
    assert reader.new() == []  # no file yet: nothing to say
    path.write_text("mlflow-git\tno commit yet\nmlflow-down-1\tunreach")
    assert reader.new() == [("mlflow-git", "no commit yet")]
    with open(path, "a") as f:
        f.write("able\n")
    assert reader.new() == [("mlflow-down-1", "unreachable")]
    assert reader.new() == []


def test_the_model_mirror_sees_each_paths_last_hashed_write_and_forgets_its_models_with_the_run(journal):
    from jupyter_mlops.sinks.bookkeeping import LoggedModelRecord

    book = Bookkeeping(journal.path)
    journal.add_cell_run("s1", run(1, files=[FileRecord("model.joblib", "write", 3, 7, "a" * 32),
                                             FileRecord("data.csv", "read", 1, 1, "d" * 32)]))
    journal.add_cell_run("s1", run(2, files=[FileRecord("model.joblib", "write", 4, 8, "b" * 32),
                                             FileRecord("big.bin", "write", pending=True)]))
    written = book.written_files("s1")
    assert [(w.path, w.md5, w.size, w.cell_id) for w in written] == [("model.joblib", "b" * 32, 4, "c2")]
    record = LoggedModelRecord("model.joblib", "b" * 32, "m-1", "sklearn", None, 1.0)
    book.save_logged_model("s1", "sqlite:///x", record)
    assert book.logged_models("s1", "sqlite:///x") == [record] and book.logged_models("s1", "http://y") == []
    assert book.claim("s1", "sqlite:///x")
    book.forget_run("s1", "sqlite:///x")  # a fresh store: the model goes again with the run
    assert book.logged_models("s1", "sqlite:///x") == []
