"""Eight kernels tracking into one journal for minutes, while the CLI and the server read it (issue 7).

The long version of ``tests/reliability/test_concurrency.py``: six notebooks and two kernels on a seventh
run cells as fast as they answer; a reader runs ``jupyter mlops runs`` and the server's history code in a
loop. Prints throughput, round-trip percentiles, and the count that matters: cells answered but not stored
(or stored twice), which must be 0. Asserts nothing. Everything in a temporary directory.

    python benchmarks/concurrency.py [--seconds 180] [--kernels 8]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jupyter_mlops.journal import Journal
from tests.reliability.test_concurrency import CELLS, read_while_writing
from tests.support.kernel import Kernel


def drive(kernel: Kernel, k: int, stop_at: float, times: list[float], warnings: list[str]) -> list[str]:
    done, n = [], 0
    while time.monotonic() < stop_at:
        cell_id = f"k{k}-{n}"
        t0 = time.perf_counter()
        reply = kernel.run(CELLS[n % len(CELLS)].format(k=k, n=n), cell_id)
        times.append(time.perf_counter() - t0)
        if reply.status == "ok":
            done.append(cell_id)
        if "jupyter-mlops" in reply.stderr:
            warnings.append(reply.stderr.strip())
        n += 1
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--kernels", type=int, default=8)
    args = parser.parse_args()
    names = [f"nb{i}" for i in range(args.kernels - 2)] + ["shared", "shared"]
    with tempfile.TemporaryDirectory(prefix="mlops-concurrency-") as tmp:
        project = Path(tmp)
        subprocess.run(["git", "init", "-q", str(project)], check=True)
        (project / "out").mkdir()
        (project / "shared.csv").write_text("a,b\n1,2\n")
        for name in set(names):
            (project / f"{name}.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5,
                                                               "metadata": {}, "cells": []}))
        with ThreadPoolExecutor(len(names)) as pool:
            kernels = list(pool.map(lambda _: Kernel(project), names))
        stop, failures, counts = threading.Event(), [], {"cli": 0, "server": 0}
        times: list[float] = []
        warnings: list[str] = []
        try:
            sessions = []
            for kernel, name in zip(kernels, names, strict=True):
                kernel.cell("%load_ext jupyter_mlops", "load")
                kernel.cell(f"%mlops_track --no-mlflow --notebook {name}.ipynb", "track")
                sessions.append(kernel.eval("__import__('jupyter_mlops').status()['session']"))
            reader = threading.Thread(target=read_while_writing, args=(project, stop, failures, counts))
            reader.start()
            started = time.monotonic()
            with ThreadPoolExecutor(len(kernels)) as pool:
                answered = list(pool.map(
                    lambda kk: drive(kk[1], kk[0], started + args.seconds, times, warnings), enumerate(kernels)))
            elapsed = time.monotonic() - started
            stop.set()
            reader.join()
        finally:
            stop.set()
            for kernel in kernels:
                kernel.shutdown()
        journal = Journal(project / ".mlops" / "journal.sqlite", create=False)
        lost = 0
        for sid, cells in zip(sessions, answered, strict=True):
            stored = [r["cell_id"] for r in journal.session_detail(sid)["cell_runs"]]
            lost += len(set(cells) - set(stored)) + len([c for c in stored if c not in set(cells)])
        journal.close()
        with sqlite3.connect(project / ".mlops" / "journal.sqlite") as db:
            twice = db.execute("SELECT COUNT(*) FROM (SELECT 1 FROM cell_runs GROUP BY session_id, seq"
                               " HAVING COUNT(*) > 1)").fetchone()[0]
            check = db.execute("PRAGMA integrity_check").fetchone()[0]
        total = sum(len(a) for a in answered)
        times.sort()
        print(f"{len(kernels)} kernels x {total:,} cells in {elapsed:.0f} s ({total / elapsed:.0f} cells/s), "
              f"per kernel {min(map(len, answered)):,}-{max(map(len, answered)):,}")
        print(f"  cell round trip p50 {times[len(times) // 2] * 1000:.1f} ms, "
              f"p99 {times[int(len(times) * 0.99)] * 1000:.1f} ms, max {times[-1] * 1000:.0f} ms "
              f"(mean {statistics.mean(times) * 1000:.1f} ms)")
        print(f"  readers meanwhile: {counts['cli']} `jupyter mlops runs`, {counts['server']} server session lists;"
              f" reader failures {len(failures)}")
        print(f"  records lost or foreign {lost}, stored twice {twice}, warnings shown in cells {len(warnings)}, "
              f"integrity {check}")


if __name__ == "__main__":
    main()
