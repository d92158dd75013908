"""The journal → MLflow mapping, as pure decisions: steps, param immutability, keys, datasets, outputs."""

from __future__ import annotations

import json
import sqlite3

from jupyter_mlops.journal import Environment, GitState, Provenance
from jupyter_mlops.sinks import mlflow_batch
from jupyter_mlops.sinks.bookkeeping import Marks
from jupyter_mlops.sinks.mlflow_batch import SMALL_OUTPUT_BYTES, build, mlflow_key, param_text


def metric(id_, name, value, step=None, at=100.0):
    return {"id": id_, "name": name, "value": value, "step": step, "logged_at": at}


def param(id_, name, value, source="api", run=1):
    """A journal params row (sqlite3.Row has no .get: every column is there)."""
    return {"id": id_, "name": name, "value": json.dumps(value), "source": source, "cell_run_id": run}


def file(id_, path, mode, md5="a" * 32, size=10, mtime_ns=1):
    return {"id": id_, "path": path, "mode": mode, "md5": md5, "size": size, "mtime_ns": mtime_ns}


def test_metrics_without_a_step_continue_the_history_of_their_name_across_batches():
    first = build([], [metric(1, "loss", 0.9), metric(2, "loss", 0.5), metric(3, "auc", 0.7)], [], None, Marks())
    assert [(m.key, m.step) for m in first.metrics] == [("loss", 0), ("loss", 1), ("auc", 0)]
    second = build([], [metric(4, "loss", 0.4), metric(5, "loss", 0.3, step=10), metric(6, "loss", 0.2)], [],
                   None, first.marks)
    assert [m.step for m in second.metrics] == [2, 10, 11]
    assert second.marks.metric == 6 and second.marks.steps == {"loss": 11, "auc": 0}


def test_explicit_steps_are_kept_and_timestamps_are_milliseconds():
    batch = build([], [metric(1, "loss", v, step=i, at=1.5 + i) for i, v in enumerate([3.0, 2.0, 1.0])], [],
                  None, Marks())
    assert [(m.step, m.value, m.timestamp_ms) for m in batch.metrics] == [(0, 3.0, 1500), (1, 2.0, 2500),
                                                                           (2, 1.0, 3500)]


def test_a_metric_without_value_advances_the_mark_but_is_not_sent():
    batch = build([], [metric(7, "loss", None)], [], None, Marks())
    assert batch.metrics == [] and batch.marks.metric == 7


def test_a_param_keeps_its_first_value_and_a_later_setting_goes_to_a_tag():
    first = build([param(1, "lr", 0.1), param(2, "name", "adam")], [], [], None, Marks())
    assert first.params == [("lr", "0.1"), ("name", "adam")] and first.tags == {}
    again = build([param(3, "lr", 0.2)], [], [], None, first.marks)
    assert again.params == [] and again.tags == {"mlops.param.lr": "0.2"}
    assert again.marks.params_sent == {"lr": "0.1", "name": "adam"} and again.marks.param == 3


def test_the_same_param_twice_in_one_batch_is_one_param_and_a_tag():
    batch = build([param(1, "lr", 0.1), param(2, "lr", 0.3)], [], [], None, Marks())
    assert batch.params == [("lr", "0.1")] and batch.tags == {"mlops.param.lr": "0.3"}




def test_under_papermill_the_injected_value_is_the_param_not_the_default_it_replaces():
    defaults = [param(1, "max_depth", 6, "parameters", 2), param(2, "seed", 42, "parameters", 2)]
    held = build(defaults, [], [], {"id": 2, "reproducible": True}, Marks(), session_running=True)
    assert held.params == [] and held.marks.param == 0  # the parameters cell is the last run: wait for the next
    injected = [param(3, "max_depth", 3, "injected", 3), param(4, "seed", 42, "injected", 3)]
    both = build(defaults + injected, [], [], {"id": 3, "reproducible": True}, held.marks, session_running=True)
    assert both.params == [("max_depth", "3"), ("seed", "42")] and both.tags.get("mlops.param.max_depth") is None
    assert both.marks.param == 4
    ended = build(defaults, [], [], None, Marks(cell_run=2), session_running=False)  # no injected cell came
    assert ended.params == [("max_depth", "6"), ("seed", "42")]
    interactive = build(defaults, [], [], {"id": 5, "reproducible": True}, Marks(), session_running=True)
    assert interactive.params == [("max_depth", "6"), ("seed", "42")]  # a later cell ran: they were the values


