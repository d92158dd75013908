"""Does the session's state differ from what a top-to-bottom run makes, why, and what is the smallest fix?

Where a value's two provenances differ (the session's, built by the cells as they ran, and the symbolic
top-to-bottom run's, ``simulation.py``) the state is not reproducible, and walking the differing inputs back
says why: a stale input, a value read from below, a deleted or edited cell, a mutation applied twice, a random
state consumed twice, a skipped cell. Outcomes count too: a cell that failed where a top-to-bottom run would
not, one that ran only on a name a cell below it makes, cells never run or edited and not re-run. Each cause
becomes an ``Issue`` whose fix is the smallest contiguous range of cells whose re-run settles its names
without unsettling others (simulated on a copy of the session's state), else ``RESTART``.

A ``Judge`` lives for one verdict or preflight; it reads the runs its ``Detector`` recorded and caches what
outlives it (outcome causes, fix searches) there. ``detector.py`` imports this module; this one names the
detector for type checking only.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jupyter_mlops.core.analysis import RANDOM_STATES, is_ipython_internal
from jupyter_mlops.core.verdict.model import FILE, RESTART, Issue
from jupyter_mlops.core.verdict.simulation import SIMULATED, Book, Input, Obj, Run, Sim, Step, latest_step

if TYPE_CHECKING:
    from jupyter_mlops.core.verdict.detector import Detector

_FIX_BUDGET = 600  # cell runs a verdict may simulate looking for fixes, so a dirty state stays cheap


@dataclass(frozen=True)
class Cause:
    """Why the state differs, before it becomes an ``Issue``: ``cells`` is where the search for its fix starts."""

    kind: str
    cell_id: str
    message: str
    cells: frozenset[int]  # notebook positions involved, where a fix starts looking
    fix: str | None = None


def shown_name(name: str) -> str:
    """A name as a message shows it: a file by its path, a random generator's pseudo-name without its ``<>``."""
    if name.startswith(FILE):
        return name[len(FILE) :]
    return name.strip("<>")


