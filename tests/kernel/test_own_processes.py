"""Issue 24, item 1, in a real kernel: what our own processes read or write in the project while a cell runs
is never that cell's, even when the cell names the very files (its namespace names the data folder).

The project is a fresh ``git clone`` whose data git tracks, with the index made racily clean on purpose
(as a clone usually is, but certainly): any ``git status`` then re-reads the data. A plain ``git status`` by
someone else while the cell waits is the control: it is seen, and given to the cell, as the capture must.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mlops.export.dvccmd import run_dvc
from jupyter_mlops.export.rawdata import version_raw_inputs
from jupyter_mlops.journal import Journal
from jupyter_mlops.monitor import profiler
from jupyter_mlops.provenance import git_state
from tests.support.kernel import Kernel, while_a_cell_waits
from tests.support.records import files_of
from tests.support.repo import ENV

pytestmark = pytest.mark.kernel


def git(repo: Path, *argv: str) -> str:
    return subprocess.run(["git", *argv], cwd=repo, env=ENV, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("origin")
    git(src, "init", "-q", "-b", "main")
    (src / "data").mkdir()
    (src / "data" / "churn.csv").write_text("id,churned\n" + "".join(f"{i},{i % 2}\n" for i in range(2000)))
    (src / "data" / "other.csv").write_text("a\n1\n")
    git(src, "add", ".")
    git(src, "commit", "-qm", "data")
    clone = tmp_path_factory.mktemp("clone") / "project"
    git(src.parent, "clone", "-q", str(src), str(clone))
    subprocess.run(["dvc", "init", "-q"], cwd=clone, env=ENV, check=True)
    git(clone, "commit", "-qm", "dvc init")
    (clone / "data" / "raw.bin").write_bytes(b"\x00" * 4096)  # not in git: `dvc add` versions it
    # Racily clean for certain: the index written in the same instant as the data (a clone usually is).
    data = os.stat(clone / "data" / "churn.csv")
    os.utime(clone / ".git" / "index", ns=(data.st_atime_ns, data.st_mtime_ns))
    return clone


@pytest.fixture(scope="module")
def kernel(clone: Path) -> Iterator[Kernel]:
    k = Kernel(clone)
    try:
        k.cell("%load_ext jupyter_mlops", "load")
        assert "tracking session" in k.cell("%mlops_track --no-mlflow", "track").stdout
        k.cell("data_path = 'data/churn.csv'\nfolder = 'data'", "names-the-data")
        yield k
    finally:
        k.shutdown()


def test_the_sessions_commit_is_recorded_by_the_tracking_cell_whatever_the_sinks(clone, kernel):
    journal = Journal(clone / ".mlops" / "journal.sqlite", create=False)
    try:
        provenance = journal.provenance(journal.find_session("latest"))
    finally:
        journal.close()
    assert provenance is not None
    assert (provenance.git.commit, provenance.git.branch, provenance.git.dirty) == (
        git(clone, "rev-parse", "HEAD").strip(), "main", False)
    assert provenance.env.packages_hash and "jupyter-mlops==" in provenance.env.packages
    assert files_of(clone, "names-the-data") == {}


def test_git_for_provenance_dvc_and_the_daemons_are_not_the_running_cells(clone, kernel, tmp_path):
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    state = []
    while_a_cell_waits(kernel, gate, "", lambda: state.append(git_state(clone)), "our-git")
    assert state[0].dirty is False
    assert files_of(clone, "our-git") == {}

    # The control: the same racy index, read by a git that is not ours, is the cell's as far as anyone can tell
    # (it reads the data files and lists their folder: the folder, as one dataset).
    while_a_cell_waits(kernel, gate, "", lambda: git(clone, "status", "--porcelain"), "someone-elses-git")
    assert set(files_of(clone, "someone-elses-git")) & {("data/churn.csv", "read"), ("data", "read")}

    def the_profiler_reading_a_folder() -> None:  # no hard link for a folder: read under its name, announced
        with profiler.DAEMON.unwatched(clone, clone / "data") as folder:
            assert folder == clone / "data"
            for name in sorted(os.listdir(folder)):
                if (folder / name).is_file():
                    (folder / name).read_bytes()

    while_a_cell_waits(kernel, gate, "", the_profiler_reading_a_folder, "daemon-folder")
    assert files_of(clone, "daemon-folder") == {}

    notes = []
    while_a_cell_waits(kernel, gate, "", lambda: notes.append(version_raw_inputs(clone, ["data/raw.bin"], {})),
                       "dvc-add")
    assert (clone / "data" / "raw.bin.dvc").is_file(), notes
    assert files_of(clone, "dvc-add") == {}

    # An unnamed DVC command may touch anything: the whole project is announced while it runs.
    while_a_cell_waits(kernel, gate, "", lambda: run_dvc(clone, "status"), "dvc-status")
    assert files_of(clone, "dvc-status") == {}
    assert os.listdir(clone / ".mlops" / "own-io") == []  # every announcement is withdrawn
