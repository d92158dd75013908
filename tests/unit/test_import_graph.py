"""No module of ours imports, however indirectly, a module that imports it back.

A circle means neither side can be read, tested or moved alone, and the order Python happens to load them in
decides whether a name exists yet. Read from the source with ``ast`` (nothing is imported): every import
counts, a function's own included, since it runs the first time the function does; only imports under
``if TYPE_CHECKING:`` do not (they never run). ``from package import module`` depends on that module, not
on the package's ``__init__``: Python runs every parent package before any of its modules, so a package's
own facade (``jupyter_mlops/__init__``, whose functions import ``kernel.magic``; ``server/__init__``, which
loads ``handlers``) is not in a circle with its children. The lab's ``labextension/src`` is held to the same
rule through its relative ``import … from './x'``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "jupyter_mlops"
LAB_SRC = ROOT / "labextension" / "src"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: anywhere in the module, not under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def python_graph(package: Path = PACKAGE, *, external: bool = False) -> dict[str, set[str]]:
    """Each module of the package → the modules of the package it imports (``external``: the top-level names
    of everything else it imports instead, ``argparse``, ``tornado``…)."""
    files = {module_name(p): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from a import b` imports the module a.b when there is one, else a name of a
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            if external:
                graph[name].update(t.split(".")[0] for t in targets if t.split(".")[0] != package.name)
            else:
                graph[name].update(t for t in targets if t in files and t != name)
    return graph


_TS_IMPORT = re.compile(r"""(?:import|export)\s[^;]*?\sfrom\s+['"](\.{1,2}/[^'"]+)['"]""", re.S)


def typescript_graph(src: Path = LAB_SRC) -> dict[str, set[str]]:
    """Each ``.ts``/``.tsx`` file of the lab extension → the local files it imports (``import type`` too:
    a type-only circle is still one the reader must untangle)."""
    files = {p.relative_to(src).with_suffix("").as_posix(): p for p in [*src.rglob("*.ts"), *src.rglob("*.tsx")]}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for spec in _TS_IMPORT.findall(path.read_text(encoding="utf-8")):
            target = (Path(name).parent / spec).as_posix()
            target = "/".join(_normalise(target.split("/")))
            for candidate in (target, f"{target}/index"):
                if candidate in files:
                    graph[name].add(candidate)
                    break
    return graph


def _normalise(parts: list[str]) -> list[str]:
    out: list[str] = []
    for part in parts:
        if part == "..":
            out.pop()
        elif part not in (".", ""):
            out.append(part)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # iterative: a deep chain of imports must not hit the recursion limit
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found, key=len, reverse=True)


def test_the_reader_sees_function_level_imports_and_skips_type_checking_ones(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n"
                                  "def f():\n    from . import c\n")
    (package / "b.py").write_text("import pkg.a\n")
    (package / "c.py").write_text("from pkg.a import f\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        graph = python_graph(package)
    finally:
        ROOT = saved
    assert graph["pkg.a"] == {"pkg.c"} and graph["pkg.b"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.c"]]


def test_the_reader_resolves_relative_typescript_imports(tmp_path):
    (tmp_path / "views").mkdir()
    (tmp_path / "tokens.ts").write_text("import type { X } from './views/panel';\n")
    (tmp_path / "views" / "panel.tsx").write_text("import {\n  Y\n} from '../tokens';\nimport React from 'react';\n")
    graph = typescript_graph(tmp_path)
    assert graph == {"tokens": {"views/panel"}, "views/panel": {"tokens"}}
    assert cycles(graph) == [["tokens", "views/panel"]]


def test_no_python_module_of_ours_imports_itself_back():
    graph = python_graph()
    assert len(graph) > 50  # the package was found, and read
    assert cycles(graph) == []


def test_no_file_of_the_lab_extension_imports_itself_back():
    graph = typescript_graph()
    assert "tokens" in graph and "index" in graph
    assert graph["tokens"] == set(), "tokens.ts declares the interfaces: it imports nothing local"
    assert cycles(graph) == []


def test_only_the_doors_parse_arguments_and_serve_http():
    """Operations are free of argparse and Tornado: the command line lives in ``commands/`` (and the
    ``%mlops_track`` line, the kernel's own door, in ``core/options.py``), HTTP in ``server/``."""
    imports = python_graph(external=True)
    argparse_users = {m for m, used in imports.items() if "argparse" in used}
    assert argparse_users, "the reader finds argparse where it is used"
    assert {m for m in argparse_users if not m.startswith("jupyter_mlops.commands")} == {"jupyter_mlops.core.options"}
    tornado_users = {m for m, used in imports.items() if {"tornado", "jupyter_server"} & used}
    assert tornado_users and all(m.startswith("jupyter_mlops.server") for m in tornado_users), tornado_users


def test_nothing_imports_a_command_module():
    """A command is a door: only the command list (``commands/main.py``) knows it, and the server and every
    operation call what the commands call, never a command."""
    graph = python_graph()
    commands = {m for m in graph if m.startswith("jupyter_mlops.commands.")} - {"jupyter_mlops.commands.main",
                                                                              "jupyter_mlops.commands.__main__"}
    assert {"jupyter_mlops.commands.runs", "jupyter_mlops.commands.arguments"} <= commands
    for module, imported in graph.items():
        reached = imported & commands - {"jupyter_mlops.commands.arguments"}
        if module != "jupyter_mlops.commands.main":
            assert not reached, f"{module} imports the command(s) {sorted(reached)}"
        if not module.startswith("jupyter_mlops.commands"):
            assert not imported & (commands | {"jupyter_mlops.commands.main"}), f"{module} imports commands/"


def test_only_the_journal_opens_its_file_and_only_its_schema_makes_tables():
    """Features ask the journal for its connection (``Journal.reading``/``writing``): none connects to SQLite
    or creates a table of its own."""
    connecting, creating = set(), set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "connect"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "sqlite3"):
                connecting.add(module_name(path))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "CREATE TABLE" in node.value.upper():
                creating.add(module_name(path))
    assert connecting == {"jupyter_mlops.journal"}
    assert creating == {"jupyter_mlops.journal_schema"}
