"""What does the MLflow mirror add to a cell run? Per-cell round trips with the mirror on vs off.

The mirror must never be in the kernel's way: it runs in the project's follower process and reads the
journal, so a cell should cost the same with it as without it (the kernel's share is one ``stat`` per
cell); only the CPU is shared, most visibly while the follower imports MLflow (~2 s) right after
``%mlops_track``. Four real kernels take turns cell by cell (machine noise lands on all alike), each cell
rebinding a watched metric so the mirror has one metric to send per cell:

    plain       no extension
    off         %mlops_track --metrics x --no-mlflow
    on          %mlops_track --metrics x, MLflow's SQLite store in a temp dir
    down        %mlops_track --metrics x, MLFLOW_TRACKING_URI at a port nobody listens on

Printed: the first cells after ``%mlops_track`` (the mirror importing MLflow) and the steady state, in
ms and as ratios to ``off``; then how long after the last cell the store held every metric. No asserts.

    python benchmarks/mlflow_overhead.py [--cells 200] [--first 20]
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from cell_overhead import ThisPythonKernelManager, execute  # same directory: the same round-trip clock
from jupyter_client import BlockingKernelClient

KERNEL_STARTUP_TIMEOUT_S = 60.0
DELIVERY_TIMEOUT_S = 120.0


def closed_port() -> int:
    """A port nothing listens on (bound and released): a store that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def kernel(workdir: Path, uri: str) -> Iterator[BlockingKernelClient]:
    workdir.mkdir(parents=True, exist_ok=True)
    km = ThisPythonKernelManager()
    km.start_kernel(cwd=str(workdir), env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=KERNEL_STARTUP_TIMEOUT_S)
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def metric_rows(workdir: Path) -> int:
    """Metrics the store holds (read straight from MLflow's SQLite file: no MLflow import here)."""
    db = workdir / "mlflow.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def line(name: str, times: list[float], off: list[float]) -> str:
    med, base = statistics.median(times), statistics.median(off)
    return (f"    {name:6} median {med * 1e3:7.2f} ms  mean {statistics.mean(times) * 1e3:7.2f} ms  "
            f"p95 {sorted(times)[int(len(times) * 0.95) - 1] * 1e3:7.2f} ms  vs off {med / base:5.2f}x "
            f"({(med - base) * 1e3:+.2f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200, help="steady-state cells timed per kernel")
    parser.add_argument("--first", type=int, default=20, help="cells timed right after %%mlops_track")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    with tempfile.TemporaryDirectory(prefix="mlops-mlflow-bench-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        down = f"http://127.0.0.1:{closed_port()}"
        setups = {
            "plain": (root / "plain", f"sqlite:///{root / 'plain' / 'mlflow.db'}", None),
            "off": (root / "off", f"sqlite:///{root / 'off' / 'mlflow.db'}", "--no-mlflow"),
            "on": (root / "on", f"sqlite:///{root / 'on' / 'mlflow.db'}", ""),
            "down": (root / "down", down, ""),
        }
        kcs = {name: stack.enter_context(kernel(folder, uri)) for name, (folder, uri, _) in setups.items()}
        for name, (folder, _, option) in setups.items():
            if option is not None:
                execute(kcs[name], "%load_ext jupyter_mlops")
                started = time.perf_counter()
                execute(kcs[name], f"%mlops_track --metrics x --experiment bench --root {folder} {option}")
                print(f"%mlops_track ({name:4}) {(time.perf_counter() - started) * 1e3:7.1f} ms")

        def take_turns(n: int, offset: int) -> dict[str, list[float]]:
            times: dict[str, list[float]] = {name: [] for name in kcs}
            for i in range(n):
                for name, kc in kcs.items():
                    times[name].append(execute(kc, f"x = {offset + i}")[0])
            return times

        first = take_turns(args.first, 0)
        print(f"first {args.first} cells after %mlops_track (the follower imports MLflow meanwhile):")
        for name in kcs:
            print(line(name, first[name], first["off"]))

        time.sleep(5)  # let the follower's start-up finish before the steady state
        steady = take_turns(args.cells, args.first)
        last_cell = time.perf_counter()
        print(f"steady state, {args.cells} cells per kernel, each rebinding a watched metric:")
        for name in kcs:
            print(line(name, steady[name], steady["off"]))

        expected = args.first + args.cells
        folder = setups["on"][0]
        while metric_rows(folder) < expected and time.perf_counter() - last_cell < DELIVERY_TIMEOUT_S:
            time.sleep(0.05)
        print(f"mirror 'on': {metric_rows(folder)}/{expected} metrics in the store "
              f"{time.perf_counter() - last_cell:.2f} s after the last cell")
    return 0


if __name__ == "__main__":
    sys.exit(main())
