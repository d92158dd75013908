"""Is the kernel's state what "Restart kernel and run all" would give? The verdict engine.

Every value gets a provenance: the code that made it and the provenance of each input it read, interned
to an int so equal histories compare as equal ints. The actual history (cells as they ran) builds one
set of provenances; a symbolic top-to-bottom run of the notebook as it stands now (current cells,
current code, current order) builds another. Where a value's two provenances differ the state is not
reproducible, and walking the differing inputs back says why: a stale input, a value read from below,
a deleted or edited cell, a mutation applied twice, a random state consumed twice, a skipped cell.

A value is modelled as a base (what rebound it) plus idempotent operations applied to it (dropna,
sort, fit) plus keyed parts (columns, attributes): ``df['y'] = …`` re-run overwrites the same part
with the same provenance, ``df.dropna(inplace=True)`` re-run finds its operation already applied,
and a reader of ``df['y']`` only depends on the parts it reads. That is what keeps re-running display
cells, cleaning cells and "add a column" cells from raising false alarms.

Pure: no I/O, no IPython. The symbolic runs use what the session observed (files read and written with
their md5, names the runtime saw rebound), so a clean top-to-bottom run always matches itself.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from jupyter_mlops.core.analysis import (
    BIND,
    IDEMPOTENT,
    KEYS,
    RANDOM_STATES,
    UPDATE,
    CellEffects,
    Change,
    FunctionInfo,
    analyze,
    is_ipython_internal,
    passed_changes,
)
from jupyter_mlops.core.notebook import Cell

RESTART = "restart and run all"
KINDS = (
    "stale-input", "read-from-below", "hidden-state", "non-idempotent-rerun", "unseeded-random",
    "skipped-cell", "failed-out-of-order", "overwritten",
    "not-established",  # tracking started late on a state the kernel's history cannot explain (core/history.py)
)
FILE = "file:"  # prefix that turns a path into a name, so files are values like any other
_NONDET = 0  # the provenance of anything drawn from an entropy-seeded generator: never compared
_LAST = 1 << 30  # statement index for changes only the runtime saw
_SIMULATED = 1 << 40  # step numbers of what-if runs, after every real execution
_FIX_BUDGET = 600  # cell runs a verdict may simulate looking for fixes, so a dirty state stays cheap


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


# -- provenance -------------------------------------------------------------------------------------


class _Interner:
    """Structural keys -> small ints, so a provenance chain of any depth compares in O(1)."""

    def __init__(self) -> None:
        self._ids: dict[tuple[Any, ...], int] = {}

    def __call__(self, key: tuple[Any, ...]) -> int:
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._ids) + 1
        return found


@dataclass(eq=False, slots=True)
class _Step:
    """One run of one cell, real or symbolic, and what it read."""

    cell_id: str
    fingerprint: str
    seq: int  # execution index (real runs) or notebook position (the symbolic run)
    effects: CellEffects
    files_read: Mapping[str, str | None] = field(default_factory=dict)
    files_written: Mapping[str, str | None] = field(default_factory=dict)
    inputs: dict[str, _Input] = field(default_factory=dict)
    depends: dict[str, frozenset[str]] = field(default_factory=dict)  # changed name -> inputs it used
    applied: frozenset[str] = frozenset()  # names this run changed, after the runtime's corrections
    unknown: frozenset[str] = frozenset()  # names the runtime saw rebound that the analysis did not predict
    ok: bool = True
    error: str | None = None  # real runs that raised: the exception, "NameError: …"
    # Symbolic runs: the cell's run of this code raised in a situation a top-to-bottom run would not be
    # in, so the run is assumed to complete there (and the session's failure is not reproducible).
    assumed_ok: bool = False
    targets: frozenset[str] = frozenset()  # runs that raised: names it changes in place that existed then
    written_as: dict[str, int] = field(default_factory=dict)  # path -> the symbolic key of its write
    facts: tuple = ()  # real runs: what replaying it depends on (files, names applied; itself if it raised)
    # Names whose version this run may have changed; None: maybe any (an in-place change through an alias).
    touched: frozenset[str] | None = frozenset()
    # Names whose idempotent operation this run found already applied (a re-run of ``df.drop(…)`` raising
    # KeyError): a top-to-bottom run, which applies it once, is not in that situation.
    reapplied: frozenset[str] = frozenset()
    in_place: bool = False  # it changed an object in place (its aliases see the change)
    unbound: tuple[str, ...] = ()  # symbolic runs: names read that nothing above binds (the cell would fail)


# NamedTuples rather than dataclasses below: the symbolic run makes hundreds of thousands of them.


class _Spec(NamedTuple):
    """How a cell reads a name: its own keyed writes and idempotent operation set aside, maybe some keys only."""

    strip_keys: frozenset[str] = frozenset()
    strip_op: int | None = None
    restrict: frozenset[str] | None = None


_WHOLE = _Spec()


class _Input(NamedTuple):
    version: int
    maker: _Step | None  # the run that made the version read (the latest part of it)
    oid: int | None  # the object read, to notice later changes through an alias
    spec: _Spec


class _Obj(NamedTuple):
    """A value: base provenance, idempotent operations applied, keyed parts; and who made each."""

    base: int
    base_maker: _Step | None
    version: int
    latest: _Step | None  # the most recent of the makers
    ops: tuple[tuple[int, _Step], ...] = ()
    comps: tuple[tuple[str, int, _Step], ...] = ()  # sorted by key
    generator: bool = False
    figure: bool = False  # made by a plot call: later drawing calls on it change what it draws
    module: bool = False
    function: FunctionInfo | None = None
    consts: frozenset[str] | None = None
    via: tuple[tuple[str, int], ...] = ()  # (name, seq) of recent in-place changes

    def makers(self) -> list[_Step]:
        found = [self.base_maker, *(m for _, m in self.ops), *(m for _, _, m in self.comps)]
        return [m for m in found if m is not None]


def _latest(makers: Iterable[_Step | None]) -> _Step | None:
    return max((m for m in makers if m is not None), key=lambda m: m.seq, default=None)


class _Sim:
    """A namespace of provenances that cell runs are applied to."""

    def __init__(self, intern: _Interner, written: dict[int, int], equal: dict[int, int]) -> None:
        self.intern = intern
        self.written = written  # symbolic file write -> the md5 version a real run observed for it
        self.equal = equal  # version -> the version of an equal value the session saw first (``Detector._unify``)
        self.names: dict[str, int] = {}
        self.objs: dict[int, _Obj] = {}
        self.files: dict[str, tuple[int, _Step | None]] = {}
        self.next_oid = 0
        # Objects bound to two names (``b = a``): only these can be changed behind a reader's back.
        self.shared: set[int] = set()

    def copy(self) -> _Sim:
        other = _Sim(self.intern, self.written, self.equal)
        other.names, other.objs, other.files = dict(self.names), dict(self.objs), dict(self.files)
        other.next_oid = self.next_oid
        if self.shared:
            other.shared = set(self.shared)
        return other

    def obj(self, name: str) -> _Obj | None:
        oid = self.names.get(name)
        return None if oid is None else self.objs[oid]

    def make(self, base: int, maker: _Step | None, ops: tuple = (), comps: tuple = (), **meta: Any) -> _Obj:
        if not ops and not comps:
            base = self.equal.get(base, base)
            return _Obj(base, maker, base, maker, **meta)
        version = self.intern(("v", base, tuple(o for o, _ in ops), tuple((k, v) for k, v, _ in comps)))
        latest = _latest((maker, *(m for _, m in ops), *(m for _, _, m in comps)))
        return _Obj(base, maker, version, latest, ops, comps, **meta)

    def read(self, name: str, spec: _Spec) -> _Input:
        """What a reader with this spec sees of ``name`` now (pure)."""
        if name.startswith(FILE):
            path = name[len(FILE) :]
            version, maker = self.files.get(path, (self.intern(("disk", path)), None))
            return _Input(version, maker, None, spec)
        oid = self.names.get(name)
        if oid is None:
            return _Input(_NONDET if name in RANDOM_STATES else self.intern(("unbound", name)), None, None, spec)
        return self.project(self.objs[oid], oid, spec)

    def project(self, obj: _Obj, oid: int | None, spec: _Spec) -> _Input:
        if spec is _WHOLE or (not (obj.ops or obj.comps)):
            return _Input(obj.version, obj.latest, oid, spec)
        ops, comps = obj.ops, obj.comps
        if spec.strip_op is not None:
            ops = tuple(o for o in ops if o[0] != spec.strip_op)
        if spec.strip_keys:
            comps = tuple(c for c in comps if c[0] not in spec.strip_keys)
        restrict = self._keys(spec.restrict)
        if restrict is not None:
            comps = tuple(c for c in comps if c[0] in restrict)
        if len(ops) == len(obj.ops) and len(comps) == len(obj.comps):
            return _Input(obj.version, obj.latest, oid, spec)
        part = self.make(obj.base, obj.base_maker, ops, comps)
        return _Input(part.version, part.latest, oid, spec)

    def _keys(self, restrict: frozenset[str] | None) -> set[str] | None:
        """Keys read, with ``@features`` replaced by the strings bound to ``features``; None: the whole value."""
        if restrict is None:
            return None
        keys: set[str] = set()
        for key in restrict:
            if key.startswith("@"):
                listed = self.obj(key[1:])
                if listed is None or listed.consts is None:
                    return None
                keys |= listed.consts
            else:
                keys.add(key)
        return keys

    # -- one cell run ----------------------------------------------------------------------------------

    def expand(self, effects: CellEffects) -> tuple[set[str], dict[str, Change], dict[str, set[str]]]:
        """Reads and changes including those made by calling functions and drawing from generators."""
        reads = set(effects.reads)
        planned = dict(effects.changes) if effects.parsed else {}
        direct: dict[str, FunctionInfo] = {}
        pending = list(reads)
        while pending:
            name = pending.pop()
            obj = self.obj(name)
            if obj is None or obj.function is None or name in direct:
                continue
            info = direct[name] = obj.function
            for other in info.reads | info.rebinds | info.mutates:
                if other not in reads:
                    reads.add(other)
                    pending.append(other)
            for other in info.rebinds:
                planned.setdefault(other, Change(UPDATE, info.reads | {other}, stmt=_LAST))
            for other in info.mutates:
                planned.setdefault(other, Change(UPDATE, info.reads | {other}, in_place=True, stmt=_LAST))
        for function, args, kwargs in effects.calls:
            obj = self.obj(function)
            if obj is None or obj.function is None:
                continue
            for name, (change, deps) in passed_changes(obj.function, args, kwargs).items():
                planned.setdefault(name, Change(change.kind, deps, change.keys, in_place=True, stmt=_LAST))
        # A generator whose method is called, or that is given to a function (``random_state=rng``), is
        # drawn from, by the cell or by a function it calls: its state moves on, and so does every later draw.
        drawn = effects.method_calls | effects.passed
        for info in direct.values():
            drawn = drawn | info.draws
        for name in drawn:
            obj = self.obj(name)
            if obj is not None and obj.generator:
                planned.setdefault(name, Change(UPDATE, frozenset({name}), in_place=True, stmt=_LAST))
        for name, change in effects.drawings.items():  # a figure drawn on again draws more
            obj = self.obj(name)
            if obj is not None and obj.figure:
                planned.setdefault(name, change)
        closure: dict[str, set[str]] = {}
        for name in direct:
            seen, stack = set(), [name]
            while stack:
                for other in direct.get(stack.pop(), FunctionInfo()).reads:
                    if other not in seen:
                        seen.add(other)
                        stack.append(other)
            closure[name] = seen
        return reads, planned, closure

    def inputs(
        self, step: _Step, reads: Iterable[str], *, disk: bool = False, mark: bool = False
    ) -> tuple[dict[str, _Input], dict[str, int]]:
        """The version of everything the run reads, each seen through the cell's own spec.

        ``mark``: a real run, whose reads of files tell what they hold now.
        """
        effects = step.effects
        inputs: dict[str, _Input] = {}
        opkeys: dict[str, int] = {}
        deferred = []
        for name in reads:
            change = effects.changes.get(name)
            if change is not None and change.kind == IDEMPOTENT:
                deferred.append(name)
                continue
            strip = change.keys if change is not None and change.kind == KEYS else frozenset()
            restrict = effects.key_reads.get(name)
            inputs[name] = self.read(name, _Spec(strip, None, restrict) if strip or restrict is not None else _WHOLE)
        for name in deferred:
            change = effects.changes[name]
            others = tuple(sorted((d, inputs[d].version) for d in change.deps if d != name and d in inputs))
            opkeys[name] = op = self.intern(("op", change.code or step.fingerprint, name, others))
            inputs[name] = self.read(name, _Spec(frozenset(), op, effects.key_reads.get(name)))
        for path, md5 in step.files_read.items():
            current = self.files.get(path)
            if disk and md5:
                version = self.intern(("file", path, md5))
                maker = current[1] if current is not None and current[0] == version else None
            elif current is not None:
                version, maker = current
            else:
                version, maker = self.intern(("disk", path)), None
            inputs[FILE + path] = _Input(version, maker, None, _WHOLE)
            if mark:
                self.files[path] = (version, maker)
        return inputs, opkeys

    def run(
        self,
        step: _Step,
        *,
        rebound: frozenset[str] | None = None,
        ok: bool = True,
        only: frozenset[str] | None = None,
        unknown: frozenset[str] = frozenset(),
        disk: bool = False,
    ) -> None:
        """Apply one cell run. ``disk``: md5s are real observations (a real run), not a symbolic one."""
        reads, planned, closure = self.expand(step.effects)
        deletes = step.effects.deletes
        if rebound is not None:
            planned, deletes, unknown = _as_observed(planned, deletes, rebound, ok)
        elif not ok:
            planned, deletes = {}, frozenset()
        if only is not None:
            planned = {n: c for n, c in planned.items() if n in only}
        for name in unknown:
            planned[name] = Change(BIND, frozenset(reads), stmt=_LAST)
        step.applied, step.unknown = frozenset(planned), frozenset(unknown)
        step.in_place = any(c.in_place for c in planned.values())
        if not ok:  # only a run that raised is ever compared by what it changed in place (``_same_situation``)
            step.targets = frozenset(n for n, c in step.effects.changes.items() if c.kind != BIND and n in self.names)
        through_alias = any(
            c.kind != BIND and c.in_place and self.names.get(n) in self.shared for n, c in planned.items()
        )
        step.touched = None if through_alias else frozenset(planned) | deletes
        inputs, opkeys = self.inputs(step, reads, disk=disk, mark=disk)
        step.inputs = inputs
        if opkeys:
            step.reapplied = self.reapplied(opkeys)
        files = {k for k in inputs if k.startswith(FILE)}
        for name, change in sorted(planned.items(), key=lambda item: item[1].stmt):
            deps = set(change.deps) | files
            for dep in change.deps:
                deps |= closure.get(dep, set())
            step.depends[name] = frozenset(d for d in deps if d in inputs)
            versions = tuple(sorted((d, inputs[d].version) for d in step.depends[name]))
            self._apply(step, name, change, versions, opkeys.get(name))
        for name in deletes:
            self.names.pop(name, None)
        everything = tuple(sorted((k, i.version) for k, i in inputs.items())) if step.files_written else ()
        for path, md5 in step.files_written.items():
            symbolic = step.written_as[path] = self.intern(("fout", step.fingerprint, path, everything))
            if disk and md5:
                version = self.written[symbolic] = self.intern(("file", path, md5))
            else:
                version = self.written.get(symbolic, symbolic)
            self.files[path] = (version, step)
            step.depends[FILE + path] = frozenset(inputs)

    def reapplied(self, opkeys: Mapping[str, int]) -> frozenset[str]:
        """The names whose idempotent operation (``opkeys``: name -> operation) their value already carries."""
        found = []
        for name, op in opkeys.items():
            obj = self.obj(name)
            if obj is not None and any(o == op for o, _ in obj.ops):
                found.append(name)
        return frozenset(found)

    def _apply(self, step: _Step, name: str, change: Change, versions: tuple, opkey: int | None) -> None:
        oid = self.names.get(name)
        current = None if oid is None else self.objs[oid]
        if current is not None and current.module and change.kind != BIND:
            return  # ``np.append(…)`` and the like call functions, they do not change the module
        if name in RANDOM_STATES and change.kind != BIND and (current is None or current.base == _NONDET):
            return  # drawing from a generator nobody seeded: nondeterministic anyway
        if change.kind == BIND or current is None:
            if change.alias_of is not None and (source := self.names.get(change.alias_of)) is not None:
                self.names[name] = source
                self.shared.add(source)
                return
            if change.nondet:
                base = _NONDET
            elif change.content is not None:
                base = self.intern(("def", change.content, versions))
            else:
                base = self.intern(("out", change.code or step.fingerprint, name, versions))
            module = change.content is not None and change.content.startswith(("module ", "from "))
            self._bind(
                name,
                self.make(
                    base, step, generator=change.generator, figure=name in step.effects.figures, module=module,
                    function=change.function, consts=change.consts,
                ),
            )
            return
        if change.kind == UPDATE and not change.keys:
            if current.generator and current.base == _NONDET:
                return
            code = change.code or step.fingerprint
            new = self.make(
                self.intern(("out", code, name, versions)), step, generator=current.generator, figure=current.figure,
            )
        elif change.kind == IDEMPOTENT:
            # Not the value's own version: applying the operation again must find it already applied.
            others = tuple(v for v in versions if v[0] != name)
            op = opkey if opkey is not None else self.intern(("op", change.code or step.fingerprint, name, others))
            if any(o == op for o, _ in current.ops):
                new = current
            else:
                new = self.make(
                    current.base, current.base_maker, (*current.ops, (op, step)), current.comps,
                    generator=current.generator, figure=current.figure,
                )
        else:
            comps = {k: (v, m) for k, v, m in current.comps}
            for key in change.keys:
                comps[key] = (self.intern(("comp", change.code or step.fingerprint, name, key, versions)), step)
            parts = tuple((k, v, m) for k, (v, m) in sorted(comps.items()))
            new = self.make(
                current.base, current.base_maker, current.ops, parts,
                generator=current.generator, figure=current.figure,
            )
        if change.in_place and oid is not None:
            if new is not current:
                self.objs[oid] = new._replace(via=(*current.via, (name, step.seq))[-4:])
        else:
            self._bind(name, new._replace(via=()) if new.via else new)

    def _bind(self, name: str, obj: _Obj) -> None:
        self.next_oid += 1
        self.names[name] = self.next_oid
        self.objs[self.next_oid] = obj


def _as_observed(
    planned: dict[str, Change], deletes: frozenset[str], rebound: frozenset[str], ok: bool
) -> tuple[dict[str, Change], frozenset[str], frozenset[str]]:
    """Correct the static plan with the runtime's truth about which names were rebound.

    A conditional binding happened only if the runtime saw it; in a cell that raised, in-place changes
    count only up to the last statement whose bindings the runtime saw.
    """
    rebound = frozenset(n for n in rebound if not is_ipython_internal(n))
    reached = _LAST if ok else max((c.stmt for n, c in planned.items() if n in rebound), default=-1)
    kept = {}
    for name, change in planned.items():
        if change.augmented:
            change = _augmented(change, in_place=name not in rebound)
        if not change.in_place and not name.startswith("<"):
            if name in rebound or (ok and not change.conditional):
                kept[name] = change
        elif change.stmt <= reached:
            kept[name] = change
    return kept, deletes if ok else frozenset(), frozenset(rebound - kept.keys() - deletes)


@functools.lru_cache(maxsize=4096)
def _augmented(change: Change, *, in_place: bool) -> Change:
    """``x += …`` as the runtime saw it: in place (a list) or a new binding (a number); cached, since
    ``replace`` costs more than the rest of a cell's plan and the same few changes recur every run."""
    return change if change.in_place == in_place else replace(change, in_place=in_place)