def test_params_are_read_from_the_journals_rows_as_sqlite_gives_them():
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    db.execute("CREATE TABLE params (id, session_id, cell_run_id, name, value, source)")
    db.executemany("INSERT INTO params VALUES (?, 's', ?, ?, ?, ?)",
                   [(1, 2, "max_depth", "6", "parameters"), (2, 3, "max_depth", "3", "injected")])
    rows = db.execute("SELECT * FROM params ORDER BY id").fetchall()
    batch = build(rows, [], [], {"id": 3, "reproducible": None}, Marks(), session_running=True)
    assert batch.params == [("max_depth", "3")]


def test_param_values_read_like_mlflow_log_param():
    assert param_text(json.dumps([1, 2])) == "[1, 2]"
    assert param_text(json.dumps(True)) == "True"
    assert param_text(json.dumps("x" * 7000)) == "x" * 6000


def test_keys_mlflow_would_refuse_are_rewritten():
    assert mlflow_key("val/loss") == "val/loss"
    assert mlflow_key("loss@top-1") == "loss_top-1"
    assert mlflow_key("../up") != "../up" and mlflow_key("a//b") != "a//b"
    assert len(mlflow_key("k" * 400)) == 250


def test_files_read_become_datasets_once_per_digest_and_the_last_write_of_a_path_is_the_output():
    rows = [file(1, "data/a.csv", "read"), file(2, "data/a.csv", "read"), file(3, "data/a.csv", "read", "b" * 32),
            file(4, "out/m.pkl", "write", "c" * 32), file(5, "out/m.pkl", "write", "d" * 32),
            file(6, "gone.csv", "read", md5=None), file(7, "big.bin", "write", size=SMALL_OUTPUT_BYTES + 1)]
    batch = build([], [], rows, None, Marks())
    assert [(d.name, d.digest, json.loads(d.source), d.context) for d in batch.datasets] == [
        ("data/a.csv", "a" * 32, {"uri": "data/a.csv"}, "input"),
        ("data/a.csv", "b" * 32, {"uri": "data/a.csv"}, "input")]
    outputs = {o.path: o for o in batch.outputs}
    assert outputs["out/m.pkl"].md5 == "d" * 32 and outputs["out/m.pkl"].artifact_dir() == "outputs/out"
    assert not outputs["big.bin"].small and outputs["big.bin"].artifact_dir() == "outputs"
    big = ("mlops.output.big.bin", f"md5={'a' * 32} size={SMALL_OUTPUT_BYTES + 1}")
    assert outputs["big.bin"].reference_tag() == big
    assert batch.marks.file == 7


def test_the_latest_cell_run_sets_the_reproducible_tag_and_nothing_new_is_an_unchanged_mark():
    marks = Marks(cell_run=4)
    batch = build([], [], [], {"id": 9, "reproducible": 0}, marks)
    assert batch.tags == {"mlops.reproducible": "false"} and batch.marks.cell_run == 9
    assert build([], [], [], None, batch.marks).marks == batch.marks
    assert marks.cell_run == 4  # the caller's marks are never changed in place


def test_experiment_and_run_tags_follow_the_session():
    session = {"id": "s1", "experiment": None, "notebook": "nb/churn.ipynb", "root": "/p/proj"}
    assert mlflow_batch.experiment_name(session) == "churn"
    assert mlflow_batch.experiment_name({**session, "experiment": "exp"}) == "exp"
    assert mlflow_batch.experiment_name({**session, "notebook": None}) == "proj"
    assert mlflow_batch.run_tags(session) == {"mlops.session": "s1", "mlflow.source.type": "NOTEBOOK",
                                              "mlflow.source.name": "nb/churn.ipynb"}
    assert mlflow_batch.run_status("ended") == "FINISHED" and mlflow_batch.run_status("running") is None


def test_provenance_tags_say_which_commit_or_why_there_is_none():
    env = Environment("3.11.9", "a==1\n", "h" * 32)
    tags = mlflow_batch.provenance_tags(Provenance(GitState("c" * 40, "main", True, None), env))
    assert tags == {"mlops.python": "3.11.9", "mlops.env.hash": "h" * 32, "mlflow.source.git.commit": "c" * 40,
                    "mlops.git.dirty": "true", "mlflow.source.git.branch": "main"}
    none = mlflow_batch.provenance_tags(Provenance(GitState(note="/x is not in a git repository"), env))
    assert none["mlops.git"] == "/x is not in a git repository" and "mlflow.source.git.commit" not in none
