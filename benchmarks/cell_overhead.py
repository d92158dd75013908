"""How much time does tracking add to each cell run, and to a whole notebook run?

Tracking sits on the kernel's hot path (pre_run_cell / post_run_cell on every execution), so its cost
has to be measured the way users pay it: real kernels, messages over ZMQ, a `cellId` in the
execute_request metadata as JupyterLab sends it, and new code in every cell. The tracker analyses a
cell's code once per text (the analysis is cached by it), so cells that repeat a few codes measure a path
users rarely take: they type new code in every cell. Absolute times depend on the machine; the baseline
is measured in the same run, kernels taking turns cell by cell (in rotating order, so that load from
other processes lands on every series alike), so read the added milliseconds and the ratios.

(a) One-line cells, `--cells` per series, in a plain kernel, a tracked one (`%load_ext jupyter_mlops`,
    `%mlops_track --no-mlflow --root <tmpdir>`) and, with `--baseline-code DIR`, a tracked one importing
    the package from DIR (another checkout: an A/B of the code in the same sitting):
      new code       each cell a one-liner no kernel has seen (new cellId, new text): what users pay;
      repeated code  five codes in turn, new cellIds: the analysis is cached after the first round. This is
                     all the benchmark measured before issue 24 (the README's +0.41-0.53 ms then).
    Also the cost of `%load_ext` itself and which heavy modules it pulled in.
(b) Real cells: the code cells of the strict detector benchmark's public notebooks (scikit-learn's
    gallery, statsmodels' examples; `public_notebooks.py`), each notebook top to bottom in fresh kernels
    of each variant, every cell sent once with its notebook cell id, as typed; the tracked kernels run with
    `--notebook` on a copy of the notebook, as JupyterLab's saved file. Per-cell added time (median of the
    paired differences) and the kernels' total time, wall and CPU (read inside each kernel, threads
    included), against the plain kernel's.
(c) `examples/churn.ipynb` run with nbclient as written, and with its tracking lines stripped,
    `--repeat` times each (fresh kernel per run, runs interleaved).

Goals (issue 24): at most 0.5 ms added per new one-line cell, and at most 2% of the kernel time of the
real cells. The load average is printed: on a shared machine read the medians, and compare runs only at
similar load.

Everything runs in a temporary directory, so nothing is written into the repository.
Needs the package installed in this interpreter (`pip install -e .`).

    python benchmarks/cell_overhead.py [--cells 300] [--rounds 2] [--repeat 3] [--baseline-code DIR] [--parts a,b,c]
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import queue
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client import AsyncKernelManager, BlockingKernelClient, KernelManager
from jupyter_client.kernelspec import KernelSpec
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
NOTEBOOK = EXAMPLES / "churn.ipynb"
TRACKING_LINES = ("%load_ext jupyter_mlops", "%mlops_track")
# The repeated-code series: a few different statements (definitions, uses, an expression result) in turn.
TRIVIAL_CELLS = ("x = 1", "y = x + 1", "s = str(y)", "x += 1", "y")
WARMUP_CELLS = 10
HEAVY_MODULES = ("mlflow", "dvc", "git")
REPLY_TIMEOUT_S = 120.0
KERNEL_STARTUP_TIMEOUT_S = 60.0
NOTEBOOK_TIMEOUT_S = 300
GOAL_NEW_CELL_MS = 0.5
GOAL_REAL_CELLS = 0.02
# One BLAS thread in every kernel: a multi-threaded BLAS makes a cell's time depend on the other kernels.
_ONE_BLAS_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


class KernelError(RuntimeError):
    """A cell failed inside the kernel (for example the extension or its magic is missing)."""


class _ThisPythonKernel:
    """Always launch ipykernel from this interpreter.

    A user-level `python3` kernelspec may point at another Python that lacks the package (or has an
    older one); the benchmark must measure the code installed next to it.
    """

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (benchmark)",
            language="python",
        )


class ThisPythonKernelManager(_ThisPythonKernel, KernelManager):
    """Blocking kernel manager for the per-cell measurements."""


class AsyncThisPythonKernelManager(_ThisPythonKernel, AsyncKernelManager):
    """Async kernel manager, because nbclient drives its kernel asynchronously."""


def kernel_env(workdir: Path, code: Path | None = None) -> dict[str, str]:
    """Environment for benchmark kernels: never log to the user's MLflow server from a benchmark; ``code``:
    the folder whose ``jupyter_mlops`` the kernel imports (another checkout), else the installed one."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}", **_ONE_BLAS_THREAD}
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as in JupyterLab
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code), env.get("PYTHONPATH", "")) if p)
    return env


