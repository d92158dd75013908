"""A project in a real git + DVC repository, and the commands tests run in it (git, dvc, papermill, ours).

The environment is the test interpreter's (its ``bin/`` first, so ``dvc`` and ``papermill`` are the venv's),
with a git identity for commits, and without what an outer run would leak into the commands: a Jupyter
session name, an exported stage's metrics file, a DVC experiment's ``DVC_ROOT``/``DVC_EXP_NAME``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.wait import followers_done, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BIN = str(Path(sys.executable).parent)
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
       "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
       "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com"}
for inherited in ("JPY_SESSION_NAME", "JUPYTER_MLOPS_METRICS_FILE", "DVC_ROOT", "DVC_EXP_NAME"):
    ENV.pop(inherited, None)


def run(repo: Path, *argv: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """``argv`` in ``repo``; a failure (with ``check``) is an AssertionError carrying its output."""
    done = subprocess.run(argv, cwd=repo, env=ENV, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def mlops(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(repo, sys.executable, "-m", "jupyter_mlops.commands", *args, check=check)


def tracked_example(repo: Path, executed: Path, *, commit_ignoring: str | None = None) -> Path:
    """The example notebook and its data in a new git + DVC repository at ``repo``, run once by papermill
    (its own ``%mlops_track`` tracks it), once the MLflow follower's last pass is over (tests copy the
    folder). ``commit_ignoring``: commit it first, with this ``.gitignore``."""
    run(repo, "git", "init", "-q")
    run(repo, "dvc", "init", "-q")
    shutil.copy(EXAMPLES / "churn.ipynb", repo / "churn.ipynb")
    shutil.copytree(EXAMPLES / "data", repo / "data")
    if commit_ignoring is not None:
        (repo / ".gitignore").write_text(commit_ignoring)
        run(repo, "git", "add", "-A")
        run(repo, "git", "commit", "-qm", "the notebook")
    run(repo, sys.executable, "-m", "papermill", "churn.ipynb", str(executed), "--cwd", str(repo), "-k", "python3")
    wait_for(lambda: followers_done(repo), timeout=120, what="the MLflow follower's last pass")
    return repo
