"""Which cell runs made the values of the user's namespace: the readers of deferred reads.

A lazy value reads its file when it is used, not when it is made: ``lf = pl.scan_parquet("data/x.parquet")``
in one cell, ``lf.filter(…).collect()`` in a later one whose code names no file; a pyarrow dataset, a duckdb
relation, a dask graph, a generator over files, a memory map touched later. The cell that uses the value is
the reader. The file watcher sees that cell read ``data/x.parquet`` but cannot name who did
(``lineage.py`` keeps a watcher-only path only when the cell can name it); what ties the read to the cell is
the value it used. So every value keeps the cell runs that made it, as the detector's def/use analysis says
(``core/analysis.py``: the names a cell reads, and for each name it binds the names its new value is computed
from): the run that bound it, and transitively the makers of what that run computed it from. A cell names
what the makers of the values it uses named: their code, the command lines and paths they handed to C code,
the files they read.

A memory map is read without any event at all (page faults are not reads to inotify), so a cell that maps a
file with Python's ``mmap`` (``np.load(…, mmap_mode="r")``, ``np.memmap``) is remembered as mapping it, and
a later cell that uses a value made by it, still backed by a map, reads that file.

Per cell this costs one dictionary update per name the cell bound; the makers are looked at only when a cell
has a watcher-only path it cannot name otherwise, or uses a mapped value.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jupyter_mlops.core.analysis import analyze

MAX_MAKERS = 16
"""Cell runs kept per value (the most recent): a value rebuilt in a loop of cells does not grow without end."""
_MAX_BASES = 8  # steps from a value to the buffer it is a view of (numpy's ``.base``, memoryview's ``.obj``)
_NAMES_A_PATH = re.compile(r"[./\\]")


@dataclass(frozen=True, eq=False)
class Maker:
    """One cell run that made values: what it named, and the files it read and mapped (absolute paths).
    Each run is its own maker: compared by identity, which is also the cheapest."""

    code: str
    mentions: tuple[str, ...]
    files: frozenset[str]
    mapped: frozenset[str]


class Origins:
    """The makers of every name the tracked cells bound."""

    def __init__(self) -> None:
        self._makers: dict[str, tuple[Maker, ...]] = {}
        self._function_globals: dict[str, frozenset[str]] = {}
        self._mapping: set[str] = set()  # names whose makers mapped a file

    def uses(self, code: str) -> set[str]:
        """The names a cell's code uses: read, read by key, and the globals of the functions it calls."""
        effects = analyze(code)
        used = set(effects.reads)
        used.update(effects.key_reads)
        for name in effects.called & self._function_globals.keys():
            used |= self._function_globals[name]
        return used

    def makers(self, names: Iterable[str]) -> list[Maker]:
        """The makers of these names' values, each once, most recent first per name."""
        return list(dict.fromkeys(m for name in names for m in self._makers.get(name, ())))

    @property
    def mapping(self) -> bool:
        """Whether any value's makers mapped a file (else :meth:`mapped_reads` finds nothing)."""
        return bool(self._mapping)

    def mapped_reads(self, code: str, namespace: dict[str, Any]) -> set[str]:
        """Files a cell reads by touching a memory map an earlier cell made: the mapped files of the makers
        of each value it uses that is still backed by a map."""
        out: set[str] = set()
        for name in self.uses(code) & self._mapping:
            if name in namespace and _backed_by_a_map(namespace[name]):
                for maker in self._makers.get(name, ()):
                    out |= maker.mapped
        return out

    def made(self, code: str, rebound: Iterable[str], namespace: dict[str, Any], mentions: list[str],
             files: frozenset[str], mapped: set[str]) -> None:
        """A cell run bound ``rebound``: it is their maker, with the makers of what it computed them from.
        The common cell (no path in its code, no file, nothing made by such a cell yet) costs a dictionary
        look-up per name."""
        own = None
        if files or mentions or _NAMES_A_PATH.search(code):
            own = Maker(code, tuple(mentions), files, frozenset(mapped))
        effects = analyze(code)
        for name in rebound:
            change = effects.changes.get(name)
            if change is not None and change.function is not None:
                self._function_globals[name] = change.function.reads
            elif self._function_globals:
                self._function_globals.pop(name, None)
            if own is None and not self._makers:
                continue
            if name not in namespace:  # deleted
                self._forget(name)
                continue
            makers: tuple[Maker, ...] = (own,) if own is not None else ()
            if change is not None and change.deps:  # ``x = x + 1``: the old value's makers too
                makers += tuple(self.makers(change.deps))
            if makers:
                kept = makers[:MAX_MAKERS] if len(makers) <= 1 else tuple(dict.fromkeys(makers))[:MAX_MAKERS]
                self._makers[name] = kept
                if any(m.mapped for m in kept):
                    self._mapping.add(name)
                else:
                    self._mapping.discard(name)
            else:
                self._forget(name)

    def _forget(self, name: str) -> None:
        self._makers.pop(name, None)
        self._function_globals.pop(name, None)
        self._mapping.discard(name)


def _backed_by_a_map(value: Any) -> bool:
    """Whether ``value``'s memory is a file map: it is an ``mmap.mmap``, or a view whose base chain
    (``.base`` of numpy arrays, ``.obj`` of memoryviews, ``._mmap`` of numpy's memmap) reaches one."""
    for _ in range(_MAX_BASES):
        if isinstance(value, mmap.mmap):
            return not value.closed
        held = getattr(value, "_mmap", None)
        if isinstance(held, mmap.mmap):
            return not held.closed
        nxt = getattr(value, "base", None)
        if nxt is None and isinstance(value, memoryview):
            nxt = value.obj
        if nxt is None or nxt is value:
            return False
        value = nxt
    return False
