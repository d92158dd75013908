"""The saved notebook as the kernel can see it: cell order, sources and tags.

The kernel is never told which notebook it runs, nor a cell's tags. The file gives both: JupyterLab and
nbclient send each cell's id, and an id found in a notebook next to the kernel names that notebook.
Read with ``json`` rather than nbformat: it is only ever read, and it is read again whenever it is saved.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SavedCell:
    cell_id: str
    source: str
    tags: frozenset[str]


class NotebookFile:
    """A notebook on disk, re-read only when its mtime changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._cells: list[SavedCell] = []
        self.error: str | None = None  # why the last read failed (corrupt, truncated, mid-save), if it did
        self.ever_read = False

    def code_cells(self) -> list[SavedCell]:
        """The code cells in notebook order; the last good read when the file is missing or mid-save."""
        try:
            st = os.stat(self.path)
        except OSError:
            return self._cells
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                self._cells = read_code_cells(self.path)
                self._stamp = stamp
                self.error, self.ever_read = None, True
            except ValueError as exc:
                self.error = str(exc)
        return self._cells


def read_code_cells(path: Path) -> list[SavedCell]:
    """Code cells of an .ipynb; ValueError with a readable reason when it is not a notebook."""
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a readable notebook: {exc}") from exc
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError(f"{path} is not a notebook: it has no list of cells")
    out = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        tags = (cell.get("metadata") or {}).get("tags") or []
        out.append(SavedCell(str(cell.get("id") or f"index-{index}"), str(source), frozenset(map(str, tags))))
    return out


def find_notebook_with_cell(folder: Path, *, cell_id: str | None = None, code: str | None = None,
                            limit: int = 50) -> Path | None:
    """The one notebook in ``folder`` holding a code cell with this id (or, without an id, this code).

    An executed copy (papermill output) holds the same cells; when both match, the copy is not the one.
    """
    needle = json.dumps(cell_id) if cell_id else None
    wanted = code.strip() if code else None
    found: list[tuple[bool, Path]] = []
    try:
        candidates = sorted(p for p in folder.iterdir() if p.suffix == ".ipynb")[:limit]
    except OSError:
        return None
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8")
            if needle is not None and needle not in text:
                continue
            cells = read_code_cells(path)
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if any((c.cell_id == cell_id) if cell_id else (c.source.strip() == wanted) for c in cells):
            found.append(('"papermill"' in text and '"output_path"' in text, path))
    originals = [p for executed, p in found if not executed]
    if len(originals) == 1:
        return originals[0]
    return found[0][1] if len(found) == 1 else None
