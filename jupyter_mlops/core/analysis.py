"""What one cell's code reads and changes, from its AST alone.

The verdict engine (``verdict/``) replays cells symbolically, so it needs, per cell: the global names
the cell reads before binding them, and for every global it changes *how* it changes it. The "how"
decides precision: ``x = f(a)`` re-run gives the same value, ``lst.append(4)`` re-run does not,
``df = df.dropna()`` re-run is a no-op and ``df['y'] = df.x * 2`` re-run overwrites column ``y`` with
the same values. Getting these wrong is what makes naive tools cry wolf.

The export asks the same analysis where a notebook can be cut into stages: which names a cell needs,
binds and may change, which definitions another stage can copy, which files its calls name. It is the
one place a cell's code is analysed, so the detector and the export cannot disagree about a cell (a
``%time x = …`` line, a ``%%time`` cell). What it knows about libraries is data, in ``library.py``.

Everything here is a pure function of the code string and is cached by it: the session calls it on
every run, and the engine calls it for every notebook cell on every verdict.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from jupyter_mlops.core import library

# How a cell changes a global name.
BIND = "bind"  # a new value made without reading the old one: re-running it from the same inputs is harmless
UPDATE = "update"  # the old value goes in and a different one comes out: running it twice is not running it once
IDEMPOTENT = "idempotent"  # the old value goes in, but applying the change again changes nothing (dropna, sort)
KEYS = "keys"  # some keys/columns/attributes are overwritten with values that do not read those keys

# Pseudo-names for the module-level random generators; "<" keeps them apart from Python identifiers.
NP_RANDOM = "<np.random>"
PY_RANDOM = "<random>"
RANDOM_STATES = frozenset({NP_RANDOM, PY_RANDOM})


_IPYTHON_INTERNAL = re.compile(r"^(_+|_i+|_i?\d+|_exit_code)$")
_IGNORED = library.NOT_USER_STATE

_MAGIC_ASSIGN = re.compile(r"^(\s*)([A-Za-z_][\w\s,()\[\]*.]*?)\s*=\s*[%!]")
_HELP = re.compile(r"^\?*[\w.\[\]()'\"]+\?{1,2}$")


def is_ipython_internal(name: str) -> bool:
    """Names IPython itself binds (``_``, ``_5``, ``_i5``, ``In`` …): never part of the user's state."""
    return name in library.IPYTHON_NAMES or bool(_IPYTHON_INTERNAL.match(name))


@dataclass(frozen=True)
class FunctionInfo:
    """What calling a function does to globals: it reads them at call time, not at definition time."""

    reads: frozenset[str] = frozenset()
    rebinds: frozenset[str] = frozenset()  # assigned after a ``global`` statement
    mutates: frozenset[str] = frozenset()  # changed in place (``results.append(v)``)
    # Globals whose methods it calls or that it passes to a function: a generator among them is drawn from.
    draws: frozenset[str] = frozenset()
    params: tuple[str, ...] = ()  # positional parameter names, to match a call's arguments
    # How it changes the objects passed in (``def clip(frame): frame['t'] = …``), as a cell would change them.
    param_changes: tuple[tuple[str, Change], ...] = ()


@dataclass(frozen=True)
class Change:
    """How a cell changes one global name."""

    kind: str  # BIND | UPDATE | IDEMPOTENT | KEYS
    deps: frozenset[str] = frozenset()  # free names the new value is computed from (may include itself)
    keys: frozenset[str] = frozenset()  # for KEYS: the keys/attributes overwritten
    in_place: bool = False  # the object changes, so every alias of it sees the change
    augmented: bool = False  # ``x += …``: in place or rebinding depends on the type, the runtime knows
    conditional: bool = False  # made inside if/for/while/try: whether it happened is the runtime's call
    stmt: int = 0  # index of the last top-level statement that makes it (to judge cells that raised)
    content: str | None = None  # a definition (import/def/class/seed): same text, same value, in any cell
    # Digest of the statements of the cell that compute it: editing a print in the same cell keeps it.
    code: str | None = None
    alias_of: str | None = None  # ``b = a``: b is the same object as a
    generator: bool = False  # a random generator object
    nondet: bool = False  # seeded from entropy: its values differ run to run anyway
    function: FunctionInfo | None = None
    consts: frozenset[str] | None = None  # a literal list of strings (``features = ['a', 'b']``)


@dataclass(frozen=True)
class CellEffects:
    """The def/use summary of one cell. ``parsed=False`` means unknown: no reads, no changes, no alarms."""

    parsed: bool
    fingerprint: str  # equal for code that differs only in comments and layout
    reads: frozenset[str] = frozenset()
    key_reads: Mapping[str, frozenset[str]] = field(default_factory=dict)  # names read only by constant keys
    changes: Mapping[str, Change] = field(default_factory=dict)
    deletes: frozenset[str] = frozenset()
    method_calls: frozenset[str] = frozenset()  # free names whose methods it calls (an RNG draws when called)
    passed: frozenset[str] = frozenset()  # free names given to a function call (``random_state=rng`` draws)
    # Calls of free names with plain names as arguments: (function, positional args, keyword args); a
    # function another cell defined may change what it is passed, which only the engine can look up.
    calls: tuple[tuple[str, tuple[str | None, ...], tuple[tuple[str, str], ...]], ...] = ()
    likely_opaque: frozenset[str] = frozenset()  # names bound to modules, functions, classes, figures
    # Names bound to what a plot call returns: compared by what they draw, which a re-run draws again.
    figures: frozenset[str] = frozenset()
    # Free names it draws on (``ax.axvline(…)``, ``df.plot(ax=ax)``): a change of the figure they hold, if they
    # hold one, which only the engine knows.
    drawings: Mapping[str, Change] = field(default_factory=dict)
    dynamic: bool = False  # star import, %run, exec(): names may appear that no cell shows
    python: bool = True  # False for a cell magic whose body is not Python (``%%bash``, ``%%sql``)
    # The import/def/class statement that binds each name, as source: another stage copies it, not its value.
    definitions: Mapping[str, str] = field(default_factory=dict)
    setup_only: bool = False  # nothing but imports, defs, classes and docstrings
    called: frozenset[str] = frozenset()  # free names it calls: a function another cell defined acts now
    logs_metrics: bool = False  # calls ``log_metric``-like functions (library.METRIC_LOGGERS)

    @property
    def known(self) -> bool:
        """Is everything the cell does visible here (Python that parsed), rather than nothing at all?"""
        return self.parsed and self.python

    @property
    def binds(self) -> frozenset[str]:
        """User names the cell gives a new value (``x = …``, ``x += 1``, ``df = df.dropna()``, imports)."""
        return frozenset(n for n, c in self.changes.items() if not c.in_place and n not in RANDOM_STATES)

    @property
    def may_change(self) -> frozenset[str]:
        """Names whose object the cell changes in place, or whose methods it calls (which may change it).

        Errs towards "changed": the export hands a value over from the last stage that may have changed
        it, and a needless hand-off costs a file where a missed one breaks the pipeline.
        """
        in_place = {n for n, c in self.changes.items() if c.in_place and n not in RANDOM_STATES}
        return frozenset(in_place | (self.method_calls - library.MODULE_ALIASES))

    @property
    def needs(self) -> frozenset[str]:
        """Names the cell reads from other cells, the globals its functions read included (a def copied
        into another stage needs them there)."""
        functions = (c.function.reads for c in self.changes.values() if c.function is not None)
        return frozenset(self.reads.union(*functions)) - RANDOM_STATES


