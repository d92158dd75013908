"""The saved notebook as the kernel can see it: cell order, sources and tags.

The kernel is never told which notebook it runs, nor a cell's tags. The file gives both: JupyterLab sends
each cell's id, and an id found in a notebook next to the kernel names that notebook. papermill and
nbclient send no ids: papermill can say the input path (``--inject-input-path`` puts
``PAPERMILL_INPUT_PATH`` in its injected cell, and the stages ``export`` writes do so); otherwise the
notebooks beside the kernel holding the tracking cell are narrowed down by the command line of the program
that runs one (papermill's names its input), then by the code of the cells run, one after another (a copy
such as ``churn-v2.ipynb`` starts with the same cells, so one cell is not always enough).
It is read (``core.notebook``, with ``json``) again whenever it is saved.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_mlops.core.notebook import Cell, NotebookError, read_notebook

PAPERMILL_INPUT = "PAPERMILL_INPUT_PATH"
PAPERMILL_PATHS = frozenset({PAPERMILL_INPUT, "PAPERMILL_OUTPUT_PATH"})


class NotebookFile:
    """A notebook on disk, re-read only when its mtime changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._cells: list[Cell] = []
        self._by_id: dict[str, Cell] = {}
        self.error: str | None = None  # why the last read failed (corrupt, truncated, mid-save), if it did
        self.ever_read = False

    def code_cells(self) -> list[Cell]:
        """The code cells in notebook order (the same list until the file changes); the last good read
        when the file is missing or mid-save."""
        try:
            st = os.stat(self.path)
        except OSError:
            return self._cells
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                self._cells = read_notebook(self.path).code_cells
                self._by_id = {c.cell_id: c for c in reversed(self._cells)}  # the first of duplicated ids
                self._stamp = stamp
                self.error, self.ever_read = None, True
            except NotebookError as exc:
                self.error = str(exc)
        return self._cells

    def code_cell(self, cell_id: str) -> Cell | None:
        """The saved code cell with this id, looked up rather than searched (asked on every cell run)."""
        self.code_cells()
        return self._by_id.get(cell_id)


def find_notebook_with_cell(folder: Path, *, cell_id: str | None = None, code: str | None = None,
                            limit: int = 50) -> Path | None:
    """The one notebook in ``folder`` holding a code cell with this id (or, without an id, this code)."""
    found = notebooks_with_cell(folder, cell_id=cell_id, code=code, limit=limit)
    return found[0] if len(found) == 1 else None


def notebooks_with_cell(folder: Path, *, cell_id: str | None = None, code: str | None = None,
                        limit: int = 50) -> list[Path]:
    """The notebooks in ``folder`` holding a code cell with this id (or, without an id, this code).

    An executed copy (papermill output) holds the same cells; when an original matches, copies do not.
    """
    needle = json.dumps(cell_id) if cell_id else None
    wanted = code.strip() if code else None
    found: list[tuple[bool, Path]] = []
    try:
        candidates = sorted(p for p in folder.iterdir() if p.suffix == ".ipynb")[:limit]
    except OSError:
        return []
    for path in candidates:
        try:
            data = path.read_bytes()
            text = data.decode("utf-8")
            if needle is not None and needle not in text:
                continue
            notebook = read_notebook(data, name=str(path))
        except (OSError, UnicodeDecodeError, NotebookError):
            continue
        if any((c.cell_id == cell_id) if cell_id else (c.source.strip() == wanted) for c in notebook.code_cells):
            papermill = notebook.metadata.get("papermill")
            found.append((isinstance(papermill, Mapping) and "output_path" in papermill, path))
    originals = [p for executed, p in found if not executed]
    return originals or [p for _, p in found]


def papermill_input(ns: Mapping[str, Any], cwd: Path) -> Path | None:
    """The notebook papermill was told to run, when it injected its path (``--inject-input-path``).

    The path is as given to papermill, i.e. relative to the folder papermill started in, which under
    ``--cwd`` (a DVC stage) is neither the kernel's nor papermill's own by then: see ``_existing``.
    """
    told = ns.get(PAPERMILL_INPUT)
    if not isinstance(told, str) or not told.endswith(".ipynb"):
        return None
    return next(iter(_existing(Path(told), os.getppid(), cwd)), None)


def launcher_notebooks(cwd: Path, levels: int = 4) -> set[Path]:
    """The notebooks named on the command line of the program that started this kernel: papermill,
    ``jupyter nbconvert --execute``, ``jupyter execute`` (the kernel's parent, or a wrapper's parent up to
    ``levels`` processes up); Linux only (``/proc``).

    Copies that hold the same cells cannot be told apart by their code; the program running one of them
    names it. A name is relative to where that program started, which is not where it is now under
    papermill's ``--cwd`` (it changes directory): it is tried from there, then from the kernel's folder
    and its parents, as the injected input path is. An empty set where no ancestor names an existing
    notebook, or there is no ``/proc``.
    """
    pid = os.getppid()
    for _ in range(levels):
        if pid <= 1:
            break
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1:]
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            break
        named = {found for arg in argv if arg.endswith(b".ipynb")
                 for found in _existing(Path(os.fsdecode(arg)), pid, cwd)}
        if named:
            return named
        try:
            pid = int(stat[stat.rindex(b")") + 2:].split()[1])  # the field after the state: its parent
        except (ValueError, IndexError):
            break
    return set()


def _existing(path: Path, pid: int, cwd: Path) -> list[Path]:
    """Where a path a process was given may be: from that process's folder, else the kernel's or above."""
    if path.is_absolute():
        return [path.resolve()] if path.is_file() else []
    bases = [cwd, *cwd.parents]
    try:
        bases.insert(0, Path(os.readlink(f"/proc/{pid}/cwd")))
    except OSError:
        pass
    return [(base / path).resolve() for base in bases if (base / path).is_file()]


class CodeDiscovery:
    """The notebook of a kernel that sends no cell ids, from the code of the cells it runs.

    Starts with the notebooks holding the tracking cell's code; each later cell keeps those holding its
    code (a cell in none of them, like papermill's injected parameters, says nothing). While several
    remain, a cell's id is the one they all give it, if they agree (a copy keeps the ids).
    """

    def __init__(self, candidates: list[Path]) -> None:
        self._files = {path: NotebookFile(path) for path in candidates}
        self.seen = 1  # the tracking cell

    @property
    def candidates(self) -> list[Path]:
        return list(self._files)

    def observe(self, code: str) -> Path | None:
        """Narrow by one more cell's code; the notebook once it is the only one left."""
        self.seen += 1
        wanted = code.strip()
        holding = [p for p, f in self._files.items() if any(c.source.strip() == wanted for c in f.code_cells())]
        if holding:
            self._files = {p: self._files[p] for p in holding}
        return holding[0] if len(holding) == 1 else None

    def agreed_id(self, code: str) -> str | None:
        wanted = code.strip()
        ids = {next((c.cell_id for c in f.code_cells() if c.source.strip() == wanted), None)
               for f in self._files.values()}
        return ids.pop() if len(ids) == 1 else None

    def exhausted(self) -> bool:
        """As many cells have run as the shortest candidate has: more cells will not tell them apart."""
        return self.seen >= min(len(f.code_cells()) for f in self._files.values())
