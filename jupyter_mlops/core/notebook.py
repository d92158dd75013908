"""The one notebook model: cells in notebook order, each with its kind, id, source, tags and roles.

The kernel, ``check`` and ``export`` (and through export the server) read a notebook here and nowhere
else, so they agree on which cell is the parameters cell, which are skipped, where stages start and
what id a cell without one has. The tag vocabulary lives only in this module.

Read with ``json`` and checked by hand rather than with nbformat, whose import and schema validator
cost ~1.5 s here, on every ``jupyter mlops`` command and in the kernel; a corrupt notebook is refused
with one ``NotebookError`` saying what is wrong before anything uses it.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_mlops.errors import BadInput, NotFound

KINDS = ("code", "markdown", "raw")
PARAMETERS_TAG = "parameters"                    # papermill's: the cell holding the defaults
INJECTED_PARAMETERS_TAG = "injected-parameters"  # papermill's: the cell it adds with the values it was given
SKIP_TAGS = frozenset({"skip", "exploratory"})   # cells a pipeline leaves out
STAGE_TAG = "stage:"                             # ``stage:NAME`` starts a stage (Kale's ``block:``, our prefix)
_PARAMETER_TAGS = frozenset({PARAMETERS_TAG, INJECTED_PARAMETERS_TAG})
# papermill starts its injected cell with this line; a kernel is never sent tags, only the code.
_PAPERMILL_HEADER = re.compile(r"^\s*#\s*Parameters\s*$", re.M)
_TRACKING = re.compile(r"^\s*(%load_ext\s+jupyter_mlops|%mlops_track\b|jupyter_mlops\.track\()", re.M)
_RESTORE = "restore it from git"
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


class NotebookError(BadInput):
    """The notebook cannot be used: not JSON, not an nbformat-4 notebook, or unreadable."""


class NotebookMissing(NotebookError, NotFound):
    """No notebook at that path (a 404 for the server, where a corrupt one is a 400)."""

    status = NotFound.status


def fallback_cell_id(index: int) -> str:
    """The id of a cell saved without one (nbformat < 4.5): its position among all the notebook's cells."""
    return f"index-{index}"


@dataclass(frozen=True)
class Cell:
    """One cell as saved (or, built by the kernel, as it ran): also the detector's notebook cell.

    ``index`` is the position in the file, every kind counted; None for a cell no file holds (run but
    not saved, the frontend's unsaved order). ``execution_count`` and ``error`` are what the file says
    of the cell's last run.
    """

    cell_id: str
    source: str
    kind: str = "code"
    tags: frozenset[str] = frozenset()
    index: int | None = None
    execution_count: int | None = None   # None: never ran
    error: str | None = None             # "NameError: …" from a saved error output; None: it succeeded

    @property
    def is_code(self) -> bool:
        return self.kind == "code"

    @property
    def is_injected_parameters(self) -> bool:
        """papermill's injected cell: tagged so in the notebook papermill writes, known by its header where
        no tags are seen (a kernel's run, a journal)."""
        return self.is_code and (INJECTED_PARAMETERS_TAG in self.tags or bool(_PAPERMILL_HEADER.search(self.source)))

    @property
    def is_parameters(self) -> bool:
        """The cell tagged ``parameters``, or papermill's injected one (which replaces it as the truth)."""
        return self.is_code and (bool(self.tags & _PARAMETER_TAGS) or self.is_injected_parameters)

    @property
    def is_tracking(self) -> bool:
        """The cell that starts tracking (``%mlops_track``, or ``%load_ext`` / ``track()`` of this package)."""
        return self.is_code and bool(_TRACKING.search(self.source))

    @property
    def is_skipped(self) -> bool:
        """Tagged ``skip`` or ``exploratory``: not part of the pipeline."""
        return bool(self.tags & SKIP_TAGS)

    @property
    def stage_tag(self) -> str | None:
        """The NAME of a ``stage:NAME`` tag, if the cell starts a stage."""
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
            match = _HEADING.match(line)
            if match:
                return len(match.group(1)), match.group(2)
            if line.strip():
                return None
        return None