@lru_cache(maxsize=8192)
def analyze(code: str) -> CellEffects:
    """Def/use effects of one cell's code. IPython magics and shell lines are not Python and are skipped.

    The session calls it once for every cell of new code a user runs, so it parses once and serialises each
    statement once (``_CellWalker.shape``), however many names and digests need it.
    """
    parsed = _parse(code)
    if parsed is None:
        return CellEffects(parsed=True, fingerprint=_digest(code.strip()), python=False)
    source, tree = parsed
    if tree is None:
        return CellEffects(parsed=False, fingerprint=_digest(code.strip()))
    walker = _CellWalker()
    walker.body(tree.body)
    dynamic = walker.dynamic or code.lstrip().startswith(library.DYNAMIC_MAGICS)
    return walker.effects(dynamic=dynamic, source=source)


def _digest(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _parse(code: str) -> tuple[str, ast.Module | None] | None:
    """The Python in a cell (magics and shell escapes replaced by ``pass``) and its tree, None where it does
    not parse; None if the cell is not Python (a cell magic such as ``%%bash``)."""
    try:
        return code, ast.parse(code)
    except (SyntaxError, ValueError):
        pass
    source = _without_magics(code)
    if source is None:
        return None
    try:
        return source, ast.parse(source)
    except (SyntaxError, ValueError):
        return source, None


def _shape(node: Any) -> str:
    """What a piece of code is, without where it stands: node types and values, no positions or contexts.

    Equal for code that differs only in layout and comments; ``ast.dump`` says the same at twice the cost,
    and this runs on every statement of every new cell. A node's fields are read from its ``__dict__``,
    where the parser puts them in ``_fields`` order, followed by the positions left out here.
    """
    out: list[str] = []
    append = out.append
    stack = [node]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        if isinstance(item, ast.AST):
            append(item.__class__.__name__)
            extend([value for key, value in item.__dict__.items() if key not in _NOT_SHAPE][::-1])
        elif item.__class__ is list:
            append(f"[{len(item)}")
            extend(item[::-1])
        else:
            append(repr(item))
    return "\x1f".join(out)


_NOT_SHAPE = frozenset({"ctx", "lineno", "col_offset", "end_lineno", "end_col_offset"})


def _with_code(change: Change, code: str) -> Change:
    """``replace(change, code=code)``, without re-running the dataclass's constructor on every field: each
    change of every new cell gets its code this way."""
    new = object.__new__(Change)
    new.__dict__.update(change.__dict__, code=code)
    return new


def _same(a: Any, b: Any) -> bool:
    """Are two expressions the same code, whatever their contexts (``df['a']`` stored or loaded)?"""
    if type(a) is not type(b):
        return False
    if isinstance(a, ast.AST):
        return all(_same(getattr(a, f, None), getattr(b, f, None)) for f in a._fields if f != "ctx")
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _without_magics(code: str) -> str | None:
    """A cell that is not Python as it stands: magics and shell escapes replaced by ``pass``, ``%time x = …``
    by ``x = …``; None for a cell magic whose body is not Python."""
    lines = code.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].strip()[2:].split()
        if not words or words[0] not in library.PYTHON_CELL_MAGICS:
            return None
        lines = lines[first + 1 :]
    out = []
    for line in lines:
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("%time "):
            out.append(indent + stripped[len("%time ") :])
        elif stripped.startswith(("%", "!")) or _HELP.match(stripped.rstrip()):
            out.append(indent + "pass")
        elif match := _MAGIC_ASSIGN.match(line):
            out.append(f"{match[1]}{match[2]} = None")
        else:
            out.append(line)
    return "\n".join(out)


def _const_keys(node: ast.expr) -> frozenset[str] | None:
    """Constant subscript keys (``'a'``, ``0``, ``['a', 'b']``); None when the key is computed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int) and not isinstance(node.value, bool):
        return frozenset({str(node.value)})
    if isinstance(node, ast.List) and node.elts and all(isinstance(e, ast.Constant) for e in node.elts):
        return frozenset(str(e.value) for e in node.elts)  # type: ignore[attr-defined]
    return None


def _base_name(node: ast.expr) -> str | None:
    """``df`` for ``df``, ``df['a']``, ``df.loc[m, 'a']``, ``obj.a.b``."""
    while isinstance(node, ast.Subscript | ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.expr) -> list[str]:
    """['np', 'random', 'rand'] for ``np.random.rand``; [] for anything not a plain dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return []
    parts.append(node.id)
    return parts[::-1]


def _random_module(call: ast.Call) -> tuple[str, str] | None:
    """(pseudo-name, function) for ``np.random.f(…)`` / ``random.f(…)``."""
    parts = _dotted(call.func)
    if len(parts) == 3 and parts[0] in ("np", "numpy") and parts[1] == "random":
        return NP_RANDOM, parts[2]
    if len(parts) == 2 and parts[0] == "random":
        return PY_RANDOM, parts[1]
    return None


