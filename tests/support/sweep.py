"""A real, tiny sweep for the server and browser tests: a three-cell notebook committed in a git + DVC
repository, then ``jupyter mlops sweep`` of it (exported on the way) over real DVC workers and kernels:
about 45 s for two experiments on a loaded machine. The e2e tests sweep the example itself.

Its score is ``b - (a - 3) ** 2``: a=3 wins, so the best row is known without trusting our table.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import nbformat

from tests.support.repo import run

NOTEBOOK = "tiny.ipynb"


def tiny_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("a = 1\nb = 2")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_code_cell("%load_ext jupyter_mlops\n%mlops_track --experiment tiny --metrics score "
                                          "--no-mlflow"),
                params,
                nbformat.v4.new_code_cell('import jupyter_mlops\nscore = b - (a - 3) ** 2\n'
                                          'jupyter_mlops.log_metric("score", score)')]
    return nb


def swept_project(repo: Path, values: str = "1,3") -> dict[str, Any]:
    """``repo`` made a committed git + DVC project of the tiny notebook, swept over ``a`` two at a time; the
    sweep's table as ``--json`` prints it."""
    repo.mkdir(parents=True, exist_ok=True)
    run(repo, "git", "init", "-q")
    for key, value in (("user.name", "test"), ("user.email", "test@example.com")):  # `dvc exp apply` needs them
        run(repo, "git", "config", key, value)  # in the repository: servers under test get a HOME of their own
    run(repo, "dvc", "init", "-q")
    nbformat.write(tiny_notebook(), repo / NOTEBOOK)
    (repo / ".gitignore").write_text(".mlops/\n")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "the notebook")
    done = run(repo, sys.executable, "-m", "jupyter_mlops.commands", "sweep", NOTEBOOK, "-S", f"a={values}", "-j", "2",
               "--stages", "single", "--json")
    return json.loads(done.stdout)


def copy_project(source: Path, target: Path) -> None:
    """A copy of a swept project (git's experiment refs and DVC's cache included) for one test to change."""
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
