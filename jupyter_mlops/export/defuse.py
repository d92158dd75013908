"""What one cell needs and leaves behind, read from its code alone (no kernel).

Export must decide, before anything runs, which names cross a stage boundary and which files a stage
reads and writes. The journal knows files exactly but only for cells that ran; this analysis covers the
rest and every name. It errs towards "used" and "changed": a needless hand-off costs a file, a missed one
breaks the pipeline.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_MAGIC_LINE = re.compile(r"^\s*[%!]")
_BUILTINS = frozenset(dir(builtins)) | {"display", "get_ipython", "__file__"}
# Callables whose first argument (or receiver, for pathlib) is a file the call reads or writes.
_READERS = frozenset({
    "read_csv", "read_parquet", "read_json", "read_excel", "read_table", "read_feather", "read_pickle",
    "read_hdf", "read_fwf", "read_orc", "read_stata", "read_sas", "read_spss", "loadtxt", "genfromtxt",
    "fromfile", "imread", "load",
})
_WRITERS = frozenset({
    "to_csv", "to_parquet", "to_json", "to_excel", "to_pickle", "to_feather", "to_hdf", "to_stata", "to_orc",
    "savefig", "save", "savez", "savez_compressed", "savetxt", "imwrite", "imsave",
})
_RECEIVER_READERS = frozenset({"read_text", "read_bytes"})
_RECEIVER_WRITERS = frozenset({"write_text", "write_bytes"})
_PATH_KEYWORDS = ("path", "path_or_buf", "filepath_or_buffer", "fname", "file", "filename", "io", "excel_writer")


@dataclass(frozen=True)
class CellFlow:
    """The def/use summary of one cell."""

    uses: frozenset[str] = frozenset()          # read before the cell binds them
    defines: frozenset[str] = frozenset()       # bound at top level
    mutates: frozenset[str] = frozenset()       # possibly changed in place (item/attribute stores, method calls)
    setup: Mapping[str, str] = field(default_factory=dict)  # name → its import/def/class statement
    is_setup: bool = False                      # nothing but imports, defs, classes and docstrings
    reads: tuple[str, ...] = ()                 # file paths as written in the code
    writes: tuple[str, ...] = ()
    logs_metrics: bool = False
    opaque: bool = False                        # a cell magic or a syntax error: nothing is known


def python_source(code: str) -> str | None:
    """The cell's Python with line magics and shell escapes blanked; None for a cell magic (not Python)."""
    if code.lstrip().startswith("%%"):
        return None
    return "\n".join("" if _MAGIC_LINE.match(line) else line for line in code.splitlines())


def analyse(code: str, strings: Mapping[str, str] | None = None) -> CellFlow:
    """The cell's flow; ``strings`` are names known to hold a string (paths in params), to resolve paths."""
    source = python_source(code)
    if source is None:
        return CellFlow(opaque=True)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return CellFlow(opaque=True)
    lines = source.splitlines()
    uses: set[str] = set()
    bound: set[str] = set()
    setup: dict[str, str] = {}
    for stmt in tree.body:
        loads, stores = _names(stmt)
        uses |= loads - bound
        bound |= stores
        for name in stores:
            setup.pop(name, None)
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            text = _statement_text(stmt, lines)
            setup.update(dict.fromkeys(stores, text))
    reads, writes, logs = _calls(tree, dict(strings or {}))
    return CellFlow(
        uses=frozenset(uses - _BUILTINS), defines=frozenset(bound), mutates=frozenset(_mutated(tree)),
        setup=setup, is_setup=bool(tree.body) and all(_is_setup(s) for s in tree.body),
        reads=tuple(reads), writes=tuple(writes), logs_metrics=logs,
    )


def literal_assignments(code: str) -> tuple[dict[str, Any], list[str]]:
    """``name = <literal>`` pairs of a parameters cell, and the names assigned something else (not YAML-able)."""
    source = python_source(code) or ""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}, []
    values: dict[str, Any] = {}
    other: list[str] = []
    for stmt in tree.body:
        target, value = _single_assignment(stmt)
        if target is None:
            continue
        try:
            values[target] = ast.literal_eval(value)
            if target in other:
                other.remove(target)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            values.pop(target, None)
            other.append(target)
    return values, other


def _single_assignment(stmt: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        return stmt.target.id, stmt.value
    return None, None


def _is_setup(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return True  # a docstring or a bare literal
    return isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))


def _statement_text(stmt: ast.stmt, lines: list[str]) -> str:
    decorators = getattr(stmt, "decorator_list", [])
    start = min([stmt.lineno, *(d.lineno for d in decorators)])
    return "\n".join(lines[start - 1:stmt.end_lineno])