def _draws_global_state(call: ast.Call) -> bool:
    """``df.sample(5)``, ``train_test_split(X, y)``: a library call drawing from numpy's global generator.

    Only without a ``random_state`` (``None`` is the global one) and, for a method, only pandas' ``sample``:
    ``rng.shuffle(a)`` draws from ``rng``, ``df.resample("W")`` from nothing.
    """
    func = call.func
    if isinstance(func, ast.Attribute):
        if func.attr != "sample":
            return False
    elif not (isinstance(func, ast.Name) and func.id in library.GLOBAL_RANDOM_CALLS):
        return False
    for keyword in call.keywords:
        if keyword.arg == library.RANDOM_STATE_KEYWORD:
            return isinstance(keyword.value, ast.Constant) and keyword.value.value is None
        if keyword.arg == "shuffle" and isinstance(keyword.value, ast.Constant) and keyword.value.value is False:
            return False
    return True


_LITERAL_NODES = (ast.Constant, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.UnaryOp, ast.BinOp, ast.USub, ast.UAdd,
                  ast.Add, ast.Sub, ast.Load)


def _is_literal(value: ast.expr) -> bool:
    if not all(
        isinstance(node, _LITERAL_NODES) or (isinstance(node, ast.Name) and node.id == "set")
        or (isinstance(node, ast.Call) and not node.args and not node.keywords)  # ``set()``
        for node in ast.walk(value)
    ):
        return False  # what ``literal_eval`` refuses, told without the cost of its exception
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _rng_constructor(value: ast.expr) -> tuple[bool, bool] | None:
    """(seeded, constant args) if ``value`` builds a random generator (``np.random.default_rng(0)``)."""
    if not isinstance(value, ast.Call):
        return None
    parts = _dotted(value.func)
    if not parts or parts[-1] not in library.RNG_CONSTRUCTORS or (len(parts) > 1 and "random" not in parts[:-1]):
        return None
    args = list(value.args) + [k.value for k in value.keywords]
    seeded = any(not (isinstance(a, ast.Constant) and a.value is None) for a in args)
    return seeded, all(isinstance(a, ast.Constant) for a in args)


def _is_plot(value: ast.expr) -> bool:
    if not isinstance(value, ast.Call):
        return False
    parts = _dotted(value.func)
    return bool(parts) and (parts[0] in library.PLOT_MODULES or parts[-1] in library.PLOT_CALLS)


def _idempotent_transform(value: ast.expr, target: ast.expr) -> bool:
    """Is ``target = value`` a transformation of target's own value that is a no-op when repeated?"""
    node = value
    for _ in range(32):
        if _same(node, target):
            return node is not value
        if isinstance(node, ast.Call):
            parts = _dotted(node.func)
            if isinstance(node.func, ast.Name) or (parts and parts[0] in library.MODULE_ALIASES):
                if not (node.args and parts[-1] in library.IDEMPOTENT_FUNCTIONS):
                    return False
                node = node.args[0]
            elif isinstance(node.func, ast.Attribute) and (
                node.func.attr in library.IDEMPOTENT_METHODS
                or (node.func.attr == "reset_index" and _flag(node, "drop"))
            ):
                node = node.func.value
            else:
                return False
        elif (isinstance(node, ast.Attribute) and node.attr in library.ACCESSORS) or (
            isinstance(node, ast.Subscript) and _is_filter(node.slice)
        ):
            node = node.value
        else:
            return False
    return False


def _is_filter(key: ast.expr) -> bool:
    """Row/column selections that select the same thing again: masks, comparisons, column names."""
    if isinstance(key, ast.Constant):
        return isinstance(key.value, str)
    if isinstance(key, ast.Attribute) and key.attr in ("loc", "iloc"):
        return False
    return isinstance(key, ast.Compare | ast.BoolOp | ast.Name | ast.List | ast.Call) or (
        isinstance(key, ast.BinOp) and isinstance(key.op, ast.BitAnd | ast.BitOr)
    ) or (isinstance(key, ast.UnaryOp) and isinstance(key.op, ast.Invert | ast.Not))


def _flag(call: ast.Call, keyword: str) -> bool:
    """Is ``keyword=True`` (a literal) passed to the call?"""
    return any(k.arg == keyword and isinstance(k.value, ast.Constant) and k.value.value for k in call.keywords)


_USES_HANDLERS: dict[type, Any] = {}  # node class -> the _Uses method that visits it