def execute(
    kc: BlockingKernelClient,
    code: str,
    *,
    silent: bool = False,
    user_expressions: dict[str, str] | None = None,
    cell_id: str | None = None,
    check: bool = True,
) -> tuple[float, dict[str, Any]]:
    """Run `code` as a notebook cell and return (seconds, execute_reply content).

    Built by hand rather than with `kc.execute` because the tracker keys records on the `cellId` that
    JupyterLab puts in the request metadata, and `kc.execute` cannot send metadata. The clock stops
    when both the reply and the kernel's idle status have arrived: that is when a front end considers
    the cell done. ``check``: a cell that raises is an error of the benchmark.
    """
    content = {
        "code": code,
        "silent": silent,
        "store_history": not silent,
        "user_expressions": user_expressions or {},
        "allow_stdin": False,
        "stop_on_error": False,
    }
    msg = kc.session.msg("execute_request", content)
    msg["metadata"].update({"cellId": cell_id or str(uuid.uuid4()), "deletedCells": []})
    msg_id = msg["header"]["msg_id"]

    start = time.perf_counter()
    kc.shell_channel.send(msg)
    deadline = start + REPLY_TIMEOUT_S
    reply: dict[str, Any] | None = None
    idle = False
    try:
        while reply is None:
            shell_msg = kc.get_shell_msg(timeout=max(deadline - time.perf_counter(), 0.001))
            if shell_msg["parent_header"].get("msg_id") == msg_id:
                reply = shell_msg["content"]
        while not idle:
            io_msg = kc.get_iopub_msg(timeout=max(deadline - time.perf_counter(), 0.001))
            idle = (
                io_msg["parent_header"].get("msg_id") == msg_id
                and io_msg["msg_type"] == "status"
                and io_msg["content"]["execution_state"] == "idle"
            )
    except queue.Empty:
        raise TimeoutError(f"no reply within {REPLY_TIMEOUT_S:.0f} s to {code[:80]!r}") from None
    elapsed = time.perf_counter() - start

    if check and reply["status"] != "ok":
        raise KernelError(f"{code[:80]!r} failed: {reply.get('ename')}: {reply.get('evalue')}")
    return elapsed, reply


def evaluate(kc: BlockingKernelClient, expression: str) -> Any:
    """An expression's value through a silent request, which IPython runs without pre/post_run_cell: no
    cell run is recorded for it and the tracker's hooks do not run."""
    _, reply = execute(kc, "", silent=True, user_expressions={"v": expression})
    result = reply["user_expressions"]["v"]
    if result["status"] != "ok":
        raise KernelError(f"{expression}: {result.get('ename')}: {result.get('evalue')}")
    return ast.literal_eval(result["data"]["text/plain"])


def kernel_cpu(kc: BlockingKernelClient) -> float:
    """CPU seconds the kernel process has used so far, all its threads (the hasher's, the watcher's) included."""
    return float(evaluate(kc, "sum(__import__('resource').getrusage(0)[:2])"))


