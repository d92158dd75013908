"""What the journal knows about a notebook: the files each current cell read and wrote, and whether the
notebook's state was reproducible when last tracked. Read-only; a missing journal is not an error here.

A cell's facts come from its newest run whose code equals the cell's code now, searching back through
the notebook's sessions: a partial last session (a few cells re-run) still leaves the others known, and
an edited cell's old files are not trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jupyter_mlops.check import replay
from jupyter_mlops.core.notebook import Notebook
from jupyter_mlops.core.redact import NotebookCode
from jupyter_mlops.export.stages import Observed
from jupyter_mlops.journal import Journal, JournalError
from jupyter_mlops.project import journal_path

_SESSIONS_SEARCHED = 20


@dataclass(frozen=True)
class JournalFacts:
    cells: dict[str, Observed] = field(default_factory=dict)
    declared: tuple[str, ...] = ()
    dirty: str | None = None      # why the latest session's state is not reproducible, else None
    found: bool = False           # any session of this notebook at all
    read_md5: dict[str, str | None] = field(default_factory=dict)  # path -> md5 the latest session read


def journal_facts(root: Path, notebook: str, nb: Notebook) -> JournalFacts:
    path = journal_path(root)
    if not path.exists():
        return JournalFacts()
    try:
        journal = Journal(path, create=False)
    except JournalError:
        return JournalFacts()
    try:
        sessions = journal.sessions(notebook)[-_SESSIONS_SEARCHED:]
        details = [journal.session_detail(s["id"]) for s in reversed(sessions)]
    finally:
        journal.close()
    if not details:
        return JournalFacts()
    by_code = {}
    for cell in nb.cells:
        if cell.kind == "code":
            by_code.setdefault(cell.source.strip(), cell.cell_id)
    ids = {c.cell_id: c.source.strip() for c in nb.cells if c.kind == "code"}
    ran = NotebookCode(c.source for c in nb.code_cells)
    cells: dict[str, Observed] = {}
    for detail in details:
        for run_seq, cell_id in _matching_runs(detail, ids, by_code, ran):
            if cell_id in cells:
                continue
            files = [f for f in detail["files"] if f["seq"] == run_seq]
            cells[cell_id] = Observed(
                reads=tuple(dict.fromkeys(f["path"] for f in files if f["mode"] == "read")),
                writes=tuple(dict.fromkeys(f["path"] for f in files if f["mode"] == "write")),
                logs_metrics=any(m["seq"] == run_seq for m in detail["metrics"]),
            )
    latest = details[0]
    declared = tuple(dict.fromkeys(f["path"] for f in latest["files"] if f["mode"] == "declared"))
    read_md5 = {f["path"]: f["md5"] for f in latest["files"] if f["mode"] in ("read", "declared")}
    return JournalFacts(cells, declared, _dirty(latest, nb), True, read_md5)


def _matching_runs(detail: dict, ids: dict[str, str], by_code: dict[str, str],
                   ran: NotebookCode) -> list[tuple[int, str]]:
    """(seq, notebook cell id) of the session's runs whose code is a current cell's, newest first (stored
    code has its secrets masked: ``ran`` gives the cell's code a run ran)."""
    out = []
    for run in reversed(detail["cell_runs"]):
        code = ran.of(run).strip()
        if ids.get(run["cell_id"]) == code:
            out.append((run["seq"], run["cell_id"]))
        elif code in by_code:
            out.append((run["seq"], by_code[code]))
    return out


def _dirty(latest: dict, nb: Notebook) -> str | None:
    """Why the latest session's state is not reproducible, judged now, as `check` judges it.

    Replayed against the notebook as saved now, so a cell edited or deleted since the last run counts.
    """
    if not latest["cell_runs"]:
        return None
    verdict = replay(latest, nb.code_cells)
    if verdict.reproducible:
        return None
    issue = verdict.issues[0]
    more = f" (+{len(verdict.issues) - 1} more)" if len(verdict.issues) > 1 else ""
    return f"{issue.kind}: {issue.message} → {issue.fix}{more}"
