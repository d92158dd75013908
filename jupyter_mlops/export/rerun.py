"""Re-run a notebook with papermill in a clean kernel, without touching the user's files or journal.

The run happens in a scratch copy of the project: the notebook copied, the files the tracked session read
linked (read-only use), the project's Python modules linked (imports), and real folders for the files it
wrote, so the re-run's outputs land in the scratch copy and the user's ``model.joblib`` stays as it is.
``.git`` is linked too: the tracker then finds the scratch copy as its project root and keeps the re-run's
journal there, where we read its params and metrics, instead of adding a session to the user's journal
(which would become "the last tracked session" the next verify compares with).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from papermill import execute_notebook
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError

from jupyter_mlops.export.compare import RerunFacts, tracked_values
from jupyter_mlops.hashing import file_digest
from jupyter_mlops.journal import Journal, JournalError
from jupyter_mlops.project import journal_path

ENGINE = "jupyter-mlops-verify"
# Set by a Jupyter kernel's parent or a DVC stage: inherited, they would point the re-run's tracker at the
# user's notebook (and so the user's journal) or make it overwrite a stage's metrics file.
_INHERITED = ("JPY_SESSION_NAME", "JUPYTER_MLOPS_METRICS_FILE")
# (progress callback, kernel cwd) of the run in progress: papermill's engine API has no way to pass them.
_run: ContextVar[tuple[Callable[[int, int], None] | None, str | None]] = ContextVar("jupyter_mlops_verify_run")


class _ScratchKernelManager(AsyncKernelManager):
    """Starts the kernel in the scratch copy, with the inherited variables that would mislead it removed."""

    async def start_kernel(self, **kw: Any) -> None:
        _, cwd = _run.get((None, kw.get("cwd")))
        env = {k: v for k, v in (kw.pop("env", None) or os.environ).items() if k not in _INHERITED}
        await super().start_kernel(env=env, cwd=cwd, **{k: v for k, v in kw.items() if k != "cwd"})


class _VerifyEngine(NBClientEngine):
    """papermill's nbclient engine, reporting "cell i of n" as code cells start."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        report, _ = _run.get((None, None))
        if report is not None:
            total = sum(c.cell_type == "code" for c in nb_man.nb.cells)
            started = [0]
            original = nb_man.cell_start

            def cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
                if cell.cell_type == "code":
                    started[0] += 1
                    report(started[0], total)
                return original(cell, cell_index, **kw)

            nb_man.cell_start = cell_start
        return super().execute_managed_notebook(nb_man, kernel_name, kernel_manager_class=_ScratchKernelManager,
                                                **kwargs)


papermill_engines.register(ENGINE, _VerifyEngine)


def rerun_notebook(root: Path, notebook: str, session: dict, *, kernel: str,
                   progress: Callable[[int, int], None] | None = None) -> RerunFacts:
    """Run ``notebook`` (root-relative) as the tracked ``session`` ran it, in a scratch copy of ``root``."""
    _, _, written, inputs = tracked_values(session)
    injected = {p["name"]: p["value"] for p in session["params"] if p["source"] == "injected"}
    scratch = Path(tempfile.mkdtemp(prefix="mlops-verify-"))
    try:
        _build_scratch(root, scratch, notebook, inputs, written)
        token = _run.set((progress, str((scratch / notebook).parent)))
        error = None
        try:
            execute_notebook(str(scratch / notebook), None, parameters=injected or None, kernel_name=kernel,
                             engine_name=ENGINE, progress_bar=False, log_output=False)
        except PapermillExecutionError as exc:
            error = f"cell {exc.exec_count}: {exc.ename}: {str(exc.evalue).splitlines()[0] if exc.evalue else ''}"
        finally:
            _run.reset(token)
        params, metrics, tracked_itself = _rerun_session(scratch, notebook)
        return RerunFacts(
            params=params, metrics=metrics,
            files={p: file_digest(scratch / p).md5 for p in written},
            inputs={p: file_digest(root / p).md5 for p in inputs},
            error=error, tracked_itself=tracked_itself,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _build_scratch(root: Path, scratch: Path, notebook: str, inputs: Iterable[str], written: Iterable[str]) -> None:
    if (root / ".git").exists():
        (scratch / ".git").symlink_to(root / ".git")
    for rel in written:
        _real_parents(scratch, rel)
    for rel in inputs:
        if (root / rel).exists() and _real_parents(scratch, rel) and not (scratch / rel).exists():
            (scratch / rel).symlink_to(root / rel)
    (scratch / notebook).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / notebook, scratch / notebook)
    for folder in {Path("."), Path(notebook).parent}:
        for entry in (root / folder).iterdir():
            if entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").exists()):
                link = scratch / folder / entry.name
                if not link.exists() and not link.is_symlink():
                    link.symlink_to(entry)


def _real_parents(scratch: Path, rel: str) -> bool:
    """Create ``rel``'s folders as real folders; False when one is a link (the path is reachable already)."""
    folder = scratch
    for part in Path(rel).parent.parts:
        folder = folder / part
        if folder.is_symlink():
            return False
        folder.mkdir(exist_ok=True)
    return True


def _rerun_session(scratch: Path, notebook: str) -> tuple[dict, dict, bool]:
    """Params and metrics of the re-run, from the journal its tracker kept in the scratch copy."""
    try:
        journal = Journal(journal_path(scratch), create=False)
    except JournalError:
        return {}, {}, False
    try:
        sessions = journal.sessions(notebook)
        if not sessions:
            return {}, {}, False
        params, metrics, _, _ = tracked_values(journal.session_detail(sessions[-1]["id"]))
        return params, metrics, True
    finally:
        journal.close()
