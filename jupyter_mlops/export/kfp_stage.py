"""What one Kubeflow step of an exported pipeline does: run its stage notebook with papermill, as ``dvc repro``
would, in a scratch copy of the project. Called from the components ``pipeline.py`` defines (``kfp_pipeline``).

The step's container image holds the project (the committed stage notebooks, its code, ``.dvc/`` and, when
packaged, its data). The step copies it into a fresh workspace, so a local run (``kfp.local``) never touches
the project and every step sees what its container would: the project as committed, the artifacts of the
steps before it put at their project paths, and raw inputs the image lacks pulled from the project's DVC
remote. After papermill the step waits for the MLflow mirror to send the stage's tracked session (the
container, with its journal, ends with the step), then hands its outputs over as artifacts and its metrics
as the step's ``Metrics``.

Imported in the step's process only: it needs nothing of kfp itself (the metrics artifact is duck-typed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from jupyter_mlops.export.dvccmd import reason, run_dvc
from jupyter_mlops.export.dvcfile import METRICS_FILE_ENV
from jupyter_mlops.export.nbgen import papermill_command
from jupyter_mlops.project import JOURNAL_DIR, journal_path
from jupyter_mlops.sinks.follower_daemon import state_dir
from jupyter_mlops.sinks.tracking_uri import DEFAULT_DB

MIRROR_TIMEOUT_S = 600.0
"""Longest wait for the MLflow mirror after papermill; past it the step ends and says what was not sent."""

# Never copied into a step's workspace: the developer's journal and MLflow store (the step tracks afresh),
# DVC's cache (pulled data lands in a cache of its own), environments and tool caches.
_SKIPPED_NAMES = frozenset({JOURNAL_DIR, "__pycache__", ".ipynb_checkpoints", ".venv", "venv", "node_modules",
                            "mlruns", ".pytest_cache", ".ruff_cache", ".mypy_cache"})
_MLFLOW_DB = DEFAULT_DB  # and its SQLite side files (-journal, -wal, -shm)
_SKIPPED_IN_DVC = frozenset({"cache", "tmp"})


class StageError(RuntimeError):
    """The step cannot produce what the pipeline expects of it; KFP marks the step failed with this message."""


class MetricsArtifact(Protocol):
    def log_metric(self, metric: str, value: float) -> None: ...


def run_stage(*, project_dir: str, mlflow_tracking_uri: str, notebook: str, executed: str, cwd: str, kernel: str,
              params: Mapping[str, Any], raw_inputs: Sequence[str], inputs: Mapping[str, str],
              outputs: Mapping[str, str], metrics_file: str | None = None,
              metrics: MetricsArtifact | None = None) -> None:
    """Run stage notebook ``notebook`` (project-relative, like every path here) in a copy of ``project_dir``.

    ``inputs``: project path → local path of an upstream artifact, put there before the run; ``outputs``:
    project path → local path of this step's artifact, filled after it; ``raw_inputs``: files no step makes,
    pulled with DVC when the image lacks them; ``metrics_file``: where the tracker writes the stage's
    metrics, logged to ``metrics``.
    """
    scratch = Path(tempfile.mkdtemp(prefix="mlops-step-"))
    workspace = scratch / "project"
    try:
        _copy_project(Path(project_dir), workspace)
        for rel, local in inputs.items():
            _place(Path(local), workspace / rel)
        _pull_missing(workspace, [p for p in raw_inputs if not (workspace / p).exists()])
        params_file = scratch / "params.yaml"
        params_file.write_text(json.dumps(dict(params), indent=2) + "\n", encoding="utf-8")  # JSON is YAML
        env = dict(os.environ)
        if mlflow_tracking_uri:
            env["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
        if metrics_file is not None:
            env[METRICS_FILE_ENV] = str(workspace / metrics_file)
        command = papermill_command(notebook, executed, kernel, params_file=str(params_file), cwd=cwd)
        print(f"stage notebook {notebook}: papermill with {', '.join(params) or 'no parameters'}", flush=True)
        done = subprocess.run([sys.executable, "-m", *command], cwd=workspace, env=env, check=False)
        _wait_for_mirror(workspace)
        if done.returncode != 0:
            raise StageError(f"{notebook} failed (papermill exited {done.returncode}); the log above shows the "
                             "cell and its traceback")
        for rel, local in outputs.items():
            _hand_over(workspace / rel, Path(local), rel)
        if metrics is not None and metrics_file is not None:
            _log_metrics(workspace / metrics_file, metrics)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _copy_project(source: Path, workspace: Path) -> None:
    if not source.is_dir():
        raise StageError(f"no project at {source}: the image must hold the project there (or pass the "
                         "pipeline parameter project_dir)")

    def skipped(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        out = {n for n in names
               if n in _SKIPPED_NAMES or n.startswith(_MLFLOW_DB) or (here / n / "pyvenv.cfg").exists()}
        if here.name == ".dvc":
            out |= _SKIPPED_IN_DVC & set(names)
        return out

    shutil.copytree(source, workspace, symlinks=True, ignore=skipped)


def _place(artifact: Path, target: Path) -> None:
    """An upstream artifact (a file or a folder) at its project path, replacing what the image had there."""
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if artifact.is_dir():
        shutil.copytree(artifact, target)
    else:
        shutil.copy2(artifact, target)


def _pull_missing(workspace: Path, paths: list[str]) -> None:
    """Raw inputs the image does not package come from the project's DVC remote (``export --remote/--push``)."""
    if not paths:
        return
    if not (workspace / ".dvc").is_dir():
        raise StageError(f"{', '.join(paths)}: not in the image, and the project has no DVC to pull them from; "
                         "package the data in the image or put it under DVC with a remote (export --remote)")
    print(f"dvc pull {' '.join(paths)}", flush=True)
    done = run_dvc(workspace, "pull", *paths)
    if done.returncode != 0:
        raise StageError(f"dvc pull {' '.join(paths)} failed: {reason(done)}; check the remote and its "
                         "credentials in the step's environment (`dvc remote list`)")