class _Scope(ast.NodeVisitor):
    """Loads and stores of one top-level statement; names local to functions and comprehensions stay inside."""

    def __init__(self) -> None:
        self.loads: set[str] = set()
        self.stores: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        (self.loads if isinstance(node.ctx, ast.Load) else self.stores).add(node.id)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self.loads.add(node.target.id)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":
                self.stores.add(alias.asname or alias.name.split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_Global(self, node: ast.Global) -> None:
        self.loads.update(node.names)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        if not isinstance(node, ast.Lambda):
            self.stores.add(node.name)
            for decorator in node.decorator_list:
                self.visit(decorator)
            if node.returns is not None:
                self.visit(node.returns)
        for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
            self.visit(default)
        inner = _Scope()
        body = node.body if isinstance(node.body, list) else [node.body]
        for stmt in body:
            inner.visit(stmt)
        params = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
        params |= {a.arg for a in (node.args.vararg, node.args.kwarg) if a is not None}
        self.loads |= inner.loads - inner.stores - params

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stores.add(node.name)
        for expr in [*node.bases, *(k.value for k in node.keywords), *node.decorator_list]:
            self.visit(expr)
        inner = _Scope()
        for stmt in node.body:
            inner.visit(stmt)
        self.loads |= inner.loads - inner.stores

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        inner = _Scope()
        for generator in node.generators:
            inner.visit(generator)
        for part in (getattr(node, "elt", None), getattr(node, "key", None), getattr(node, "value", None)):
            if part is not None:
                inner.visit(part)
        self.loads |= inner.loads - inner.stores

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.stores.add(node.target.id)  # a walrus binds in the enclosing scope, even in a comprehension
        self.visit(node.value)


def _names(stmt: ast.stmt) -> tuple[set[str], set[str]]:
    scope = _Scope()
    scope.visit(stmt)
    return scope.loads, scope.stores


def _base_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _mutated(tree: ast.Module) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            targets = [node.func.value]  # model.fit(...), rows.append(...)
        for target in targets:
            if isinstance(target, (ast.Attribute, ast.Subscript)) or isinstance(node, ast.Call):
                name = _base_name(target)
                if name is not None:
                    out.add(name)
    return out


def _callee(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _calls(tree: ast.Module, strings: dict[str, str]) -> tuple[list[str], list[str], bool]:
    """File paths the cell's calls read and write, in order; and whether it logs a metric."""
    reads: list[str] = []
    writes: list[str] = []
    logs = False
    for stmt in tree.body:
        for node in ast.walk(stmt):
            if not isinstance(node, ast.Call):
                continue
            name = _callee(node)
            logs = logs or name == "log_metric"
            read, write = _call_paths(node, name, strings)
            reads += [p for p in read if p not in reads]
            writes += [p for p in write if p not in writes]
        # later statements may use names this one bound to a string
        target, value = _single_assignment(stmt)
        if target is not None:
            resolved = _string(value, strings)
            if resolved is None:
                strings.pop(target, None)
            else:
                strings[target] = resolved
    return reads, writes, logs


def _call_paths(node: ast.Call, name: str | None, strings: dict[str, str]) -> tuple[list[str], list[str]]:
    if name == "open":
        path = _string(_argument(node, 0), strings)
        mode = _string(_argument(node, 1, "mode"), strings) or "r"
        if path is None:
            return [], []
        writing = any(c in mode for c in "wax+")
        return ([path] if ("r" in mode or "+" in mode or not writing) else []), ([path] if writing else [])
    if name in _RECEIVER_READERS | _RECEIVER_WRITERS and isinstance(node.func, ast.Attribute):
        path = _string(node.func.value, strings)
        if path is None:
            return [], []
        return ([path], []) if name in _RECEIVER_READERS else ([], [path])
    if name == "dump":  # joblib.dump(value, path); pickle.dump(value, file_object) resolves to nothing
        path = _string(_argument(node, 1, "filename"), strings)
        return [], [path] if path else []
    if name in _READERS or name in _WRITERS:
        path = _string(_argument(node, 0, *_PATH_KEYWORDS), strings)
        if path is None:
            return [], []
        return ([path], []) if name in _READERS else ([], [path])
    return [], []


def _argument(node: ast.Call, position: int, *keywords: str) -> ast.expr | None:
    if len(node.args) > position and not any(isinstance(a, ast.Starred) for a in node.args[:position + 1]):
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
    if isinstance(node, ast.Call) and _callee(node) in {"Path", "PurePath", "PosixPath", "join"} and node.args:
        parts = [_string(a, strings) for a in node.args]
        return None if any(p is None for p in parts) else os.path.join(*parts)  # type: ignore[arg-type]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = _string(node.left, strings), _string(node.right, strings)
        return None if left is None or right is None else os.path.join(left, right)
    return None