class _Uses(ast.NodeVisitor):
    """What an expression loads: names whole or by constant key, the calls it makes, walrus targets."""

    def __init__(self) -> None:
        self.whole: set[str] = set()
        self.keyed: dict[str, set[str]] = {}
        self.calls: list[ast.Call] = []
        self.walrus: list[ast.NamedExpr] = []
        self._hidden: list[set[str]] = []

    def _visible(self, name: str) -> bool:
        return not any(name in scope for scope in self._hidden)

    def visit(self, node: ast.AST) -> None:
        """``NodeVisitor.visit``, its handler looked up by class once (it runs on every node of every new cell)."""
        handler = _USES_HANDLERS.get(node.__class__)
        if handler is None:
            handler = _USES_HANDLERS[node.__class__] = getattr(
                _Uses, "visit_" + node.__class__.__name__, _Uses.generic_visit
            )
        handler(self, node)

    def generic_visit(self, node: ast.AST) -> None:
        """The children of a node, its fields read as ``_shape`` reads them (no positions, no contexts)."""
        for key, value in node.__dict__.items():
            if key in _NOT_SHAPE:
                continue
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item)
            elif isinstance(value, ast.AST):
                self.visit(value)

    def visit_Constant(self, node: ast.Constant) -> None:
        """A constant loads nothing (and ``NodeVisitor``'s own looks for deprecated handlers on every one)."""

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and self._visible(node.id):
            self.whole.add(node.id)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.value, ast.Name) and self._visible(node.value.id):
            keys = _const_keys(node.slice)
            if keys is None and isinstance(node.slice, ast.Name) and self._visible(node.slice.id):
                keys = frozenset({"@" + node.slice.id})  # df[features]: the keys listed in `features`
            if keys is not None:
                self.keyed.setdefault(node.value.id, set()).update(keys)
                self.visit(node.slice)
                return
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and self._visible(node.value.id) and node.attr in library.ROW_ATTRIBUTES:
            self.keyed.setdefault(node.value.id, set())  # no keys: the rows only
            return
        if (
            isinstance(node.value, ast.Name)
            and self._visible(node.value.id)
            and node.attr not in library.WHOLE_OBJECT_ATTRIBUTES
            and not node.attr.startswith("_")
        ):
            keys = self.keyed.setdefault(node.value.id, set())
            keys.add(node.attr)
            if node.attr.endswith("_"):  # scikit-learn's fitted attributes (``coef_``): what the last fit learned
                keys.add(library.FITTED)
            return
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        self.calls.append(node)
        if (
            isinstance(node.func, ast.Name) and node.func.id == "len" and len(node.args) == 1
            and isinstance(node.args[0], ast.Name) and self._visible(node.args[0].id)
        ):
            self.keyed.setdefault(node.args[0].id, set())  # no keys: the rows only
            return
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            self.visit_Name(node.func.value)  # a method may look at the whole object
        else:
            self.visit(node.func)
        for arg in node.args:
            self.visit(arg)
        for keyword in node.keywords:
            self.visit(keyword.value)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.visit(default)
        self._hidden.append(_params(node.args))
        self.visit(node.body)
        self._hidden.pop()

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        scope = {n.id for gen in node.generators for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
        self._hidden.append(scope)
        self.generic_visit(node)
        self._hidden.pop()

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.walrus.append(node)
        self.visit(node.value)


def _params(args: ast.arguments) -> set[str]:
    names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    names.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    return names


def _function_info(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> FunctionInfo:
    """Globals a function reads and changes when called (nested scopes folded in, approximately)."""
    body: list[ast.AST] = [node.body] if isinstance(node, ast.Lambda) else list(node.body)
    local = _params(node.args)
    declared: set[str] = set()
    stored: set[str] = set()
    loads: set[str] = set()
    changed: set[str] = set()
    used: set[str] = set()  # receivers of method calls and names given to function calls
    for sub in (n for stmt in body for n in ast.walk(stmt)):
        if isinstance(sub, ast.Global):
            declared.update(sub.names)
        elif isinstance(sub, ast.Nonlocal):
            local.update(sub.names)
        elif isinstance(sub, ast.Name):
            (loads if isinstance(sub.ctx, ast.Load) else stored).add(sub.id)
        elif isinstance(sub, ast.arg):
            local.add(sub.arg)
        elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            stored.add(sub.name)
        elif isinstance(sub, ast.Import | ast.ImportFrom):
            stored.update((a.asname or a.name).split(".")[0] for a in sub.names)
        elif isinstance(sub, ast.Call):
            if isinstance(sub.func, ast.Attribute) and sub.func.attr in library.MUTATORS:
                changed.add(_base_name(sub.func.value) or "")
            if isinstance(sub.func, ast.Attribute) and isinstance(sub.func.value, ast.Name):
                used.add(sub.func.value.id)
            if not _is_class_call(sub):
                used.update(a.id for a in (*sub.args, *(k.value for k in sub.keywords)) if isinstance(a, ast.Name))
            if _draws_global_state(sub):
                loads.add(NP_RANDOM)
                changed.add(NP_RANDOM)
            if (random := _random_module(sub)) is not None:
                loads.add(random[0])
                changed.add(random[0])
        elif isinstance(sub, ast.Assign | ast.AugAssign | ast.Delete):
            targets = sub.targets if isinstance(sub, ast.Assign | ast.Delete) else [sub.target]
            if isinstance(sub, ast.AugAssign) and isinstance(sub.target, ast.Name):
                loads.add(sub.target.id)  # ``n += 1`` reads n
            changed.update(_base_name(t) or "" for t in targets if isinstance(t, ast.Subscript | ast.Attribute))
    local |= stored - declared
    params: tuple[str, ...] = ()
    param_changes: tuple[tuple[str, Change], ...] = ()
    if not isinstance(node, ast.Lambda):
        params = tuple(a.arg for a in node.args.posonlyargs + node.args.args)
        body_walker = _CellWalker()
        body_walker.body(node.body)
        param_changes = tuple(
            (name, change) for name, change in sorted(body_walker.changes.items())
            if name in _params(node.args) and change.kind != BIND and change.in_place  # not ``frame = frame.copy()``
        )
    return FunctionInfo(
        reads=frozenset(loads - local - _IGNORED),
        rebinds=frozenset(declared & stored),
        mutates=frozenset(n for n in changed if n and n not in local),
        draws=frozenset(used - local - _IGNORED),
        params=params,
        param_changes=param_changes,
    )


_ORDER = {KEYS: 0, IDEMPOTENT: 1, UPDATE: 2}


def passed_changes(
    info: FunctionInfo, args: tuple[str | None, ...], kwargs: tuple[tuple[str, str], ...]
) -> dict[str, tuple[Change, frozenset[str]]]:
    """What a call changes in the names it passes: each changed parameter's change, on its argument.

    Deps are translated too: a parameter the change read becomes the argument passed for it.
    """
    passed = {p: a for p, a in zip(info.params, args, strict=False) if a is not None}
    passed.update(kwargs)
    found = {}
    for param, change in info.param_changes:
        name = passed.get(param)
        if name is not None and name not in found:
            # A parameter given no plain name (a literal, an expression) adds nothing the cell does not read.
            deps = frozenset(passed.get(d, d) for d in change.deps if d in passed or d not in info.params)
            found[name] = (change, deps)
    return found


class _CellWalker:
    """Walks a cell's statements in order, tracking which names are already local to the cell."""

    def __init__(self) -> None:
        self.bound: dict[str, frozenset[str]] = {}  # names the cell has bound so far -> their free deps
        self.local_functions: dict[str, FunctionInfo] = {}
        self.reads: set[str] = set()
        self.whole_reads: set[str] = set()
        self.key_reads: dict[str, set[str]] = {}
        self.changes: dict[str, Change] = {}
        self.deleted: set[str] = set()
        self.method_calls: set[str] = set()
        self.passed: set[str] = set()
        self.call_sites: list[tuple[str, tuple[str | None, ...], tuple[tuple[str, str], ...]]] = []
        self.opaque: set[str] = set()
        self.figures: set[str] = set()
        self.drawings: dict[str, Change] = {}
        self.called: set[str] = set()
        self.dynamic = False
        self.ctrl: frozenset[str] = frozenset()  # deps of the enclosing if/for/while tests
        self.depth = 0  # > 0 inside a block that may not run
        self.index = 0
        self.statements: list[ast.stmt] = []
        self._shapes: dict[int, str] = {}
        self.sources: dict[str, set[int]] = {}  # name -> top-level statements its value comes from
        self._reading: set[int] = set()  # statements behind the cell's own names read by this statement

    def shape(self, index: int) -> str:
        """The ``_shape`` of top-level statement ``index``, made once: the fingerprint, the digest of how each
        name is made and a definition's content all read it."""
        found = self._shapes.get(index)
        if found is None:
            found = self._shapes[index] = _shape(self.statements[index])
        return found

    def effects(self, dynamic: bool, source: str) -> CellEffects:
        key_reads = {n: frozenset(keys) for n, keys in self.key_reads.items() if n not in self.whole_reads}
        digests: dict[tuple[int, ...], str] = {}  # statements -> digest of their shapes, made once each

        def digest(statements: tuple[int, ...]) -> str:
            found = digests.get(statements)
            if found is None:
                found = digests[statements] = _digest("\n".join(self.shape(i) for i in statements))
            return found

        changes = {
            name: _with_code(change, digest(tuple(sorted(sources))))
            if (sources := self.sources.get(name)) and self.statements else change
            for name, change in self.changes.items()
        }
        return CellEffects(
            parsed=True,
            fingerprint=digest(tuple(range(len(self.statements)))),
            reads=frozenset(self.reads),
            key_reads=key_reads,
            changes=changes,
            deletes=frozenset(self.deleted),
            method_calls=frozenset(self.method_calls),
            passed=frozenset(self.passed),
            calls=tuple(self.call_sites),
            likely_opaque=frozenset(self.opaque),
            figures=frozenset(self.figures),
            drawings=self.drawings,
            dynamic=dynamic,
            definitions=self._definitions(changes, source),
            setup_only=bool(self.statements) and all(_is_setup(s) for s in self.statements),
            called=frozenset(self.called),
            logs_metrics=any(word in source for word in library.METRIC_LOGGERS) and any(
                isinstance(n, ast.Call) and _callee(n) in library.METRIC_LOGGERS
                for statement in self.statements for n in ast.walk(statement)
            ),
        )

    def _definitions(self, changes: Mapping[str, Change], source: str) -> dict[str, str]:
        found = {}
        lines: list[str] | None = None
        for name, change in changes.items():
            statement = self.statements[change.stmt] if change.stmt < len(self.statements) else None
            if not change.in_place and isinstance(statement, _DEFINITIONS):
                lines = source.splitlines() if lines is None else lines
                found[name] = _statement_text(statement, lines)
        return found

    # -- reading -------------------------------------------------------------------------------------

    def use(self, nodes: Iterable[ast.AST | None]) -> tuple[frozenset[str], _Uses]:
        """Free deps of some expressions (locals resolved to their own deps); records the cell's reads."""
        uses = _Uses()
        for node in nodes:
            if node is not None:
                uses.visit(node)
        deps = set(self.ctrl)
        for name in uses.whole:
            self._read(name, None, deps)
        for name, keys in uses.keyed.items():
            self._read(name, keys, deps)
        for call in uses.calls:
            random = _random_module(call) or ((NP_RANDOM, "sample") if _draws_global_state(call) else None)
            if random is not None and random[1] not in library.RNG_CONSTRUCTORS | {"seed"}:
                if random[0] in self.bound:  # seeded earlier in this cell: the draws follow from the seed
                    deps |= self.bound[random[0]]
                    self._reading |= self.sources.get(random[0], set())
                    continue
                deps.add(random[0])
                self.reads.add(random[0])
                self.whole_reads.add(random[0])
        return frozenset(deps), uses

    def _read(self, name: str, keys: set[str] | None, deps: set[str]) -> None:
        if name in self.bound:
            deps |= self.bound[name]
            self._reading |= self.sources.get(name, set())
            for global_name in self.local_functions.get(name, FunctionInfo()).reads:
                if global_name != name:
                    self._read(global_name, None, deps)
            return
        if name in _IGNORED or is_ipython_internal(name):
            return
        if name in self.deleted:
            return
        deps.add(name)
        self.reads.add(name)
        if keys is None:
            self.whole_reads.add(name)
        else:
            self.key_reads.setdefault(name, set()).update(keys)

    # -- changing ------------------------------------------------------------------------------------

    def _made_here(self, name: str, rebinding: bool) -> None:
        """This statement (and what it read of the cell's own names) is part of how ``name`` is made."""
        if rebinding or name not in self.sources:
            self.sources[name] = set()
        self.sources[name] |= self._reading | {self.index}

    def bind(self, name: str, deps: frozenset[str], **meta: object) -> None:
        """``name = …``: a fresh value unless the value reads the name's own old value."""
        self._made_here(name, rebinding=name not in deps)
        self.deleted.discard(name)
        conditional = self.depth > 0
        if name in self.bound:
            previous = self.changes.get(name)
            self.bound[name] = deps
            if previous is not None and previous.kind != BIND:
                self.changes[name] = replace(previous, deps=previous.deps | deps, stmt=self.index)
                return
            self.changes[name] = Change(BIND, deps, stmt=self.index, conditional=conditional, **meta)  # type: ignore[arg-type]
            return
        self.bound[name] = deps
        if name in deps:
            self.change(name, UPDATE, deps, in_place=False)
        else:
            self.changes[name] = Change(BIND, deps, stmt=self.index, conditional=conditional, **meta)  # type: ignore[arg-type]

    def change(
        self, name: str, kind: str, deps: frozenset[str], keys: frozenset[str] = frozenset(), in_place: bool = True,
        augmented: bool = False,
    ) -> None:
        """The old value of ``name`` goes in; merge with what the cell already did to it."""
        if name in _IGNORED or is_ipython_internal(name):
            return
        self._made_here(name, rebinding=False)
        if name in self.bound and name in self.changes and self.changes[name].kind == BIND:
            self.bound[name] = self.bound[name] | deps
            previous = self.changes[name]
            self.changes[name] = replace(previous, deps=previous.deps | deps)
            return
        if kind != KEYS:
            deps = deps | {name}
            if name not in self.bound:
                self.reads.add(name)
                if keys:  # ``df['a'] = f(df['a'])`` reads and rewrites column a only
                    self.key_reads.setdefault(name, set()).update(keys)
                else:
                    self.whole_reads.add(name)
        new = Change(kind, deps, keys, in_place, augmented, self.depth > 0, self.index)
        previous = self.changes.get(name)
        if previous is not None:
            merged = max(previous.kind, kind, key=_ORDER.__getitem__)
            keyed = merged == KEYS or (merged == UPDATE and bool(previous.keys) and bool(keys))
            new = Change(
                merged,
                previous.deps | deps,
                previous.keys | keys if keyed else frozenset(),
                previous.in_place and in_place,
                previous.augmented or augmented,
                previous.conditional or self.depth > 0,
                self.index,
            )
        self.changes[name] = new
        if not in_place:
            self.bound[name] = new.deps

    def calls(self, calls: list[ast.Call], deps: frozenset[str]) -> None:
        """Mutating method calls (``lst.append``, ``df.dropna(inplace=True)``, ``model.fit``) and RNG use."""
        for call in calls:
            random = _random_module(call)
            if random is None and _draws_global_state(call):
                self._draw(NP_RANDOM)  # and on: the call may also change what it is passed
            elif random is not None:
                pseudo, function = random
                if function == "seed":
                    seeded = any(not (isinstance(a, ast.Constant) and a.value is None) for a in call.args)
                    content = _shape(call) if seeded else None
                    self.changes[pseudo] = Change(
                        BIND, frozenset(), stmt=self.index, content=content, nondet=not seeded
                    )
                    self.bound[pseudo] = frozenset()
                elif function not in library.RNG_CONSTRUCTORS:
                    self._draw(pseudo)
                if function == "shuffle" and call.args and (target := _base_name(call.args[0])):
                    self.change(target, UPDATE, deps | {pseudo})
                continue
            self._passed(call)
            self._drawing(call, deps)
            if isinstance(call.func, ast.Name):
                self._call_site(call, call.func.id, deps)
                continue
            if not isinstance(call.func, ast.Attribute):
                continue
            method = call.func.attr
            owner = _base_name(call.func.value)
            if owner is None:
                continue
            if isinstance(call.func.value, ast.Name) and owner not in self.bound:
                self.method_calls.add(owner)
            if method == "shuffle" and call.args and (target := _base_name(call.args[0])):
                self.change(target, UPDATE, deps | {owner})
                continue
            if owner in library.MODULE_ALIASES:
                continue
            if _flag(call, "inplace"):
                idempotent = method in library.IDEMPOTENT_INPLACE or (method == "reset_index" and _flag(call, "drop"))
                self.change(owner, IDEMPOTENT if idempotent else UPDATE, deps)
            elif method in library.REFIT_METHODS:
                self.change(owner, KEYS, deps, keys=frozenset({library.FITTED}))
            elif method == "set_params" and call.keywords and all(k.arg for k in call.keywords):
                self.change(owner, KEYS, deps, keys=frozenset(k.arg for k in call.keywords))  # type: ignore[misc]
            elif method in library.IDEMPOTENT_MUTATORS:
                self.change(owner, IDEMPOTENT, deps)
            elif method in library.UPDATE_MUTATORS:
                self.change(owner, UPDATE, deps)

    def _draw(self, pseudo: str) -> None:
        """A draw from a module-level generator: it reads and advances its state."""
        if pseudo in self.bound:
            # Seeded in this cell, then drawn from: the state it leaves is this cell's own, but
            # no longer what the seed alone gives, so it is not shared with other seeding cells.
            self.changes[pseudo] = replace(self.changes[pseudo], content=None, stmt=self.index)
        else:
            self.change(pseudo, UPDATE, frozenset({pseudo}))

    def _passed(self, call: ast.Call) -> None:
        """Free names a function call is given: a generator passed (``random_state=rng``) is drawn from.

        Not a class's call (``KFold(random_state=rng)``): a constructor keeps what it is given for later.
        """
        if _is_class_call(call):
            return
        for node in (*call.args, *(k.value for k in call.keywords)):
            if isinstance(node, ast.Name) and node.id not in self.bound and node.id not in _IGNORED:
                self.passed.add(node.id)

    def _drawing(self, call: ast.Call, deps: frozenset[str]) -> None:
        """A call that draws: on the cell's own figure, it is part of how the figure is made (what it draws);
        on a name made elsewhere (``ax.axvline(…)``, ``axes[0].plot(…)``, ``s.plot(ax=ax)``), a change of
        the figure that name holds, if it holds one."""
        on = [k.value.id for k in call.keywords if k.arg == library.DRAWN_ON_KEYWORD and isinstance(k.value, ast.Name)]
        if isinstance(call.func, ast.Attribute) and (owner := _base_name(call.func.value)) is not None:
            if owner in library.PLOT_MODULES or owner in self.figures:
                on.append(owner)  # ``plt.title(…)`` draws on the current figure: the cell's own
            elif call.func.attr in library.DRAWING_METHODS:
                on.append(owner)
        for name in on:
            if name in self.bound or name in library.PLOT_MODULES:
                for figure in self.figures:
                    self.change(figure, BIND, deps)
            elif name not in _IGNORED and name not in library.MODULE_ALIASES:
                previous = self.drawings.get(name)
                self.drawings[name] = Change(
                    UPDATE, deps | {name} | (previous.deps if previous else frozenset()), in_place=True,
                    conditional=self.depth > 0, stmt=self.index,
                )

    def _call_site(self, call: ast.Call, function: str, deps: frozenset[str]) -> None:
        """``clip(df, 'temp')``: a function of this cell changes the arguments now; one of another cell, later."""
        args = tuple(a.id if isinstance(a, ast.Name) else None for a in call.args)
        kwargs = tuple((k.arg, k.value.id) for k in call.keywords if k.arg and isinstance(k.value, ast.Name))
        if function in _IGNORED:
            return
        if function not in self.bound:
            self.called.add(function)
        if not (any(args) or kwargs):
            return
        info = self.local_functions.get(function)
        if info is None:
            if function not in self.bound:
                self.call_sites.append((function, args, kwargs))
            return
        for name, (change, change_deps) in passed_changes(info, args, kwargs).items():
            if name not in self.bound:
                self.change(name, change.kind, deps | change_deps, change.keys)

    def store(self, target: ast.expr, value: ast.expr | None, deps: frozenset[str], **meta: object) -> None:
        """One assignment target: a name is bound, ``x[k]``/``x.a`` changes x."""
        if isinstance(target, ast.Name):
            if value is not None and target.id not in self.bound and _idempotent_transform(value, target):
                self.change(target.id, IDEMPOTENT, deps, in_place=False)
            else:
                self.bind(target.id, deps, **meta)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self.store(element, None, deps)
        elif isinstance(target, ast.Starred):
            self.store(target.value, None, deps)
        elif isinstance(target, ast.Subscript | ast.Attribute):
            owner = _base_name(target)
            if owner is None:
                return
            if owner in self.bound and self.changes.get(owner, Change(BIND)).kind == BIND:
                self.change(owner, BIND, deps)
                return
            if value is not None and _idempotent_transform(value, target):
                self.change(owner, IDEMPOTENT, deps)
            elif value is None:
                self.change(owner, UPDATE, deps)
            elif self._reads_target(value, target):
                self.change(owner, UPDATE, deps, keys=frozenset({_target_key(target)}))
            else:
                self.change(owner, KEYS, deps, keys=frozenset({_target_key(target)}))

    @staticmethod
    def _reads_target(value: ast.expr, target: ast.expr) -> bool:
        """Does the right-hand side read the very key it overwrites (``df['y'] = df['y'] * 2``)?"""
        key = _target_key(target)
        for node in ast.walk(value):
            if isinstance(node, ast.Subscript | ast.Attribute) and _same(node, target):
                return True
            if (
                isinstance(target, ast.Subscript | ast.Attribute)
                and isinstance(node, ast.Subscript)
                and _base_name(node) == _base_name(target)
                and (_const_keys(node.slice) or frozenset()) & {key}
            ):
                return True
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.attr == key
                and node.value.id == _base_name(target)
            ):
                return True
        return False

    # -- statements ----------------------------------------------------------------------------------

    def body(self, statements: list[ast.stmt]) -> None:
        """The cell's top-level statements, numbered so a cell that raised can be judged by how far it got."""
        self.statements = statements
        for position, statement in enumerate(statements):
            self.index = position
            self._reading = set()
            self.statement(statement)

    def block(self, statements: list[ast.stmt], ctrl: frozenset[str], conditional: bool = True) -> None:
        saved = self.ctrl, self.depth
        self.ctrl = self.ctrl | ctrl
        self.depth += int(conditional)
        for statement in statements:
            self.statement(statement)
        self.ctrl, self.depth = saved

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is None:
                return
            slices = [t.slice for t in targets if isinstance(t, ast.Subscript)]
            deps, uses = self.use([node.value, *slices])
            self._walrus(uses)
            self.calls(uses.calls, deps)
            for target in targets:
                self.store(target, node.value, deps, **self._assign_meta(target, node.value))
        elif isinstance(node, ast.AugAssign):
            deps, uses = self.use([node.value, node.target.slice if isinstance(node.target, ast.Subscript) else None])
            self.calls(uses.calls, deps)
            owner = _base_name(node.target)
            if isinstance(node.target, ast.Name):
                self.change(node.target.id, UPDATE, deps, in_place=False, augmented=True)
            elif owner is not None:
                self.change(owner, UPDATE, deps, keys=frozenset({_target_key(node.target)}))
        elif isinstance(node, ast.Expr):
            deps, uses = self.use([node.value])
            self._walrus(uses)
            self.calls(uses.calls, deps)
            if isinstance(node.value, ast.Call) and (_dotted(node.value.func) or [""])[-1] in ("exec", "globals"):
                self.dynamic = True
        elif isinstance(node, ast.Import | ast.ImportFrom):
            self._import(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self._definition(node)
        elif isinstance(node, ast.Delete):
            self._delete(node)
        elif isinstance(node, ast.If | ast.While):
            deps, uses = self.use([node.test])
            self._walrus(uses)
            self.calls(uses.calls, deps)
            self.block(node.body, deps)
            self.block(node.orelse, deps)
        elif isinstance(node, ast.For | ast.AsyncFor):
            # A notebook's for loop runs over something (its classes, columns, folds): its bindings count as
            # made, since the runtime cannot tell a rebinding to the same object (the last class of a list)
            # from no binding at all.
            deps, uses = self.use([node.iter])
            self.calls(uses.calls, deps)
            self.store(node.target, None, deps)
            self.block(node.body, deps, conditional=False)
            self.block(node.orelse, deps)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                deps, uses = self.use([item.context_expr])
                self.calls(uses.calls, deps)
                if item.optional_vars is not None:
                    self.store(item.optional_vars, None, deps)
            self.block(node.body, frozenset(), conditional=False)
        elif isinstance(node, ast.Try | getattr(ast, "TryStar", ast.Try)):
            self.block(node.body, frozenset(), conditional=False)
            for handler in node.handlers:
                deps, _ = self.use([handler.type])
                if handler.name:
                    self.depth += 1
                    self.bind(handler.name, deps)
                    self.depth -= 1
                self.block(handler.body, deps)
            self.block(node.orelse, frozenset())
            self.block(node.finalbody, frozenset(), conditional=False)
        elif isinstance(node, ast.Match):
            deps, _ = self.use([node.subject])
            for case in node.cases:
                self.block(case.body, deps)
        else:
            deps, uses = self.use(list(ast.iter_child_nodes(node)))
            self.calls(uses.calls, deps)

    def _assign_meta(self, target: ast.expr, value: ast.expr) -> dict[str, object]:
        if _is_plot(value):
            plotted = {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
            self.opaque |= plotted
            self.figures |= plotted
        if not isinstance(target, ast.Name):
            return {}
        if isinstance(value, ast.Name) and value.id not in _IGNORED:
            return {"alias_of": value.id}
        if isinstance(value, ast.Lambda):
            self.opaque.add(target.id)
            info = _function_info(value)
            self.local_functions[target.id] = info
            return {"function": info, "content": _shape(value)}
        if (rng := _rng_constructor(value)) is not None:
            seeded, constant = rng
            return {"generator": True, "nondet": not seeded, "content": _shape(value) if constant else None}
        if not _is_literal(value):
            return {}
        # A literal is the same value whichever cell or run assigns it: editing one line of a parameters
        # cell must not make every other parameter it assigns look new.
        meta: dict[str, object] = {"content": "literal " + _shape(value)}
        if isinstance(value, ast.List | ast.Tuple) and value.elts and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts
        ):
            meta["consts"] = frozenset(e.value for e in value.elts)  # type: ignore[attr-defined]
        return meta

    def _walrus(self, uses: _Uses) -> None:
        for walrus in uses.walrus:
            deps, _ = self.use([walrus.value])
            self.bind(walrus.target.id, deps)

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.dynamic = True
                continue
            if isinstance(node, ast.Import):
                name = alias.asname or alias.name.split(".")[0]
                content = "module " + (alias.name if alias.asname else name)
            else:
                name = alias.asname or alias.name
                content = f"from {'.' * node.level}{node.module or ''} import {alias.name}"
            self.opaque.add(name)
            self.bind(name, self.ctrl, content=content)

    def _definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        if isinstance(node, ast.ClassDef):
            deps, _ = self.use([*node.bases, *[k.value for k in node.keywords], *node.decorator_list])
            function = None
        else:
            defaults = node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
            deps, _ = self.use([*node.decorator_list, *defaults])
            function = _function_info(node)
            self.local_functions[node.name] = function
        self.opaque.add(node.name)
        top_level = self.index < len(self.statements) and self.statements[self.index] is node
        self.bind(node.name, deps, content=self.shape(self.index) if top_level else _shape(node), function=function)

    def _delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.bound.pop(target.id, None)
                self.changes.pop(target.id, None)
                self.deleted.add(target.id)
                continue
            owner = _base_name(target)
            deps, _ = self.use([target.slice] if isinstance(target, ast.Subscript) else [])
            if owner is None:
                continue
            constant = isinstance(target, ast.Attribute) or (
                isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant)
                and isinstance(target.slice.value, str)
            )
            self.change(owner, IDEMPOTENT if constant else UPDATE, deps)


def _target_key(target: ast.Subscript | ast.Attribute) -> str:
    """The key a store overwrites: ``'y'`` for ``df['y']``/``obj.y``, the expression text otherwise."""
    node: ast.expr = target
    while isinstance(node, ast.Subscript | ast.Attribute) and isinstance(node.value, ast.Subscript | ast.Attribute):
        if isinstance(node.value, ast.Attribute) and node.value.attr in ("loc", "iloc", "at", "iat"):
            break
        node = node.value
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        keys = _const_keys(node.slice)
        if keys is not None and len(keys) == 1 and isinstance(node.value, ast.Name):
            return next(iter(keys))
    return "[" + ast.unparse(target) + "]"


# -- definitions, parameters and files, for the export ------------------------------------------------

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _is_setup(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return True  # a docstring or a bare literal
    return isinstance(statement, _DEFINITIONS)


def _statement_text(statement: ast.stmt, lines: list[str]) -> str:
    decorators = getattr(statement, "decorator_list", [])
    start = min([statement.lineno, *(d.lineno for d in decorators)])
    return "\n".join(lines[start - 1 : statement.end_lineno])


def _is_class_call(node: ast.Call) -> bool:
    """``KFold(…)``, ``np.random.RandomState(…)``: by the naming convention, a class being instantiated."""
    name = _callee(node)
    return bool(name) and name[0].isupper()  # type: ignore[index]


def _callee(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def literal_assignments(code: str) -> tuple[dict[str, Any], list[str]]:
    """``name = <literal>`` pairs of a parameters cell, and the names assigned something else (not YAML-able)."""
    tree = (_parse(code) or ("", None))[1]
    if tree is None:
        return {}, []
    values: dict[str, Any] = {}
    other: list[str] = []
    for statement in tree.body:
        target, value = _single_assignment(statement)
        if target is None or value is None:
            continue
        try:
            values[target] = ast.literal_eval(value)
            if target in other:
                other.remove(target)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            values.pop(target, None)
            other.append(target)
    return values, other


def _single_assignment(statement: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
        return statement.targets[0].id, statement.value
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value is not None:
        return statement.target.id, statement.value
    return None, None


def file_paths(code: str, strings: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """The file paths a cell's calls read and write, as written in the code, in order.

    ``strings`` are names known to hold a string (paths in params, ``DATA = "in.csv"`` in an earlier cell);
    the cell's own ``name = "…"`` assignments are followed statement by statement. Calls are recognised by
    the tables in ``library``; a path that is not knowable from the code alone is left out.
    """
    tree = (_parse(code) or ("", None))[1]
    if tree is None:
        return [], []
    known = dict(strings or {})
    reads: list[str] = []
    writes: list[str] = []
    for statement in tree.body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                read, write = _call_paths(node, _callee(node), known)
                reads += [p for p in read if p not in reads]
                writes += [p for p in write if p not in writes]
        target, value = _single_assignment(statement)
        if target is not None:
            resolved = _string(value, known)
            if resolved is None:
                known.pop(target, None)
            else:
                known[target] = resolved
    return reads, writes


def _call_paths(node: ast.Call, name: str | None, strings: Mapping[str, str]) -> tuple[list[str], list[str]]:
    if name == "open":
        path = _string(_argument(node, 0), strings)
        mode = _string(_argument(node, 1, "mode"), strings) or "r"
        if path is None:
            return [], []
        writing = any(c in mode for c in "wax+")
        return ([path] if ("r" in mode or "+" in mode or not writing) else []), ([path] if writing else [])
    receiver = library.RECEIVER_READERS | library.RECEIVER_WRITERS
    if name in receiver and isinstance(node.func, ast.Attribute):
        path = _string(node.func.value, strings)
        if path is None:
            return [], []
        return ([path], []) if name in library.RECEIVER_READERS else ([], [path])
    if name in library.SECOND_ARGUMENT_WRITERS:  # pickle.dump(value, file_object) resolves to nothing
        path = _string(_argument(node, 1, "filename"), strings)
        return [], [path] if path else []
    if name in library.FILE_READERS or name in library.FILE_WRITERS:
        path = _string(_argument(node, 0, *library.PATH_KEYWORDS), strings)
        if path is None:
            return [], []
        return ([path], []) if name in library.FILE_READERS else ([], [path])
    return [], []


def _argument(node: ast.Call, position: int, *keywords: str) -> ast.expr | None:
    if len(node.args) > position and not any(isinstance(a, ast.Starred) for a in node.args[: position + 1]):
        return node.args[position]
    return next((k.value for k in node.keywords if k.arg in keywords), None)


def _string(node: ast.expr | None, strings: Mapping[str, str]) -> str | None:
    """A path expression's value when it is knowable: literals, known names, Path(...), joins and ``/``."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return strings.get(node.id)
    if isinstance(node, ast.Call) and _callee(node) in library.PATH_BUILDERS and node.args:
        parts = [_string(a, strings) for a in node.args]
        return None if any(p is None for p in parts) else os.path.join(*parts)  # type: ignore[arg-type]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = _string(node.left, strings), _string(node.right, strings)
        return None if left is None or right is None else os.path.join(left, right)
    return None
