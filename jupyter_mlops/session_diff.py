"""What changed between two tracked sessions: params, metrics, data files, code cells and the verdict.

One comparison for every surface: ``jupyter mlops diff`` prints it (text, JSON, Markdown) and the server's
side-by-side comparison in the panel is built from it. Pure: it reads two journal session details (as
``Journal.session_detail`` returns them, with every cell run) and nothing else. It is what ``dvc diff``,
``dvc params diff`` and ``dvc metrics diff`` give, at the level of a notebook and without an export.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from jupyter_mlops.core.redact import REDACTED
from jupyter_mlops.journal import latest_values
from jupyter_mlops.report import first_line

SAME, CHANGED, ADDED, REMOVED = "same", "changed", "added", "removed"


@dataclass(frozen=True)
class Row:
    """One name on both sides; ``a``/``b`` are None where that side has no such name."""

    name: str
    a: Any
    b: Any
    status: str  # SAME | CHANGED | ADDED (only in b) | REMOVED (only in a)
    delta: float | None = None  # b - a, for numbers on both sides

    @property
    def differs(self) -> bool:
        return self.status != SAME


@dataclass(frozen=True)
class Side:
    """What identifies a session in the diff, and its verdict after its last cell run."""

    id: str
    notebook: str | None
    experiment: str | None
    started_at: float
    reproducible: bool | None  # None: no cell run was judged
    issues: int


@dataclass(frozen=True)
class SessionDiff:
    a: Side
    b: Side
    params: tuple[Row, ...]
    metrics: tuple[Row, ...]
    files: tuple[Row, ...]  # name "path (mode)", values {"md5", "size"}
    cells: tuple[Row, ...]  # name the cell id, values its latest code

    @property
    def changed(self) -> bool:
        rows = (*self.params, *self.metrics, *self.files, *self.cells)
        return any(r.differs for r in rows) or self.a.reproducible != self.b.reproducible

    def to_dict(self) -> dict[str, Any]:
        def rows(found: tuple[Row, ...]) -> list[dict[str, Any]]:
            return [asdict(r) for r in found]
        return {"a": asdict(self.a), "b": asdict(self.b), "changed": self.changed,
                "params": rows(self.params), "metrics": rows(self.metrics), "files": rows(self.files),
                "cells": rows(self.cells)}


def diff_sessions(a: dict[str, Any], b: dict[str, Any]) -> SessionDiff:
    """``a`` and ``b`` are session details; the latest value of each param, metric, file and cell counts."""
    return SessionDiff(
        a=_side(a), b=_side(b),
        params=_rows(latest_values(a["params"]), latest_values(b["params"])),
        metrics=_rows(latest_values(a["metrics"]), latest_values(b["metrics"]), numeric=True),
        files=_rows(_files(a), _files(b)),
        cells=_cell_rows(a, b),
    )


def _side(detail: dict[str, Any]) -> Side:
    judged = [r for r in detail["cell_runs"] if r["reproducible"] is not None]
    last = judged[-1] if judged else None
    return Side(detail["id"], detail["notebook"], detail["experiment"], detail["started_at"],
                last["reproducible"] if last else None, len(last["issues"]) if last else 0)


def _files(detail: dict[str, Any]) -> dict[str, Any]:
    """The last access of each data file, keyed ``path (mode)``: a read and a write are two facts."""
    return {f"{f['path']} ({f['mode']})": {"md5": f["md5"], "size": f["size"]} for f in detail["files"]}


def _cell_rows(a: dict[str, Any], b: dict[str, Any]) -> tuple[Row, ...]:
    """Each cell's code as it last ran; a cell id that ran in one session only is added or removed."""
    last_a = {r["cell_id"]: r for r in a["cell_runs"]}
    last_b = {r["cell_id"]: r for r in b["cell_runs"]}
    rows = _rows({k: r["code"] for k, r in last_a.items()}, {k: r["code"] for k, r in last_b.items()})
    return tuple(replace(row, status=SAME if _ran_same(last_a[row.name], last_b[row.name]) else CHANGED)
                 if row.status in (SAME, CHANGED) else row for row in rows)


