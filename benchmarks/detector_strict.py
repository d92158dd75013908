"""Is the detector right? Recall, false alarms and precision against a strict restart-and-run-all oracle.

The definition (the README states it in the same words): the state is reproducible when a top-to-bottom
run of the notebook as it stands now, in a fresh kernel on the same files (a copy of the working folder
as it is now), down to the lowest cell that has run, ends with

(a) the same user names (names only the oracle has are a difference; names only the session has, e.g.
    left by a deleted cell or by code an edit removed, are a difference too), each with the same value:
    numbers (up to rounding error: floats to 30 mantissa bits, see ``kernel_values``), strings,
    containers, numpy arrays, pandas objects (what ``.equals`` compares), scikit-learn estimators by
    ``get_params()`` and their fitted attributes, random generators by their state;
    modules, functions and classes by what they are; figures by what they draw (the data of their
    artists), never by object identity. Unseeded randomness is excepted by one rule: names whose values
    differ between two oracle runs of the unchanged notebook are not compared (the second run's kernel fills
    memory it allocates with a byte pattern, glibc's ``MALLOC_PERTURB_``: a value holding memory the notebook
    never wrote, such as statsmodels' ``np.empty_like`` scratch buffer in a fitted GLM, differs between the two
    runs as it does between two runs of its cell, and is no state of the notebook);
(b) the same outcome (ok / error) for every cell that has run: the session's last run of each cell
    against the oracle's run of it (a cell that raises does not stop the oracle's run);
(c) no cell above that point left unrun whose effects (names, files, displays) the session lacks: a
    never-run non-empty code cell above the lowest run cell is a difference.

Files the notebook writes are compared by content (md5), the notebook file itself excepted.

How it runs: real kernels over ZMQ, as JupyterLab drives them. Each session script starts a fresh
ipykernel (jupyter_client), loads the tracker (``%load_ext jupyter_mlops``, ``%mlops_track --no-mlflow
--notebook <file>``) and sends each cell as an ``execute_request`` with ``{"cellId", "deletedCells"}``
metadata like JupyterLab 4; the notebook file on disk follows what the user sees (edits, deletions,
order) as autosave would. Verdicts and the session's values are read by *silent* requests'
``user_expressions``, which IPython runs without ``pre_run_cell``/``post_run_cell``: no journaled cell run
(the script checks this). The oracle is another fresh kernel in a copy of the working folder; its results
are cached per (notebook text, files on disk). Values cross processes as digests (``kernel_values.py``).

Session scripts, seeded, one kind each (the kind labels the script; whether a state is reproducible is
the oracle's word, never the script's intent): clean top-to-bottom; harmless reorder; re-run of a
display/plot cell; idempotent re-run; skipped cell; a later cell run first (fails, then the earlier cell
runs, then the user moves on); overwritten (an early cell binding a name a later cell also binds re-run
after it); re-run of a mutating cell; deleted cell (with or without re-running below); edited cell.

The naive rule (Julynter-style): the state is flagged unless the cells that ran, read in notebook order
down to the lowest one, have consecutive execution counts, none of them was skipped or edited since it
ran and no cell that ran was deleted.

The corpus: ``benchmarks/notebooks/`` (ours) and the public notebooks of ``public_notebooks.json``
(materialised from pinned sdists by ``public_notebooks.py``). The wall-time overhead is the tracked
kernel's time for the scripts' cells against an untracked kernel's for the same scripts (every
``--overhead-every``-th script is replayed untracked), in the same run.

    python benchmarks/detector_strict.py [--notebooks a,b] [--sessions 10] [--seed 0] [--show 8]

A benchmark, not a test: it prints figures and the worst misses with the command that replays them.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import itertools
import json
import os
import queue
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec

HERE = Path(__file__).resolve().parent
OURS = HERE / "notebooks"
KINDS = ("clean", "reorder", "display-rerun", "idempotent-rerun", "skipped", "later-first", "overwritten",
         "mutating-rerun", "deleted", "edited")
CELL_TIMEOUT = 90.0
_NOT_DATA = (".mlops", ".ipynb_checkpoints", "__pycache__", "mlruns")
_RANDOM_METHODS = {"normal", "integers", "random", "choice", "shuffle", "permutation", "uniform", "rand",
                   "randn", "randint", "standard_normal", "binomial", "poisson", "exponential", "sample",
                   "gauss", "multivariate_normal", "beta", "gamma", "lognormal", "random_sample"}
_MUTATING_METHODS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "sort", "reverse",
                     "add", "discard", "setdefault", "popitem", "fit", "partial_fit", "fit_transform",
                     "fit_predict", "set_params", "__setitem__", "put", "resize", "fill"}
_FIGURE_NAMES = {"fig", "ax", "axes", "axs", "ax1", "ax2", "_"}


# -- notebooks ----------------------------------------------------------------------------------------


@dataclass
class Notebook:
    name: str
    corpus: str  # "ours" | "public"
    cells: list[dict]  # nbformat cells, markdown included, each with an id
    metadata: dict

    @classmethod
    def read(cls, path: Path, corpus: str) -> Notebook:
        data = json.loads(path.read_text())
        cells = []
        for index, cell in enumerate(data["cells"]):
            source = cell.get("source", "")
            cells.append({"cell_type": cell["cell_type"], "id": cell.get("id") or f"{path.stem}-{index}",
                          "source": "".join(source) if isinstance(source, list) else source})
        return cls(path.stem, corpus, cells, data.get("metadata", {}))

    def code_ids(self) -> list[str]:
        return [c["id"] for c in self.cells if c["cell_type"] == "code"]


def corpus() -> list[Notebook]:
    """Ours, then the public ones; a notebook's place in this list is stable (it picks its scripts' kinds)."""
    from public_notebooks import materialise

    notebooks = [Notebook.read(p, "ours") for p in sorted(OURS.glob("*.ipynb"))]
    return notebooks + [Notebook.read(p, "public") for p in materialise()]


@dataclass(frozen=True)
class Facts:
    """What a cell does to names, read from its code (for choosing scripts, never for judging them)."""

    binds: frozenset[str]
    reads: frozenset[str]
    mutates: frozenset[str]
    random: bool
    displays: bool
    empty: bool

    @classmethod
    def of(cls, code: str) -> Facts:
        from IPython.core.inputtransformer2 import TransformerManager

        empty = not any(line.strip() and not line.strip().startswith("#") for line in code.splitlines())
        try:
            tree = ast.parse(TransformerManager().transform_cell(code))
        except SyntaxError:
            return cls(frozenset(), frozenset(), frozenset(), False, False, empty)
        binds, reads, mutates = set(), set(), set()
        random_call = displays = False
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                binds |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                binds.add(node.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                (reads if isinstance(node.ctx, ast.Load) else binds).add(node.id)
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                mutates.add(node.target.id)
            elif isinstance(node, ast.Subscript | ast.Attribute) and isinstance(node.ctx, ast.Store):
                base = _base(node)
                if base:
                    mutates.add(base)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                base, method = _base(node.func.value), node.func.attr
                inplace = any(k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value
                              for k in node.keywords)
                if base and (method in _MUTATING_METHODS or inplace):
                    mutates.add(base)
                if method in _RANDOM_METHODS:
                    random_call = True
                    if base:
                        mutates.add(base)
                if base in ("plt", "ax", "axes", "axs", "fig", "sns") or method in ("plot", "show", "hist",
                                                                                   "scatter", "imshow"):
                    displays = True
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                displays |= node.func.id in ("print", "display")
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            displays = True
        mutates -= {"plt", "np", "pd"}
        return cls(frozenset(binds), frozenset(reads), frozenset(mutates), random_call, displays, empty)

    @property
    def writes(self) -> frozenset[str]:
        return self.binds | self.mutates


def _base(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def edit_literal(code: str, rng: random.Random) -> str | None:
    """A plausible edit: one numeric literal changed (what people tweak: sizes, seeds, thresholds)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    numbers = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and type(n.value) in (int, float)
               and n.value not in (0, 1) and n.lineno == n.end_lineno]
    if not numbers:
        return None
    node = rng.choice(numbers)
    value = node.value
    if isinstance(value, int):
        new: int | float = value + rng.choice((1, 2)) if value > 0 else value - 1
    else:
        new = round(value * rng.choice((0.5, 1.5, 2)), 6)
    lines = code.splitlines(keepends=True)
    line = lines[node.lineno - 1]
    lines[node.lineno - 1] = line[: node.col_offset] + repr(new) + line[node.end_col_offset :]
    return "".join(lines)