@dataclass(frozen=True)
class Notebook:
    """The cells in notebook order, the notebook's metadata, and the JSON document they were read from
    (stage notebooks copy cells from it, outputs stripped)."""

    cells: tuple[Cell, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def code_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.is_code]

    @property
    def parameters_cell(self) -> Cell | None:
        """The first parameters cell not tagged skip: the one export puts in ``params.yaml``."""
        return next((c for c in self.cells if c.is_parameters and not c.is_skipped), None)

    @property
    def tracking_cell(self) -> Cell | None:
        return next((c for c in self.cells if c.is_tracking and not c.is_skipped), None)

    @property
    def kernel_name(self) -> str:
        return str((self.metadata.get("kernelspec") or {}).get("name") or "python3")


def read_notebook(source: os.PathLike[str] | bytes | Mapping[str, Any], *, name: str | None = None) -> Notebook:
    """The notebook in a file, in its bytes, or in its parsed JSON; ``NotebookError`` saying what is wrong.

    ``name`` is what the error calls it (default: the path, else "the notebook").
    """
    if isinstance(source, os.PathLike):
        path = Path(source)
        name = name or str(path)
        if path.suffix != ".ipynb":
            raise NotebookError(f"{name}: expected a .ipynb notebook")
        try:
            source = _regular_file_bytes(path, name)
        except FileNotFoundError as exc:
            raise NotebookMissing(f"{name}: no such notebook") from exc
        except OSError as exc:
            raise NotebookError(f"{name} cannot be read ({exc.strerror or exc})") from exc
    name = name or "the notebook"
    if isinstance(source, bytes):
        try:
            doc: Any = json.loads(source.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise NotebookError(f"{name} is not a readable notebook (not JSON: {exc})", hint=_RESTORE) from exc
    else:
        doc = source
    problem = _problem(doc)
    if problem:
        raise NotebookError(f"{name} is not a valid notebook ({problem})", hint=_RESTORE)
    cells = tuple(_cell(index, cell) for index, cell in enumerate(doc["cells"]))
    return Notebook(cells, dict(doc.get("metadata") or {}), doc)


def _regular_file_bytes(path: Path, name: str) -> bytes:
    """The file's bytes; a FIFO or a device in its place is refused rather than read (a read would block)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise NotebookError(f"{name} is not a regular file (a FIFO, a device or a folder): refused")
        return file.read()


def _cell(index: int, cell: Mapping[str, Any]) -> Cell:
    source = cell["source"]
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, Mapping) else None
    count = cell.get("execution_count")
    return Cell(
        cell_id=str(cell.get("id") or fallback_cell_id(index)),
        source="".join(source) if isinstance(source, list) else source,
        kind=cell["cell_type"],
        tags=frozenset(map(str, tags)) if isinstance(tags, list) else frozenset(),
        index=index,
        execution_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        error=_saved_error(cell.get("outputs")),
    )


def _saved_error(outputs: object) -> str | None:
    """The exception a saved cell's last run ended with ("NameError: …"), from its error output."""
    for output in outputs if isinstance(outputs, list) else ():
        if isinstance(output, dict) and output.get("output_type") == "error":
            return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
    return None


def _problem(doc: Any) -> str | None:
    """What makes ``doc`` not an nbformat-4 notebook, else None."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("cells"), list):
        return "no list of cells"
    if doc.get("nbformat") != 4:
        return f"nbformat {doc.get('nbformat')!r}, expected 4: open and save it in JupyterLab to upgrade it"
    for i, cell in enumerate(doc["cells"]):
        if not isinstance(cell, Mapping) or cell.get("cell_type") not in KINDS:
            return f"cell {i} has no valid cell_type"
        source = cell.get("source")
        if not isinstance(source, str) and not (isinstance(source, list)
                                                and all(isinstance(s, str) for s in source)):
            return f"cell {i} has no text source"
    return None