@contextmanager
def running_kernel(workdir: Path, code: Path | None = None) -> Iterator[BlockingKernelClient]:
    """A started kernel with `workdir` as its cwd, killed on exit whatever happened.

    Killed rather than shut down gracefully: the measurements are over, and a stuck kernel must not
    outlive the benchmark.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    km = ThisPythonKernelManager()
    km.start_kernel(cwd=str(workdir), env=kernel_env(workdir, code))
    kc: BlockingKernelClient | None = None
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=KERNEL_STARTUP_TIMEOUT_S)
        yield kc
    finally:
        if kc is not None:
            kc.stop_channels()
        km.shutdown_kernel(now=True)


def loaded_heavy_modules(kc: BlockingKernelClient) -> list[str]:
    """Which of HEAVY_MODULES the kernel has imported."""
    return evaluate(kc, f"[m for m in {HEAVY_MODULES!r} if m in __import__('sys').modules]")


def describe_modules(loaded: list[str]) -> str:
    return ", ".join(f"{m} {'yes' if m in loaded else 'no'}" for m in HEAVY_MODULES)


def load_average() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())


# -- (a) one-line cells -----------------------------------------------------------------------------


def new_one_liner(i: int) -> str:
    """The i-th of a stream of one-line cells, each a text no kernel has seen: names, numbers and shapes vary
    (assignments, arithmetic on earlier cells' names, an f-string, a list, an in-place update, an expression
    shown, a call), as cells typed one after another in a notebook do."""
    n, shape = divmod(i, 7)
    return (
        f"a{n} = {i}",
        f"b{n} = a{n} * {i % 9 + 2} + {i % 5}",
        f"label{n} = f'run {{a{n}}}: {{b{n}:.1f}}'",
        f"pair{n} = [a{n}, b{n}, {i}]",
        f"a{n} += {i % 3 + 1}",
        f"max(pair{n}) - {i % 4}",
        f"total{n} = sum(pair{n}) / len(pair{n})",
    )[shape]


@dataclass
class Variant:
    """One kernel of a side-by-side comparison: plain, tracked with this checkout, or with another's code."""

    name: str
    tracked: bool
    code: Path | None = None
    times: list[float] = field(default_factory=list)
    cpu: float = 0.0  # CPU seconds of its kernel over the timed cells

    @property
    def folder(self) -> str:
        """Its own working folder (and project root, journal included)."""
        return self.name.replace(",", "").replace(" ", "-")


def variants(baseline: Path | None) -> list[Variant]:
    found = [Variant("untracked", False), Variant("tracked", True)]
    if baseline is not None:
        found.append(Variant("tracked, baseline code", True, baseline))
    return found


def start_tracking(kc: BlockingKernelClient, workdir: Path, notebook: str | None = None) -> float:
    load_s, _ = execute(kc, "%load_ext jupyter_mlops")
    where = f"--notebook {notebook}" if notebook else f"--root {workdir}"
    execute(kc, f"%mlops_track --no-mlflow {where}")
    return load_s


def bench_cells(n_cells: int, workdir: Path, baseline: Path | None) -> None:
    """Part (a): one-line cells, new code and repeated code, kernels of every variant taking turns."""
    print(f"(a) one-line cells, {n_cells} per series; round trip = execute_request -> execute_reply + idle; "
          f"{load_average()}")
    for series, make in (("new code", new_one_liner), ("repeated code", lambda i: TRIVIAL_CELLS[i % 5])):
        kinds = variants(baseline)
        with ExitStack() as stack:
            folders = [workdir / series.replace(" ", "-") / kind.folder for kind in kinds]
            clients = [stack.enter_context(running_kernel(folder, kind.code))
                       for kind, folder in zip(kinds, folders, strict=True)]
            for kind, kc, folder in zip(kinds, clients, folders, strict=True):
                if kind.tracked:
                    load_s = start_tracking(kc, folder)
                    if kind.code is None and series == "new code":
                        print(f"    %load_ext jupyter_mlops took {load_s * 1e3:.1f} ms; in sys.modules after "
                              f"%mlops_track --no-mlflow: {describe_modules(loaded_heavy_modules(kc))}")
            for i in range(WARMUP_CELLS):  # the first executions pay for lazy imports in the kernel
                for kc in clients:
                    execute(kc, make(7 * 10**5 + i))
            order = list(zip(kinds, clients, strict=True))
            cpu_before = [kernel_cpu(kc) for kc in clients]
            for i in range(n_cells):
                turn = i % len(kinds)
                for kind, kc in order[turn:] + order[:turn]:
                    kind.times.append(execute(kc, make(i))[0])
            for kind, kc, before in zip(kinds, clients, cpu_before, strict=True):
                kind.cpu = kernel_cpu(kc) - before
        report(series, kinds, goal_ms=GOAL_NEW_CELL_MS if series == "new code" else None)
    print(f"    {load_average()}")