# -- session scripts ---------------------------------------------------------------------------------
# A script is a list of steps: ("run", cell_id, scored), ("edit", cell_id, code), ("delete", cell_id).


class Scripts:
    """One generator per kind; each returns None when the notebook offers no cell for that kind."""

    def __init__(self, notebook: Notebook) -> None:
        self.ids = notebook.code_ids()
        codes = {c["id"]: c["source"] for c in notebook.cells}
        self.codes = [codes[i] for i in self.ids]
        self.facts = [Facts.of(code) for code in self.codes]
        self.live = [i for i, f in enumerate(self.facts) if not f.empty]  # cells a user runs

    def make(self, kind: str, rng: random.Random) -> list[tuple] | None:
        return getattr(self, "_" + kind.replace("-", "_"))(rng)

    # helpers
    def _runs(self, positions: list[int], scored_last: bool = False) -> list[tuple]:
        steps = [("run", self.ids[p], False) for p in positions]
        if scored_last and steps:
            steps[-1] = (*steps[-1][:2], True)
        return steps

    def _upto(self, last: int, skip: frozenset[int] = frozenset()) -> list[int]:
        return [p for p in self.live if p <= last and p not in skip]

    def _end(self, rng: random.Random, at_least: int) -> int:
        """How far down the user has run: at least ``at_least``, a few cells more at random."""
        later = [p for p in self.live if p >= at_least]
        return rng.choice(later[:4]) if later else at_least

    # kinds
    def _clean(self, rng: random.Random) -> list[tuple] | None:
        end = self.live[-1] if rng.random() < 0.4 else rng.choice(self.live)
        return self._runs(self._upto(end), scored_last=True)

    def _reorder(self, rng: random.Random) -> list[tuple] | None:
        moves = []
        for j in self.live:
            for i in reversed([p for p in self.live if p < j]):
                between = [self.facts[p] for p in self.live if i <= p < j]
                fj = self.facts[j]
                if any(fj.reads & f.writes or fj.writes & (f.reads | f.writes) for f in between):
                    break
                moves.append((i, j))
        if not moves:
            return None
        i, j = rng.choice(moves)
        end = self._end(rng, j)
        order = self._upto(i - 1) + [j] + [p for p in self.live if i <= p < j] + \
            [p for p in self.live if j < p <= end]
        return self._runs(order, scored_last=True)

    def _rerun(self, rng: random.Random, candidates: list[int], times: int = 1) -> list[tuple] | None:
        if not candidates:
            return None
        cell = rng.choice(candidates)
        end = self._end(rng, cell)
        return self._runs(self._upto(end)) + self._runs([cell] * times, scored_last=True)

    def _display_rerun(self, rng: random.Random) -> list[tuple] | None:
        read_elsewhere = [set().union(*(self.facts[q].reads for q in self.live if q != p))
                          for p in range(len(self.ids))]
        return self._rerun(rng, [p for p in self.live if self.facts[p].displays and not self.facts[p].random
                                 and not (self.facts[p].writes - _FIGURE_NAMES) & read_elsewhere[p]],
                           rng.choice((1, 2)))

    def _idempotent_rerun(self, rng: random.Random) -> list[tuple] | None:
        return self._rerun(rng, [p for p in self.live if self.facts[p].binds and not self.facts[p].mutates
                                 and not self.facts[p].random
                                 and not self.facts[p].binds & self.facts[p].reads])

    def _mutating_rerun(self, rng: random.Random) -> list[tuple] | None:
        return self._rerun(rng, [p for p in self.live if self.facts[p].mutates])

    def _skipped(self, rng: random.Random) -> list[tuple] | None:
        if len(self.live) < 2:
            return None
        skip = {rng.choice(self.live[:-1])}
        if rng.random() < 0.25 and len(self.live) > 4:
            skip.add(rng.choice(self.live[:-1]))
        end = self._end(rng, max(skip) + 1)
        return self._runs(self._upto(end, frozenset(skip)), scored_last=True)

    def _later_first(self, rng: random.Random) -> list[tuple] | None:
        pairs = []  # (i, j): j is the first cell after i to read a name that i is the first to bind
        for i in self.live:
            earlier = set().union(*(self.facts[p].writes for p in self.live if p < i))
            new = self.facts[i].binds - earlier
            j = next((p for p in self.live if p > i and self.facts[p].reads & new), None)
            if j is not None:
                pairs.append((i, j))
        if not pairs:
            return None
        i, j = rng.choice(pairs)
        end = self._end(rng, j)
        between = [p for p in self.live if i < p < j]
        # j first (it fails), then i and what lies between: the state the user now works on
        steps = self._runs(self._upto(i - 1)) + self._runs([j]) + self._runs([i, *between], scored_last=True)
        again = rng.random() < 0.3  # the user re-runs the failed cell, or moves on past it
        later = ([j] if again else []) + [p for p in self.live if j < p <= end]
        return steps + self._runs(later, scored_last=True) if later else steps

    def _overwritten(self, rng: random.Random) -> list[tuple] | None:
        pairs = [(i, j) for i, j in itertools.combinations(self.live, 2)  # j rebinds or changes what i binds
                 if (self.facts[i].binds & self.facts[j].writes) - _FIGURE_NAMES - {"plt", "np", "pd"}]
        if not pairs:
            return None
        i, j = rng.choice(pairs)
        end = self._end(rng, j)
        steps = self._runs(self._upto(end)) + self._runs([i], scored_last=True)
        after = [p for p in self.live if p > end]
        if after and rng.random() < 0.5:
            steps += self._runs(after[:1], scored_last=True)  # and the user moves on
        return steps

    def _deleted(self, rng: random.Random) -> list[tuple] | None:
        if len(self.live) < 3:
            return None
        cell = rng.choice(self.live[1:-1])
        end = self._end(rng, cell + 1)
        steps = [*self._runs(self._upto(end)), ("delete", self.ids[cell])]
        below = [p for p in self.live if cell < p <= end]
        after = [p for p in self.live if p > end]
        if rng.random() < 0.5:  # re-run what was below it
            return steps + self._runs(below, scored_last=True)
        return steps + self._runs(after[:1] or [end], scored_last=True)  # or just go on

    def _edited(self, rng: random.Random) -> list[tuple] | None:
        editable = [(p, e) for p in self.live if (e := edit_literal(self.codes[p], rng)) is not None]
        if not editable:
            return None
        cell, code = rng.choice(editable)
        end = self._end(rng, cell)
        steps = [*self._runs(self._upto(end)), ("edit", self.ids[cell], code)]
        choice = rng.random()
        if choice < 0.4:
            return steps + self._runs([cell], scored_last=True)
        if choice < 0.7:
            return steps + self._runs([p for p in self.live if cell <= p <= end], scored_last=True)
        after = [p for p in self.live if p > end]
        return steps + self._runs(after[:1] or [end], scored_last=True)  # not re-run: the user goes on


