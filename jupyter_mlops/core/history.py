"""What ran before tracking started: the kernel's own input history matched to the notebook's cells.

A late ``%mlops_track`` (cells ran in a plain kernel first) can only vouch for the state if it knows which
cells ran, in which order. IPython keeps the code of every execution by its count (``In``); the saved
notebook keeps each cell's id, code and the count of its last run. An execution is the cell that holds
its code (the one the file says ran at that count first, then the only one, then the one after the cell
matched before it, as papermill runs). Code no cell holds any more (edited or deleted since it ran) that
bound names leaves the state unexplained: the verdict is then *not established*, never a ✓. Pure: the
kernel hands in the history and the cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from jupyter_mlops.core.analysis import analyze, is_ipython_internal
from jupyter_mlops.core.notebook import Cell
from jupyter_mlops.core.verdict.model import RESTART, Issue
from jupyter_mlops.core.verdict.simulation import is_inert

NOT_ESTABLISHED = "not-established"
ESTABLISH = f"{RESTART} to establish it"
_SHOWN = 40  # characters of a cell's code quoted in the message


@dataclass(frozen=True)
class Rebuilt:
    """The runs before tracking as ``(count, cell id, code)`` in execution order, and why the state they
    left cannot be established (None when it can)."""

    runs: tuple[tuple[int, str | None, str], ...]
    unexplained: str | None = None


def rebuild(history: Sequence[tuple[int, str]], cells: Sequence[Cell] | None) -> Rebuilt:
    """Match each ``(execution count, code)`` to a code cell of ``cells`` (the saved notebook; None when
    no file is known, where execution order is the notebook's order and every run stands for itself).

    Blank executions are left out; one no cell holds stays with a None id when it binds nothing
    (``df.head()`` typed and deleted), and makes the state unexplained when it binds names.
    """
    runs: list[tuple[int, str | None, str]] = []
    if cells is None:
        return Rebuilt(tuple((count, None, code) for count, code in history if code.strip()))
    by_code: dict[str, list[int]] = {}
    for i, cell in enumerate(cells):
        by_code.setdefault(cell.source.strip(), []).append(i)
    by_count = _counts_of_this_kernel(history, cells)
    unexplained: list[tuple[int, str]] = []
    last = -1
    for count, code in history:
        key = code.strip()
        if not key:
            continue
        matches = by_code.get(key, [])
        at = by_count.get(count)
        if len(matches) == 1:
            chosen: int | None = matches[0]
        elif at is not None and at in matches:
            chosen = at
        elif matches:
            chosen = last + 1 if last + 1 in matches else matches[0]
        else:
            chosen = None
        if chosen is None:
            effects = analyze(code)
            if effects.changes or effects.deletes or effects.dynamic or not effects.known:
                unexplained.append((count, code))
            runs.append((count, None, code))
            continue
        last = chosen
        runs.append((count, cells[chosen].cell_id, code))
    return Rebuilt(tuple(runs), _why_unexplained(unexplained) if unexplained else None)


def _counts_of_this_kernel(history: Sequence[tuple[int, str]], cells: Sequence[Cell]) -> dict[int, int]:
    """The saved execution counts (count -> cell position), when they are this kernel's: every saved count
    the history has holds that cell's code. A notebook saved by another kernel (papermill's input, last
    week's session) has counts that say nothing here."""
    ran = {count: code.strip() for count, code in history}
    saved = {cell.execution_count: i for i, cell in enumerate(cells) if cell.execution_count in ran}
    if not saved or any(ran[count] != cells[i].source.strip() for count, i in saved.items()):
        return {}
    return saved


def unexplained_names(history: Iterable[str], bound: Iterable[str]) -> list[str]:
    """User names the namespace holds that no execution of the history binds (bound by code run without
    history, such as a frontend's silent request); none can be told when the history has dynamic code
    (a star import, ``%run``, ``exec``), which may bind anything."""
    made: set[str] = set()
    for code in history:
        effects = analyze(code)
        if (effects.dynamic or not effects.known) and not is_inert(code):  # settings magics bind nothing
            return []
        made.update(effects.changes)
        for change in effects.changes.values():  # what a function it defines binds when called
            if change.function is not None:
                made.update(change.function.rebinds)
    return sorted(n for n in bound if n not in made and not n.startswith("_") and not is_ipython_internal(n))


def unbound_state(history: Iterable[str], bound: Iterable[str]) -> str | None:
    """Why the namespace is not what the history made (``unexplained_names``), or None."""
    names = unexplained_names(history, bound)
    if not names:
        return None
    verb = "is" if len(names) == 1 else "are"
    return f"tracking started after cells had run, and {', '.join(names[:3])} {verb} bound by no cell this kernel ran"


def not_established(tracking_cell: str, why: str) -> Issue:
    """The issue a late start carries for as long as the session runs: only a fresh run establishes it."""
    return Issue(NOT_ESTABLISHED, tracking_cell, (), why, ESTABLISH)


def _why_unexplained(unexplained: list[tuple[int, str]]) -> str:
    count, code = unexplained[0]
    first = code.strip().splitlines()[0]
    shown = first if len(first) <= _SHOWN else first[: _SHOWN - 1] + "…"
    more = f" (and {len(unexplained) - 1} more)" if len(unexplained) > 1 else ""
    return (f"tracking started after cells had run, and In[{count}] (`{shown}`){more} is in no cell of the "
            "notebook now (edited or deleted since it ran)")
