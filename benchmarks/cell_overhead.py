"""How much time does tracking add to each cell run, and to a whole notebook run?

Tracking sits on the kernel's hot path (pre_run_cell / post_run_cell on every execution), so its cost
has to be measured the way users pay it: real kernels, messages over ZMQ, a `cellId` in the
execute_request metadata as JupyterLab sends it. Absolute times depend on the machine; the baseline is
measured in the same run, so read the added milliseconds and the ratios.

(a) `--cells` trivial cells in a plain kernel and in a fresh kernel with `%load_ext jupyter_mlops` and
    `%mlops_track --no-mlflow --root <tmpdir>`, taking turns cell by cell: per-cell round trip
    (execute_request -> execute_reply and the kernel back to idle). Also the cost of `%load_ext` itself
    and which heavy modules it pulled in.
(b) `examples/churn.ipynb` run with nbclient as written, and with its tracking lines stripped,
    `--repeat` times each (fresh kernel per run, runs interleaved so machine noise hits both alike).

Everything runs in a temporary directory, so nothing is written into the repository.
Needs the package installed in this interpreter (`pip install -e .`).

    python benchmarks/cell_overhead.py [--cells 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import queue
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client import AsyncKernelManager, BlockingKernelClient, KernelManager
from jupyter_client.kernelspec import KernelSpec
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOK = EXAMPLES / "churn.ipynb"
TRACKING_LINES = ("%load_ext jupyter_mlops", "%mlops_track")
# A few different statements, so the tracker sees definitions, uses and an expression result.
TRIVIAL_CELLS = ("x = 1", "y = x + 1", "s = str(y)", "x += 1", "y")
WARMUP_CELLS = 5
HEAVY_MODULES = ("mlflow", "dvc", "git")
REPLY_TIMEOUT_S = 60.0
KERNEL_STARTUP_TIMEOUT_S = 60.0
NOTEBOOK_TIMEOUT_S = 300


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


def kernel_env(workdir: Path) -> dict[str, str]:
    """Environment for benchmark kernels: never log to the user's MLflow server from a benchmark."""
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}


def execute(
    kc: BlockingKernelClient,
    code: str,
    *,
    silent: bool = False,
    user_expressions: dict[str, str] | None = None,
) -> tuple[float, dict[str, Any]]:
    """Run `code` as a notebook cell and return (seconds, execute_reply content).

    Built by hand rather than with `kc.execute` because the tracker keys records on the `cellId` that
    JupyterLab puts in the request metadata, and `kc.execute` cannot send metadata. The clock stops
    when both the reply and the kernel's idle status have arrived: that is when a front end considers
    the cell done.
    """
    content = {
        "code": code,
        "silent": silent,
        "store_history": not silent,
        "user_expressions": user_expressions or {},
        "allow_stdin": False,
        "stop_on_error": True,
    }
    msg = kc.session.msg("execute_request", content)
    msg["metadata"].update({"cellId": str(uuid.uuid4()), "deletedCells": []})
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
        raise TimeoutError(f"no reply within {REPLY_TIMEOUT_S:.0f} s to {code!r}") from None
    elapsed = time.perf_counter() - start

    if reply["status"] != "ok":
        raise KernelError(f"{code!r} failed: {reply.get('ename')}: {reply.get('evalue')}")
    return elapsed, reply