# -- kernels -----------------------------------------------------------------------------------------


class _ThisPython(KernelManager):
    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                          display_name="bench", language="python")


@dataclass
class Outcome:
    status: str  # "ok" | "error"
    ename: str | None
    execution_count: int | None
    seconds: float


class Kernel:
    """A fresh ipykernel with its own working folder, driven over ZMQ."""

    def __init__(self, km: KernelManager, folder: Path) -> None:
        self.km, self.folder = km, folder
        self.kc = km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)
        self.baseline: list[str] = sorted(self.evaluate("sorted(get_ipython().user_ns)"))

    def execute(self, code: str, cell_id: str | None = None, deleted: list[str] | None = None) -> Outcome:
        metadata: dict[str, Any] = {}
        if cell_id is not None:
            metadata["cellId"] = cell_id
            metadata["deletedCells"] = deleted or []
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": False}
        msg = self.kc.session.msg("execute_request", content, metadata=metadata)
        started = time.perf_counter()
        self.kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        ename = None
        while True:  # the cell is done when the kernel goes idle for it, as a frontend sees it
            io = self.kc.get_iopub_msg(timeout=CELL_TIMEOUT)
            if io["parent_header"].get("msg_id") != msg_id:
                continue
            if io["msg_type"] == "error":
                ename = io["content"]["ename"]
            if io["msg_type"] == "status" and io["content"]["execution_state"] == "idle":
                break
        seconds = time.perf_counter() - started
        reply = self._reply(msg_id)
        status = reply["content"]["status"]
        return Outcome(status, ename or reply["content"].get("ename"), reply["content"].get("execution_count"),
                       seconds)

    def evaluate(self, expression: str) -> Any:
        """An expression's value through a silent request: no cell run, no history, no run hooks."""
        msg_id = self.kc.execute("", silent=True, store_history=False,
                                 user_expressions={"v": f"__import__('json').dumps({expression})"})
        value = self._reply(msg_id)["content"]["user_expressions"]["v"]
        if value["status"] != "ok":
            raise RuntimeError(f"{expression}: {value.get('ename')}: {value.get('evalue')}")
        return json.loads(ast.literal_eval(value["data"]["text/plain"]))

    def names(self) -> dict[str, str | None]:
        return json.loads(self.evaluate(
            f"__import__('kernel_values').user_names_json(get_ipython().user_ns, {self.baseline!r})"))

    def _reply(self, msg_id: str) -> dict:
        while True:
            reply = self.kc.get_shell_msg(timeout=CELL_TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def shutdown(self) -> None:
        self.kc.stop_channels()
        threading.Thread(target=_stop, args=(self.km, self.folder), daemon=True).start()


def _stop(km: KernelManager, folder: Path) -> None:
    try:
        km.shutdown_kernel(now=True)
    except Exception:
        pass
    km.cleanup_resources()
    shutil.rmtree(folder, ignore_errors=True)


# A multi-threaded BLAS sums in an order that depends on the machine's load, so the same fit (statsmodels'
# GLM) can differ in its last bits between two kernels: that is no state of the notebook. One thread in
# every kernel, session and oracle alike, makes float results depend on the code and data only.
_ONE_BLAS_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


class KernelPool:
    """Kernels started ahead on a thread, each in a new empty folder: a fresh kernel costs no waiting."""

    def __init__(self, spare: int = 2) -> None:
        # the caller's PYTHONPATH first (it says which jupyter_mlops is measured), then kernel_values.py's folder
        path = [p for p in (os.environ.get("PYTHONPATH", ""), str(HERE)) if p]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(path),
                    **_ONE_BLAS_THREAD}
        self.env.pop("JPY_SESSION_NAME", None)
        self.env.pop("MPLBACKEND", None)  # the kernel's inline backend, as in JupyterLab
        self.ready: queue.Queue = queue.Queue(maxsize=spare)
        self.closed = threading.Event()
        self.waited = 0.0  # seconds spent waiting for a kernel to be ready: the pool is the bottleneck
        self.started = 0
        self.filler = threading.Thread(target=self._fill, daemon=True)
        self.filler.start()

    def _fill(self) -> None:
        while not self.closed.is_set():
            folder = Path(tempfile.mkdtemp(prefix="strict-"))
            km = _ThisPython()
            km.start_kernel(cwd=str(folder), env=self.env)
            while True:
                try:
                    self.ready.put((km, folder), timeout=0.5)
                    break
                except queue.Full:
                    if self.closed.is_set():
                        _stop(km, folder)
                        return

    def take(self, files_from: Path | None = None, perturb_memory: bool = False) -> Kernel:
        """A fresh kernel with ``files_from``'s data; ``perturb_memory``: one started now whose allocations
        come filled with a byte pattern (glibc's ``MALLOC_PERTURB_``), for the second run of ``Nondeterministic``."""
        started = time.perf_counter()
        if perturb_memory:
            folder = Path(tempfile.mkdtemp(prefix="strict-"))
            km = _ThisPython()
            km.start_kernel(cwd=str(folder), env={**self.env, "MALLOC_PERTURB_": "165"})
        else:
            km, folder = self.ready.get(timeout=300)
        self.waited += time.perf_counter() - started
        self.started += 1
        if files_from is not None:
            shutil.copytree(files_from, folder, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(*_NOT_DATA))
        return Kernel(km, folder)

    def close(self) -> None:
        self.closed.set()
        self.filler.join(timeout=60)
        while not self.ready.empty():
            _stop(*self.ready.get())