# -- the notebook as it stands ----------------------------------------------------------------------


@dataclass(eq=False)  # one book is one object: caches compare it by identity (and its length, see _extend)
class _Book:
    cells: list[Cell]  # the notebook as it stands now (code cells), in order
    effects: list[CellEffects]
    pos: dict[str, int]
    frontier: int  # the lowest cell that ever ran; cells below it have simply not been reached yet
    static_opaque: frozenset[str] = frozenset()  # names the cells' code shows are modules, functions, figures
    inert: list[bool] = field(default_factory=list)  # per position: a cell with no effect to miss (``_inert``)
    effective: list[int] = field(default_factory=list)  # per position: how many cells above it are not inert
    unrun: list[int] = field(default_factory=list)  # sorted positions of cells that are not inert and never ran
    edited: set[int] = field(default_factory=set)  # positions of cells that ran, but not with their code now
    runs_seen: int = 0  # how many cells had run when ``frontier`` and ``unrun`` were last brought up to date

    def first_reader(self, name: str) -> str | None:
        return next((c.cell_id for c, e in zip(self.cells, self.effects, strict=True) if name in e.reads), None)


@dataclass
class _Run:
    """The symbolic top-to-bottom run: its final namespace, each position's step, and a snapshot."""

    sim: _Sim
    steps: Sequence[_Step]
    before: _Sim | None = None