def report(series: str, kinds: list[Variant], goal_ms: float | None) -> None:
    """Round trips: the median of each series and of the paired differences (cell i of a variant against cell
    i of the plain kernel, taken in turn); kernel CPU per cell, which the machine's load moves much less."""
    plain, cells = kinds[0], len(kinds[0].times)
    print(f"    {series}: untracked median {statistics.median(plain.times) * 1e3:.2f} ms, kernel CPU "
          f"{plain.cpu / cells * 1e3:.2f} ms per cell")
    for kind in kinds[1:]:
        added = statistics.median(t - p for t, p in zip(kind.times, plain.times, strict=True))
        verdict = ""
        if goal_ms is not None:
            verdict = f"; goal <= {goal_ms:.2f} ms: {'met' if added * 1e3 <= goal_ms else 'NOT met'}"
        print(f"      {kind.name:<24} median {statistics.median(kind.times) * 1e3:.2f} ms, added per cell "
              f"{added * 1e3:+.2f} ms (median of paired differences), "
              f"{(statistics.median(kind.times) - statistics.median(plain.times)) * 1e3:+.2f} ms (difference of "
              f"medians); kernel CPU {(kind.cpu - plain.cpu) / cells * 1e3:+.2f} ms per cell{verdict}")


# -- (b) real cells -----------------------------------------------------------------------------------


def public_notebooks() -> list[Path]:
    sys.path.insert(0, str(HERE))
    from public_notebooks import materialise

    return materialise()