def folder_digest(root: Path, skip: str | None = None) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not set(rel.parts) & set(_NOT_DATA) and rel.as_posix() != skip:
            out[rel.as_posix()] = hashlib.md5(path.read_bytes()).hexdigest()
    return out


# -- the oracle --------------------------------------------------------------------------------------


@dataclass
class OracleState:
    """A top-to-bottom run in a fresh kernel, after one cell."""

    outcomes: list[str]  # "ok" / "error" for each cell so far
    names: dict[str, str | None]
    files: dict[str, str]


class Oracle:
    """Top-to-bottom runs in fresh kernels, cached per (cells down to the frontier, files on disk)."""

    def __init__(self, pool: KernelPool) -> None:
        self.pool = pool
        self.cache: dict[tuple, OracleState] = {}
        self.runs = 0
        self.seconds = 0.0

    def state(self, codes: list[str], front: int, folder: Path, notebook_file: str) -> OracleState:
        """After cell ``front`` of a top-to-bottom run; a miss runs the whole notebook, for later prefixes."""
        files_key = tuple(sorted(folder_digest(folder, notebook_file).items()))
        key = (tuple(codes[: front + 1]), files_key)
        if key not in self.cache:
            self.run(codes, folder, notebook_file, files_key)
        return self.cache[key]

    def run(self, codes: list[str], folder: Path, notebook_file: str, files_key: tuple | None = None,
            cache: bool = True, perturb_memory: bool = False) -> list[OracleState]:
        """Run the cells top to bottom, recording the state after each of them (each prefix's oracle)."""
        started = time.perf_counter()
        self.runs += 1
        kernel = self.pool.take(files_from=folder, perturb_memory=perturb_memory)
        states = []
        try:
            outcomes: list[str] = []
            for index, code in enumerate(codes):
                outcomes.append(kernel.execute(code).status)
                state = OracleState(list(outcomes), kernel.names(), folder_digest(kernel.folder, notebook_file))
                states.append(state)
                if cache and files_key is not None:
                    self.cache.setdefault((tuple(codes[: index + 1]), files_key), state)
        finally:
            kernel.shutdown()
            self.seconds += time.perf_counter() - started
        return states