def _wait_for_mirror(workspace: Path) -> None:
    """Until the MLflow follower has sent every tracked session of the step (it drops the subscription after
    its last pass); then its log goes to the step's log, where a store that refused anything says so."""
    journal = journal_path(workspace)
    if not journal.exists():
        return  # the stage notebook is not tracked
    from jupyter_mlops.sinks.bookkeeping import Bookkeeping

    book = Bookkeeping(journal)
    try:
        deadline = time.monotonic() + MIRROR_TIMEOUT_S
        while book.following() and time.monotonic() < deadline:
            time.sleep(0.2)
        late = book.following()
    finally:
        book.close()
    log = state_dir(workspace) / "follower.log"
    if log.exists():
        print(log.read_text(encoding="utf-8", errors="replace"), end="", flush=True)
    if late:
        print(f"warning: the MLflow mirror had not sent {late} session(s) after {MIRROR_TIMEOUT_S:.0f} s; "
              "they are lost with this step's journal", file=sys.stderr, flush=True)


def _hand_over(produced: Path, artifact: Path, rel: str) -> None:
    if not produced.exists():
        raise StageError(f"the stage did not write {rel}, which later steps (or the pipeline's outputs) expect")
    artifact.parent.mkdir(parents=True, exist_ok=True)
    if produced.is_dir():
        shutil.copytree(produced, artifact, dirs_exist_ok=True)
    else:
        shutil.copy2(produced, artifact)


def _log_metrics(path: Path, metrics: MetricsArtifact) -> None:
    """The tracker's metrics file (the one ``dvc.yaml`` names) as the step's KFP metrics: numbers only."""
    if not path.exists():
        raise StageError(f"the stage logged no metrics: {path.name} is missing (is %mlops_track still on?)")
    for name, value in json.loads(path.read_text(encoding="utf-8")).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics.log_metric(name, value)
