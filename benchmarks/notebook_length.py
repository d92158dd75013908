"""Does a cell cost more in a longer notebook? The tracker's added cost per cell at 50, 500 and 2,000 cells.

Each notebook is a chain of ``x{i} = x{i-1} + 1`` cells, saved with ids and run top to bottom in an
in-process IPython shell with ``%mlops_track --no-mlflow --notebook`` (so every verdict judges the whole
notebook), in a fresh process per length. Timed: the tracker's own ``pre_run_cell`` and
``post_run_cell`` (what it adds to each cell, without ZMQ's noise), as medians over the first and the
last 100 cells (or halves, for shorter notebooks). Goal: last within 10% of first. Each length runs
``--repeat`` times and each window keeps its lowest median: on a shared machine other work only ever adds
time, so the lowest is the tracker's own cost. ``--profile`` prints where the last cells of the longest
notebook spend their time. No asserts.

    python benchmarks/notebook_length.py [--lengths 50,500,2000] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 100


def notebook(path: Path, cells: int) -> None:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": f"n{i}", "metadata": {}, "outputs": [], "execution_count": None,
         "source": f"x{i} = {'x' + str(i - 1) if i else 0} + 1"} for i in range(cells)]}
    path.write_text(json.dumps(nb))


def child(folder: Path, cells: int, profile: bool) -> None:
    """In a fresh process: run the notebook in an in-process shell, timing the tracker's two hooks."""
    from IPython.core.interactiveshell import InteractiveShell

    os.chdir(folder)
    shell = InteractiveShell.instance()
    shell.run_cell("%load_ext jupyter_mlops")
    shell.run_cell("%mlops_track --no-mlflow --notebook long.ipynb")
    from jupyter_mlops.kernel import magic

    session = magic.current()
    costs: list[float] = []
    for name in ("pre_run_cell", "post_run_cell"):
        hook = getattr(session, name)
        shell.events.unregister(name, hook)

        def timed(arg, hook=hook) -> None:
            t0 = time.perf_counter()
            hook(arg)
            costs.append(time.perf_counter() - t0)

        shell.events.register(name, timed)
    sources = [c["source"] for c in json.loads((folder / "long.ipynb").read_text())["cells"]]
    window = min(WINDOW, cells // 2)
    profiler = None
    for i, source in enumerate(sources):
        if profile and i == cells - window:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        shell.run_cell(source, store_history=True)
    if profiler is not None:
        profiler.disable()
        import pstats

        pstats.Stats(profiler).sort_stats("cumulative").print_stats(18)
    per_cell = [a + b for a, b in zip(costs[::2], costs[1::2], strict=True)]
    first, last = statistics.median(per_cell[:window]), statistics.median(per_cell[-window:])
    print(json.dumps({"cells": cells, "window": window, "first": first, "last": last,
                      "reproducible": session.verdict.reproducible}))


def _run_child(cells: int, profile: bool) -> dict:
    """One run of a ``cells``-long notebook in a fresh process; prints its profile when asked."""
    with tempfile.TemporaryDirectory(prefix="mlops-length-bench-") as tmp:
        folder = Path(tmp)
        subprocess.run(["git", "init", "-q", str(folder)], check=True)
        notebook(folder / "long.ipynb", cells)
        argv = [sys.executable, __file__, "--child", str(folder), str(cells)] + (["--profile"] if profile else [])
        out = subprocess.run(argv, capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    lines = out.strip().splitlines()
    if len(lines) > 1:
        print("\n".join(lines[:-1]))
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="50,500,2000")
    parser.add_argument("--repeat", type=int, default=3, help="runs per length; each window keeps its lowest")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "CELLS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), int(args.child[1]), args.profile)
        return 0
    lengths = [int(n) for n in args.lengths.split(",")]
    print("added by the tracker per cell (pre_run_cell + post_run_cell), median:")
    for cells in lengths:
        runs = [_run_child(cells, args.profile and cells == max(lengths) and i == 0) for i in range(args.repeat)]
        w = runs[0]["window"]
        first, last = min(r["first"] for r in runs), min(r["last"] for r in runs)
        spread = ", ".join(f"{r['last'] / r['first']:.2f}" for r in runs)
        print(f"  {cells:>5} cells: first {w} {first * 1e3:6.3f} ms, last {w} {last * 1e3:6.3f} ms, "
              f"last/first {last / first:5.2f}x (runs: {spread}; state reproducible: "
              f"{all(r['reproducible'] for r in runs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