class Nondeterministic:
    """Names two top-to-bottom runs of the unchanged notebook disagree on (unseeded randomness, and memory
    the notebook never wrote: the second run's kernel perturbs what it allocates).

    Found the first time a judgement needs it (a name differs): states that differ otherwise, or not at
    all, cost no second run.
    """

    def __init__(self, oracle: Oracle, notebook: Notebook) -> None:
        self.oracle, self.notebook = oracle, notebook
        self._names: set[str] | None = None

    def names(self) -> set[str]:
        if self._names is None:
            folder = Path(tempfile.mkdtemp(prefix="strict-nondet-"))
            try:
                codes = [c["source"] for c in self.notebook.cells if c["cell_type"] == "code"]
                file = f"{self.notebook.name}.ipynb"
                first = self.oracle.run(codes, folder, file, tuple(sorted(folder_digest(folder, file).items())))
                second = self.oracle.run(codes, folder, file, cache=False, perturb_memory=True)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            self._names = set()
            for a, b in zip(first, second, strict=True):
                self._names |= {n for n in set(a.names) | set(b.names) if a.names.get(n, "?") != b.names.get(n, "?")}
        return self._names


# -- one session -------------------------------------------------------------------------------------


@dataclass
class Judged:
    notebook: str
    corpus: str
    kind: str
    session: int
    step: int
    truth: bool  # reproducible per the oracle
    ours: bool
    naive: bool
    why: str
    issues: list[str]
    script: list[tuple]


