"""The notebook being exported, as plain cells: kind, source, tags, and the few roles export cares about.

Read with ``json`` and checked by hand rather than with nbformat, whose schema validator costs ~1.5 s to
import here, on every ``jupyter mlops`` command; a corrupt notebook is still refused with one line before
anything is planned.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_mlops.errors import BadInput, NotFound

_TRACKING = re.compile(r"^\s*(%load_ext\s+jupyter_mlops|%mlops_track\b|jupyter_mlops\.track\()", re.M)
_SKIP_TAGS = frozenset({"skip", "exploratory"})
_PARAMETER_TAGS = frozenset({"parameters"})
STAGE_TAG = "stage:"


@dataclass(frozen=True)
class Cell:
    index: int
    cell_id: str
    kind: str                 # code | markdown | raw
    source: str
    tags: frozenset[str]

    @property
    def is_tracking(self) -> bool:
        return self.kind == "code" and bool(_TRACKING.search(self.source))

    @property
    def is_parameters(self) -> bool:
        return self.kind == "code" and bool(self.tags & _PARAMETER_TAGS)

    @property
    def is_skipped(self) -> bool:
        return bool(self.tags & _SKIP_TAGS)

    @property
    def stage_tag(self) -> str | None:
        """The NAME of a ``stage:NAME`` tag (Kale's ``block:`` convention under our own prefix)."""
        for tag in sorted(self.tags):
            if tag.startswith(STAGE_TAG) and tag[len(STAGE_TAG):].strip():
                return tag[len(STAGE_TAG):].strip()
        return None

    @property
    def heading(self) -> tuple[int, str] | None:
        """(level, text) of the first markdown heading line, if the cell starts a section."""
        if self.kind != "markdown":
            return None
        for line in self.source.splitlines():
            match = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
            if match:
                return len(match.group(1)), match.group(2)
            if line.strip():
                return None
        return None


@dataclass(frozen=True)
class Notebook:
    cells: tuple[Cell, ...]
    metadata: dict[str, Any]

    @property
    def kernel_name(self) -> str:
        return str((self.metadata.get("kernelspec") or {}).get("name") or "python3")


def read_notebook(path: Path) -> tuple[Notebook, dict[str, Any]]:
    """The notebook as cells, plus its JSON document (the stage notebooks copy cells from it)."""
    if path.suffix != ".ipynb":
        raise BadInput(f"{path}: expected a .ipynb notebook")
    if not path.is_file():
        raise NotFound(f"{path}: no such notebook")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path} is not a readable notebook (not JSON: {exc})", hint="restore it from git") from exc
    problem = _problem(doc)
    if problem:
        raise BadInput(f"{path} is not a valid notebook ({problem})", hint="restore it from git")
    cells = []
    for i, c in enumerate(doc["cells"]):
        source = c.get("source", "")
        cells.append(Cell(index=i, cell_id=str(c.get("id") or f"index-{i}"), kind=c["cell_type"],
                          source="".join(source) if isinstance(source, list) else source,
                          tags=frozenset(map(str, (c.get("metadata") or {}).get("tags") or ()))))
    return Notebook(tuple(cells), dict(doc.get("metadata") or {})), doc


def _problem(doc: Any) -> str | None:
    """What makes ``doc`` not an nbformat-4 notebook, else None."""
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        return "no list of cells"
    if doc.get("nbformat") != 4:
        return f"nbformat {doc.get('nbformat')!r}, expected 4: open and save it in JupyterLab to upgrade it"
    for i, cell in enumerate(doc["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            return f"cell {i} has no valid cell_type"
        if not isinstance(cell.get("source"), (str, list)):
            return f"cell {i} has no text source"
    return None
