"""Is the kernel's state what "Restart kernel and run all" would give? The incremental engine the kernel and
``check`` call.

``Detector.record`` applies one ``Execution`` per cell run to the session's provenances; ``verdict`` judges
the state against a symbolic top-to-bottom run of the notebook as it stands (``judge.py``); ``preflight``
tells, before a cell runs under ``--strict``, what stale, from-below or hidden state it would use or create.
A verdict follows every cell, so most of this module is about not redoing work: the top-to-bottom run is
cached per position (with a namespace every ``_CHECKPOINT_EVERY`` positions) and recomputed from the first
position whose inputs changed; a verdict compares only the names whose side changed since the last one
(``_Differences``); a user going down the notebook costs no symbolic step at all (``_still_agrees``).
"""

from __future__ import annotations

import bisect
import itertools
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from jupyter_mlops.core.analysis import BIND, CellEffects, Change, analyze
from jupyter_mlops.core.notebook import Cell
from jupyter_mlops.core.verdict.judge import Cause, Judge, differs, shown_name
from jupyter_mlops.core.verdict.model import FILE, Execution, Issue, Verdict
from jupyter_mlops.core.verdict.simulation import (
    NONDET,
    SIMULATED,
    Book,
    Interner,
    Run,
    Sim,
    Step,
    is_inert,
)

_NO_SUCH_FILE = re.compile(r"^(?:FileNotFoundError|OSError|IOError): .*?No such file or directory: '(.+?)'")


def _missing_file(error: str | None) -> str | None:
    """The path a run failed to open ("FileNotFoundError: [Errno 2] No such file or directory: 'x.csv'")."""
    found = _NO_SUCH_FILE.match(error or "")
    return found.group(1).removeprefix("./") if found else None


_CHECKPOINT_EVERY = 16
"""Every 16th position of the cached run keeps its own namespace; the positions between hand theirs on to
the next one (a copy per position made each new cell cost a pass over every name of a long notebook) and
rebuild it from the checkpoint before them, replaying at most 15 steps, when asked (a re-run of an earlier
cell, or the run cut there)."""


@dataclass(eq=False)
class _Position:
    """One position of the cached top-to-bottom run: what it depended on and the state it left."""

    key: tuple  # (cell id, fingerprint, facts of the real run it replays)
    step: Step
    # The namespace after this position, never mutated while here; None: handed on to the next position.
    after: Sim | None
    writes: tuple[tuple[int, int], ...]  # (symbolic write, version it resolved to) at the time


class _Differences:
    """The names whose version differs between the session and the top-to-bottom run, kept up to date.

    Comparing every name on every verdict made a cell cost more the longer the notebook. Between two
    verdicts a name can only change side where some run touched it: the cells run since (the session's
    side), and the positions of the top-to-bottom run that were recomputed, dropped, or crossed by the
    frontier (its side). ``None`` anywhere means "not known": compare everything once.
    """

    def __init__(self) -> None:
        self.names: set[str] | None = None
        self.frontier = -1
        self._actual: set[str] | None = set()
        self._expected: set[str] | None = set()
        self._low = sys.maxsize  # the lowest position dropped from the cached run since the last verdict

    def forget(self) -> None:
        self.names = None

    def ran(self, touched: frozenset[str] | None) -> None:
        """A real run: what it touched may now differ, or agree again."""
        if touched is None:
            self._actual = None
        elif self._actual is not None:
            self._actual |= touched  # in place: verdicts may be skipped (``Detector._still_agrees``), runs pile up

    def dropped(self, positions: Sequence[_Position], start: int) -> None:
        """Cached positions from ``start`` are gone: what they touched may come out differently."""
        self._low = min(self._low, start)
        for position in positions:
            if self._expected is None:
                return
            touched = position.step.touched
            if touched is None:
                self._expected = None
            else:
                self._expected |= touched

    def update(self, actual: Sim, expected: Sim, prefix: Sequence[_Position], frontier: int) -> set[str]:
        candidates: set[str] | None = None
        if self.names is not None and self._actual is not None and self._expected is not None:
            candidates = self._actual | self._expected
            start = min(self._low, min(self.frontier, frontier) + 1)
            for position in prefix[start : max(self.frontier, frontier) + 1]:
                if position.step.touched is None:
                    candidates = None
                    break
                candidates |= position.step.touched
        if candidates is None or self.names is None:
            self.names = {n for n in actual.names.keys() | expected.names.keys()
                          if differs(actual.obj(n), expected.obj(n))}
        else:
            for name in candidates:
                if differs(actual.obj(name), expected.obj(name)):
                    self.names.add(name)
                else:
                    self.names.discard(name)
        self.frontier, self._actual, self._expected, self._low = frontier, set(), set(), sys.maxsize
        return self.names