class Session:
    """A script replayed in a tracked kernel, its notebook file kept as the user sees it."""

    announced = False  # which jupyter_mlops the kernels import, said once

    def __init__(self, notebook: Notebook, kernel: Kernel, tracked: bool) -> None:
        self.nb, self.kernel, self.tracked = notebook, kernel, tracked
        self.cells = [dict(c) for c in notebook.cells]
        self.file = f"{notebook.name}.ipynb"
        self.pending_deleted: list[str] = []
        self.last: dict[str, tuple[str, Outcome]] = {}  # cell id -> (code, outcome) of its last run
        self.ever_ran_deleted = False
        self.cell_seconds = 0.0
        self.runs = 0
        self._save()
        if tracked:
            setup = self.kernel.execute(f"%load_ext jupyter_mlops\n%mlops_track --no-mlflow --notebook {self.file}")
            if setup.status != "ok":
                raise RuntimeError(f"%mlops_track failed in {notebook.name}: {setup.ename}")
            if not Session.announced:
                Session.announced = True
                where = self.kernel.evaluate('__import__("jupyter_mlops").__file__')
                print(f"measuring {where}", flush=True)

    def _save(self) -> None:
        cells = []
        for cell in self.cells:
            out = {"cell_type": cell["cell_type"], "id": cell["id"], "metadata": {},
                   "source": cell["source"].splitlines(keepends=True)}
            if cell["cell_type"] == "code":
                out["outputs"], out["execution_count"] = [], None
            cells.append(out)
        notebook = {"cells": cells, "metadata": self.nb.metadata, "nbformat": 4, "nbformat_minor": 5}
        (self.kernel.folder / self.file).write_text(json.dumps(notebook, indent=1))

    def code_cells(self) -> list[dict]:
        return [c for c in self.cells if c["cell_type"] == "code"]

    def apply(self, step: tuple) -> None:
        if step[0] == "edit":
            next(c for c in self.cells if c["id"] == step[1])["source"] = step[2]
            self._save()
        elif step[0] == "delete":
            self.cells = [c for c in self.cells if c["id"] != step[1]]
            self.pending_deleted.append(step[1])
            self.ever_ran_deleted |= step[1] in self.last
            self.last.pop(step[1], None)
            self._save()
        else:
            code = next(c for c in self.cells if c["id"] == step[1])["source"]
            outcome = self.kernel.execute(code, step[1], self.pending_deleted)
            self.pending_deleted = []
            self.last[step[1]] = (code, outcome)
            self.cell_seconds += outcome.seconds
            self.runs += 1

    def frontier(self) -> int:
        """Index (among code cells) of the lowest cell that has run; -1 when none has."""
        cells = self.code_cells()
        return max((i for i, c in enumerate(cells) if c["id"] in self.last), default=-1)

    def verdict(self) -> tuple[bool, list[str]]:
        status = self.kernel.evaluate(
            "{k: v for k, v in __import__('jupyter_mlops').status().items() if k in ('reproducible', 'issues', "
            "'cells')}")
        if status["cells"] != self.runs:
            raise RuntimeError(f"the tracker counted {status['cells']} cell runs, {self.runs} were sent: "
                               "reading the verdict must not create one")
        return bool(status["reproducible"]), [f"{i['kind']}: {i['message']}" for i in status["issues"]]

    def naive(self) -> bool:
        cells = self.code_cells()[: self.frontier() + 1]
        if self.ever_ran_deleted:
            return False
        counts = []
        for cell in cells:
            if Facts.of(cell["source"]).empty and cell["id"] not in self.last:
                continue
            if cell["id"] not in self.last or self.last[cell["id"]][0] != cell["source"]:
                return False
            counts.append(self.last[cell["id"]][1].execution_count)
        return all(b == a + 1 for a, b in itertools.pairwise(counts))

    def truth(self, oracle: Oracle, nondet: Nondeterministic) -> tuple[bool, str]:
        cells = self.code_cells()
        front = self.frontier()
        if front < 0:
            return True, ""
        for index, cell in enumerate(cells[:front]):
            if cell["id"] not in self.last and not Facts.of(cell["source"]).empty:
                return False, f"code cell {index + 1} never ran"
        state = oracle.state([c["source"] for c in cells], front, self.kernel.folder, self.file)
        for index, cell in enumerate(cells[: front + 1]):
            if cell["id"] in self.last:
                ours = self.last[cell["id"]][1]
                if ours.status != state.outcomes[index]:
                    failed = f"failed with {ours.ename}" if ours.status == "error" else "succeeded"
                    return False, (f"code cell {index + 1} {failed} in the session, "
                                   f"{state.outcomes[index]} top to bottom")
        names = self.kernel.names()
        for name in sorted(set(names) | set(state.names)):
            if name not in state.names:
                why = f"`{name}` only in the session"
            elif name not in names:
                why = f"`{name}` only in a top-to-bottom run"
            elif names[name] is not None and state.names[name] is not None and names[name] != state.names[name]:
                why = f"`{name}` differs"
            else:
                continue
            if name not in nondet.names():
                return False, why
        ours_files = folder_digest(self.kernel.folder, self.file)
        for path in sorted(set(ours_files) | set(state.files)):
            if ours_files.get(path) != state.files.get(path):
                return False, f"file {path} differs"
        return True, ""


