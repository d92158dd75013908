"""What would running the notebook top to bottom make? Provenances, and cell runs applied to them.

Every value gets a provenance: the code that made it and the provenance of each input it read, interned
to an int so equal histories compare as equal ints. The actual history (cells as they ran) builds one
set of provenances; a symbolic top-to-bottom run of the notebook as it stands now (``Book``: current cells,
current code, current order) builds another (``Run``). Both are ``Sim`` namespaces that ``Step``s, one per
cell run, are applied to; ``judge.py`` compares them and ``detector.py`` keeps them.

A value is modelled as a base (what rebound it) plus idempotent operations applied to it (dropna,
sort, fit) plus keyed parts (columns, attributes): ``df['y'] = …`` re-run overwrites the same part
with the same provenance, ``df.dropna(inplace=True)`` re-run finds its operation already applied,
and a reader of ``df['y']`` only depends on the parts it reads. That is what keeps re-running display
cells, cleaning cells and "add a column" cells from raising false alarms.

Pure: no I/O, no IPython. The symbolic runs use what the session observed (files read and written with
their md5, names the runtime saw rebound), so a clean top-to-bottom run always matches itself.
"""

from __future__ import annotations

import functools
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
    is_ipython_internal,
    passed_changes,
)
from jupyter_mlops.core.notebook import Cell
from jupyter_mlops.core.verdict.model import FILE

NONDET = 0  # the provenance of anything drawn from an entropy-seeded generator: never compared
_LAST = 1 << 30  # statement index for changes only the runtime saw
SIMULATED = 1 << 40  # step numbers of what-if runs, after every real execution


# -- provenance -------------------------------------------------------------------------------------


class Interner:
    """Structural keys -> small ints, so a provenance chain of any depth compares in O(1)."""

    def __init__(self) -> None:
        self._ids: dict[tuple[Any, ...], int] = {}

    def __call__(self, key: tuple[Any, ...]) -> int:
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._ids) + 1
        return found


@dataclass(eq=False, slots=True)
class Step:
    """One run of one cell, real or symbolic, and what it read."""

    cell_id: str
    fingerprint: str
    seq: int  # execution index (real runs) or notebook position (the symbolic run)
    effects: CellEffects
    files_read: Mapping[str, str | None] = field(default_factory=dict)
    files_written: Mapping[str, str | None] = field(default_factory=dict)
    inputs: dict[str, Input] = field(default_factory=dict)
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


class Input(NamedTuple):
    version: int
    maker: Step | None  # the run that made the version read (the latest part of it)
    oid: int | None  # the object read, to notice later changes through an alias
    spec: _Spec


class Obj(NamedTuple):
    """A value: base provenance, idempotent operations applied, keyed parts; and who made each."""

    base: int
    base_maker: Step | None
    version: int
    latest: Step | None  # the most recent of the makers
    ops: tuple[tuple[int, Step], ...] = ()
    comps: tuple[tuple[str, int, Step], ...] = ()  # sorted by key
    generator: bool = False
    figure: bool = False  # made by a plot call: later drawing calls on it change what it draws
    module: bool = False
    function: FunctionInfo | None = None
    consts: frozenset[str] | None = None
    via: tuple[tuple[str, int], ...] = ()  # (name, seq) of recent in-place changes

    def makers(self) -> list[Step]:
        found = [self.base_maker, *(m for _, m in self.ops), *(m for _, _, m in self.comps)]
        return [m for m in found if m is not None]


def latest_step(makers: Iterable[Step | None]) -> Step | None:
    return max((m for m in makers if m is not None), key=lambda m: m.seq, default=None)


