"""Issue 13: under papermill (no cell ids) the journal names the notebook that ran, without guessing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlops.journal import Journal

pytestmark = pytest.mark.e2e

TRACK = "%load_ext jupyter_mlops\n%mlops_track --no-mlflow"
SHARED = [TRACK, "# Parameters\nlr = 0.1", "x = 1", "y = x + lr"]


def write_notebook(path: Path, sources: list[str], prefix: str) -> None:
    cells = [{"cell_type": "code", "id": f"{prefix}{i}", "source": src, "execution_count": None, "outputs": [],
              "metadata": {"tags": ["parameters"]} if src.startswith("# Parameters") else {}}
             for i, src in enumerate(sources)]
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}))


def papermill(cwd: Path, notebook: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "papermill", notebook, "/dev/null", "-k", "python3",
                           "--no-progress-bar", "--log-output", *args],
                          cwd=cwd, check=True, capture_output=True, text=True, timeout=300)


def latest(project: Path) -> dict:
    journal = Journal(project / ".mlops" / "journal.sqlite", create=False)
    try:
        return journal.session_detail(journal.find_session("latest"))
    finally:
        journal.close()


def ours(run: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (run.stdout + run.stderr).splitlines() if "jupyter-mlops:" in line
            and "tracking session" not in line]


def test_a_copy_that_starts_with_the_same_cells_is_told_apart_by_the_later_ones(project):
    # Given churn.ipynb and a v2 beside it: same first cells (other ids), a different last one
    write_notebook(project / "churn.ipynb", [*SHARED, "z = y * 2"], "a")
    write_notebook(project / "churn-v2.ipynb", [*SHARED, "z = y * 3"], "b")
    for name, prefix in (("churn.ipynb", "a"), ("churn-v2.ipynb", "b")):
        # When each is run with a plain papermill call
        run = papermill(project, name)
        # Then its session names it, every cell run carries its own id, and nothing looks out of order
        session = latest(project)
        assert session["notebook"] == name and ours(run) == [], ours(run)
        runs = session["cell_runs"]
        assert [r["cell_id"] for r in runs] == [f"{prefix}{i}" for i in range(1, 5)]
        assert runs[-1]["reproducible"] is True and runs[-1]["issues"] == []
        assert {p["name"] for p in session["params"]} == {"lr"}


def test_identical_copies_are_told_apart_by_the_command_line_papermill_was_given(project):
    # Given a notebook and a byte-for-byte copy of it (same cells, same ids)
    write_notebook(project / "churn.ipynb", [*SHARED, "z = y * 2"], "a")
    (project / "churn-copy.ipynb").write_bytes((project / "churn.ipynb").read_bytes())
    for name in ("churn-copy.ipynb", "churn.ipynb"):
        # When papermill runs one of them, saying nothing more (its output beside them, as users do)
        run = subprocess.run([sys.executable, "-m", "papermill", name, f"out-{name}", "-k", "python3",
                              "--no-progress-bar", "--log-output"],
                             cwd=project, check=True, capture_output=True, text=True, timeout=300)
        # Then the session names the one its command line names, silently
        session = latest(project)
        assert session["notebook"] == name and ours(run) == [], ours(run)
        assert [r["cell_id"] for r in session["cell_runs"]] == [f"a{i}" for i in range(1, 5)]


RUN_BY_SCRIPT = """
import nbformat
from nbclient import NotebookClient
nb = nbformat.read("churn.ipynb", as_version=4)
NotebookClient(nb, kernel_name="python3").execute()
for cell in nb.cells:
    for output in cell.get("outputs", []):
        print(output.get("text", ""), end="")
"""


def test_identical_copies_a_runner_does_not_name_are_one_warning_and_the_input_path_settles_it(project):
    # Given a notebook and a byte-for-byte copy of it, and a script that runs one with nbclient
    write_notebook(project / "churn.ipynb", [*SHARED, "z = y * 2"], "a")
    (project / "churn-copy.ipynb").write_bytes((project / "churn.ipynb").read_bytes())
    (project / "run.py").write_text(RUN_BY_SCRIPT)
    # When it runs (its command line names no notebook), one warning names both and the way out
    run = subprocess.run([sys.executable, "run.py"], cwd=project, check=True, capture_output=True, text=True,
                         timeout=300)
    [warning] = ours(run)
    assert "churn.ipynb" in warning and "churn-copy.ipynb" in warning and "--notebook" in warning
    assert latest(project)["notebook"] is None
    # When papermill injects the input path, the notebook is known, silently
    run = papermill(project, "churn-copy.ipynb", "--inject-input-path")
    session = latest(project)
    assert session["notebook"] == "churn-copy.ipynb" and ours(run) == [], ours(run)
    assert "PAPERMILL_INPUT_PATH" not in {p["name"] for p in session["params"]}


def test_the_input_path_is_found_from_papermills_folder_under_cwd(project):
    # Given a notebook in a subfolder with a copy beside it, run from the root with --cwd (as DVC stages do)
    (project / "pipeline").mkdir()
    write_notebook(project / "pipeline" / "train.ipynb", SHARED, "t")
    (project / "pipeline" / "train-old.ipynb").write_bytes((project / "pipeline" / "train.ipynb").read_bytes())
    run = papermill(project, "pipeline/train.ipynb", "--cwd", "pipeline", "--inject-input-path")
    session = latest(project)
    assert session["notebook"] == "pipeline/train.ipynb" and ours(run) == [], ours(run)


def test_copies_in_a_subfolder_run_from_the_root_with_cwd_are_told_apart_by_the_command_line(project):
    # Given a notebook and its copy in a subfolder, papermill run from the root with --cwd (it moves there)
    (project / "pipeline").mkdir()
    write_notebook(project / "pipeline" / "train.ipynb", SHARED, "t")
    (project / "pipeline" / "train-old.ipynb").write_bytes((project / "pipeline" / "train.ipynb").read_bytes())
    run = papermill(project, "pipeline/train-old.ipynb", "--cwd", "pipeline")
    session = latest(project)
    assert session["notebook"] == "pipeline/train-old.ipynb" and ours(run) == [], ours(run)