# -- main --------------------------------------------------------------------------------------------


def rate(hits: int, total: int) -> str:
    return f"{hits / total:5.2f} ({hits}/{total})" if total else "  n/a"


def figures(judged: list[Judged], pick: str) -> tuple[str, str, str]:
    bad = [j for j in judged if not j.truth]
    good = [j for j in judged if j.truth]
    caught = sum(not getattr(j, pick) for j in bad)
    alarms = sum(not getattr(j, pick) for j in good)
    return rate(caught, len(bad)), rate(alarms, len(good)), rate(caught, caught + alarms)


def report(judged: list[Judged]) -> None:
    header = f"  {'kind':<18} {'states':>6} {'broken':>6}   {'recall':>13} {'false alarms':>13} {'precision':>13}"
    for who, pick in (("jupyter-mlops", "ours"), ("naive execution-count rule", "naive")):
        print(f"\n{who}:")
        print(header)
        groups = [(k, [j for j in judged if j.kind == k]) for k in KINDS]
        groups += [("ours corpus", [j for j in judged if j.corpus == "ours"]),
                   ("public corpus", [j for j in judged if j.corpus == "public"]), ("overall", judged)]
        for label, group in groups:
            if group:
                r, f, p = figures(group, pick)
                print(f"  {label:<18} {len(group):6d} {sum(not j.truth for j in group):6d}   {r:>13} {f:>13} {p:>13}")


def show(judged: list[Judged], count: int, args: argparse.Namespace, notebooks: list[Notebook]) -> None:
    """Up to ``count`` misses and false alarms of each kind (one per script), each with its replay command."""
    by_name = {n.name: n for n in notebooks}
    misses = [j for j in judged if not j.truth and j.ours]
    alarms = [j for j in judged if j.truth and not j.ours]
    for title, cases in (("misses (not reproducible, the detector said reproducible)", misses),
                         ("false alarms (reproducible, the detector said not)", alarms)):
        if not cases or not count:
            continue
        print(f"\n{title}: {len(cases)}; by kind: "
              + ", ".join(f"{k} {n}" for k, n in Counter(j.kind for j in cases).most_common()))
        for kind in KINDS:
            seen: set[tuple[str, int]] = set()
            for case in (c for c in cases if c.kind == kind):
                if (case.notebook, case.session) in seen or len(seen) >= count:
                    continue
                seen.add((case.notebook, case.session))
                print(f"  [{case.kind}] {case.notebook} session {case.session} step {case.step}: "
                      f"oracle: {case.why or 'reproducible'}")
                for issue in case.issues[:2]:
                    print(f"      detector: {issue}")
                numbers = {cell_id: n + 1 for n, cell_id in enumerate(by_name[case.notebook].code_ids())}
                print("      script (code cell numbers; * scored, e edit, d delete): "
                      + " ".join(_step_text(s, numbers) for s in case.script))
                kinds = f" --kinds {args.kinds}" if args.kinds else ""
                print(f"      replay: python benchmarks/detector_strict.py --notebooks {case.notebook} "
                      f"--seed {args.seed} --first-session {case.session} --sessions 1{kinds} --verbose")


def _step_text(step: tuple, numbers: dict[str, int]) -> str:
    prefix = {"run": "", "edit": "e", "delete": "d"}[step[0]]
    return f"{prefix}{numbers[step[1]]}" + ("*" if step[0] == "run" and step[2] else "")