@contextmanager
def running_kernel(workdir: Path) -> Iterator[BlockingKernelClient]:
    """A started kernel with `workdir` as its cwd, killed on exit whatever happened.

    Killed rather than shut down gracefully: the measurements are over, and a stuck kernel must not
    outlive the benchmark.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    km = ThisPythonKernelManager()
    km.start_kernel(cwd=str(workdir), env=kernel_env(workdir))
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
    """Which of HEAVY_MODULES the kernel has imported.

    Asked with a silent execution, which IPython runs without pre/post_run_cell, so the question is not
    itself recorded as a cell run.
    """
    expression = f"[m for m in {HEAVY_MODULES!r} if m in __import__('sys').modules]"
    _, reply = execute(kc, "", silent=True, user_expressions={"mods": expression})
    result = reply["user_expressions"]["mods"]
    if result["status"] != "ok":
        raise KernelError(f"could not inspect sys.modules: {result.get('ename')}: {result.get('evalue')}")
    return ast.literal_eval(result["data"]["text/plain"])


def summarize_ms(times: list[float]) -> str:
    return f"median {statistics.median(times) * 1e3:7.2f} ms   mean {statistics.mean(times) * 1e3:7.2f} ms"


def describe_modules(loaded: list[str]) -> str:
    return ", ".join(f"{m} {'yes' if m in loaded else 'no'}" for m in HEAVY_MODULES)


def bench_cells(n_cells: int, workdir: Path) -> None:
    """Part (a): trivial cells in a plain kernel and in a fresh tracked one.

    The two kernels run side by side and take turns, cell by cell, so that load from other processes
    on the machine lands on both series alike instead of on whichever happened to run during a spike.
    """
    print(f"(a) {n_cells} trivial cells per kernel; round trip = execute_request -> execute_reply + idle")
    with running_kernel(workdir) as plain_kc, running_kernel(workdir) as tracked_kc:
        load_s, _ = execute(tracked_kc, "%load_ext jupyter_mlops")
        after_load = loaded_heavy_modules(tracked_kc)
        execute(tracked_kc, f"%mlops_track --no-mlflow --root {workdir}")
        after_track = loaded_heavy_modules(tracked_kc)

        # The first executions after startup pay for lazy imports in the kernel; keep them out.
        for i in range(WARMUP_CELLS):
            execute(plain_kc, TRIVIAL_CELLS[i % len(TRIVIAL_CELLS)])
            execute(tracked_kc, TRIVIAL_CELLS[i % len(TRIVIAL_CELLS)])
        plain: list[float] = []
        tracked: list[float] = []
        for i in range(n_cells):
            code = TRIVIAL_CELLS[i % len(TRIVIAL_CELLS)]
            plain.append(execute(plain_kc, code)[0])
            tracked.append(execute(tracked_kc, code)[0])

    plain_med, tracked_med = statistics.median(plain), statistics.median(tracked)
    added_mean = statistics.mean(tracked) - statistics.mean(plain)
    print(f"    untracked  {summarize_ms(plain)}")
    print(f"    tracked    {summarize_ms(tracked)}")
    print(
        f"    added per cell {(tracked_med - plain_med) * 1e3:+.2f} ms (median), {added_mean * 1e3:+.2f} ms "
        f"(mean); ratio {tracked_med / plain_med:.2f}x (median)"
    )
    print(f"    %load_ext jupyter_mlops took {load_s * 1e3:.1f} ms")
    print(f"    in sys.modules after %load_ext:  {describe_modules(after_load)}")
    print(f"    after %mlops_track --no-mlflow:  {describe_modules(after_track)}")


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
    """Part (b): the example notebook with and without its tracking lines."""
    name = NOTEBOOK.relative_to(EXAMPLES.parent)
    print(f"(b) {name} with nbclient, {repeat} runs each, fresh kernel per run")
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
    parser.add_argument("--cells", type=int, default=300, help="trivial cells timed per kernel (a)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the example notebook per variant (b)")
    args = parser.parse_args()

    # Line-buffered, so results interleave sensibly with anything the kernels print to stderr.
    sys.stdout.reconfigure(line_buffering=True)
    print(f"python {sys.executable}")
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        try:
            bench_cells(args.cells, Path(tmp) / "cells")
            bench_notebook(args.repeat, Path(tmp) / "notebook")
        except (KernelError, CellExecutionError) as exc:
            print(f"benchmark stopped, a cell failed: {exc}", file=sys.stderr)
            if "No module named 'jupyter_mlops'" in str(exc):
                print("Install the package in this interpreter first: pip install -e .", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
