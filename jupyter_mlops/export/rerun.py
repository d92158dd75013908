"""Re-run a notebook with papermill in a clean kernel, without touching the user's files or journal.

The run happens in a scratch copy of the project: the notebook copied, the files the tracked session read
hard-linked (a file it also wrote is copied, so the re-run cannot change the user's), the project's Python
modules linked (imports), and real folders for the files it wrote, so the re-run's outputs land in the
scratch copy and the user's ``model.joblib`` stays as it is. ``.git`` is linked too: the tracker then finds
the scratch copy as its project root and keeps the re-run's journal there, where we read its params and
metrics, instead of adding a session to the user's journal (which would become "the last tracked session"
the next verify compares with).

The scratch copy lives in ``.mlops/verify/``, which no kernel's file watcher watches: the re-run reading its
inputs through hard links there is not the I/O of a cell the user runs meanwhile. An input that cannot be
hard-linked (another file system) is linked symbolically and announced while it is read (``own_io.py``).
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

from jupyter_mlops import own_io
from jupyter_mlops.export.compare import RerunFacts, tracked_values
from jupyter_mlops.hashing import file_digest
from jupyter_mlops.journal import Journal, JournalError
from jupyter_mlops.project import JOURNAL_DIR, journal_path

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
    base = root / JOURNAL_DIR / "verify"
    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    try:
        linked = _build_scratch(root, scratch, notebook, inputs, written)
        through_symlinks = [root / p for p in inputs if (scratch / p).is_symlink()]  # read under their own names
        token = _run.set((progress, str((scratch / notebook).parent)))
        error = None
        try:
            with own_io.announced(root, through_symlinks):
                execute_notebook(str(scratch / notebook), None, parameters=injected or None, kernel_name=kernel,
                                 engine_name=ENGINE, progress_bar=False, log_output=False)
        except PapermillExecutionError as exc:
            error = f"cell {exc.exec_count}: {exc.ename}: {str(exc.evalue).splitlines()[0] if exc.evalue else ''}"
        finally:
            _run.reset(token)
        params, metrics, tracked_itself = _rerun_session(scratch, notebook)
        with own_io.announced(root, [root / p for p in inputs if p not in linked]):
            now = {p: file_digest(scratch / p if p in linked else root / p).md5 for p in inputs}
        return RerunFacts(
            params=params, metrics=metrics,
            files={p: file_digest(scratch / p).md5 for p in written},
            inputs=now, error=error, tracked_itself=tracked_itself,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _build_scratch(root: Path, scratch: Path, notebook: str, inputs: Iterable[str],
                   written: Iterable[str]) -> set[str]:
    """The scratch copy; returns the inputs hard-linked into it (the others are read under their own names)."""
    if (root / ".git").exists():
        (scratch / ".git").symlink_to(root / ".git")
    written = set(written)
    for rel in written:
        _real_parents(scratch, rel)
    linked: set[str] = set()
    for rel in inputs:
        source, target = root / rel, scratch / rel
        if not source.exists() or not _real_parents(scratch, rel) or target.exists():
            continue
        if rel not in written and _hard_link(source, target):
            linked.add(rel)
        elif rel in written:  # read, then rewritten by the notebook: the re-run rewrites its own copy
            with own_io.announced(root, [source]):
                if source.is_dir():
                    shutil.copytree(source, target, symlinks=True)
                else:
                    shutil.copy2(source, target)
        else:
            target.symlink_to(source)
    (scratch / notebook).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / notebook, scratch / notebook)
    for folder in {Path("."), Path(notebook).parent}:
        for entry in (root / folder).iterdir():
            if entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").exists()):
                link = scratch / folder / entry.name
                if not link.exists() and not link.is_symlink():
                    link.symlink_to(entry)
    return linked


def _hard_link(source: Path, target: Path) -> bool:
    """``target`` as hard links to ``source`` (a file, or a folder's files in the same folders); False, with
    nothing left at ``target``, when one cannot be made (another file system, a special file)."""
    try:
        if not source.is_dir():
            os.link(source, target)
            return True
        for folder, _, names in os.walk(source):
            into = target / Path(folder).relative_to(source)
            into.mkdir(parents=True, exist_ok=True)
            for name in names:
                os.link(Path(folder) / name, into / name)
        return True
    except OSError:
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
        return False


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