def bench_real_cells(workdir: Path, baseline: Path | None, only: set[str], rounds: int) -> None:
    """Part (b): the public notebooks' cells, top to bottom, in fresh kernels of every variant side by side,
    ``rounds`` times (a loaded machine moves a notebook's time by more than the tracker costs)."""
    print(f"(b) real cells: the strict benchmark's public notebooks, top to bottom, cell by cell, {rounds} round(s); "
          f"{load_average()}")
    totals: dict[str, float] = {}
    cpu: dict[str, float] = {}
    paired: dict[str, list[float]] = {}
    cells = 0
    notebooks = [p for p in public_notebooks() if not only or p.stem in only]
    for round_, path in ((r, p) for r in range(rounds) for p in notebooks):
        notebook = json.loads(path.read_text())
        code = [(c["id"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
                for c in notebook["cells"] if c["cell_type"] == "code"]
        kinds = variants(baseline)
        started = time.perf_counter()
        with ExitStack() as stack:
            clients = []
            for kind in kinds:
                folder = workdir / f"{path.stem}-{round_}" / kind.folder
                folder.mkdir(parents=True)
                shutil.copy(path, folder / path.name)
                kc = stack.enter_context(running_kernel(folder, kind.code))
                if kind.tracked:
                    start_tracking(kc, folder, path.name)
                clients.append(kc)
            cpu_before = [kernel_cpu(kc) for kc in clients]
            for index, (cell_id, source) in enumerate(code):
                turn = index % len(kinds)
                order = list(zip(kinds, clients, strict=True))
                for kind, kc in order[turn:] + order[:turn]:
                    kind.times.append(execute(kc, source, cell_id=cell_id, check=False)[0])
            for kind, kc, before in zip(kinds, clients, cpu_before, strict=True):
                cpu[kind.name] = cpu.get(kind.name, 0.0) + kernel_cpu(kc) - before
        cells += len(code)
        for kind in kinds:
            totals[kind.name] = totals.get(kind.name, 0.0) + sum(kind.times)
            paired.setdefault(kind.name, []).extend(t - p for t, p in zip(kind.times, kinds[0].times, strict=True))
        print(f"    {path.stem:<30} {len(code):3d} cells  " + "  ".join(
            f"{k.name} {sum(k.times):6.2f} s" for k in kinds) + f"  ({time.perf_counter() - started:.0f} s)")
    plain = variants(baseline)[0].name
    print(f"    {cells} cells run; untracked: {totals[plain]:.2f} s of round trips, {cpu[plain]:.2f} s of kernel CPU")
    for name in totals:
        if name == plain:
            continue
        wall, used = totals[name] / totals[plain], cpu[name] / cpu[plain]
        print(f"      {name:<24} {totals[name]:.2f} s ({wall:.3f}x), CPU {cpu[name]:.2f} s ({used:.3f}x); added "
              f"per cell {statistics.median(paired[name]) * 1e3:+.2f} ms (median of paired differences); "
              f"goal <= {GOAL_REAL_CELLS:.0%}: {'met' if min(wall, used) - 1 <= GOAL_REAL_CELLS else 'NOT met'}")
    print(f"    {load_average()}")


# -- (c) the example notebook -------------------------------------------------------------------------


def strip_tracking(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` without the tracking lines: the notebook as someone without the extension runs it."""
    stripped = copy.deepcopy(nb)
    for cell in stripped.cells:
        if cell.cell_type == "code":
            lines = cell.source.splitlines()
            cell.source = "\n".join(line for line in lines if not line.lstrip().startswith(TRACKING_LINES))
    return stripped


def run_notebook(nb: nbformat.NotebookNode, workdir: Path) -> float:
    """Wall time of one nbclient run of `nb` in a fresh kernel, startup and shutdown included."""
    client = NotebookClient(
        copy.deepcopy(nb),
        kernel_manager_class=AsyncThisPythonKernelManager,
        timeout=NOTEBOOK_TIMEOUT_S,
        startup_timeout=int(KERNEL_STARTUP_TIMEOUT_S),
    )
    start = time.perf_counter()
    # nbclient shuts the kernel down itself, also when a cell fails.
    client.execute(cwd=str(workdir), env=kernel_env(workdir))
    return time.perf_counter() - start


def bench_notebook(repeat: int, workdir: Path) -> None:
    """Part (c): the example notebook with and without its tracking lines."""
    name = NOTEBOOK.relative_to(EXAMPLES.parent)
    print(f"(c) {name} with nbclient, {repeat} runs each, fresh kernel per run; {load_average()}")
    # The notebook reads data/churn.csv relative to its folder and writes model.joblib next to it.
    shutil.copytree(EXAMPLES / "data", workdir / "data")
    tracked_nb = nbformat.read(NOTEBOOK, as_version=4)
    plain_nb = strip_tracking(tracked_nb)

    plain: list[float] = []
    tracked: list[float] = []
    for _ in range(repeat):
        plain.append(run_notebook(plain_nb, workdir))
        tracked.append(run_notebook(tracked_nb, workdir))

    plain_med, tracked_med = statistics.median(plain), statistics.median(tracked)
    print(f"    untracked  median {plain_med:6.2f} s   runs {', '.join(f'{t:.2f}' for t in plain)}")
    print(f"    tracked    median {tracked_med:6.2f} s   runs {', '.join(f'{t:.2f}' for t in tracked)}")
    ratio = tracked_med / plain_med
    print(f"    added {tracked_med - plain_med:+.2f} s per run (median); ratio {ratio:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=300, help="one-line cells timed per kernel and series (a)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the example notebook per variant (c)")
    parser.add_argument("--baseline-code", type=Path, help="folder holding another jupyter_mlops package, "
                        "measured beside this one in (a) and (b)")
    parser.add_argument("--parts", default="a,b,c", help="which parts to run")
    parser.add_argument("--notebooks", default="", help="(b): comma-separated public notebooks (default: all)")
    parser.add_argument("--rounds", type=int, default=2, help="(b): replays of every notebook per variant")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    baseline = args.baseline_code.resolve() if args.baseline_code else None

    # Line-buffered, so results interleave sensibly with anything the kernels print to stderr.
    sys.stdout.reconfigure(line_buffering=True)
    print(f"python {sys.executable}" + (f"; baseline code from {baseline}" if baseline else ""))
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        try:
            if "a" in parts:
                bench_cells(args.cells, Path(tmp) / "cells", baseline)
            if "b" in parts:
                bench_real_cells(Path(tmp) / "real", baseline, {n for n in args.notebooks.split(",") if n}, args.rounds)
            if "c" in parts:
                bench_notebook(args.repeat, Path(tmp) / "notebook")
        except (KernelError, CellExecutionError) as exc:
            print(f"benchmark stopped, a cell failed: {exc}", file=sys.stderr)
            if "No module named 'jupyter_mlops'" in str(exc):
                print("Install the package in this interpreter first: pip install -e .", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