class Judge:
    """Compares the actual namespace with the symbolic run and explains every difference."""

    def __init__(self, detector: Detector, book: Book, run: Run, opaque: frozenset[str]) -> None:
        self.detector = detector
        self.book = book
        self.run = run
        self.actual = detector.actual
        self.opaque = opaque
        self.budget = _FIX_BUDGET
        self._explained: dict[tuple[str, int], list[Cause]] = {}  # also breaks cycles: in progress -> []
        self._changed_at: dict[str, list[int]] | None = None

    def issues(self, differing: Iterable[str] | None = None) -> list[Issue]:
        """Every issue; ``differing``: the names whose versions differ, when the caller keeps them."""
        groups: dict[tuple[str, str], tuple[Cause, set[str]]] = {}
        outcomes = self.outcome_causes()
        unrun = {pos: c for c in outcomes if c.kind == "skipped-cell" for pos in c.cells}

        def add(cause: Cause, name: str | None = None) -> None:
            if cause.kind == "skipped-cell" and (pos := self.book.pos.get(cause.cell_id)) in unrun:
                cause = unrun[pos]  # one issue for a run of cells never run, whichever of them made the name
            key = (cause.kind, cause.cell_id)
            if key not in groups:
                groups[key] = (cause, set())
            if name is not None:
                groups[key][1].add(name)

        for cause in outcomes:
            add(cause)
        if differing is None:
            differing = [*self.actual.names, *sorted(self.run.sim.names.keys() - self.actual.names.keys())]
        for name in differing:
            if name.startswith("<") or is_ipython_internal(name):
                continue
            obj = self.actual.obj(name)
            expected = self.run.sim.obj(name)
            if obj is None:
                if expected is not None:
                    add(self.absent(name), name)
            elif differs(obj, expected):
                for cause in self.explain(name, obj, expected, 0) or [self._unexplained(name, obj)]:
                    add(cause, name)
        for path, (version, maker) in self.actual.files.items():
            expected_file = self.run.sim.files.get(path)
            if maker is None or expected_file is None or expected_file[0] == version:
                continue
            add(self.explain_step(maker, FILE + path, 0) or self._unexplained_file(path, maker), FILE + path)
        for cause, names in self.alias_causes().values():
            for name in names:
                add(cause, name)
        issues = []
        for cause, names in groups.values():
            fix, cells = (cause.fix, ()) if cause.fix else self.fix(names, cause.cells)
            issues.append(Issue(
                cause.kind, cause.cell_id, tuple(sorted(map(shown_name, names))), cause.message, fix, cells,
            ))
        return sorted(issues, key=lambda i: (self.book.pos.get(i.cell_id, len(self.book.cells)), i.kind))

    # -- outcomes and cells never run ----------------------------------------------------------------

    def outcome_causes(self) -> list[Cause]:
        """Cells above the lowest one run whose outcome a top-to-bottom run would not repeat.

        A cell never run leaves out its effects, whatever later cells read: names, files and what it
        displays; so does a cell edited and not re-run (its output is the old code's). A cell whose last
        run failed in a state a top-to-bottom run would not be in (``NameError`` before the cell making
        the name ran) would succeed there.
        """
        # Any run may change what a cell's latest run read (a cell that used a name from below), so the
        # number of runs recorded is part of the key: the cache serves repeated verdicts on the same state.
        key = (self.book, len(self.book.cells), self.detector.count, self.run.steps[-1])
        cached = self.detector.outcomes
        if cached is not None and cached[0] == key:
            return cached[1]
        book, frontier, latest = self.book, self.book.frontier, self.detector.latest
        found: list[tuple[int, Cause]] = []
        # Cells never run: consecutive ones (nothing but inert cells between) are one issue.
        unrun = book.unrun[: bisect.bisect_right(book.unrun, frontier)]
        group: list[int] = []
        for pos in unrun:
            if group and book.effective[pos] - book.effective[group[-1]] > 1:
                found.append((group[0], self._unrun_cause(group)))
                group = []
            group.append(pos)
        if group:
            found.append((group[0], self._unrun_cause(group)))
        for pos in sorted(book.edited):
            cell = book.cells[pos]
            if pos <= frontier and (cell.cell_id, book.effects[pos].fingerprint) not in latest:
                found.append((pos, Cause(
                    "hidden-state", cell.cell_id, f"cell {pos + 1} was edited and not re-run", frozenset({pos}),
                )))
        for pos in sorted(self.detector.unbound_at):
            if pos <= frontier and pos < len(self.run.steps) and (cause := self._fails_below(pos)) is not None:
                found.append((pos, cause))
        for cell_id, fingerprint in self.detector.failing:
            pos = book.pos.get(cell_id)
            if (pos is not None and pos <= frontier and book.effects[pos].fingerprint == fingerprint
                    and pos < len(self.run.steps) and self.run.steps[pos].assumed_ok):
                found.append((pos, self._failed_cause(pos)))
        causes = [cause for _, cause in sorted(found, key=lambda item: item[0])]
        self.detector.outcomes = (key, causes)
        return causes

    def _fails_below(self, pos: int) -> Cause | None:
        """A cell that ran fine on a name only a cell below it makes: top to bottom it fails.

        Its values may all agree (a display cell), so only its outcome tells. A name from a deleted or
        edited cell is the session's alone, and that difference is reported as hidden state.
        """
        expected = self.run.steps[pos]
        cell = self.book.cells[pos]
        ran = self.detector.latest.get((cell.cell_id, self.book.effects[pos].fingerprint))
        if not expected.unbound or ran is None or not ran.ok:
            return None
        for name in expected.unbound:
            got = ran.inputs.get(name)
            made_at = self.book.pos.get(got.maker.cell_id) if got is not None and got.maker is not None else None
            if made_at is not None and made_at > pos:
                return Cause(
                    "read-from-below", cell.cell_id,
                    f"cell {pos + 1} used {shown_name(name)} from cell {made_at + 1}, which is below it; "
                    "top to bottom it fails", frozenset({pos, made_at}), RESTART,
                )
        return None

    def _unrun_cause(self, positions: list[int]) -> Cause:
        first, last = positions[0], positions[-1]
        which = f"cell {first + 1} never ran" if first == last else f"cells {first + 1}–{last + 1} never ran"
        return Cause("skipped-cell", self.book.cells[first].cell_id, which, frozenset(positions))

    def _failed_cause(self, pos: int) -> Cause:
        cell_id = self.book.cells[pos].cell_id
        ran = self.detector.latest[(cell_id, self.book.effects[pos].fingerprint)]
        expected = self.run.steps[pos]
        error = f" with {ran.error.split(':', 1)[0]}" if ran.error else ""
        why = ""
        for name in sorted(ran.inputs):
            got, want = ran.inputs[name], expected.inputs.get(name)
            if want is None or got.version == want.version:
                continue
            made_at = self.book.pos.get(want.maker.cell_id) if want.maker is not None else None
            changed_at = self.book.pos.get(got.maker.cell_id) if got.maker is not None else None
            if made_at is not None and made_at < pos and got.maker is None:
                why = f": {shown_name(name)} is made by cell {made_at + 1}, which ran after it"
            elif changed_at is not None and changed_at > pos:
                why = f": {shown_name(name)} had been changed by cell {changed_at + 1}, below it"
            else:
                why = f": {shown_name(name)} was not what a top-to-bottom run gives it there"
            break
        return Cause(
            "failed-out-of-order", cell_id,
            f"cell {pos + 1} failed{error}{why}; top to bottom it would run", frozenset({pos}),
        )

    def absent(self, name: str) -> Cause:
        """Why the session lacks a name that a top-to-bottom run ends with."""
        changed_at = self.changers().get(name)  # the cell binding it last, also as an alias (``z = x``)
        maker = self.run.steps[changed_at[-1]] if changed_at else latest_step(self._expected_makers(name))
        pos = self.book.pos.get(maker.cell_id) if maker is not None else None
        shown = shown_name(name)
        if maker is None or pos is None:
            return Cause("skipped-cell", "", f"{shown} is missing from the session", frozenset())
        cause = self.missing(maker, name, None, quiet=True)
        if cause is not None:
            return cause
        if pos < len(self.run.steps) and self.run.steps[pos].assumed_ok:
            return self._failed_cause(pos)
        return Cause(
            "hidden-state", maker.cell_id,
            f"cell {pos + 1} makes {shown}, but the session no longer has it (deleted by a later run)",
            frozenset({pos}),
        )

    # -- explaining ----------------------------------------------------------------------------------

    def explain(self, name: str, obj: Obj, expected: Obj | None, depth: int) -> list[Cause]:
        """Why ``name``'s value differs: explain each part that differs, by the run that made it."""
        key = (name, obj.version)
        if key not in self._explained:
            self._explained[key] = []
            self._explained[key] = self._explain(name, obj, expected, depth)
        return self._explained[key]

    def _explain(self, name: str, obj: Obj, expected: Obj | None, depth: int) -> list[Cause]:
        actual_parts = _parts(obj)
        expected_parts = _parts(expected) if expected is not None else {}
        causes: list[Cause] = []
        explained = set()
        for key, (version, maker) in actual_parts.items():
            if expected_parts.get(key, (None, None))[0] == version or maker is None:
                continue
            cause = self.explain_step(maker, name, depth)
            if cause is not None:
                causes.append(cause)
                explained.add(key)
        for key, (version, maker) in expected_parts.items():
            if key in explained or actual_parts.get(key, (None, None))[0] == version or maker is None:
                continue
            cause = self.missing(maker, name, obj)
            if cause is not None:
                causes.append(cause)
        if not causes and depth == 0:
            for maker in sorted(obj.makers(), key=lambda m: -m.seq):
                cause = self.explain_step(maker, name, depth)
                if cause is not None:
                    return [cause]
        return list(dict.fromkeys(causes))

    def explain_step(self, step: Step, name: str, depth: int) -> Cause | None:
        """Why the value a real run made for ``name`` is not what the top-to-bottom run makes there."""
        pos = self.book.pos.get(step.cell_id)
        shown = shown_name(name)
        if pos is None:
            reader = self.book.first_reader(name) or step.cell_id
            where = f"; cell {self.book.pos[reader] + 1} uses it" if reader in self.book.pos else ""
            return Cause(
                "hidden-state", reader, f"{shown} comes from a deleted cell{where}",
                frozenset({self.book.pos.get(reader, 0)}), RESTART,
            )
        if step.fingerprint != self.book.effects[pos].fingerprint:
            return Cause(
                "hidden-state", step.cell_id,
                f"cell {pos + 1} was edited after it ran; {shown} still holds what its old code made",
                frozenset({pos}),
            )
        if pos >= len(self.run.steps):
            return None
        expected = self.run.steps[pos]
        relevant = step.depends.get(name, frozenset(step.inputs))
        for dep in sorted(relevant, key=lambda d: (not self.is_random(d), d)):
            got, want = step.inputs.get(dep), expected.inputs.get(dep)
            if got is None or want is None or got.version == want.version:
                continue
            cause = self.input_cause(step.cell_id, pos, dep, got, want, depth, "used")
            if cause is not None:
                return cause
        return None

    def input_cause(
        self, cell_id: str, pos: int, name: str, got: Input, want: Input, depth: int, verb: str
    ) -> Cause | None:
        """Why a run at ``pos`` saw ``got`` of ``name`` where a top-to-bottom run would see ``want``."""
        who, shown = f"cell {pos + 1}", shown_name(name)
        if self.is_random(name):
            return Cause(
                "unseeded-random", cell_id,
                f"{who} drew random numbers from {shown} in a state left by an earlier run", frozenset({pos}),
            )
        maker = got.maker
        if maker is not None:
            made_at = self.book.pos.get(maker.cell_id)
            if made_at is not None and made_at > pos:
                return Cause(
                    "read-from-below", cell_id, f"{who} {verb} {shown} from cell {made_at + 1}, which is below it",
                    frozenset({pos, made_at}), RESTART,
                )
            if maker.cell_id == cell_id and maker.fingerprint == self.book.effects[pos].fingerprint:
                return Cause(
                    "non-idempotent-rerun", cell_id,
                    f"{who} ran again on {shown}, which its earlier run had already changed", frozenset({pos}),
                )
        if want.maker is not None and (skipped := self.missing(want.maker, name, None, quiet=True)) is not None:
            return skipped
        live = self.actual.read(name, got.spec)
        if live.version != got.version:
            changed_at = self.book.pos.get(live.maker.cell_id) if live.maker is not None else None
            changer = f"cell {changed_at + 1}" if changed_at is not None else "a later run"
            return Cause("stale-input", cell_id, f"{who} {verb} {shown} before {changer} changed it", frozenset({pos}))
        obj = self.actual.obj(name)
        if depth < 6 and obj is not None:
            causes = self.explain(name, obj, self.run.sim.obj(name), depth + 1)
            if causes:
                return causes[0]
        return None

    def missing(self, step: Step, name: str, obj: Obj | None, quiet: bool = False) -> Cause | None:
        """The top-to-bottom run has an effect of ``step`` on ``name`` that the actual state lacks."""
        pos = self.book.pos.get(step.cell_id)
        if pos is None:
            return None
        runs = self.detector.runs.get(step.cell_id, [])
        shown = shown_name(name)
        if not runs:
            return Cause(
                "skipped-cell", step.cell_id, f"cell {pos + 1} never ran, but it changes {shown}", frozenset({pos})
            )
        if all(r.fingerprint != step.fingerprint for r in runs):
            return Cause("hidden-state", step.cell_id, f"cell {pos + 1} was edited and not re-run", frozenset({pos}))
        if quiet:
            return None
        latest = max(obj.makers(), key=lambda m: m.seq, default=None) if obj is not None else None
        by = self.book.pos.get(latest.cell_id) if latest is not None else None
        if latest is not None and by is not None and by < pos:
            return Cause(
                "overwritten", latest.cell_id,
                f"{shown} holds what cell {by + 1} made; top to bottom, cell {pos + 1} changes it after that",
                frozenset({pos}),
            )
        undone = f"cell {by + 1} ran again" if by is not None else "a later run"
        return Cause(
            "stale-input", step.cell_id, f"cell {pos + 1}'s change to {shown} was undone when {undone}",
            frozenset({pos} if by is None else {pos, by}),
        )

    def alias_causes(self) -> dict[Step, tuple[Cause, set[str]]]:
        """Values computed from an object that was later changed in place through another name.

        A top-to-bottom run reproduces them, but the notebook's text hides the change (``b = a`` then
        ``b.append(…)`` changes ``a``): the value no longer describes what its input now holds.
        """
        found: dict[Step, tuple[Cause, set[str]]] = {}
        shared = self.actual.shared
        if not any(self.actual.objs[oid].via for oid in shared):
            return found  # only an object bound to two names can change behind a reader's back
        for name, oid in self.actual.names.items():
            for maker in self.actual.objs[oid].makers():
                if maker in found:
                    found[maker][1].add(name)
                    continue
                cause = self._alias_cause(maker)
                if cause is not None:
                    found[maker] = (cause, {name})
        return found

    def _alias_cause(self, maker: Step) -> Cause | None:
        pos = self.book.pos.get(maker.cell_id)
        if pos is None:
            return None
        for read_as, got in maker.inputs.items():
            now = self.actual.objs.get(got.oid) if got.oid is not None else None
            if now is None:
                continue
            for via, seq in now.via:
                if seq > maker.seq and via != read_as and self.actual.names.get(via) == got.oid:
                    if self.actual.project(now, got.oid, got.spec).version == got.version:
                        break
                    return Cause(
                        "stale-input", maker.cell_id,
                        f"cell {pos + 1} used {read_as}, which was changed later through its alias {via}",
                        frozenset({pos}), f"copy instead of aliasing ({via} = {read_as}.copy()), then {RESTART}",
                    )
        return None

    def is_random(self, name: str) -> bool:
        obj = self.actual.obj(name)
        return name in RANDOM_STATES or (obj is not None and obj.generator)

    def _unexplained(self, name: str, obj: Obj) -> Cause:
        latest = max(obj.makers(), key=lambda m: m.seq)
        pos = self.book.pos.get(latest.cell_id, 0)
        return Cause(
            "stale-input", latest.cell_id,
            f"{name} differs from what running the notebook top to bottom would give", frozenset({pos}),
        )

    def _unexplained_file(self, path: str, maker: Step) -> Cause:
        pos = self.book.pos.get(maker.cell_id, 0)
        return Cause(
            "stale-input", maker.cell_id, f"{path} differs from what running the notebook top to bottom would write",
            frozenset({pos}),
        )

    # -- fixing --------------------------------------------------------------------------------------

    def fix(self, names: set[str], cells: frozenset[int]) -> tuple[str, tuple[str, ...]]:
        """The smallest contiguous range of cells whose re-run settles ``names`` without unsettling others.

        Returned for people ("run cells 2–3") and for programs (those cells' ids; () means restart).
        """
        found = self._fix_range(names, cells)
        if found is None:
            return RESTART, ()
        start, stop = found
        ids = tuple(c.cell_id for c in self.book.cells[start : stop + 1])
        return (f"run cell {start + 1}" if start == stop else f"run cells {start + 1}–{stop + 1}"), ids

    def _fix_range(self, names: set[str], cells: frozenset[int]) -> tuple[int, int] | None:
        end = len(self.run.steps) - 1
        if not cells or end < 0:
            return None
        touching = {i for name in names for i in self.changers().get(name, ())}
        makers = {self.book.pos.get(m.cell_id, 0) for n in names for m in self._expected_makers(n)}
        high = min(max(cells | makers), end)
        # From the cells involved, then from each cell changing the names, closest first, then further up.
        above = sorted({p for p in touching | self._upstream(cells | touching) if p < min(cells)}, reverse=True)
        starts = [min(cells), *above[:4], min(cells | touching), *above[4:]]
        candidates = [*[(start, high) for start in starts][:6], (min(starts), end)]
        for start, stop in dict.fromkeys(candidates):
            if start <= stop and self._repairs(start, stop, names):
                return start, stop
        return None

    def changers(self) -> dict[str, list[int]]:
        """Name (or ``file:`` path) -> positions of the top-to-bottom run that change it; one pass per verdict."""
        if self._changed_at is None:
            self._changed_at = {}
            for i, step in enumerate(self.run.steps):
                for name in (*step.applied, *(FILE + p for p in step.files_written)):
                    self._changed_at.setdefault(name, []).append(i)
        return self._changed_at

    def _upstream(self, positions: set[int]) -> set[int]:
        """Where the inputs of these cells come from in the top-to-bottom run, two levels up."""
        found: set[int] = set()
        frontier = set(positions)
        for _ in range(2):
            frontier = {
                got.maker.seq
                for p in frontier if p < len(self.run.steps)
                for got in self.run.steps[p].inputs.values()
                if got.maker is not None and got.maker.seq < p
            } - found
            found |= frontier
        return found

    def _expected_makers(self, name: str) -> list[Step]:
        if name.startswith(FILE):
            found = self.run.sim.files.get(name[len(FILE) :])
            return [found[1]] if found is not None and found[1] is not None else []
        obj = self.run.sim.obj(name)
        return obj.makers() if obj is not None else []

    def _repairs(self, start: int, stop: int, names: set[str]) -> bool:
        """Would re-running cells ``start``..``stop`` settle ``names``? Cached across verdicts.

        The answer depends on the top-to-bottom run (identified by its last step: any change above
        replaces it), the opaque names, and the part of the actual state the simulation can see; a
        verdict after re-running an unrelated cell asks the same questions and gets them answered here.
        """
        if stop - start + 1 > self.budget:
            return False
        self.budget -= stop - start + 1
        footprint, seen = self._footprint(start, stop, names)
        key = (start, stop, frozenset(names), self.run.steps[-1], self.opaque, footprint)
        cached = self.detector.repairs.get(key)
        if cached is None:
            if len(self.detector.repairs) > 1024:
                self.detector.repairs.clear()
            # The objects seen ride along so that their ids in the key cannot be reused by others.
            cached = self.detector.repairs[key] = (self._simulate_repair(start, stop, names), seen)
        return cached[0]

    def _footprint(self, start: int, stop: int, names: set[str]) -> tuple[tuple, tuple]:
        """Identity of every actual value and file a simulated re-run of these cells could look at."""
        touched = set(names)
        for position in range(start, stop + 1):
            effects, step = self.book.effects[position], self.run.steps[position]
            touched |= effects.reads | effects.method_calls | effects.deletes | step.applied
            touched.update(effects.changes)
        pending = list(touched)
        while pending:  # a called function reads and changes the globals its code names
            obj = self.actual.obj(pending.pop())
            if obj is not None and obj.function is not None:
                info = obj.function
                for other in info.reads | info.rebinds | info.mutates:
                    if other not in touched:
                        touched.add(other)
                        pending.append(other)
        if self.actual.shared:
            touched |= {n for n, oid in self.actual.names.items() if oid in self.actual.shared}
        names_now, objs = self.actual.names, self.actual.objs
        seen = tuple(objs.get(names_now.get(n)) for n in sorted(touched))  # type: ignore[arg-type]
        footprint = (
            tuple((n, names_now.get(n), id(obj)) for n, obj in zip(sorted(touched), seen, strict=True)),
            tuple(sorted((path, version, id(maker)) for path, (version, maker) in self.actual.files.items())),
        )
        return footprint, seen

    def _simulate_repair(self, start: int, stop: int, names: set[str]) -> bool:
        sim = self.actual.copy()
        for position in range(start, stop + 1):
            step = self.detector.symbolic_step(sim, self.book, position, SIMULATED + position)
            if self.run.steps[position].assumed_ok and not step.assumed_ok:
                return False  # the cell would fail again, as it did, where a top-to-bottom run succeeds
        for name in names:
            if not self._settled(sim, name):
                return False
        for name, oid in sim.names.items():
            before = self.actual.names.get(name)
            if before == oid and self.actual.objs.get(oid) is sim.objs[oid]:
                continue
            was = self.actual.obj(name)
            was_fine = was is None or not differs(was, self.run.sim.obj(name))
            if was_fine and not self._settled(sim, name):
                return False
        return True

    def _settled(self, sim: Sim, name: str) -> bool:
        if name.startswith(FILE):
            path = name[len(FILE) :]
            return sim.files.get(path, (None,))[0] == self.run.sim.files.get(path, (None,))[0]
        obj, expected = sim.obj(name), self.run.sim.obj(name)
        if obj is None:
            return expected is None  # a name the fresh run has is not settled by leaving it out
        return not differs(obj, expected)


def _parts(obj: Obj) -> dict[tuple, tuple[int, Step | None]]:
    parts: dict[tuple, tuple[int, Step | None]] = {("base",): (obj.base, obj.base_maker)}
    for op, maker in obj.ops:
        parts[("op", op)] = (op, maker)
    for key, version, maker in obj.comps:
        parts[("comp", key)] = (version, maker)
    return parts


def differs(mine: Obj | None, theirs: Obj | None) -> bool:
    """Do the session and a top-to-bottom run end with different values for a name?

    A name only one side has differs: a fresh run lacking it fails where the session works, and the
    reverse. Figures compare by what they draw, which is their provenance: the cell that made them, what it
    drew from and the drawing calls made on them since. A re-run plot cell draws the same picture again;
    an earlier plot cell re-run leaves its picture where, top to bottom, a later one's would be.
    """
    if mine is None or theirs is None:
        return mine is not theirs
    return mine.version != theirs.version