def _ran_same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Did two runs run the same code? Stored code has its secrets masked, so where either is masked the
    digests of the code as it ran decide (a secret that changed is a change; one masked on a side only,
    having been seen there earlier, is not)."""
    if REDACTED in a["code"] or REDACTED in b["code"]:
        return a.get("code_hash") == b.get("code_hash")
    return a["code"] == b["code"]


def _rows(a: dict[str, Any], b: dict[str, Any], *, numeric: bool = False) -> tuple[Row, ...]:
    found = []
    for name in sorted(a.keys() | b.keys()):
        if name not in b:
            found.append(Row(name, a[name], None, REMOVED))
        elif name not in a:
            found.append(Row(name, None, b[name], ADDED))
        else:
            delta = _delta(a[name], b[name]) if numeric else None
            found.append(Row(name, a[name], b[name], SAME if _same(a[name], b[name]) else CHANGED, delta))
    return tuple(found)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _delta(a: Any, b: Any) -> float | None:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return float(b) - float(a)
    return None


# -- rendering -----------------------------------------------------------------------------------------


def shown_value(value: Any) -> str:
    """A value as a report shows it: a file by its short md5 and size, a float in 6 significant digits."""
    if value is None:
        return "-"
    if isinstance(value, dict) and "md5" in value:
        size = value.get("size")
        return f"{(value['md5'] or 'md5 pending')[:12]} ({size} B)" if size is not None else str(value["md5"])
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value) if not isinstance(value, str) else value


def _verdict(side: Side) -> str:
    if side.reproducible is None:
        return "not judged"
    return "reproducible" if side.reproducible else f"NOT reproducible ({side.issues} issues)"


_SECTIONS = ("params", "metrics", "files", "cells")


def _sides(section: str, row: Row) -> tuple[str, str]:
    """Both sides of a row as shown: a cell by its first line of code, anything else by its value."""
    if section == "cells":
        return first_line(str(row.a or ""), 60), first_line(str(row.b or ""), 60)
    return shown_value(row.a), shown_value(row.b)


def render_text(diff: SessionDiff) -> str:
    """What changed, one line per difference; unchanged names are counted, not listed."""
    lines = [f"a  {diff.a.id}  {diff.a.notebook or '-'}  {_verdict(diff.a)}",
             f"b  {diff.b.id}  {diff.b.notebook or '-'}  {_verdict(diff.b)}"]
    for section in _SECTIONS:
        rows: tuple[Row, ...] = getattr(diff, section)
        changed = [r for r in rows if r.differs]
        lines.append(f"{section}: {len(changed)} changed, {len(rows) - len(changed)} the same")
        for r in changed:
            a, b = _sides(section, r)
            delta = f"  ({r.delta:+.6g})" if r.delta is not None else ""
            lines.append(f"  {r.status:<8} {r.name}: {a} → {b}{delta}")
    if not diff.changed:
        lines.append("no differences")
    return "\n".join(lines)


def render_markdown(diff: SessionDiff) -> str:
    """The same as tables, for a pull request or a report."""
    out = [f"**a** `{diff.a.id}` {_verdict(diff.a)} · **b** `{diff.b.id}` {_verdict(diff.b)}", ""]
    for section in _SECTIONS:
        rows = [r for r in getattr(diff, section) if r.differs or section == "metrics"]
        if not rows:
            continue
        out += [f"### {section}", "", *markdown_table(section, rows, ("name", "a", "b", "change")), ""]
    if not diff.changed:
        out.append("No differences.")
    return "\n".join(out).rstrip() + "\n"


def markdown_table(section: str, rows: Iterable[Row], header: tuple[str, str, str, str]) -> list[str]:
    """Rows of one section as a Markdown table: name, both sides, and the delta (numbers) or the status."""
    lines = [f"| {' | '.join(header)} |", "|---|---|---|---|"]
    for r in rows:
        a, b = _sides(section, r)
        change = f"{r.delta:+.6g}" if r.delta is not None else r.status
        lines.append(f"| {markdown_cell(r.name)} | {markdown_cell(a)} | {markdown_cell(b)} | {change} |")
    return lines


def markdown_cell(text: str) -> str:
    """Text that stays inside one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