class Sim:
    """A namespace of provenances that cell runs are applied to."""

    def __init__(self, intern: Interner, written: dict[int, int], equal: dict[int, int]) -> None:
        self.intern = intern
        self.written = written  # symbolic file write -> the md5 version a real run observed for it
        self.equal = equal  # version -> the version of an equal value the session saw first (``Detector._unify``)
        self.names: dict[str, int] = {}
        self.objs: dict[int, Obj] = {}
        self.files: dict[str, tuple[int, Step | None]] = {}
        self.next_oid = 0
        # Objects bound to two names (``b = a``): only these can be changed behind a reader's back.
        self.shared: set[int] = set()

    def copy(self) -> Sim:
        other = Sim(self.intern, self.written, self.equal)
        other.names, other.objs, other.files = dict(self.names), dict(self.objs), dict(self.files)
        other.next_oid = self.next_oid
        if self.shared:
            other.shared = set(self.shared)
        return other

    def obj(self, name: str) -> Obj | None:
        oid = self.names.get(name)
        return None if oid is None else self.objs[oid]

    def make(self, base: int, maker: Step | None, ops: tuple = (), comps: tuple = (), **meta: Any) -> Obj:
        if not ops and not comps:
            base = self.equal.get(base, base)
            return Obj(base, maker, base, maker, **meta)
        version = self.intern(("v", base, tuple(o for o, _ in ops), tuple((k, v) for k, v, _ in comps)))
        latest = latest_step((maker, *(m for _, m in ops), *(m for _, _, m in comps)))
        return Obj(base, maker, version, latest, ops, comps, **meta)

    def read(self, name: str, spec: _Spec) -> Input:
        """What a reader with this spec sees of ``name`` now (pure)."""
        if name.startswith(FILE):
            path = name[len(FILE) :]
            version, maker = self.files.get(path, (self.intern(("disk", path)), None))
            return Input(version, maker, None, spec)
        oid = self.names.get(name)
        if oid is None:
            return Input(NONDET if name in RANDOM_STATES else self.intern(("unbound", name)), None, None, spec)
        return self.project(self.objs[oid], oid, spec)

    def project(self, obj: Obj, oid: int | None, spec: _Spec) -> Input:
        if spec is _WHOLE or (not (obj.ops or obj.comps)):
            return Input(obj.version, obj.latest, oid, spec)
        ops, comps = obj.ops, obj.comps
        if spec.strip_op is not None:
            ops = tuple(o for o in ops if o[0] != spec.strip_op)
        if spec.strip_keys:
            comps = tuple(c for c in comps if c[0] not in spec.strip_keys)
        restrict = self._keys(spec.restrict)
        if restrict is not None:
            comps = tuple(c for c in comps if c[0] in restrict)
        if len(ops) == len(obj.ops) and len(comps) == len(obj.comps):
            return Input(obj.version, obj.latest, oid, spec)
        part = self.make(obj.base, obj.base_maker, ops, comps)
        return Input(part.version, part.latest, oid, spec)

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
        self, step: Step, reads: Iterable[str], *, disk: bool = False, mark: bool = False
    ) -> tuple[dict[str, Input], dict[str, int]]:
        """The version of everything the run reads, each seen through the cell's own spec.

        ``mark``: a real run, whose reads of files tell what they hold now.
        """
        effects = step.effects
        inputs: dict[str, Input] = {}
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
            inputs[FILE + path] = Input(version, maker, None, _WHOLE)
            if mark:
                self.files[path] = (version, maker)
        return inputs, opkeys

    def run(
        self,
        step: Step,
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
        if not ok:  # only a run that raised is ever compared by what it changed in place (``Detector._same_situation``)
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

    def _apply(self, step: Step, name: str, change: Change, versions: tuple, opkey: int | None) -> None:
        oid = self.names.get(name)
        current = None if oid is None else self.objs[oid]
        if current is not None and current.module and change.kind != BIND:
            return  # ``np.append(…)`` and the like call functions, they do not change the module
        if name in RANDOM_STATES and change.kind != BIND and (current is None or current.base == NONDET):
            return  # drawing from a generator nobody seeded: nondeterministic anyway
        if change.kind == BIND or current is None:
            if change.alias_of is not None and (source := self.names.get(change.alias_of)) is not None:
                self.names[name] = source
                self.shared.add(source)
                return
            if change.nondet:
                base = NONDET
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
            if current.generator and current.base == NONDET:
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

    def _bind(self, name: str, obj: Obj) -> None:
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


@dataclass(eq=False)  # one book is one object: caches compare it by identity (and its length, see ``Detector._extend``)
class Book:
    """The notebook as it stands, deleted cells left out, and how far the session has got in it (``Detector._book``)."""

    cells: list[Cell]  # the notebook as it stands now (code cells), in order
    effects: list[CellEffects]
    pos: dict[str, int]
    frontier: int  # the lowest cell that ever ran; cells below it have simply not been reached yet
    static_opaque: frozenset[str] = frozenset()  # names the cells' code shows are modules, functions, figures
    inert: list[bool] = field(default_factory=list)  # per position: a cell with no effect to miss (``is_inert``)
    effective: list[int] = field(default_factory=list)  # per position: how many cells above it are not inert
    unrun: list[int] = field(default_factory=list)  # sorted positions of cells that are not inert and never ran
    edited: set[int] = field(default_factory=set)  # positions of cells that ran, but not with their code now
    runs_seen: int = 0  # how many cells had run when ``frontier`` and ``unrun`` were last brought up to date

    def first_reader(self, name: str) -> str | None:
        return next((c.cell_id for c, e in zip(self.cells, self.effects, strict=True) if name in e.reads), None)


@dataclass
class Run:
    """The symbolic top-to-bottom run: its final namespace, each position's step, and a snapshot."""

    sim: Sim
    steps: Sequence[Step]
    before: Sim | None = None


_INERT_MAGICS = ("%matplotlib", "%config", "%load_ext", "%reload_ext", "%autoreload", "%mlops_track", "%precision")


def is_inert(code: str) -> bool:
    """A cell with no effect a top-to-bottom run would show: blank, comments, display-setting magics."""
    return all(
        not line.strip() or line.lstrip().startswith(("#", *_INERT_MAGICS)) for line in code.splitlines()
    )
