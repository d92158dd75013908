"""DVC as a command: the one place export runs it (``dvc add``, ``dvc remote``, ``dvc push``).

DVC is run in a child process of this interpreter (``python -m dvc``), never imported: its import costs
seconds and it is the tool users already trust, so we drive it and relay its own reason when it fails.
DVC reads its configuration from ``.dvc/`` first: those files are held to ``project_files``' rule before it
runs (a config linked out of the project would point DVC's cache or remote anywhere).

DVC reads and writes project files under their own names (hashing data, stashing the workspace for an
experiment, applying one), which a kernel's file watcher would take for the cell it is running: what a
command touches is announced to the watchers while it runs (``own_io.py``), the whole project unless the
caller knows better.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from jupyter_mlops import own_io, project_files

TIMEOUT_S = 600
TIMED_OUT = 124  # the return code of a command killed at its timeout (as coreutils' ``timeout`` says it)
CONFIG_FILES = (".dvc", ".dvc/config", ".dvc/config.local")


def run_dvc(root: Path, *args: str, touches: Iterable[Path] | None = None,
            timeout_s: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """``dvc ARGS`` at ``root``; never raises for DVC's own failures (read ``returncode`` and ``reason``), nor
    when it does not finish within ``timeout_s`` (a failure whose reason says so: it is killed). ``touches``:
    the project paths it reads or writes (default: any), announced while it runs.

    Its output goes through temporary files (outside the project), not pipes: the daemons a command starts
    (``dvc queue start``'s workers) inherit them, and reading a pipe to its end would wait for the daemons,
    i.e. the whole queue.
    """
    check_config(root)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    argv = [sys.executable, "-m", "dvc", *args]
    with (own_io.announced(root, [root] if touches is None else touches),
          tempfile.TemporaryFile("w+", encoding="utf-8") as out, tempfile.TemporaryFile("w+", encoding="utf-8") as err):
        try:
            done = subprocess.run(argv, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                  timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, TIMED_OUT, "", f"ERROR: `dvc {' '.join(args)}` did not finish "
                                                            f"within {timeout_s:g} s")
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, done.returncode, out.read(), err.read())


def check_config(root: Path) -> None:
    """``.dvc/`` and DVC's configuration files inside the project, regular files (Conflict otherwise)."""
    for config in CONFIG_FILES:
        project_files.check(root, config, folder=config == ".dvc")


def reason(done: subprocess.CompletedProcess[str]) -> str:
    """DVC's own reason for a failure: its last ``ERROR:`` line, else its last line."""
    lines = [line.strip() for line in (done.stderr or done.stdout or "").splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1]
