"""Where a project lives and which of its files count as data.

Every recorded path is relative to the project root, so a journal stays meaningful when the project is
cloned elsewhere and matches the paths DVC writes in ``dvc.yaml``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from jupyter_mlops.errors import BadInput

JOURNAL_DIR = ".mlops"
JOURNAL_NAME = "journal.sqlite"

# Folders whose files are never the user's data: our own store, VCS internals, environments and installed
# packages, tool caches, editor/Jupyter litter, the MLflow mirror's artifacts.
_IGNORED_PARTS = frozenset({
    JOURNAL_DIR, ".git", ".hg", ".svn", ".dvc", ".ipynb_checkpoints", ".virtual_documents", "__pycache__",
    ".venv", "venv", ".tox", ".nox", "site-packages", "dist-packages", "node_modules", ".cache",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", ".idea", ".vscode", "mlruns",
})
# Source and bytecode are opened by `import`; a cell reading a module as data is rare enough to ignore.
_IGNORED_SUFFIXES = frozenset({".py", ".pyc", ".pyo", ".so", ".pyd", ".swp", ".swx"})
# SQLite's side files live and die with their database, which is the record; MLflow's store is the mirror's.
_IGNORED_ENDINGS = ("-journal", "-wal", "-shm", "~")
_IGNORED_NAMES = frozenset({"mlflow.db", ".DS_Store"})


def is_ignored_dir(path: str) -> bool:
    """A folder whose contents are never data (the watcher does not descend into it): by its name, or a
    Python environment of any name (``pyvenv.cfg``, ``conda-meta/``) — two ``stat``s, off the hot path."""
    return (os.path.basename(path) in _IGNORED_PARTS or os.path.exists(os.path.join(path, "pyvenv.cfg"))
            or os.path.isdir(os.path.join(path, "conda-meta")))


def find_root(start: Path) -> Path:
    """The git work tree containing ``start``, else ``start`` itself (the notebook's folder)."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def notebook_key(notebook: str, root: Path) -> str:
    """How the journal names a notebook given on the command line: its path relative to ``root``."""
    path = Path(notebook).resolve()
    if path.suffix != ".ipynb":
        raise BadInput(f"{notebook}: expected a .ipynb notebook path")
    try:
        return path.relative_to(root).as_posix()
    except ValueError as exc:
        raise BadInput(f"{notebook} is outside the project root {root}") from exc


def journal_path(root: Path) -> Path:
    return root / JOURNAL_DIR / JOURNAL_NAME


def journal_home(journal: Path) -> Path:
    """The project a journal file belongs to: where its MLflow store and background processes live, which
    for a DVC experiment's session is not the session's ``root`` (see :func:`home_root`)."""
    return journal.parent.parent


# DVC runs a queued (or ``--temp``) experiment in a copy of the repository under its own tmp folder, and
# names the repository it came from in the stage command's environment (``DVC_ROOT``, set for every stage).
DVC_ROOT_ENV = "DVC_ROOT"
_DVC_EXPERIMENT_COPIES = (".dvc", "tmp", "exps")


def home_root(work_root: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """The project whose journal records a run in ``work_root``: ``work_root`` itself, except in a DVC
    experiment's temporary copy, whose journal (and MLflow store) would vanish with the copy; its runs
    belong to the project DVC copied it from. Files stay named relative to ``work_root``, where they are."""
    dvc_root = environ.get(DVC_ROOT_ENV)
    if not dvc_root:
        return work_root
    copies = Path(dvc_root).resolve().joinpath(*_DVC_EXPERIMENT_COPIES)
    return find_root(Path(dvc_root)) if copies in work_root.resolve().parents else work_root


class DataPaths:
    """Decides whether a path a cell opened is project data, and names it relative to the root."""

    def __init__(self, root: Path, notebook: Path | None = None) -> None:
        self.root = root.resolve()
        self._root_prefix = str(self.root) + os.sep
        self._notebook = str(notebook.resolve()) if notebook else None
        # The kernel's own environment, when it lives in the project under any name (``env/``, ``py311/``).
        self._environments = tuple(p + os.sep for p in {sys.prefix, sys.exec_prefix}
                                   if (p + os.sep).startswith(self._root_prefix))

    def relative(self, path: str) -> str | None:
        """The root-relative POSIX path when ``path`` is project data, else None.

        ``path`` must be absolute; symlinks are not resolved here because that costs a syscall per
        component on the cell's hot path. A file reached through a symlink from outside is not data.
        """
        if not path.startswith(self._root_prefix) or path == self._notebook:
            return None
        if self._environments and path.startswith(self._environments):
            return None
        rel = path[len(self._root_prefix):]
        parts = rel.split(os.sep)
        if _IGNORED_PARTS.intersection(parts):
            return None
        name = parts[-1]
        if (os.path.splitext(name)[1] in _IGNORED_SUFFIXES or name in _IGNORED_NAMES
                or name.endswith(_IGNORED_ENDINGS)):
            return None
        return "/".join(parts)
