"""What a verdict is: the facts one cell run hands in (``Execution``) and the answer (``Verdict`` of ``Issue``).

The README gives one definition of reproducible: the kernel's state is what "Restart kernel and run all" would
give. The session, ``check`` and the history of runs before tracking (``core/history.py``) speak in these terms,
and the journal, the comm and REST carry them (``Issue.to_dict``); they live apart from the engine so that what a
caller holds depends on nothing else. An issue's kind is one of ``KINDS``, each explained in the README's table;
its fix is a range of cells to run or ``RESTART``. ``FILE`` turns a path into a name, so that files are values
like any other on both sides of the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RESTART = "restart and run all"
KINDS = (
    "stale-input", "read-from-below", "hidden-state", "non-idempotent-rerun", "unseeded-random",
    "skipped-cell", "failed-out-of-order", "overwritten",
    "not-established",  # tracking started late on a state the kernel's history cannot explain (core/history.py)
)
FILE = "file:"  # prefix that turns a path into a name, so files are values like any other


@dataclass(frozen=True)
class Execution:
    """One finished cell run, in execution order."""

    cell_id: str
    code: str
    files_read: Mapping[str, str | None] = field(default_factory=dict)  # project-relative path -> md5
    files_written: Mapping[str, str | None] = field(default_factory=dict)
    ok: bool = True  # False: the cell raised (what ran before the exception still counts)
    rebound: frozenset[str] | None = None  # names whose global binding changed; None if unknown
    deleted_cells: frozenset[str] = frozenset()  # cell ids the frontend reported deleted
    error: str | None = None  # "NameError: name 'np' is not defined" when the cell raised
    # Digests of the values of names it rebound (``kernel/fingerprint.py``), where one is cheap: a value
    # equal to one a different provenance made is that value, whichever cell made it.
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Issue:
    """One reason the state is not reproducible, in the user's words."""

    kind: str  # one of KINDS
    cell_id: str  # the cell the user must look at
    names: tuple[str, ...]
    message: str
    fix: str  # for people: "run cells 2–3" or RESTART
    fix_cells: tuple[str, ...] = ()  # for programs: the ids of the cells to run, in order; () for RESTART

    def to_dict(self) -> dict[str, Any]:
        """The issue for the comm and REST: ``fix`` is the sentence, ``restart``/``run`` what to do."""
        return {
            "kind": self.kind,
            "cell_id": self.cell_id,
            "names": list(self.names),
            "message": self.message,
            "fix": self.fix,
            "restart": not self.fix_cells,
            "run": list(self.fix_cells),
        }


@dataclass(frozen=True)
class Verdict:
    reproducible: bool
    issues: tuple[Issue, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"reproducible": self.reproducible, "issues": [i.to_dict() for i in self.issues]}