class _Steps(Sequence[Step]):
    """The steps of cached positions, without building a list of them on every verdict."""

    def __init__(self, positions: list[_Position], length: int) -> None:
        self._positions, self._length = positions, length  # the first ``length`` (later ones may be added)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> Step:  # type: ignore[override]  # no slices needed
        if not -self._length <= index < self._length:
            raise IndexError(index)
        return self._positions[index % self._length].step


class Detector:
    """Incremental: the session feeds it one Execution per cell run and asks for verdicts.

    The symbolic top-to-bottom run is the expensive part, and between two cell runs it rarely changes:
    position p's outcome depends only on positions before it, the cell's code and the runtime facts of
    the real run it replays (files, rebound names, success). So the run is cached per position with
    the state it left, and recomputed only from the first position whose inputs changed; ``preflight``
    and the ``verdict`` after it share it, and fix searches are cached on what they depend on.
    """

    def __init__(self) -> None:
        self._intern = Interner()
        self._written: dict[int, int] = {}
        self._equal: dict[int, int] = {}
        self._by_value: dict[tuple[str, str], int] = {}  # (name, digest) -> the first version seen with it
        self._made_at: dict[int, int] = {}  # version -> the first position of the cached run that made it
        self.actual = Sim(self._intern, self._written, self._equal)
        self.runs: dict[str, list[Step]] = {}
        self._first_run: list[str] = []  # the cell ids of ``runs`` in the order they first ran, for slicing
        self.latest: dict[tuple[str, str], Step] = {}  # (cell id, fingerprint) -> its last run
        self._deleted: set[str] = set()
        self.count = 0
        self._opaque: frozenset[str] = frozenset()
        self._ran_opaque: dict[str, frozenset[str]] = {}  # cell id -> likely-opaque names of its last run
        self._ran_opaque_all: frozenset[str] | None = frozenset()
        self._prefix: list[_Position] = []
        self._start_files: dict[str, int] = {}  # file versions the cached run started from
        self._checked: Book | None = None  # the notebook the cached run was last validated against
        self._dirty: set[str] = set()  # cells run since: their positions may replay differently now
        self._recheck_all = False  # a file write may have changed what symbolic writes resolve to
        self._book_cache: tuple[tuple, Book] | None = None
        self.repairs: dict[tuple, tuple[bool, tuple]] = {}  # fix searches, see Judge._repairs
        self.outcomes: tuple[tuple, list[Cause]] | None = None  # see Judge.outcome_causes
        self.failing: set[tuple[str, str]] = set()  # (cell id, fingerprint) whose latest run raised
        self.unbound_at: set[int] = set()  # positions of the cached run whose cell reads a name unbound there
        self._differences = _Differences()
        self._rebuilt: int | None = None  # the position whose handed-on namespace was rebuilt last
        self._opaque_union: tuple[tuple[frozenset[str], ...], frozenset[str]] | None = None  # see _all_opaque
        # (book, runs, frontier) of the last verdict that found every name as top to bottom (see ``_still_agrees``)
        self._agrees: tuple[Book, int, int] | None = None
        self._last: Step | None = None  # the last run recorded, and whether its values were unified with
        self._unified = False  # others' or it named deleted cells (see ``_still_agrees``)
        self._last_deleted = False

    def record(self, execution: Execution) -> None:
        self._deleted |= execution.deleted_cells
        self._deleted.discard(execution.cell_id)
        effects = analyze(execution.code)
        step = Step(
            execution.cell_id, effects.fingerprint, self.count, effects,
            dict(execution.files_read), dict(execution.files_written), ok=execution.ok,
            error=None if execution.ok else execution.error,
        )
        self.actual.run(step, rebound=execution.rebound, ok=execution.ok, disk=True)
        self._differences.ran(step.touched)
        self._unified = bool(execution.values) and self._unify(execution.values)
        self._last, self._last_deleted = step, bool(execution.deleted_cells)
        self.count += 1
        if execution.cell_id not in self.runs:
            self._first_run.append(execution.cell_id)
        self.runs.setdefault(execution.cell_id, []).append(step)
        self.latest[(execution.cell_id, effects.fingerprint)] = step
        if step.ok:
            self.failing.discard((execution.cell_id, effects.fingerprint))
        else:
            self.failing.add((execution.cell_id, effects.fingerprint))
        files = (tuple(sorted(step.files_read.items())), tuple(sorted(step.files_written.items())))
        # A run that raised is replayed by comparing its inputs: only that very run says the same.
        step.facts = (files, step.applied, step.unknown) if step.ok else (files, step)
        self._dirty.add(execution.cell_id)
        self._recheck_all |= bool(step.files_written)
        before = self._ran_opaque.get(execution.cell_id)
        if before != effects.likely_opaque:
            self._ran_opaque[execution.cell_id] = effects.likely_opaque
            if before:  # a name may have left the union: count it again on the next verdict
                self._ran_opaque_all = None
            elif self._ran_opaque_all is not None and not effects.likely_opaque <= self._ran_opaque_all:
                self._ran_opaque_all |= effects.likely_opaque  # only names added: no pass over every cell

    def _unify(self, values: Mapping[str, str]) -> bool:
        """Values equal to ones another provenance made take that provenance's version, in the session and
        in every symbolic run from now on: objects by value, as the README's definition compares them.

        Only whole values (no keyed part or operation of their own, whose readers may see parts) are
        unified, each with the first version its name held with the same digest.
        """
        stale = len(self._prefix)  # the first cached position that made a version found equal to another
        learned = False
        for name, digest in values.items():
            oid = self.actual.names.get(name)
            obj = None if oid is None else self.actual.objs[oid]
            if obj is None or obj.ops or obj.comps or obj.base == NONDET:
                continue
            seen = self._by_value.setdefault((name, digest), obj.version)
            if seen != obj.version:
                self._equal[obj.version] = seen
                self.actual.objs[oid] = obj._replace(base=seen, version=seen)  # type: ignore[union-attr]
                stale = min(stale, self._made_at.get(obj.version, stale))
                learned = True
        if stale < len(self._prefix):  # recomputed from there, with the versions just found equal
            self._differences.dropped(self._prefix[stale:], stale)
            del self._prefix[stale:]
        return learned

    def verdict(self, notebook: Sequence[Cell], opaque: frozenset[str] = frozenset()) -> Verdict:
        """Is the tracked state what running ``notebook`` top to bottom in a fresh kernel would give?

        ``opaque``: names whose values cannot be compared (modules, functions, figures); a difference
        confined to such a name that nothing read is not an issue.
        """
        self._opaque = frozenset(opaque)
        book = self._book(notebook)
        if book.frontier < 0:
            return Verdict(True, ())
        if self._still_agrees(book):
            self._agrees = (book, self.count, book.frontier)
            return Verdict(True, ())
        run = self._expected(book, book.frontier)
        differing = self._differences.update(self.actual, run.sim, self._prefix, book.frontier)
        judge = Judge(self, book, run, self._all_opaque(book))
        issues = judge.issues(sorted(differing))
        # Every name (generators' states included) as top to bottom: what ``preflight`` can take for granted.
        self._agrees = (book, self.count, book.frontier) if not issues and not differing else None
        return Verdict(not issues, tuple(issues))

    def _still_agrees(self, book: Book) -> bool:
        """Does the state agree with top to bottom, without a symbolic run? Yes after one run of the next cell
        down (or a new one below) that only rebinds names, in a state that agreed: it read what a top-to-bottom
        run would feed it there, so it made what that run makes. The common case, a user going down the
        notebook, costs no symbolic step; the cached run catches up the next time it is needed.

        Anything else is left to the full verdict: a run that raised, read or wrote a file, changed an object in
        place (aliases may differ between the two runs, which versions do not show), named a deleted cell, was
        found equal to another provenance's value, or skipped a cell above it.
        """
        agreed, last = self._agrees, self._last
        if agreed is None or agreed[0] is not book or agreed[1] != self.count - 1 or last is None:
            return False
        pos = book.pos.get(last.cell_id)
        return (
            last.ok and not last.in_place and not last.unknown and not last.files_read and not last.files_written
            and not self._unified and not self._last_deleted and last.effects.known and pos is not None
            and pos == book.frontier > agreed[2] and book.effects[pos].fingerprint == last.fingerprint
            and bisect.bisect_right(book.unrun, agreed[2]) == bisect.bisect_left(book.unrun, pos)
        )

    def preflight(self, notebook: Sequence[Cell], cell_id: str, code: str) -> tuple[Issue, ...]:
        """Issues that running this code now would create by *using* stale, from-below or hidden state.

        A cell that makes values is checked against what a top-to-bottom run would feed it at its
        position; a cell that only shows things (or makes only figures) is checked against the values
        a top-to-bottom run would end with, so re-running ``df.head()`` after later cells is fine.
        """
        effects = analyze(code)
        if not self.count or not effects.parsed:
            return ()
        book = self._book(notebook)
        pos = book.pos.get(cell_id, len(book.cells))
        agreed = self._agrees
        if (agreed is not None and agreed[0] is book and agreed[1] == self.count and pos > book.frontier
                and bisect.bisect_right(book.unrun, book.frontier) == bisect.bisect_left(book.unrun, pos)):
            # The next cell down (or a new one) in a state where every name is what top to bottom gives: it
            # reads what a top-to-bottom run would feed it and leaves no cell above it unrun. The common
            # case, a user going down the notebook, told without a symbolic run.
            return ()
        run = self._expected(book, max(book.frontier, pos - 1), snapshot=pos)
        opaque = self._all_opaque(book) | effects.likely_opaque
        judge = Judge(self, book, run, opaque)
        step = Step(cell_id, effects.fingerprint, self.count, effects)
        reads, planned, _ = self.actual.expand(effects)  # planned: also what the functions it calls change
        makes_values = any(n not in opaque for n in planned)
        target = run.before if makes_values and run.before is not None else run.sim
        got_all, _ = self.actual.inputs(step, reads)
        want_all, _ = target.inputs(step, reads)
        aliased = {maker: cause for maker, (cause, _) in judge.alias_causes().items()}
        issues: dict[tuple[str, str], Issue] = {}
        for name in sorted(got_all, key=lambda n: (not judge.is_random(n), n)):
            got, want = got_all[name], want_all[name]
            obj = self.actual.obj(name)
            cause = next((aliased[m] for m in (obj.makers() if obj else []) if m in aliased), None)
            if got.version != want.version and (makes_values or name not in opaque):
                cause = judge.input_cause(cell_id, pos, name, got, want, 0, "would use") or cause
            if cause is None or (cause.kind, cause.cell_id) in issues:
                continue
            message = cause.message
            if cause.cell_id != cell_id:
                message = f"cell {pos + 1} would use {shown_name(name)}; {message}"
            fix, cells = (cause.fix, ()) if cause.fix else judge.fix({name}, cause.cells)
            issues[(cause.kind, cause.cell_id)] = Issue(
                cause.kind, cause.cell_id, (shown_name(name),), message, fix, cells,
            )
        for cause, names in self._created(book, judge, pos, cell_id, effects, planned):
            if (cause.kind, cause.cell_id) not in issues:
                fix, cells = judge.fix(names, cause.cells)
                issues[(cause.kind, cause.cell_id)] = Issue(
                    cause.kind, cause.cell_id, tuple(sorted(map(shown_name, names))), cause.message, fix, cells,
                )
        return tuple(issues.values())

    def _created(
        self, book: Book, judge: Judge, pos: int, cell_id: str, effects: CellEffects, planned: Mapping[str, Change]
    ) -> list[tuple[Cause, set[str]]]:
        """States that running this cell would *create*: cells above it left unrun, values overwritten.

        Running a cell below cells never run makes them skipped; re-running a cell above the lowest one
        run rebinds names that a cell below it, already run, changes after it top to bottom.
        """
        if cell_id not in book.pos:
            return []  # not in the notebook as known (an unsaved new cell): nothing to say where it stands
        created: list[tuple[Cause, set[str]]] = []
        skipped = book.unrun[bisect.bisect_right(book.unrun, book.frontier) : bisect.bisect_left(book.unrun, pos)]
        if skipped:
            first, last = skipped[0], skipped[-1]
            which = f"cell {first + 1}" if first == last else f"cells {first + 1}–{last + 1}"
            created.append((Cause(
                "skipped-cell", book.cells[first].cell_id,
                f"running cell {pos + 1} now leaves {which} above it never run", frozenset(skipped),
            ), set()))
        binds = [
            n for n, c in planned.items()
            if c.kind == BIND and not c.in_place and not n.startswith("<")
        ]
        if pos >= book.frontier or not binds:
            return created
        changers = judge.changers()
        for name in binds:
            later = [p for p in changers.get(name, ()) if pos < p <= book.frontier]
            if not later or self._rebinds_same(book, pos, name):
                continue
            by = later[-1]
            created.append((Cause(
                "overwritten", book.cells[by].cell_id,
                f"re-running cell {pos + 1} rebinds {shown_name(name)}, "
                f"which cell {by + 1} changes after it top to bottom",
                frozenset({by}),
            ), {name}))
        return created

    def _rebinds_same(self, book: Book, pos: int, name: str) -> bool:
        """Would this cell bind ``name`` to the value a top-to-bottom run ends with anyway (``import np``)?"""
        sim = self.actual.copy()
        self.symbolic_step(sim, book, pos, SIMULATED + pos)
        got, want = sim.obj(name), self._expected(book, book.frontier).sim.obj(name)
        return got is not None and want is not None and got.version == want.version

    # -- the notebook ----------------------------------------------------------------------------------

    def _book(self, notebook: Sequence[Cell]) -> Book:
        """The notebook without deleted cells; reused while cells and deletions are the same.

        A cell run for the first time only moves the frontier, so the book (and with it the cached
        top-to-bottom run's validation) survives a top-to-bottom run of any length; cells appended below
        it (a notebook no file describes yet grows by the cell just run) extend it in place.
        """
        cached = self._book_cache
        if cached is not None and cached[0][0] is notebook and cached[0][1] == self._deleted:
            key = cached[0]  # the very cells seen last (the notebook view hands the same tuple): no compare
        else:
            key = (tuple(notebook), frozenset(self._deleted))
        if cached is not None and cached[0] is not key and cached[0] != key:
            (known, deleted), book = cached
            if deleted == key[1] and len(key[0]) > len(known) and key[0][: len(known)] == known:
                self._extend(book, key[0][len(known) :])
                self._book_cache = (key, book)
        if self._book_cache is not None and (self._book_cache[0] is key or self._book_cache[0] == key):
            book = self._book_cache[1]
            if book.runs_seen != len(self.runs):
                for cell_id in self._first_run[book.runs_seen:]:
                    pos = book.pos.get(cell_id)
                    if pos is None:
                        continue
                    book.frontier = max(book.frontier, pos)
                    at = bisect.bisect_left(book.unrun, pos)
                    if at < len(book.unrun) and book.unrun[at] == pos:
                        del book.unrun[at]
                    if (cell_id, book.effects[pos].fingerprint) not in self.latest:
                        book.edited.add(pos)
                book.runs_seen = len(self.runs)
            return book
        cells: list[Cell] = []
        pos: dict[str, int] = {}
        for cell in notebook:
            if cell.cell_id not in self._deleted and cell.cell_id not in pos:
                pos[cell.cell_id] = len(cells)
                cells.append(cell)
        frontier = max((pos[c] for c in self.runs if c in pos), default=-1)
        effects = [analyze(c.source) for c in cells]
        static = frozenset().union(*(e.likely_opaque for e in effects))
        inert = [is_inert(c.source) for c in cells]
        effective = list(itertools.accumulate((not i for i in inert), initial=0))
        unrun = [p for p, c in enumerate(cells) if not inert[p] and c.cell_id not in self.runs]
        edited = {
            p for p, c in enumerate(cells)
            if c.cell_id in self.runs and (c.cell_id, effects[p].fingerprint) not in self.latest
        }
        book = Book(cells, effects, pos, frontier, static, inert, effective, unrun, edited, len(self.runs))
        self._book_cache = (key, book)
        return book

    def _extend(self, book: Book, appended: Sequence[Cell]) -> None:
        """Cells below the notebook as last seen, added to its book as ``_book`` would have built them."""
        for cell in appended:
            if cell.cell_id in self._deleted or cell.cell_id in book.pos:
                continue
            position = book.pos[cell.cell_id] = len(book.cells)
            effects = analyze(cell.source)
            inert = is_inert(cell.source)
            book.cells.append(cell)
            book.effects.append(effects)
            book.inert.append(inert)
            book.effective.append(book.effective[-1] + (not inert))
            if not effects.likely_opaque <= book.static_opaque:
                book.static_opaque |= effects.likely_opaque
            if cell.cell_id in self.runs:
                book.frontier = position
                if (cell.cell_id, effects.fingerprint) not in self.latest:
                    book.edited.add(position)
            elif not inert:
                book.unrun.append(position)

    def _all_opaque(self, book: Book) -> frozenset[str]:
        """The session's opaque names plus those the code shows are modules, functions or figures."""
        if self._ran_opaque_all is None:
            self._ran_opaque_all = frozenset().union(*self._ran_opaque.values())
        parts = (self._opaque, book.static_opaque, self._ran_opaque_all)
        cached = self._opaque_union
        if cached is None or cached[0][0] != parts[0] or cached[0][1] is not parts[1] or cached[0][2] is not parts[2]:
            cached = self._opaque_union = (parts, parts[0] | parts[1] | parts[2])
        return cached[1]

    # -- symbolic runs -------------------------------------------------------------------------------

    def _expected(self, book: Book, end: int, snapshot: int | None = None) -> Run:
        """The top-to-bottom run down to ``end``; ``snapshot``: also the state before that position."""
        if snapshot is not None and snapshot > end:
            whole = self._expected(book, end)
            return Run(whole.sim, whole.steps, whole.sim)
        self._validate(book)
        prefix = self._prefix
        for position in range(len(prefix), end + 1):
            sim = self._continued(prefix)
            step = self.symbolic_step(sim, book, position, position)
            step.unbound = tuple(  # no object: neither a file, nor a generator's state, nor anything bound
                n for n, got in step.inputs.items() if got.oid is None and n[0] != "<" and not n.startswith(FILE)
            )
            if step.unbound:
                self.unbound_at.add(position)
            for name in step.applied:
                if (made := sim.obj(name)) is not None:
                    self._made_at.setdefault(made.version, position)
            writes = tuple((symbolic, sim.files[path][0]) for path, symbolic in step.written_as.items())
            prefix.append(_Position(self._position_key(book, position), step, sim, writes))
        run = Run(self._after(prefix, end), _Steps(prefix, end + 1))
        if snapshot is not None:
            run.before = self._after(prefix, snapshot - 1) if snapshot > 0 else self._start()
        return run

    def _continued(self, prefix: list[_Position]) -> Sim:
        """The namespace the next position runs in: the last one's, taken over unless it is a checkpoint."""
        if not prefix:
            return self._start()
        last = len(prefix) - 1
        sim = self._after(prefix, last)
        if last % _CHECKPOINT_EVERY == 0:
            return sim.copy()
        prefix[last].after = None
        return sim

    def _after(self, prefix: list[_Position], index: int) -> Sim:
        """The namespace after cached position ``index``; one handed on is rebuilt from the checkpoint
        before it by replaying the cached steps as they ran (same inputs, same interned versions)."""
        found = prefix[index].after
        if found is not None:
            return found
        base = index - index % _CHECKPOINT_EVERY
        sim = prefix[base].after.copy()  # type: ignore[union-attr]  # checkpoints keep theirs
        for position in prefix[base + 1 : index + 1]:
            sim.run(position.step, only=position.step.applied, unknown=position.step.unknown)
        if self._rebuilt is not None:  # one rebuilt namespace kept at a time (a re-run asks for it twice)
            old = self._rebuilt
            if old < len(prefix) - 1 and old % _CHECKPOINT_EVERY:
                prefix[old].after = None
        prefix[index].after, self._rebuilt = sim, index
        return sim

    def _validate(self, book: Book) -> None:
        """Drop the cached positions from the first one whose inputs changed since it was computed.

        Same notebook as last time: only the positions of cells run since can have changed, so an idle
        cell costs a few lookups. Another notebook, or a file write: check every position.
        """
        start_files = {path: version for path, (version, _) in self.actual.files.items()}
        if start_files != self._start_files:
            self._start_files, self._prefix = start_files, []
            self._differences.forget()
        prefix = self._prefix
        self._differences.dropped(prefix[len(book.cells) :], len(book.cells))
        del prefix[len(book.cells) :]
        if book is self._checked and not self._recheck_all:
            positions: Iterable[int] = sorted(book.pos[c] for c in self._dirty if c in book.pos)
        else:
            positions = range(len(prefix))
        for position in positions:
            if position >= len(prefix):
                break
            cached = prefix[position]
            if cached.key != self._position_key(book, position) or any(
                self._written.get(symbolic, symbolic) != version for symbolic, version in cached.writes
            ):
                self._differences.dropped(prefix[position:], position)
                del prefix[position:]
                break
        self._checked, self._dirty, self._recheck_all = book, set(), False

    def _start(self) -> Sim:
        """A fresh kernel: no names, files as they are on disk now."""
        sim = Sim(self._intern, self._written, self._equal)
        sim.files = {path: (version, None) for path, (version, _) in self.actual.files.items()}
        return sim

    def _position_key(self, book: Book, position: int) -> tuple:
        """What the symbolic run at ``position`` depends on besides the positions above it."""
        cell, effects = book.cells[position], book.effects[position]
        same = self.latest.get((cell.cell_id, effects.fingerprint))
        if same is not None:
            return cell.cell_id, effects.fingerprint, same.facts
        runs = self.runs.get(cell.cell_id)
        return cell.cell_id, effects.fingerprint, runs[-1].facts[0] if runs else None

    def symbolic_step(self, sim: Sim, book: Book, position: int, seq: int) -> Step:
        """Run a notebook cell symbolically, the way its last real run of this code went."""
        cell, effects = book.cells[position], book.effects[position]
        same = self.latest.get((cell.cell_id, effects.fingerprint))
        runs = self.runs.get(cell.cell_id)
        source = same or (runs[-1] if runs else None)
        step = Step(
            cell.cell_id, effects.fingerprint, seq, effects,
            source.files_read if source else {}, source.files_written if source else {},
        )
        if same is not None and not same.ok and not self._same_situation(sim, step, same):
            same = None  # it raised in a state a top-to-bottom run would not be in: assume it completes
            step.assumed_ok = True
        sim.run(step, only=same.applied if same else None, unknown=same.unknown if same else frozenset())
        return step

    @staticmethod
    def _same_situation(sim: Sim, step: Step, ran: Step) -> bool:
        """Would a top-to-bottom run reach this cell in the situation its run that raised was in?"""
        missing = _missing_file(ran.error)
        if missing is not None and any(path == missing or path.endswith("/" + missing) for path in sim.files):
            # It failed for want of a file that a cell above writes, or that exists now (the session has
            # read or written it since): a top-to-bottom run on the files as they are finds it.
            return False
        reads, _, _ = sim.expand(step.effects)
        inputs, opkeys = sim.inputs(step, reads)
        targets = frozenset(n for n, c in step.effects.changes.items() if c.kind != BIND and n in sim.names)
        return targets == ran.targets and sim.reapplied(opkeys) == ran.reapplied and all(
            ran.inputs.get(name, got).version == got.version for name, got in inputs.items()
        )
