"""The notebook as a tracking session sees it: which file it is, its cells in order, the id of a cell run
without one, and which run is a parameters cell.

The kernel is told little: JupyterLab sends each cell's id (and the cells deleted since), papermill and
nbclient send nothing. So the file is found from what is sent (``notebook_file``), cells run without an
id are matched to the saved cells by their code, and the notebook the detector judges is the saved one
with the code of every cell run since it was saved: what "Restart & Run All" would run now. Cells recorded
before the file was known are renamed to its ids once it is (the session renames them in the journal and
replays them into a fresh detector).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jupyter_mlops.core.history import rebuild
from jupyter_mlops.core.notebook import Cell
from jupyter_mlops.core.options import TrackOptions
from jupyter_mlops.core.verdict.model import Execution
from jupyter_mlops.kernel.notebook_file import (
    CodeDiscovery,
    NotebookFile,
    find_notebook_with_cell,
    launcher_notebooks,
    notebooks_with_cell,
    papermill_input,
)

# Cells whose ids are looked for in the notebooks beside the kernel before giving up on finding it.
_DISCOVERY_ATTEMPTS = 3
# The id of a cell no notebook names (yet): its code's digest.
_CODE_ID_PREFIX = "code-"
# VS Code's Jupyter extension sends the cell's document URI as ``cellId`` (microsoft/vscode-jupyter,
# src/kernels/execution/cellExecution.ts), not the id the notebook saves.
VSCODE_CELL = "vscode-notebook-cell:"


@dataclass
class _Built:
    """The notebook as ``NotebookView.cells`` last built it from one read of the file."""

    saved: list[Cell]              # the file's code cells (the same list until the file is read again)
    saved_at: float                # the file's mtime then
    cells: list[Cell]
    position: dict[str, int]       # cell id -> index in ``cells``
    source: dict[str, str]         # cell id -> saved source
    # ``cells`` as handed out: the same tuple while nothing changed, which the detector recognises at once.
    frozen: tuple[Cell, ...] | None = None


class NotebookView:
    """The session's notebook: found (or being found), read again when saved, and the cells run since.

    ``warn(key, message)`` says what the user must know once; ``found(renamed, early)`` is called when the
    file becomes known after tracking started, with the cell ids that change (old -> notebook's) and the
    runs recorded so far under their new ids.
    """

    def __init__(self, shell: Any, cwd: Path, root: Path, path: Path | None, candidates: list[Path], *,
                 warn: Callable[[str, str], None],
                 found: Callable[[dict[str, str], list[Execution]], None]) -> None:
        self.path = path
        self._shell, self._cwd, self._root = shell, cwd, root
        self._warn, self._found = warn, found
        self._file = NotebookFile(path) if path else None
        # papermill sends no cell ids: with several notebooks holding the tracking cell, later cells decide
        self._discovery = CodeDiscovery(candidates) if len(candidates) > 1 else None
        self._early: list[Execution] = []  # runs while the notebook is being discovered by code
        self._runs = 0
        self._order: list[str] = []          # cell ids in first-execution order, for notebooks we cannot see
        # That order as cells with their latest code, kept up to date run by run (None: to be built).
        self._in_run_order: list[Cell] | None = []
        self._in_run_order_frozen: tuple[Cell, ...] | None = None
        self._deleted: set[str] = set()      # cells the frontend said it deleted
        # The cell that started tracking, as ``history`` found it (None: started by a request that keeps no
        # history, the panel's Start)
        self.tracking_cell: Execution | None = None
        self._last_code: dict[str, tuple[str, float]] = {}
        self._last_cell: str | None = None  # the cell run last, where a cell without an id most likely follows
        self._cells: dict[tuple[str, str], Cell] = {}
        self._built: _Built | None = None   # the notebook as last built, and the cells run since
        self._ran_since_built: set[str] = set()
        # The saved cells (that very list), their positions by code and by id: built once per read of the file.
        self._code_index: tuple[list[Cell], dict[str, list[int]], dict[str, int]] | None = None
        self._vscode: dict[str, str] = {}  # VS Code's cell URI -> the notebook's cell id it was matched to

    # --- what the session asks -------------------------------------------------------------------------

    def relative_path(self) -> str | None:
        """The notebook as the journal names it: relative to the project root (absolute outside it)."""
        if self.path is None:
            return None
        try:
            return self.path.resolve().relative_to(self._root).as_posix()
        except ValueError:
            return str(self.path)

    def cell_id(self, sent: str | None, code: str) -> str:
        """The id of the cell starting now: the one the frontend sent, else the saved cell with this code
        (else its code's digest); what is sent also helps find the notebook while it is unknown. VS Code
        sends its own URI of the cell, not the notebook's id: that cell is matched by code the first time
        it runs and keeps its match while it is edited (``_vscode_cell``)."""
        if sent and sent.startswith(VSCODE_CELL):
            return self._vscode_cell(sent, code)
        if self._file is None and not sent:
            self._discover_from_code(code)
        cell_id = sent or self._fallback_cell_id(code)
        if self._file is None and sent and self._runs < _DISCOVERY_ATTEMPTS:
            self._discover_notebook(sent)
        return cell_id

    def deleted_cells(self, cell_id: str) -> frozenset[str]:
        """The cells the frontend says were deleted since the last request (remembered; ``cell_id`` runs, so
        it is not deleted)."""
        deleted = frozenset(str(c) for c in (_parent(self._shell).get("metadata") or {}).get("deletedCells") or ())
        self._deleted |= deleted
        self._deleted.discard(cell_id)
        return deleted

    def cells(self, live_order: list[Cell] | None = None) -> Sequence[Cell]:
        """The code cells the detector judges against, in order, without the deleted ones; ``live_order``
        is the frontend's own (unsaved edits included) when it sends one."""
        cells = live_order if live_order is not None else self._as_known()
        return [c for c in cells if c.cell_id not in self._deleted] if self._deleted else cells

    def ran(self, execution: Execution) -> None:
        """A cell run finished: its code is the notebook's now, until the file is saved with other code."""
        self._runs += 1
        self._note(execution.cell_id, execution.code)
        if self._discovery is not None:
            self._early.append(execution)

    def history(self) -> tuple[list[Execution], str | None]:
        """The cells run before tracking started, this one included, as runs for the detector, and why
        the state they left cannot be established (None when it can; ``core.history``).

        Without them a notebook whose imports ran before ``%mlops_track`` would look as if those cells
        never ran, and one run out of order before it would look fine. IPython keeps their code by
        execution count, not their ids: the cell running now has its id from the frontend; the others
        are matched to the saved notebook (its ids and the counts it saved) by their code.
        """
        history = list(getattr(self._shell.history_manager, "input_hist_raw", None) or [])[1:]
        if not history:
            return [], None
        request = _parent(self._shell)
        current = (request.get("metadata") or {}).get("cellId")
        # The cell starting tracking is the last entry, unless it keeps no history (the panel's Start)
        in_history = (request.get("content") or {}).get("store_history", True)
        if self._file is None and current and not str(current).startswith(VSCODE_CELL):
            self._discover_notebook(str(current))
        saved = self._file.code_cells() if self._file is not None else None
        readable = saved is not None and self._file is not None and self._file.ever_read
        earlier = list(enumerate(history[:-1] if in_history else history, start=1))
        rebuilt = rebuild(earlier, saved if readable else None)
        runs = [(cell_id, code) for _, cell_id, code in rebuilt.runs if cell_id is not None or not readable]
        started = in_history and bool(history[-1].strip())
        if started:
            runs.append((self.cell_id(str(current), history[-1]) if current else None, history[-1]))
        executions = []
        for cell_id, code in runs:
            cell_id = cell_id or self._fallback_cell_id(code)
            self._note(cell_id, code)
            execution = Execution(cell_id=cell_id, code=code)
            if self._discovery is not None:
                self._early.append(execution)  # replayed under the notebook's ids once it is known
            executions.append(execution)
        self.tracking_cell = executions[-1] if started else None
        return executions, rebuilt.unexplained

    def parameters_source(self, cell_id: str, code: str) -> str | None:
        """The params' source for this run: ``injected`` (papermill's cell), ``parameters`` (the tagged
        cell), else None; ``core.notebook``'s rule, on the saved cell's tags (a kernel is sent none)."""
        saved = self._file.code_cell(cell_id) if self._file else None
        cell = Cell(cell_id, code, tags=saved.tags if saved else frozenset())
        if cell.is_injected_parameters:
            return "injected"
        return "parameters" if cell.is_parameters else None

    def warn_if_unreadable(self) -> None:
        if self._file is not None and self._file.error:
            self._warn("notebook", f"{self._file.error}; cell order falls back to execution order until the "
                                   "notebook is saved again")

    def _vscode_cell(self, uri: str, code: str) -> str:
        """VS Code's cell URI (``vscode-notebook-cell:/path/nb.ipynb#W3sZmlsZQ==``: the notebook's path and
        a handle VS Code keeps for the cell while the notebook is open) as the notebook's cell id: the
        saved cell with this code the first time, the same cell after that, even edited and unsaved."""
        known = self._vscode.get(uri)
        if known is not None and not known.startswith(_CODE_ID_PREFIX):
            return known
        if self._file is None:
            path = vscode_notebook(uri)
            if path is not None:
                self._adopt(path)
        cell_id = self._fallback_cell_id(code)
        self._vscode[uri] = cell_id
        return cell_id

    # --- the cells as they stand -----------------------------------------------------------------------

    def _note(self, cell_id: str, code: str) -> None:
        if cell_id not in self._last_code:
            self._order.append(cell_id)
            self._in_run_order_frozen = None
            if self._in_run_order is not None:
                self._in_run_order.append(self._cell(cell_id, code))
        elif self._in_run_order is not None and self._last_code[cell_id][0] != code:
            self._in_run_order = self._in_run_order_frozen = None  # re-run with other code: rebuilt when asked
        self._last_code[cell_id] = (code, time.time())
        self._last_cell = cell_id
        self._ran_since_built.add(cell_id)

    def _as_known(self) -> tuple[Cell, ...]:
        """The notebook as it stands: saved order and code, newer for cells run since the last save.

        Cells run but not in the saved file are placed after the cell run before them, which is where a
        user usually inserts one; without any file, execution order is the notebook order. Built once per
        save of the file; after that only the cells run since change, so a cell costs the same in a
        2,000-cell notebook as in a short one.
        """
        saved = self._file.code_cells() if self._file is not None else []
        if self._file is None or not self._file.ever_read:  # none, or corrupt since we first looked
            if self._in_run_order is None:
                self._in_run_order = [self._cell(c, self._last_code[c][0]) for c in self._order]
            if self._in_run_order_frozen is None:
                self._in_run_order_frozen = tuple(self._in_run_order)
            return self._in_run_order_frozen
        saved_at = self._mtime()
        built, ran = self._built, self._ran_since_built
        self._ran_since_built = set()
        if built is None or built.saved is not saved or built.saved_at != saved_at or not ran <= built.position.keys():
            built = self._built = self._build(saved, saved_at)
        else:
            for cell_id in ran:
                code, ran_at = self._last_code[cell_id]
                source = built.source.get(cell_id)
                cell = self._cell(cell_id, code if source is None or ran_at > saved_at else source)
                if built.cells[built.position[cell_id]] is not cell:
                    built.cells[built.position[cell_id]], built.frozen = cell, None
        if built.frozen is None:
            built.frozen = tuple(built.cells)
        return built.frozen

    def _build(self, saved: list[Cell], saved_at: float) -> _Built:
        cells: list[Cell] = []
        present = set()
        for cell in saved:
            code, ran_at = self._last_code.get(cell.cell_id, (cell.source, 0.0))
            cells.append(self._cell(cell.cell_id, code if ran_at > saved_at else cell.source))
            present.add(cell.cell_id)
        for index, cell_id in enumerate(self._order):
            if cell_id in present or self._last_code[cell_id][1] < saved_at:
                continue  # saved without it: deleted
            after = self._order[index - 1] if index else None  # the first cell run goes on top
            at = next((i + 1 for i, c in enumerate(cells) if c.cell_id == after), len(cells)) if after else 0
            cells.insert(at, self._cell(cell_id, self._last_code[cell_id][0]))
            present.add(cell_id)
        return _Built(saved, saved_at, cells, {c.cell_id: i for i, c in enumerate(cells)},
                      {c.cell_id: c.source for c in saved})

    def _cell(self, cell_id: str, code: str) -> Cell:
        """One object per (cell, code): the notebook is rebuilt twice per cell run, and the detector
        compares it with the last one it saw, which costs nothing when the cells are the same objects."""
        key = (cell_id, code)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = Cell(cell_id, code)
        return cell

    def _mtime(self) -> float:
        try:
            return os.stat(self._file.path).st_mtime if self._file else 0.0
        except OSError:
            return 0.0

    def _fallback_cell_id(self, code: str) -> str:
        """Frontends that send no cell id (papermill, plain IPython): the cell is the one with this code.

        Several cells may hold the same code (``df.head()``): the one right after the cell run last is
        taken (papermill runs in order), else the first not run yet, else the first.
        """
        if self._file is not None:
            cells = self._file.code_cells()
            if self._code_index is None or self._code_index[0] is not cells:
                by_code: dict[str, list[int]] = {}
                for i, cell in enumerate(cells):
                    by_code.setdefault(cell.source.strip(), []).append(i)
                self._code_index = (cells, by_code, {cell.cell_id: i for i, cell in enumerate(cells)})
            _, by_code, position = self._code_index
            matches = by_code.get(code.strip())
            if matches:
                after = position[self._last_cell] + 1 if self._last_cell in position else 0
                unrun = [i for i in matches if cells[i].cell_id not in self._last_code]
                chosen = after if after in matches else (unrun or matches)[0]
                return cells[chosen].cell_id
        elif self._discovery is not None and (agreed := self._discovery.agreed_id(code)):
            return agreed
        return _CODE_ID_PREFIX + hashlib.md5(code.encode("utf-8", "surrogatepass")).hexdigest()[:12]

    # --- finding the file ------------------------------------------------------------------------------

    def _discover_notebook(self, cell_id: str) -> None:
        found = find_notebook_with_cell(self._cwd, cell_id=cell_id)
        if found is not None:
            self._adopt(found)

    def _discover_from_code(self, code: str) -> None:
        """papermill's injected input path, else one more cell's code among the candidates; one warning
        when the candidates cannot be told apart."""
        discovery = self._discovery
        found = papermill_input(self._shell.user_ns, self._cwd) or (discovery.observe(code) if discovery else None)
        if found is not None:
            self._adopt(found)
        elif discovery is not None and discovery.exhausted():
            self._discovery, self._early = None, []
            names = ", ".join(p.name for p in discovery.candidates)
            self._warn("notebook-ambiguous", f"cannot tell which notebook this is ({names} hold the same "
                       "cells); pass --notebook to %mlops_track (or papermill --inject-input-path): "
                       "cell order falls back to execution order")

    def _adopt(self, found: Path) -> None:
        """The notebook became known after tracking started: cells recorded under their code's id so far
        take the notebook's ids, so nothing looks deleted."""
        self.path = found.resolve()
        self._file = NotebookFile(self.path)
        early, self._discovery, self._early = self._early, None, []
        saved = {c.source.strip(): c.cell_id for c in reversed(self._file.code_cells())}
        renamed = {old: saved[self._last_code[old][0].strip()] for old in self._order
                   if old.startswith(_CODE_ID_PREFIX) and self._last_code[old][0].strip() in saved}
        if renamed:
            self._built = None
            self._order = list(dict.fromkeys(renamed.get(c, c) for c in self._order))
            self._in_run_order = self._in_run_order_frozen = None
            self._last_code = {renamed.get(c, c): v for c, v in self._last_code.items()}
            self._last_cell = renamed.get(self._last_cell or "", self._last_cell)
            early = [replace(e, cell_id=renamed.get(e.cell_id, e.cell_id)) for e in early]
        self._found(renamed, early)


def locate_notebook(options: TrackOptions, shell: Any, cwd: Path) -> tuple[Path | None, list[Path]]:
    """The notebook being run: --notebook; else what the frontend tells the kernel (Jupyter's session
    path, VS Code's variable or cell URI, papermill's injected input path); else the notebook next to the kernel that
    holds the cell now starting tracking (papermill and nbclient send no cell ids), the one its runner's
    command line names when there are several. Else none yet, and the candidates for the later cells to
    decide between."""
    if options.notebook:
        return (cwd / options.notebook).resolve(), []
    ns = shell.user_ns
    for told in (os.environ.get("JPY_SESSION_NAME"), ns.get("__session__"), ns.get("__vsc_ipynb_file__")):
        if isinstance(told, str) and told.endswith(".ipynb"):
            for candidate in (Path(told), cwd / told, cwd / Path(told).name):
                if candidate.is_file():
                    return candidate.resolve(), []
    injected = papermill_input(ns, cwd)
    if injected is not None:
        return injected, []
    request = _parent(shell)
    cell_id = (request.get("metadata") or {}).get("cellId")
    code = (request.get("content") or {}).get("code")
    if isinstance(cell_id, str) and cell_id.startswith(VSCODE_CELL):
        named = vscode_notebook(cell_id)  # a remote VS Code kernel has no __vsc_ipynb_file__
        if named is not None:
            return named, []
        cell_id = None  # not an id any saved notebook holds: look for the cell's code
    if cell_id or code:
        found = notebooks_with_cell(cwd, cell_id=cell_id, code=None if cell_id else code)
        if len(found) > 1 and not cell_id:
            # Copies run headless: the one the runner's command line names (papermill's input). Not with
            # cell ids: they come from a frontend, whose command line (`jupyter lab a.ipynb`) runs nothing.
            named = launcher_notebooks(cwd)
            found = [p for p in found if p.resolve() in named] or found
        if len(found) == 1:
            return found[0].resolve(), []
        return None, [] if cell_id else [p.resolve() for p in found]
    return None, []


def vscode_notebook(uri: str) -> Path | None:
    """The notebook a VS Code cell URI names, if that file exists here (a local kernel)."""
    path = unquote(urlsplit(uri).path)
    if re.match(r"^/[A-Za-z]:/", path):  # /c:/Users/… on Windows
        path = path[1:]
    candidate = Path(path)
    return candidate.resolve() if path.endswith(".ipynb") and candidate.is_file() else None


def _parent(shell: Any) -> dict[str, Any]:
    """The execute_request being handled (metadata: cellId, deletedCells); empty outside ipykernel."""
    get_parent = getattr(getattr(shell, "kernel", None), "get_parent", None)
    return (get_parent() or {}) if get_parent is not None else {}
