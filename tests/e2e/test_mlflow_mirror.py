"""Issue 4 in a real kernel with MLflow's embedded SQLite store at the project root; issue 13: the mirror
runs in the project's follower process, never in the kernel."""

from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.support.kernel import Kernel
from tests.support.wait import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kernel]

NOTEBOOK_CELLS = {"params": "# Parameters\nlr = 0.1", "read": "text = open('data/train.csv').read()",
                  "train": "import jupyter_mlops\nfor i, v in enumerate([0.9, 0.5, 0.3]):\n"
                           "    jupyter_mlops.log_metric('loss', v, step=i)"}
# Records, before anything is imported, which thread first imports each heavy module.
WHO_IMPORTS = """
import sys, threading
class WhoImports:
    seen = {}
    def find_spec(self, name, path=None, target=None):
        if name in ("mlflow", "git"):
            self.seen.setdefault(name, threading.current_thread().name)
        return None
who = WhoImports()
sys.meta_path.insert(0, who)
"""

SETUP_CELLS = {"who": WHO_IMPORTS, "load": "%load_ext jupyter_mlops", "track": "%mlops_track --notebook exp.ipynb"}


def git(project: Path, *argv: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *argv], cwd=project,
                          check=True, capture_output=True, text=True).stdout.strip()


def write_notebook(path: Path, cells: dict[str, str]) -> None:
    nb = {"cells": [{"cell_type": "code", "id": cid, "source": src, "metadata": {}, "outputs": [],
                     "execution_count": None} for cid, src in cells.items()],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def mirrored(folder: Path, experiment: str, status: str | None = None) -> list:
    """Wait until the mirror has made the run (the store file appears complete: it is linked into place),
    and, given a status, until the run has it."""
    wait_for(lambda: (folder / "mlflow.db").exists(), what="the MLflow store")
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")

    def runs() -> list:
        found = client.get_experiment_by_name(experiment)
        runs = client.search_runs([found.experiment_id]) if found else []
        return runs if runs and (status is None or all(r.info.status == status for r in runs)) else []

    return wait_for(runs, what=f"the MLflow run{' ' + status if status else ''}")


def followers_running(folder: Path) -> int:
    """How many follower locks of this project are held (a follower holds its lock while it runs)."""
    held = 0
    for lock in (folder / ".mlops" / "mlflow").glob("follower-*.lock"):
        with open(lock, "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                held += 1
    return held


@pytest.fixture
def experiment_project(project: Path) -> Path:
    (project / "data").mkdir()
    (project / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    # The instrumentation is the notebook's own first cell: a late start judges the cells that ran before it,
    # and code no cell holds would leave the verdict not established.
    write_notebook(project / "exp.ipynb", {**SETUP_CELLS, **NOTEBOOK_CELLS})
    (project / ".gitignore").write_text(".mlops/\nmlflow.db\nmlruns/\n")
    git(project, "add", ".")
    git(project, "commit", "-qm", "experiment")
    return project


def test_a_tracked_session_becomes_a_complete_mlflow_run_in_the_root_sqlite_store(experiment_project):
    project = experiment_project
    kernel = Kernel(project, env={"MLFLOW_TRACKING_URI": ""})  # the default: sqlite at the project root
    try:
        kernel.cell(SETUP_CELLS["who"], "who")
        kernel.cell(SETUP_CELLS["load"], "load")
        assert kernel.eval("'mlflow' in sys.modules or 'git' in sys.modules") is False
        kernel.cell(SETUP_CELLS["track"], "track")
        session = kernel.eval("__import__('jupyter_mlops').status()['session']")
        for cell_id, code in NOTEBOOK_CELLS.items():
            kernel.cell(code, cell_id)
        mirrored(project, "exp")  # a user works for a while; the follower has made the run
        kernel.cell("%mlops_track --off", "off")
        mirrored(project, "exp", "FINISHED")  # the follower's last pass, nobody waiting for it
        importers = kernel.eval("who.seen")
        threads = kernel.eval("sorted(t.name for t in __import__('threading').enumerate())")
    finally:
        kernel.shutdown()
    # The kernel imported neither MLflow nor git, and ran no thread for them: the follower did the work
    assert importers == {} and not [t for t in threads if "mlflow" in t], threads
    assert "following" in (project / ".mlops" / "mlflow" / "follower.log").read_text()
    assert (project / "mlflow.db").is_file()
    # With nothing left to follow, the follower exits
    wait_for(lambda: followers_running(project) == 0, what="the follower to exit")

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("exp")
    [run] = client.search_runs([experiment.experiment_id], f"tags.`mlops.session` = '{session}'")
    tags = run.data.tags
    assert run.info.status == "FINISHED" and run.data.params == {"lr": "0.1"}
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [
        (0, 0.9), (1, 0.5), (2, 0.3)]
    [dataset] = run.inputs.dataset_inputs
    md5 = hashlib.md5((project / "data" / "train.csv").read_bytes()).hexdigest()
    assert (dataset.dataset.name, dataset.dataset.digest) == ("data/train.csv", md5)
    assert json.loads(dataset.dataset.source) == {"uri": "data/train.csv"}
    assert [(t.key, t.value) for t in dataset.tags] == [("mlflow.data.context", "input")]
    assert tags["mlflow.source.git.commit"] == git(project, "rev-parse", "HEAD")
    assert tags["mlflow.source.git.branch"] == git(project, "branch", "--show-current")
    assert tags["mlops.git.dirty"] == "false"
    assert tags["mlops.session"] == session and tags["mlops.reproducible"] == "true"
    assert tags["mlflow.source.name"] == "exp.ipynb" and tags["mlflow.source.type"] == "NOTEBOOK"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"notebook", "environment"} <= artifacts
    notebook = Path(client.download_artifacts(run.info.run_id, "notebook/exp.ipynb", str(project / "dl")))
    assert notebook.read_bytes() == (project / "exp.ipynb").read_bytes()
    env = Path(client.download_artifacts(run.info.run_id, "environment/requirements.txt", str(project / "dl")))
    assert "mlflow==" in env.read_text()
    assert tags["mlops.env.hash"] == hashlib.md5(env.read_bytes()).hexdigest()


def test_no_mlflow_starts_no_mirror_and_imports_nothing(project):
    kernel = Kernel(project, env={"MLFLOW_TRACKING_URI": ""})
    try:
        kernel.cell(WHO_IMPORTS, "who")
        kernel.cell("%load_ext jupyter_mlops", "load")
        kernel.cell("%mlops_track --no-mlflow", "track")
        kernel.cell("x = 1", "x")
        kernel.cell("%mlops_track --off", "off")
        assert kernel.eval("who.seen") == {}
        assert kernel.eval("[t.name for t in __import__('threading').enumerate() if 'mlflow' in t.name]") == []
    finally:
        kernel.shutdown()
    assert not (project / "mlflow.db").exists() and not (project / ".mlops" / "mlflow").exists()


def test_outside_a_git_repository_the_run_says_so_once_and_is_still_mirrored(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    kernel = Kernel(folder, env={"MLFLOW_TRACKING_URI": ""})
    try:
        kernel.cell("%load_ext jupyter_mlops", "load")
        replies = [kernel.cell("%mlops_track --experiment plain", "track")]  # where the commit is looked up
        replies += [kernel.cell(f"v{i} = {i}", f"c{i}") for i in range(2)]
        mirrored(folder, "plain")
        replies += [kernel.cell(f"v{i} = {i}", f"c{i}") for i in range(2, 4)]
        kernel.cell("%mlops_track --off", "off")
        [run] = mirrored(folder, "plain", "FINISHED")
    finally:
        kernel.shutdown()
    notes = [line for r in replies for line in r.stderr.splitlines() if "git" in line]
    assert len(notes) == 1 and "not in a git repository" in notes[0], notes
    assert "not in a git repository" in run.data.tags["mlops.git"]
    assert "mlflow.source.git.commit" not in run.data.tags


def test_the_kernels_of_one_project_share_one_follower(project):
    # Given two kernels tracking in one project at once
    kernels = [Kernel(project, env={"MLFLOW_TRACKING_URI": ""}) for _ in range(2)]
    try:
        for i, kernel in enumerate(kernels):
            kernel.cell("%load_ext jupyter_mlops", "load")
            kernel.cell(f"%mlops_track --experiment shared{i}", "track")
            kernel.cell("import jupyter_mlops; jupyter_mlops.log_metric('m', 1.0)", "m")
        # Then both are mirrored, by one follower
        for i in range(2):
            mirrored(project, f"shared{i}")
        assert followers_running(project) == 1
        log = (project / ".mlops" / "mlflow" / "follower.log").read_text()
        assert log.count("following") == 1, log
        # When one stops, its run is finished and the follower stays for the other
        kernels[0].cell("%mlops_track --off", "off")
        mirrored(project, "shared0", "FINISHED")
        assert followers_running(project) == 1
        # When the other kernel is shut down as papermill and Jupyter do, asking it to exit
        kernels[1].kc.stop_channels()
        kernels[1].km.shutdown_kernel(now=False)
    finally:
        for kernel in kernels:
            kernel.shutdown()
    # Then its run is finished too, and the follower exits
    mirrored(project, "shared1", "FINISHED")
    wait_for(lambda: followers_running(project) == 0, what="the follower to exit")


def test_mlflow_import_warnings_do_not_land_in_the_users_cell(project):
    # ipywidgets is not installed here, so MLflow's import of tqdm.auto warns "IProgress not found"
    kernel = Kernel(project, env={"MLFLOW_TRACKING_URI": ""})
    try:
        kernel.cell("%load_ext jupyter_mlops", "load")
        kernel.cell("%mlops_track --experiment quiet", "track")
        busy = kernel.cell("x = 0", "while-mlflow-loads")
        mirrored(project, "quiet")
        later = kernel.cell("x = 1", "next")
        in_kernel = kernel.eval("sorted(m for m in __import__('sys').modules if m.startswith('mlflow')"
                                " or m == 'jupyter_mlops.sinks.mlflow_push')")
    finally:
        kernel.shutdown()
    assert in_kernel == []
    assert "Warning" not in busy.stderr + later.stderr, busy.stderr + later.stderr