def judge(notebook: Notebook, kind: str, index: int, script: list[tuple], pool: KernelPool, oracle: Oracle,
          nondet: Nondeterministic, verbose: bool) -> tuple[list[Judged], Session]:
    """Replay one script in a tracked kernel; each scored state judged by the oracle, the detector, the rule."""
    session = Session(notebook, pool.take(), tracked=True)
    states = []
    try:
        for n, step in enumerate(script):
            session.apply(step)
            if step[0] != "run" or not step[2]:
                continue
            truth, why = session.truth(oracle, nondet)
            ours, issues = session.verdict()
            states.append(Judged(notebook.name, notebook.corpus, kind, index, n, truth, ours, session.naive(),
                                 why, issues, script[: n + 1]))
            if verbose:
                print(f"{notebook.name} #{index} {kind} step {n}: oracle {'reproducible' if truth else why}; "
                      f"detector {'reproducible' if ours else issues[:2]}; naive {session.naive()}", flush=True)
    finally:
        session.kernel.shutdown()
    return states, session


def untracked_seconds(notebook: Notebook, script: list[tuple], pool: KernelPool) -> float:
    """The same script's cells in a kernel without the tracker: the overhead's baseline."""
    plain = Session(notebook, pool.take(), tracked=False)
    try:
        for step in script:
            plain.apply(step)
    finally:
        plain.kernel.shutdown()
    return plain.cell_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", default="", help="comma-separated names (default: all)")
    parser.add_argument("--sessions", type=int, default=6,
                        help="session scripts per notebook, the kinds in turn (10: every kind on every notebook)")
    parser.add_argument("--first-session", type=int, default=0, help="index of the first script (to replay one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default="", help="comma-separated kinds (default: all)")
    parser.add_argument("--overhead-every", type=int, default=5, help="replay every N-th script untracked too")
    parser.add_argument("--show", type=int, default=3, help="misses and false alarms to list, per kind")
    parser.add_argument("--json", type=Path, help="write every judged state there (to compare two runs)")
    parser.add_argument("--verbose", action="store_true", help="print every scored state")
    args = parser.parse_args()

    kinds = [k for k in args.kinds.split(",") if k] or list(KINDS)
    wanted = {n for n in args.notebooks.split(",") if n}
    numbered = [(number, n) for number, n in enumerate(corpus()) if not wanted or n.name in wanted]
    if wanted - {n.name for _, n in numbered}:
        parser.error(f"no such notebook: {', '.join(sorted(wanted - {n.name for _, n in numbered}))}")
    notebooks = [n for _, n in numbered]
    pool = KernelPool()
    oracle = Oracle(pool)
    judged: list[Judged] = []
    tracked_s = untracked_s = 0.0
    skipped: Counter = Counter()
    lost: list[str] = []
    started = time.perf_counter()
    try:
        for number, notebook in numbered:
            scripts = Scripts(notebook)
            nondet = Nondeterministic(oracle, notebook)
            for index in range(args.first_session, args.first_session + args.sessions):
                kind = kinds[(index + number) % len(kinds)]  # each notebook starts the round of kinds elsewhere
                rng = random.Random(f"{args.seed}:{notebook.name}:{index}")
                script = scripts.make(kind, rng)
                if not script:
                    skipped[kind] += 1
                    continue
                try:
                    states, session = judge(notebook, kind, index, script, pool, oracle, nondet, args.verbose)
                except (TimeoutError, queue.Empty, RuntimeError) as exc:  # a kernel died or hung: say so, go on
                    lost.append(f"{notebook.name} #{index} {kind}: {type(exc).__name__}: {exc}")
                    continue
                judged += states
                if args.overhead_every and index % args.overhead_every == 0:
                    tracked_s += session.cell_seconds
                    untracked_s += untracked_seconds(notebook, script, pool)
            print(f"  {notebook.name:<36} {notebook.corpus:<6} {len(scripts.live):3d} cells  "
                  f"{sum(j.notebook == notebook.name for j in judged):3d} states  "
                  f"{time.perf_counter() - started:6.0f} s", flush=True)
    finally:
        pool.close()
    elapsed = time.perf_counter() - started
    broken = sum(not j.truth for j in judged)
    print(f"\nstrict detector benchmark: {len(notebooks)} notebooks "
          f"({sum(n.corpus == 'public' for n in notebooks)} public), {len({(j.notebook, j.session) for j in judged})} "
          f"sessions, {len(judged)} states judged ({broken} not reproducible per the oracle), seed {args.seed}; "
          f"{oracle.runs} oracle runs ({oracle.seconds:.0f} s), {pool.started} kernels ({pool.waited:.0f} s waiting "
          f"for one to start), {elapsed:.0f} s in all")
    if skipped:
        print("  scripts not made (no cell fits the kind): " + ", ".join(f"{k} {n}" for k, n in skipped.items()))
    for line in lost:
        print(f"  session lost: {line}")
    report(judged)
    if untracked_s:
        print(f"\nwall-time overhead of tracking (same scripts, cells only): tracked {tracked_s:.1f} s, "
              f"untracked {untracked_s:.1f} s, ratio {tracked_s / untracked_s:.2f}×")
    show(judged, args.show, args, notebooks)
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(j) for j in judged], indent=1))


if __name__ == "__main__":
    sys.exit(main())