class _Steps(Sequence[_Step]):
    """The steps of cached positions, without building a list of them on every verdict."""

    def __init__(self, positions: list[_Position], length: int) -> None:
        self._positions, self._length = positions, length  # the first ``length`` (later ones may be added)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> _Step:  # type: ignore[override]  # no slices needed
        if not -self._length <= index < self._length:
            raise IndexError(index)
        return self._positions[index % self._length].step


@dataclass(frozen=True)
class _Cause:
    kind: str
    cell_id: str
    message: str
    cells: frozenset[int]  # notebook positions involved, where a fix starts looking
    fix: str | None = None


def _show(name: str) -> str:
    if name.startswith(FILE):
        return name[len(FILE) :]
    return name.strip("<>")


class _Judge:
    """Compares the actual namespace with the symbolic run and explains every difference."""

    def __init__(self, detector: Detector, book: _Book, run: _Run, opaque: frozenset[str]) -> None:
        self.detector = detector
        self.book = book
        self.run = run
        self.actual = detector._sim
        self.opaque = opaque
        self.budget = _FIX_BUDGET
        self._explained: dict[tuple[str, int], list[_Cause]] = {}  # also breaks cycles: in progress -> []
        self._changed_at: dict[str, list[int]] | None = None

    def issues(self, differing: Iterable[str] | None = None) -> list[Issue]:
        """Every issue; ``differing``: the names whose versions differ, when the caller keeps them."""
        groups: dict[tuple[str, str], tuple[_Cause, set[str]]] = {}
        outcomes = self.outcome_causes()
        unrun = {pos: c for c in outcomes if c.kind == "skipped-cell" for pos in c.cells}

        def add(cause: _Cause, name: str | None = None) -> None:
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
            elif _differs(obj, expected):
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
                cause.kind, cause.cell_id, tuple(sorted(map(_show, names))), cause.message, fix, cells,
            ))
        return sorted(issues, key=lambda i: (self.book.pos.get(i.cell_id, len(self.book.cells)), i.kind))

    # -- outcomes and cells never run ----------------------------------------------------------------

    def outcome_causes(self) -> list[_Cause]:
        """Cells above the lowest one run whose outcome a top-to-bottom run would not repeat.

        A cell never run leaves out its effects, whatever later cells read: names, files and what it
        displays; so does a cell edited and not re-run (its output is the old code's). A cell whose last
        run failed in a state a top-to-bottom run would not be in (``NameError`` before the cell making
        the name ran) would succeed there.
        """
        # Any run may change what a cell's latest run read (a cell that used a name from below), so the
        # number of runs recorded is part of the key: the cache serves repeated verdicts on the same state.
        key = (self.book, len(self.book.cells), self.detector._count, self.run.steps[-1])
        cached = self.detector._outcomes
        if cached is not None and cached[0] == key:
            return cached[1]
        book, frontier, latest = self.book, self.book.frontier, self.detector._latest
        found: list[tuple[int, _Cause]] = []
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
                found.append((pos, _Cause(
                    "hidden-state", cell.cell_id, f"cell {pos + 1} was edited and not re-run", frozenset({pos}),
                )))
        for pos in sorted(self.detector._unbound_at):
            if pos <= frontier and pos < len(self.run.steps) and (cause := self._fails_below(pos)) is not None:
                found.append((pos, cause))
        for cell_id, fingerprint in self.detector._failing:
            pos = book.pos.get(cell_id)
            if (pos is not None and pos <= frontier and book.effects[pos].fingerprint == fingerprint
                    and pos < len(self.run.steps) and self.run.steps[pos].assumed_ok):
                found.append((pos, self._failed_cause(pos)))
        causes = [cause for _, cause in sorted(found, key=lambda item: item[0])]
        self.detector._outcomes = (key, causes)
        return causes

    def _fails_below(self, pos: int) -> _Cause | None:
        """A cell that ran fine on a name only a cell below it makes: top to bottom it fails.

        Its values may all agree (a display cell), so only its outcome tells. A name from a deleted or
        edited cell is the session's alone, and that difference is reported as hidden state.
        """
        expected = self.run.steps[pos]
        cell = self.book.cells[pos]
        ran = self.detector._latest.get((cell.cell_id, self.book.effects[pos].fingerprint))
        if not expected.unbound or ran is None or not ran.ok:
            return None
        for name in expected.unbound:
            got = ran.inputs.get(name)
            made_at = self.book.pos.get(got.maker.cell_id) if got is not None and got.maker is not None else None
            if made_at is not None and made_at > pos:
                return _Cause(
                    "read-from-below", cell.cell_id,
                    f"cell {pos + 1} used {_show(name)} from cell {made_at + 1}, which is below it; "
                    "top to bottom it fails", frozenset({pos, made_at}), RESTART,
                )
        return None

    def _unrun_cause(self, positions: list[int]) -> _Cause:
        first, last = positions[0], positions[-1]
        which = f"cell {first + 1} never ran" if first == last else f"cells {first + 1}–{last + 1} never ran"
        return _Cause("skipped-cell", self.book.cells[first].cell_id, which, frozenset(positions))

    def _failed_cause(self, pos: int) -> _Cause:
        cell_id = self.book.cells[pos].cell_id
        ran = self.detector._latest[(cell_id, self.book.effects[pos].fingerprint)]
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
                why = f": {_show(name)} is made by cell {made_at + 1}, which ran after it"
            elif changed_at is not None and changed_at > pos:
                why = f": {_show(name)} had been changed by cell {changed_at + 1}, below it"
            else:
                why = f": {_show(name)} was not what a top-to-bottom run gives it there"
            break
        return _Cause(
            "failed-out-of-order", cell_id,
            f"cell {pos + 1} failed{error}{why}; top to bottom it would run", frozenset({pos}),
        )

    def absent(self, name: str) -> _Cause:
        """Why the session lacks a name that a top-to-bottom run ends with."""
        changed_at = self._changers().get(name)  # the cell binding it last, also as an alias (``z = x``)
        maker = self.run.steps[changed_at[-1]] if changed_at else _latest(self._expected_makers(name))
        pos = self.book.pos.get(maker.cell_id) if maker is not None else None
        shown = _show(name)
        if maker is None or pos is None:
            return _Cause("skipped-cell", "", f"{shown} is missing from the session", frozenset())
        cause = self.missing(maker, name, None, quiet=True)
        if cause is not None:
            return cause
        if pos < len(self.run.steps) and self.run.steps[pos].assumed_ok:
            return self._failed_cause(pos)
        return _Cause(
            "hidden-state", maker.cell_id,
            f"cell {pos + 1} makes {shown}, but the session no longer has it (deleted by a later run)",
            frozenset({pos}),
        )

    # -- explaining ----------------------------------------------------------------------------------

    def explain(self, name: str, obj: _Obj, expected: _Obj | None, depth: int) -> list[_Cause]:
        """Why ``name``'s value differs: explain each part that differs, by the run that made it."""
        key = (name, obj.version)
        if key not in self._explained:
            self._explained[key] = []
            self._explained[key] = self._explain(name, obj, expected, depth)
        return self._explained[key]

    def _explain(self, name: str, obj: _Obj, expected: _Obj | None, depth: int) -> list[_Cause]:
        actual_parts = _parts(obj)
        expected_parts = _parts(expected) if expected is not None else {}
        causes: list[_Cause] = []
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

    def explain_step(self, step: _Step, name: str, depth: int) -> _Cause | None:
        """Why the value a real run made for ``name`` is not what the top-to-bottom run makes there."""
        pos = self.book.pos.get(step.cell_id)
        shown = _show(name)
        if pos is None:
            reader = self.book.first_reader(name) or step.cell_id
            where = f"; cell {self.book.pos[reader] + 1} uses it" if reader in self.book.pos else ""
            return _Cause(
                "hidden-state", reader, f"{shown} comes from a deleted cell{where}",
                frozenset({self.book.pos.get(reader, 0)}), RESTART,
            )
        if step.fingerprint != self.book.effects[pos].fingerprint:
            return _Cause(
                "hidden-state", step.cell_id,
                f"cell {pos + 1} was edited after it ran; {shown} still holds what its old code made",
                frozenset({pos}),
            )
        if pos >= len(self.run.steps):
            return None
        expected = self.run.steps[pos]
        relevant = step.depends.get(name, frozenset(step.inputs))
        for dep in sorted(relevant, key=lambda d: (not self._random(d), d)):
            got, want = step.inputs.get(dep), expected.inputs.get(dep)
            if got is None or want is None or got.version == want.version:
                continue
            cause = self.input_cause(step.cell_id, pos, dep, got, want, depth, "used")
            if cause is not None:
                return cause
        return None

    def input_cause(
        self, cell_id: str, pos: int, name: str, got: _Input, want: _Input, depth: int, verb: str
    ) -> _Cause | None:
        """Why a run at ``pos`` saw ``got`` of ``name`` where a top-to-bottom run would see ``want``."""
        who, shown = f"cell {pos + 1}", _show(name)
        if self._random(name):
            return _Cause(
                "unseeded-random", cell_id,
                f"{who} drew random numbers from {shown} in a state left by an earlier run", frozenset({pos}),
            )
        maker = got.maker
        if maker is not None:
            made_at = self.book.pos.get(maker.cell_id)
            if made_at is not None and made_at > pos:
                return _Cause(
                    "read-from-below", cell_id, f"{who} {verb} {shown} from cell {made_at + 1}, which is below it",
                    frozenset({pos, made_at}), RESTART,
                )
            if maker.cell_id == cell_id and maker.fingerprint == self.book.effects[pos].fingerprint:
                return _Cause(
                    "non-idempotent-rerun", cell_id,
                    f"{who} ran again on {shown}, which its earlier run had already changed", frozenset({pos}),
                )
        if want.maker is not None and (skipped := self.missing(want.maker, name, None, quiet=True)) is not None:
            return skipped
        live = self.actual.read(name, got.spec)
        if live.version != got.version:
            changed_at = self.book.pos.get(live.maker.cell_id) if live.maker is not None else None
            changer = f"cell {changed_at + 1}" if changed_at is not None else "a later run"
            return _Cause("stale-input", cell_id, f"{who} {verb} {shown} before {changer} changed it", frozenset({pos}))
        obj = self.actual.obj(name)
        if depth < 6 and obj is not None:
            causes = self.explain(name, obj, self.run.sim.obj(name), depth + 1)
            if causes:
                return causes[0]
        return None

    def missing(self, step: _Step, name: str, obj: _Obj | None, quiet: bool = False) -> _Cause | None:
        """The top-to-bottom run has an effect of ``step`` on ``name`` that the actual state lacks."""
        pos = self.book.pos.get(step.cell_id)
        if pos is None:
            return None
        runs = self.detector._runs.get(step.cell_id, [])
        shown = _show(name)
        if not runs:
            return _Cause(
                "skipped-cell", step.cell_id, f"cell {pos + 1} never ran, but it changes {shown}", frozenset({pos})
            )
        if all(r.fingerprint != step.fingerprint for r in runs):
            return _Cause("hidden-state", step.cell_id, f"cell {pos + 1} was edited and not re-run", frozenset({pos}))
        if quiet:
            return None
        latest = max(obj.makers(), key=lambda m: m.seq, default=None) if obj is not None else None
        by = self.book.pos.get(latest.cell_id) if latest is not None else None
        if latest is not None and by is not None and by < pos:
            return _Cause(
                "overwritten", latest.cell_id,
                f"{shown} holds what cell {by + 1} made; top to bottom, cell {pos + 1} changes it after that",
                frozenset({pos}),
            )
        undone = f"cell {by + 1} ran again" if by is not None else "a later run"
        return _Cause(
            "stale-input", step.cell_id, f"cell {pos + 1}'s change to {shown} was undone when {undone}",
            frozenset({pos} if by is None else {pos, by}),
        )

    def alias_causes(self) -> dict[_Step, tuple[_Cause, set[str]]]:
        """Values computed from an object that was later changed in place through another name.

        A top-to-bottom run reproduces them, but the notebook's text hides the change (``b = a`` then
        ``b.append(…)`` changes ``a``): the value no longer describes what its input now holds.
        """
        found: dict[_Step, tuple[_Cause, set[str]]] = {}
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

    def _alias_cause(self, maker: _Step) -> _Cause | None:
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
                    return _Cause(
                        "stale-input", maker.cell_id,
                        f"cell {pos + 1} used {read_as}, which was changed later through its alias {via}",
                        frozenset({pos}), f"copy instead of aliasing ({via} = {read_as}.copy()), then {RESTART}",
                    )
        return None

    def _random(self, name: str) -> bool:
        obj = self.actual.obj(name)
        return name in RANDOM_STATES or (obj is not None and obj.generator)

    def _unexplained(self, name: str, obj: _Obj) -> _Cause:
        latest = max(obj.makers(), key=lambda m: m.seq)
        pos = self.book.pos.get(latest.cell_id, 0)
        return _Cause(
            "stale-input", latest.cell_id,
            f"{name} differs from what running the notebook top to bottom would give", frozenset({pos}),
        )

    def _unexplained_file(self, path: str, maker: _Step) -> _Cause:
        pos = self.book.pos.get(maker.cell_id, 0)
        return _Cause(
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
        touching = {i for name in names for i in self._changers().get(name, ())}
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

    def _changers(self) -> dict[str, list[int]]:
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

    def _expected_makers(self, name: str) -> list[_Step]:
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
            step = self.detector._symbolic_step(sim, self.book, position, _SIMULATED + position)
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
            was_fine = was is None or not _differs(was, self.run.sim.obj(name))
            if was_fine and not self._settled(sim, name):
                return False
        return True

    def _settled(self, sim: _Sim, name: str) -> bool:
        if name.startswith(FILE):
            path = name[len(FILE) :]
            return sim.files.get(path, (None,))[0] == self.run.sim.files.get(path, (None,))[0]
        obj, expected = sim.obj(name), self.run.sim.obj(name)
        if obj is None:
            return expected is None  # a name the fresh run has is not settled by leaving it out
        return not _differs(obj, expected)


_NO_SUCH_FILE = re.compile(r"^(?:FileNotFoundError|OSError|IOError): .*?No such file or directory: '(.+?)'")


def _missing_file(error: str | None) -> str | None:
    """The path a run failed to open ("FileNotFoundError: [Errno 2] No such file or directory: 'x.csv'")."""
    found = _NO_SUCH_FILE.match(error or "")
    return found.group(1).removeprefix("./") if found else None


_INERT_MAGICS = ("%matplotlib", "%config", "%load_ext", "%reload_ext", "%autoreload", "%mlops_track", "%precision")


def _inert(code: str) -> bool:
    """A cell with no effect a top-to-bottom run would show: blank, comments, display-setting magics."""
    return all(
        not line.strip() or line.lstrip().startswith(("#", *_INERT_MAGICS)) for line in code.splitlines()
    )


def _parts(obj: _Obj) -> dict[tuple, tuple[int, _Step | None]]:
    parts: dict[tuple, tuple[int, _Step | None]] = {("base",): (obj.base, obj.base_maker)}
    for op, maker in obj.ops:
        parts[("op", op)] = (op, maker)
    for key, version, maker in obj.comps:
        parts[("comp", key)] = (version, maker)
    return parts


# -- the detector -----------------------------------------------------------------------------------


_CHECKPOINT_EVERY = 16
"""Every 16th position of the cached run keeps its own namespace; the positions between hand theirs on to
the next one (a copy per position made each new cell cost a pass over every name of a long notebook) and
rebuild it from the checkpoint before them, replaying at most 15 steps, when asked (a re-run of an earlier
cell, or the run cut there)."""


@dataclass(eq=False)
class _Position:
    """One position of the cached top-to-bottom run: what it depended on and the state it left."""

    key: tuple  # (cell id, fingerprint, facts of the real run it replays)
    step: _Step
    # The namespace after this position, never mutated while here; None: handed on to the next position.
    after: _Sim | None
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

    def update(self, actual: _Sim, expected: _Sim, prefix: Sequence[_Position], frontier: int) -> set[str]:
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
                          if _differs(actual.obj(n), expected.obj(n))}
        else:
            for name in candidates:
                if _differs(actual.obj(name), expected.obj(name)):
                    self.names.add(name)
                else:
                    self.names.discard(name)
        self.frontier, self._actual, self._expected, self._low = frontier, set(), set(), sys.maxsize
        return self.names


