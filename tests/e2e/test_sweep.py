"""`jupyter mlops sweep` end to end: real DVC queue and workers, real papermill kernels, real MLflow store.

One tracked papermill run of the example per module is copied into each test's own repository (DVC's queue
and its workers live in the repository's .dvc/tmp, so tests in parallel do not share one). Each sweep costs
tens of seconds per experiment on a loaded machine: few tests, small grids, five trees at most.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from jupyter_mlops.errors import Conflict
from jupyter_mlops.journal import Journal
from jupyter_mlops.sweep import identity, queue
from jupyter_mlops.sweep import run as sweep_run
from jupyter_mlops.sweep.record import SweepRecord
from tests.support.repo import mlops, run, tracked_example
from tests.support.wait import followers_done, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]
@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> Path:
    """The example in a committed git + DVC repository, run once with papermill (its %mlops_track)."""
    return tracked_example(tmp_path_factory.mktemp("tracked"), tmp_path_factory.mktemp("executed") / "churn.ipynb",
                           commit_ignoring=".mlops/\nmlflow.db\nmlruns/\nmodel.joblib\n")


@pytest.fixture
def repo(tracked: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(tracked, copy, symlinks=True)
    return copy


def sweep_sessions(repo: Path, sweep: str) -> list[dict]:
    journal = Journal(repo / ".mlops" / "journal.sqlite", create=False)
    try:
        return [journal.session_detail(s["id"]) for s in journal.sessions() if s["options"].get("sweep") == sweep]
    finally:
        journal.close()


def latest(detail: dict, kind: str, name: str):
    return [m["value"] for m in detail[kind] if m["name"] == name][-1]


def test_a_3x2_grid_runs_two_at_a_time_each_a_tracked_session_and_an_mlflow_run(repo):
    done = mlops(repo, "sweep", "churn.ipynb", "-S", "max_depth=2,4,6", "-S", "n_estimators=5,10", "-j", "2",
                 "--stages", "single", "--json")
    table = json.loads(done.stdout)
    sweep = table["sweep"]
    print(done.stderr)
    assert identity.is_sweep_id(sweep) and table["metric"] == "auc" and table["order"] == "descending"
    rows = table["rows"]
    assert [r["state"] for r in rows] == ["success"] * 6
    assert {(r["params"]["max_depth"], r["params"]["n_estimators"]) for r in rows} == {
        (d, n) for d in (2, 4, 6) for n in (5, 10)}
    aucs = [r["metrics"]["auc"] for r in rows]
    assert aucs == sorted(aucs, reverse=True) and len(set(aucs)) > 1
    assert [r["best"] for r in rows] == [True] + [False] * 5 and table["best"] == rows[0]["experiment"]
    assert "pipeline/churn.ipynb" in run(repo, "git", "diff", "--cached", "--name-only").stdout  # exported, staged

    # Each experiment is a session of the project's own journal, the very run DVC reports.
    sessions = {s["options"]["dvc_experiment"]: s for s in sweep_sessions(repo, sweep)}
    assert len(sessions) == 6
    for row in rows:
        session = sessions[row["experiment"]]
        assert row["session"] == session["id"] and session["state"] == "ended"
        assert latest(session, "params", "max_depth") == row["params"]["max_depth"]
        assert latest(session, "metrics", "auc") == pytest.approx(row["metrics"]["auc"], abs=1e-12)
        assert ".dvc/tmp/exps/" in session["root"]  # its files were the experiment's copy's
        assert {f["path"] for f in session["files"]} >= {"data/churn.csv", "model.joblib"}
    listed = json.loads(mlops(repo, "runs", "--sweep", sweep, "--json").stdout)
    assert sorted(s["id"] for s in listed) == sorted(s["id"] for s in sessions.values())
    best, worst = rows[0], rows[-1]
    diff = json.loads(mlops(repo, "diff", best["session"], worst["session"], "--json").stdout)
    changed = {p["name"] for p in diff["params"] if p["a"] != p["b"]}
    assert changed == {k for k in ("max_depth", "n_estimators") if best["params"][k] != worst["params"][k]}

    wait_for(lambda: followers_done(repo), timeout=180, what="the MLflow follower's last pass")
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("churn")
    runs = client.search_runs([experiment.experiment_id], f"tags.`mlops.sweep` = '{sweep}'")
    assert sorted(r.data.tags[identity.EXPERIMENT_TAG] for r in runs) == sorted(sessions)
    for r in runs:
        row = next(x for x in rows if x["experiment"] == r.data.tags[identity.EXPERIMENT_TAG])
        assert r.data.params["max_depth"] == str(row["params"]["max_depth"])
        assert r.data.metrics["auc"] == pytest.approx(row["metrics"]["auc"], abs=1e-12)
        assert r.info.status == "FINISHED"

    shown = mlops(repo, "sweep", "--show", sweep).stdout
    best_line = next(line for line in shown.splitlines() if line.startswith("*"))
    assert rows[0]["experiment"] in best_line
    applied = mlops(repo, "sweep", "--apply", rows[0]["experiment"]).stdout
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert (params["max_depth"], params["n_estimators"]) == (rows[0]["params"]["max_depth"],
                                                              rows[0]["params"]["n_estimators"])
    assert f"applied {rows[0]['experiment']}" in applied


def test_one_failing_combination_leaves_the_others_complete_and_says_where_its_log_is(repo):
    # max_depth=0 makes RandomForestClassifier raise in the train cell: that experiment fails, alone.
    done = mlops(repo, "sweep", "churn.ipynb", "-S", "max_depth=2,0,3", "-S", "n_estimators=5", "-j", "2",
                 "--stages", "single", check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    sweep = lines[0].split(":")[0]
    failed = identity.experiment_name(sweep, 2, 3)  # the middle one: the one after it still runs
    table = [line for line in lines if line.startswith(("*", "   sweep-"))]
    assert len(table) == 3 and table[-1].split()[0] == failed and table[-1].endswith("failed")
    assert sum(line.endswith("success") for line in table) == 2
    assert f"{failed} failed: `dvc queue logs {failed}`" in done.stdout
    assert "3/3 finished: 2 done, 1 failed, 0 running, 0 queued" in done.stdout
    log = run(repo, sys.executable, "-m", "dvc", "queue", "logs", failed).stdout
    assert "max_depth" in log  # the remedy named shows the notebook's own error
    sessions = {s["options"]["dvc_experiment"]: s for s in sweep_sessions(repo, sweep)}
    assert len(sessions) == 3
    assert any(r["status"] == "error" for r in sessions[failed]["cell_runs"])
    assert all(latest(s, "metrics", "auc") > 0.5 for n, s in sessions.items() if n != failed)


def test_a_queue_without_workers_is_reported_stuck_with_the_command_that_clears_it(repo):
    mlops(repo, "export", "churn.ipynb", "--stages", "single")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "pipeline")
    baseline = queue.baseline(repo)
    name = identity.experiment_name(identity.new_sweep_id(), 1, 1)
    queue.queue(repo, name, (("max_depth", "3"),))  # queued, and no `dvc queue start`: nothing will run it
    record = SweepRecord(identity.sweep_of(name), "churn.ipynb", baseline, ["max_depth"],
                                   {name: {"max_depth": "3"}}, 1, 0.0)
    stuck = sweep_run.follow(repo, record, io.StringIO(), patience=3.0)
    assert stuck is not None and stuck.queued == (name,) and stuck.running == ()
    assert stuck.workers is not None and stuck.workers.alive == 0
    remedies = stuck.remedies(jobs=1)
    assert "dvc queue remove --queued" in " ".join(remedies)
    run(repo, sys.executable, "-m", "dvc", "queue", "remove", "--queued")
    assert queue.experiments(repo, baseline).get(name) is None  # the command named clears it


def test_queue_start_returns_while_its_workers_run_the_queue(tmp_path: Path):
    """DVC's workers inherit ``dvc queue start``'s output: read through pipes it would return only when they
    exit, after the whole queue (the sweep then showed no progress, and a long queue hit the timeout)."""
    repo, release = tmp_path / "held", tmp_path / "release"
    repo.mkdir()
    run(repo, "git", "init", "-q")
    for key, value in (("user.name", "test"), ("user.email", "test@example.com")):
        run(repo, "git", "config", key, value)
    run(repo, "dvc", "init", "-q")
    (repo / "params.yaml").write_text("a: 1\n")
    # the stage holds until the test releases it (at most 3 minutes, then it fails)
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"held": {
        "cmd": f"for i in $(seq 900); do [ -e {release} ] && break; sleep 0.2; done; "
               f"test -e {release} && echo ok > out.txt",
        "params": ["a"], "outs": ["out.txt"]}}}))
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "held stage")
    queue.queue(repo, "held-1", (("a", "2"),))

    queue.start(repo, 1)

    def held() -> str | None:
        try:  # DVC's `exp show` fails now and then while a worker sets an experiment up (sweep.run.follow retries)
            return {e.name: e.state for e in queue.experiments(repo, queue.baseline(repo)).values()}["held-1"]
        except Conflict:
            return None

    # the stage cannot end before the release: a start that waited for its worker would see it failed
    assert wait_for(held, timeout=60, what="DVC to report the held experiment") in (queue.QUEUED, queue.RUNNING)
    release.touch()
    wait_for(lambda: held() == queue.SUCCESS, timeout=180, what="the released experiment to succeed")
