"""Is a notebook reproducible? The one judgement `check`, `export`'s refusal and the kernel share.

With a journal, ``replay`` feeds a tracked session's runs to the detector against the notebook as it
stands now. Without one, a saved .ipynb keeps, per cell, the count of its last run (and its error
output, if it raised). Sorting by count gives the last run of each cell in the order it happened
(earlier runs of a re-run cell are lost, which is why a journal is better). That history goes through
the same engine as live tracking; on top, names that no cell above defines are reported, since a fresh
kernel would stop there with a NameError.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jupyter_mlops.core.analysis import analyze
from jupyter_mlops.core.history import ESTABLISH, NOT_ESTABLISHED
from jupyter_mlops.core.notebook import Cell, Notebook, read_notebook
from jupyter_mlops.core.redact import NotebookCode
from jupyter_mlops.core.verdict.detector import Detector
from jupyter_mlops.core.verdict.model import RESTART, Execution, Issue, Verdict
from jupyter_mlops.journal import TRACKING_CELL, Journal
from jupyter_mlops.project import find_root, journal_path

NEVER_RUN = "never run: no code cell has an execution count and no session of it is tracked"


def check_notebook(path: Path, root: Path | None = None) -> tuple[Verdict | None, str]:
    """The verdict and where it came from ("journal session …" or "saved execution counts"); no verdict
    for a notebook that was never run."""
    return judged(read_notebook(path), path, root)


def judged(notebook: Notebook, path: Path, root: Path | None) -> tuple[Verdict | None, str]:
    """``check_notebook`` of a notebook already read. With a journal, the latest tracked session of the
    notebook replayed against the notebook as saved now (the precise answer); without one, the saved
    execution counts. A notebook with neither was never run: no verdict, rather than a "reproducible"
    nobody checked."""
    base = root or find_root(path.parent)
    journal_file = journal_path(base)
    if journal_file.exists():
        journal = Journal(journal_file, create=False)
        try:
            key = path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            key = str(path.resolve())
        sessions = journal.sessions(key)
        if sessions:
            detail = journal.session_detail(sessions[-1]["id"])
            if detail["cell_runs"]:
                return replay(detail, notebook.code_cells), f"journal session {detail['id']}"
    code = notebook.code_cells
    if code and all(c.execution_count is None for c in code):
        return None, NEVER_RUN
    return check_saved_notebook(notebook.cells), "saved execution counts (no tracked session of this notebook)"


def check_saved_notebook(cells: Sequence[Cell]) -> Verdict:
    """The verdict for a saved notebook: out-of-order runs, skipped cells and undefined names that matter."""
    code_cells = [c for c in cells if c.is_code]
    ran = [c for c in code_cells if c.execution_count is not None]
    detector = Detector()
    for cell in sorted(ran, key=lambda c: c.execution_count or 0):  # stable: ties keep notebook order
        detector.record(Execution(cell.cell_id, cell.source, ok=cell.error is None, error=cell.error))
    verdict = detector.verdict(code_cells)
    issues = list(verdict.issues)
    seen = {(i.kind, i.cell_id) for i in issues} | {("read-from-below", i.cell_id) for i in issues}
    for issue in _undefined_names(code_cells):
        if (issue.kind, issue.cell_id) not in seen:
            issues.append(issue)
            seen.add((issue.kind, issue.cell_id))
    return Verdict(not issues, tuple(issues))


def _undefined_names(cells: Sequence[Cell]) -> list[Issue]:
    """Cells that ran and read a name no cell above them defines: a fresh run fails there."""
    effects = [analyze(c.source) for c in cells]
    if any(e.dynamic or not e.parsed for e in effects):
        return []  # a star import, %run or unparsed cell may define anything
    defined_at: dict[str, int] = {}
    for position, effect in enumerate(effects):
        for name in effect.changes:
            defined_at.setdefault(name, position)
    issues = []
    for position, (cell, effect) in enumerate(zip(cells, effects, strict=True)):
        if cell.execution_count is None:
            continue
        missing = sorted(
            n for n in effect.reads if not n.startswith("<") and defined_at.get(n, position) >= position
        )
        below = [n for n in missing if n in defined_at]
        nowhere = [n for n in missing if n not in defined_at]
        if below:
            where = defined_at[below[0]] + 1
            issues.append(Issue(
                "read-from-below", cell.cell_id, tuple(below),
                f"cell {position + 1} uses {', '.join(below)}, first defined in cell {where}, below it", RESTART,
            ))
        if nowhere:
            issues.append(Issue(
                "hidden-state", cell.cell_id, tuple(nowhere),
                f"cell {position + 1} uses {', '.join(nowhere)}, which no cell defines (a deleted cell?)", RESTART,
            ))
    return issues


def replay(session: dict, notebook: list[Cell]) -> Verdict:
    """The verdict of a journal session's history against the notebook's code cells as they stand now.

    A run's code is stored with its secrets masked: where a cell holds the code it ran (by digest), the
    detector is given the cell's code, so masking never makes a cell look edited. The cell the session
    started in, which the journal names apart, ran before the first run."""
    ran = NotebookCode(c.source for c in notebook)
    files: dict[int, dict[str, dict[str, str | None]]] = {}
    for f in session["files"]:
        if f["seq"] is not None and f["mode"] in ("read", "write"):
            files.setdefault(f["seq"], {"read": {}, "write": {}})[f["mode"]][f["path"]] = f["md5"]
    notebook = _with_injected_parameters(session["cell_runs"], notebook)
    detector = Detector()
    started_in = (session.get("options") or {}).get(TRACKING_CELL)
    if isinstance(started_in, dict) and started_in.get("cell_id"):  # ran first, never a cell run of its own
        declared = {f["path"]: f["md5"] for f in session["files"] if f["mode"] == "declared"}
        detector.record(Execution(started_in["cell_id"], ran.of(started_in), files_read=declared))
    for run in session["cell_runs"]:
        if run["status"] == "refused":
            continue
        touched = files.get(run["seq"], {"read": {}, "write": {}})
        rebound = run.get("rebound")
        detector.record(Execution(
            run["cell_id"], ran.of(run), files_read=touched["read"], files_written=touched["write"],
            ok=run["status"] == "ok", rebound=None if rebound is None else frozenset(rebound),
            error=run.get("error"),
        ))
    verdict = detector.verdict(notebook)
    unestablished = _not_established(session["cell_runs"])
    return verdict if unestablished is None else Verdict(False, (unestablished, *verdict.issues))


def _not_established(runs: list[dict]) -> Issue | None:
    """A session that started after cells had run it could not match to the notebook says so in every
    verdict it stored; the journal has only the runs it saw, so a replay cannot establish more."""
    for run in runs:
        for issue in run.get("issues") or ():
            if issue.get("kind") == NOT_ESTABLISHED:
                return Issue(NOT_ESTABLISHED, issue.get("cell_id") or "", (), issue.get("message") or "",
                             issue.get("fix") or ESTABLISH)
    return None


def _with_injected_parameters(runs: list[dict], notebook: list[Cell]) -> list[Cell]:
    """The notebook with papermill's injected parameters cell where it ran, after the cell run before it.

    Papermill adds that cell to the notebook it writes, not to the one it reads: the session ran it,
    the notebook being checked does not have it, and it is no deleted cell.
    """
    cells = list(notebook)
    ids = {c.cell_id for c in cells}
    previous = None
    for run in runs:
        ran = Cell(run["cell_id"], run["code"])
        if ran.cell_id not in ids and ran.is_injected_parameters:
            at = next((i + 1 for i, c in enumerate(cells) if c.cell_id == previous), 0)
            cells.insert(at, ran)
            ids.add(run["cell_id"])
        previous = run["cell_id"]
    return cells