def _differs(mine: _Obj | None, theirs: _Obj | None) -> bool:
    """Do the session and a top-to-bottom run end with different values for a name?

    A name only one side has differs: a fresh run lacking it fails where the session works, and the
    reverse. Figures compare by what they draw, which is their provenance: the cell that made them, what it
    drew from and the drawing calls made on them since. A re-run plot cell draws the same picture again;
    an earlier plot cell re-run leaves its picture where, top to bottom, a later one's would be.
    """
    if mine is None or theirs is None:
        return mine is not theirs
    return mine.version != theirs.version


class Detector:
    """Incremental: the session feeds it one Execution per cell run and asks for verdicts.

    The symbolic top-to-bottom run is the expensive part, and between two cell runs it rarely changes:
    position p's outcome depends only on positions before it, the cell's code and the runtime facts of
    the real run it replays (files, rebound names, success). So the run is cached per position with
    the state it left, and recomputed only from the first position whose inputs changed; ``preflight``
    and the ``verdict`` after it share it, and fix searches are cached on what they depend on.
    """

    def __init__(self) -> None:
        self._intern = _Interner()
        self._written: dict[int, int] = {}
        self._equal: dict[int, int] = {}
        self._by_value: dict[tuple[str, str], int] = {}  # (name, digest) -> the first version seen with it
        self._made_at: dict[int, int] = {}  # version -> the first position of the cached run that made it
        self._sim = _Sim(self._intern, self._written, self._equal)
        self._runs: dict[str, list[_Step]] = {}
        self._first_run: list[str] = []  # the cell ids of ``_runs`` in the order they first ran, for slicing
        self._latest: dict[tuple[str, str], _Step] = {}  # (cell id, fingerprint) -> its last run
        self._deleted: set[str] = set()
        self._count = 0
        self._opaque: frozenset[str] = frozenset()
        self._ran_opaque: dict[str, frozenset[str]] = {}  # cell id -> likely-opaque names of its last run
        self._ran_opaque_all: frozenset[str] | None = frozenset()
        self._prefix: list[_Position] = []
        self._start_files: dict[str, int] = {}  # file versions the cached run started from
        self._checked: _Book | None = None  # the notebook the cached run was last validated against
        self._dirty: set[str] = set()  # cells run since: their positions may replay differently now
        self._recheck_all = False  # a file write may have changed what symbolic writes resolve to
        self._book_cache: tuple[tuple, _Book] | None = None
        self.repairs: dict[tuple, tuple[bool, tuple]] = {}  # fix searches, see _Judge._repairs
        self._outcomes: tuple[tuple, list[_Cause]] | None = None  # see _Judge.outcome_causes
        self._failing: set[tuple[str, str]] = set()  # (cell id, fingerprint) whose latest run raised
        self._unbound_at: set[int] = set()  # positions of the cached run whose cell reads a name unbound there
        self._differences = _Differences()
        self._rebuilt: int | None = None  # the position whose handed-on namespace was rebuilt last
        self._opaque_union: tuple[tuple[frozenset[str], ...], frozenset[str]] | None = None  # see _all_opaque
        # (book, runs, frontier) of the last verdict that found every name as top to bottom (see ``_still_agrees``)
        self._agrees: tuple[_Book, int, int] | None = None
        self._last: _Step | None = None  # the last run recorded, and whether its values were unified with
        self._unified = False  # others' or it named deleted cells (see ``_still_agrees``)
        self._last_deleted = False

    def record(self, execution: Execution) -> None:
        self._deleted |= execution.deleted_cells
        self._deleted.discard(execution.cell_id)
        effects = analyze(execution.code)
        step = _Step(
            execution.cell_id, effects.fingerprint, self._count, effects,
            dict(execution.files_read), dict(execution.files_written), ok=execution.ok,
            error=None if execution.ok else execution.error,
        )
        self._sim.run(step, rebound=execution.rebound, ok=execution.ok, disk=True)
        self._differences.ran(step.touched)
        self._unified = bool(execution.values) and self._unify(execution.values)
        self._last, self._last_deleted = step, bool(execution.deleted_cells)
        self._count += 1
        if execution.cell_id not in self._runs:
            self._first_run.append(execution.cell_id)
        self._runs.setdefault(execution.cell_id, []).append(step)
        self._latest[(execution.cell_id, effects.fingerprint)] = step
        if step.ok:
            self._failing.discard((execution.cell_id, effects.fingerprint))
        else:
            self._failing.add((execution.cell_id, effects.fingerprint))
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
            oid = self._sim.names.get(name)
            obj = None if oid is None else self._sim.objs[oid]
            if obj is None or obj.ops or obj.comps or obj.base == _NONDET:
                continue
            seen = self._by_value.setdefault((name, digest), obj.version)
            if seen != obj.version:
                self._equal[obj.version] = seen
                self._sim.objs[oid] = obj._replace(base=seen, version=seen)  # type: ignore[union-attr]
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
            self._agrees = (book, self._count, book.frontier)
            return Verdict(True, ())
        run = self._expected(book, book.frontier)
        differing = self._differences.update(self._sim, run.sim, self._prefix, book.frontier)
        judge = _Judge(self, book, run, self._all_opaque(book))
        issues = judge.issues(sorted(differing))
        # Every name (generators' states included) as top to bottom: what ``preflight`` can take for granted.
        self._agrees = (book, self._count, book.frontier) if not issues and not differing else None
        return Verdict(not issues, tuple(issues))

    def _still_agrees(self, book: _Book) -> bool:
        """Does the state agree with top to bottom, without a symbolic run? Yes after one run of the next cell
        down (or a new one below) that only rebinds names, in a state that agreed: it read what a top-to-bottom
        run would feed it there, so it made what that run makes. The common case, a user going down the
        notebook, costs no symbolic step; the cached run catches up the next time it is needed.

        Anything else is left to the full verdict: a run that raised, read or wrote a file, changed an object in
        place (aliases may differ between the two runs, which versions do not show), named a deleted cell, was
        found equal to another provenance's value, or skipped a cell above it.
        """
        agreed, last = self._agrees, self._last
        if agreed is None or agreed[0] is not book or agreed[1] != self._count - 1 or last is None:
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
        if not self._count or not effects.parsed:
            return ()
        book = self._book(notebook)
        pos = book.pos.get(cell_id, len(book.cells))
        agreed = self._agrees
        if (agreed is not None and agreed[0] is book and agreed[1] == self._count and pos > book.frontier
                and bisect.bisect_right(book.unrun, book.frontier) == bisect.bisect_left(book.unrun, pos)):
            # The next cell down (or a new one) in a state where every name is what top to bottom gives: it
            # reads what a top-to-bottom run would feed it and leaves no cell above it unrun. The common
            # case, a user going down the notebook, told without a symbolic run.
            return ()
        run = self._expected(book, max(book.frontier, pos - 1), snapshot=pos)
        opaque = self._all_opaque(book) | effects.likely_opaque
        judge = _Judge(self, book, run, opaque)
        step = _Step(cell_id, effects.fingerprint, self._count, effects)
        reads, planned, _ = self._sim.expand(effects)  # planned: also what the functions it calls change
        makes_values = any(n not in opaque for n in planned)
        target = run.before if makes_values and run.before is not None else run.sim
        got_all, _ = self._sim.inputs(step, reads)
        want_all, _ = target.inputs(step, reads)
        aliased = {maker: cause for maker, (cause, _) in judge.alias_causes().items()}
        issues: dict[tuple[str, str], Issue] = {}
        for name in sorted(got_all, key=lambda n: (not judge._random(n), n)):
            got, want = got_all[name], want_all[name]
            obj = self._sim.obj(name)
            cause = next((aliased[m] for m in (obj.makers() if obj else []) if m in aliased), None)
            if got.version != want.version and (makes_values or name not in opaque):
                cause = judge.input_cause(cell_id, pos, name, got, want, 0, "would use") or cause
            if cause is None or (cause.kind, cause.cell_id) in issues:
                continue
            message = cause.message
            if cause.cell_id != cell_id:
                message = f"cell {pos + 1} would use {_show(name)}; {message}"
            fix, cells = (cause.fix, ()) if cause.fix else judge.fix({name}, cause.cells)
            issues[(cause.kind, cause.cell_id)] = Issue(
                cause.kind, cause.cell_id, (_show(name),), message, fix, cells,
            )
        for cause, names in self._created(book, judge, pos, cell_id, effects, planned):
            if (cause.kind, cause.cell_id) not in issues:
                fix, cells = judge.fix(names, cause.cells)
                issues[(cause.kind, cause.cell_id)] = Issue(
                    cause.kind, cause.cell_id, tuple(sorted(map(_show, names))), cause.message, fix, cells,
                )
        return tuple(issues.values())

    def _created(
        self, book: _Book, judge: _Judge, pos: int, cell_id: str, effects: CellEffects, planned: Mapping[str, Change]
    ) -> list[tuple[_Cause, set[str]]]:
        """States that running this cell would *create*: cells above it left unrun, values overwritten.

        Running a cell below cells never run makes them skipped; re-running a cell above the lowest one
        run rebinds names that a cell below it, already run, changes after it top to bottom.
        """
        if cell_id not in book.pos:
            return []  # not in the notebook as known (an unsaved new cell): nothing to say where it stands
        created: list[tuple[_Cause, set[str]]] = []
        skipped = book.unrun[bisect.bisect_right(book.unrun, book.frontier) : bisect.bisect_left(book.unrun, pos)]
        if skipped:
            first, last = skipped[0], skipped[-1]
            which = f"cell {first + 1}" if first == last else f"cells {first + 1}–{last + 1}"
            created.append((_Cause(
                "skipped-cell", book.cells[first].cell_id,
                f"running cell {pos + 1} now leaves {which} above it never run", frozenset(skipped),
            ), set()))
        binds = [
            n for n, c in planned.items()
            if c.kind == BIND and not c.in_place and not n.startswith("<")
        ]
        if pos >= book.frontier or not binds:
            return created
        changers = judge._changers()
        for name in binds:
            later = [p for p in changers.get(name, ()) if pos < p <= book.frontier]
            if not later or self._rebinds_same(book, pos, name):
                continue
            by = later[-1]
            created.append((_Cause(
                "overwritten", book.cells[by].cell_id,
                f"re-running cell {pos + 1} rebinds {_show(name)}, which cell {by + 1} changes after it top to bottom",
                frozenset({by}),
            ), {name}))
        return created

    def _rebinds_same(self, book: _Book, pos: int, name: str) -> bool:
        """Would this cell bind ``name`` to the value a top-to-bottom run ends with anyway (``import np``)?"""
        sim = self._sim.copy()
        self._symbolic_step(sim, book, pos, _SIMULATED + pos)
        got, want = sim.obj(name), self._expected(book, book.frontier).sim.obj(name)
        return got is not None and want is not None and got.version == want.version

    # -- the notebook ----------------------------------------------------------------------------------

    def _book(self, notebook: Sequence[Cell]) -> _Book:
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
            if book.runs_seen != len(self._runs):
                for cell_id in self._first_run[book.runs_seen:]:
                    pos = book.pos.get(cell_id)
                    if pos is None:
                        continue
                    book.frontier = max(book.frontier, pos)
                    at = bisect.bisect_left(book.unrun, pos)
                    if at < len(book.unrun) and book.unrun[at] == pos:
                        del book.unrun[at]
                    if (cell_id, book.effects[pos].fingerprint) not in self._latest:
                        book.edited.add(pos)
                book.runs_seen = len(self._runs)
            return book
        cells: list[Cell] = []
        pos: dict[str, int] = {}
        for cell in notebook:
            if cell.cell_id not in self._deleted and cell.cell_id not in pos:
                pos[cell.cell_id] = len(cells)
                cells.append(cell)
        frontier = max((pos[c] for c in self._runs if c in pos), default=-1)
        effects = [analyze(c.source) for c in cells]
        static = frozenset().union(*(e.likely_opaque for e in effects))
        inert = [_inert(c.source) for c in cells]
        effective = list(itertools.accumulate((not i for i in inert), initial=0))
        unrun = [p for p, c in enumerate(cells) if not inert[p] and c.cell_id not in self._runs]
        edited = {
            p for p, c in enumerate(cells)
            if c.cell_id in self._runs and (c.cell_id, effects[p].fingerprint) not in self._latest
        }
        book = _Book(cells, effects, pos, frontier, static, inert, effective, unrun, edited, len(self._runs))
        self._book_cache = (key, book)
        return book

    def _extend(self, book: _Book, appended: Sequence[Cell]) -> None:
        """Cells below the notebook as last seen, added to its book as ``_book`` would have built them."""
        for cell in appended:
            if cell.cell_id in self._deleted or cell.cell_id in book.pos:
                continue
            position = book.pos[cell.cell_id] = len(book.cells)
            effects = analyze(cell.source)
            inert = _inert(cell.source)
            book.cells.append(cell)
            book.effects.append(effects)
            book.inert.append(inert)
            book.effective.append(book.effective[-1] + (not inert))
            if not effects.likely_opaque <= book.static_opaque:
                book.static_opaque |= effects.likely_opaque
            if cell.cell_id in self._runs:
                book.frontier = position
                if (cell.cell_id, effects.fingerprint) not in self._latest:
                    book.edited.add(position)
            elif not inert:
                book.unrun.append(position)

    def _all_opaque(self, book: _Book) -> frozenset[str]:
        """The session's opaque names plus those the code shows are modules, functions or figures."""
        if self._ran_opaque_all is None:
            self._ran_opaque_all = frozenset().union(*self._ran_opaque.values())
        parts = (self._opaque, book.static_opaque, self._ran_opaque_all)
        cached = self._opaque_union
        if cached is None or cached[0][0] != parts[0] or cached[0][1] is not parts[1] or cached[0][2] is not parts[2]:
            cached = self._opaque_union = (parts, parts[0] | parts[1] | parts[2])
        return cached[1]

    # -- symbolic runs -------------------------------------------------------------------------------

    def _expected(self, book: _Book, end: int, snapshot: int | None = None) -> _Run:
        """The top-to-bottom run down to ``end``; ``snapshot``: also the state before that position."""
        if snapshot is not None and snapshot > end:
            whole = self._expected(book, end)
            return _Run(whole.sim, whole.steps, whole.sim)
        self._validate(book)
        prefix = self._prefix
        for position in range(len(prefix), end + 1):
            sim = self._continued(prefix)
            step = self._symbolic_step(sim, book, position, position)
            step.unbound = tuple(  # no object: neither a file, nor a generator's state, nor anything bound
                n for n, got in step.inputs.items() if got.oid is None and n[0] != "<" and not n.startswith(FILE)
            )
            if step.unbound:
                self._unbound_at.add(position)
            for name in step.applied:
                if (made := sim.obj(name)) is not None:
                    self._made_at.setdefault(made.version, position)
            writes = tuple((symbolic, sim.files[path][0]) for path, symbolic in step.written_as.items())
            prefix.append(_Position(self._position_key(book, position), step, sim, writes))
        run = _Run(self._after(prefix, end), _Steps(prefix, end + 1))
        if snapshot is not None:
            run.before = self._after(prefix, snapshot - 1) if snapshot > 0 else self._start()
        return run

    def _continued(self, prefix: list[_Position]) -> _Sim:
        """The namespace the next position runs in: the last one's, taken over unless it is a checkpoint."""
        if not prefix:
            return self._start()
        last = len(prefix) - 1
        sim = self._after(prefix, last)
        if last % _CHECKPOINT_EVERY == 0:
            return sim.copy()
        prefix[last].after = None
        return sim

    def _after(self, prefix: list[_Position], index: int) -> _Sim:
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

    def _validate(self, book: _Book) -> None:
        """Drop the cached positions from the first one whose inputs changed since it was computed.

        Same notebook as last time: only the positions of cells run since can have changed, so an idle
        cell costs a few lookups. Another notebook, or a file write: check every position.
        """
        start_files = {path: version for path, (version, _) in self._sim.files.items()}
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

    def _start(self) -> _Sim:
        """A fresh kernel: no names, files as they are on disk now."""
        sim = _Sim(self._intern, self._written, self._equal)
        sim.files = {path: (version, None) for path, (version, _) in self._sim.files.items()}
        return sim

    def _position_key(self, book: _Book, position: int) -> tuple:
        """What the symbolic run at ``position`` depends on besides the positions above it."""
        cell, effects = book.cells[position], book.effects[position]
        same = self._latest.get((cell.cell_id, effects.fingerprint))
        if same is not None:
            return cell.cell_id, effects.fingerprint, same.facts
        runs = self._runs.get(cell.cell_id)
        return cell.cell_id, effects.fingerprint, runs[-1].facts[0] if runs else None

    def _symbolic_step(self, sim: _Sim, book: _Book, position: int, seq: int) -> _Step:
        """Run a notebook cell symbolically, the way its last real run of this code went."""
        cell, effects = book.cells[position], book.effects[position]
        same = self._latest.get((cell.cell_id, effects.fingerprint))
        runs = self._runs.get(cell.cell_id)
        source = same or (runs[-1] if runs else None)
        step = _Step(
            cell.cell_id, effects.fingerprint, seq, effects,
            source.files_read if source else {}, source.files_written if source else {},
        )
        if same is not None and not same.ok and not self._same_situation(sim, step, same):
            same = None  # it raised in a state a top-to-bottom run would not be in: assume it completes
            step.assumed_ok = True
        sim.run(step, only=same.applied if same else None, unknown=same.unknown if same else frozenset())
        return step

    @staticmethod
    def _same_situation(sim: _Sim, step: _Step, ran: _Step) -> bool:
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
