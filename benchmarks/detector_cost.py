"""What does the out-of-order detector cost per cell run?

The session calls it on the kernel's hot path: ``preflight`` before a cell, ``record`` and ``verdict``
after it. This builds data-science-shaped notebooks (imports, loads, cleaning, a feature per cell,
helpers, models, displays, plots) of 30 and 200 cells, runs each top to bottom, then:

- clean: re-runs displays, the last plot and the last cell (nothing changes upstream; the state stays
  reproducible: an earlier plot re-run would leave its picture in `fig` and `ax`, where top to bottom the
  last plot's is) — the common case, which must cost well under a millisecond;
- dirty: re-runs cells picked at random (displays and plots most often, as people do), which soon
  leaves the state with issues that are never fixed — the worst case, bounded by the fix budget.

Each is timed twice in the same run: "before" is the engine recomputing the symbolic top-to-bottom run
and every fix from scratch on each call (its caches emptied first), "after" the incremental engine.
Pure Python, no kernel: these are the milliseconds the detector adds on top of the cell itself.

    python benchmarks/detector_cost.py [--sizes 30,200] [--executions 600] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from jupyter_mlops.core.analysis import analyze
from jupyter_mlops.core.notebook import Cell
from jupyter_mlops.core.verdict.detector import Detector
from jupyter_mlops.core.verdict.model import Execution


def build_notebook(size: int) -> list[Cell]:
    cells = [
        "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt",
        "df = pd.read_csv('data/raw.csv')\nlookup = pd.read_csv('data/lookup.csv')",
        "df = df.dropna()\ndf = df[df['f0'] > 0]",
        "def scale(col):\n    return (col - col.mean()) / col.std() * factor",
        "factor = 1.5\nnp.random.seed(0)",
    ]
    index = 0
    while len(cells) < size - 3:
        index += 1
        shape = index % 6
        if shape == 0:
            cells.append(f"df['f{index}'] = scale(df['f{index - 1}'])")
        elif shape == 1:
            cells.append(f"df.head()\nprint(df['f{index - 1}'].describe())")
        elif shape == 2:
            cells.append(f"fig, ax = plt.subplots()\nax.hist(df['f{index - 2}'], bins=20)\nax.set_title('f{index}')")
        elif shape == 3:
            stats = f"stats_{index} = {{'mean': df['f{index - 3}'].mean(), 'n': len(df)}}"
            cells.append(f"{stats}\nresults.append(stats_{index})" if index > 3 else "results = []")
        elif shape == 4:
            cells.append(f"df['f{index}'] = df['f{index - 4}'].fillna(0).astype(float)")
        else:
            cells.append(f"sample_{index} = df.sample(5, random_state={index})\nnoise_{index} = np.random.rand(3)")
    cells[8] = "results = []"
    cells += [
        "X = df[[c for c in df.columns if c.startswith('f')]]\ny = df['target']",
        "from sklearn.linear_model import LogisticRegression\nmodel = LogisticRegression().fit(X, y)",
        "auc = model.score(X, y)\nprint(auc)\ndf.to_csv('out/features.csv')",
    ]
    return [Cell(f"c{i}", code) for i, code in enumerate(cells[:size])]


def files_for(cell: Cell) -> dict[str, dict[str, str]]:
    if "read_csv" in cell.source:
        return {"files_read": {"data/raw.csv": "r1", "data/lookup.csv": "l1"}}
    if "to_csv" in cell.source:
        return {"files_written": {"out/features.csv": "w1"}}
    return {}


def timed(call: Callable[[], object], into: list[float]) -> object:
    start = time.perf_counter()
    result = call()
    into.append((time.perf_counter() - start) * 1000)
    return result


class FromScratch(Detector):
    """The engine without its caches: what every call cost before the engine became incremental."""

    def _expected(self, book, end, snapshot=None):  # type: ignore[no-untyped-def]
        self._prefix.clear()
        self.repairs.clear()
        return super()._expected(book, end, snapshot)


@dataclass
class Timings:
    preflight: list[float] = field(default_factory=list)
    record: list[float] = field(default_factory=list)
    verdict: list[float] = field(default_factory=list)
    per_run: list[float] = field(default_factory=list)
    dirty_runs: int = 0


OPAQUE = frozenset({"np", "pd", "plt", "fig", "ax", "model", "scale"})


def replay(detector: Detector, notebook: list[Cell], order: list[Cell], warmup: int) -> Timings:
    """Run ``order``; time every call after the first ``warmup`` runs (the top-to-bottom run)."""
    times = Timings()
    for index, cell in enumerate(order):
        pre: list[float] = []
        rec: list[float] = []
        ver: list[float] = []
        timed(lambda cell=cell: detector.preflight(notebook, cell.cell_id, cell.source), pre)
        timed(lambda cell=cell: detector.record(Execution(cell.cell_id, cell.source, **files_for(cell))), rec)
        verdict = timed(lambda: detector.verdict(notebook, OPAQUE), ver)
        if index < warmup:
            continue
        times.preflight += pre
        times.record += rec
        times.verdict += ver
        times.per_run.append(pre[0] + rec[0] + ver[0])
        times.dirty_runs += not verdict.reproducible  # type: ignore[attr-defined]
    return times


def sessions(notebook: list[Cell], executions: int, rng: random.Random) -> dict[str, list[Cell]]:
    plots = [c for c in notebook if "subplots" in c.source]
    displays = [c for c in notebook if "head()" in c.source] + plots + [notebook[-1]]
    # Clean: what leaves every name as top to bottom: displays, the last cell, and the last plot (an earlier
    # one re-run would leave its picture in fig and ax, where top to bottom the last plot's is).
    harmless = [c for c in notebook if "head()" in c.source] + plots[-1:] + [notebook[-1]]
    clean = list(notebook) + [rng.choice(harmless) for _ in range(executions)]
    dirty = list(notebook)
    while len(dirty) < len(notebook) + executions:
        dirty.append(rng.choice(displays) if rng.random() < 0.6 else rng.choice(notebook))
    return {"clean": clean, "dirty": dirty}


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(int(len(ordered) * 0.95) - 1, 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="30,200", help="notebook sizes, comma-separated")
    parser.add_argument("--executions", type=int, default=600, help="timed runs after the top-to-bottom run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print("detector cost per cell run, ms (median / p95); before = recomputed from scratch on every call")
    print(f"{'cells':>5} {'state':<6} {'call':<10} {'before':>17} {'after':>17} {'speed-up':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        notebook = build_notebook(size)
        analyze.cache_clear()
        cold: list[float] = []
        for cell in notebook:
            timed(lambda cell=cell: analyze(cell.source), cold)
        for state, order in sessions(notebook, args.executions, random.Random(args.seed)).items():
            before = replay(FromScratch(), notebook, order, len(notebook))
            after = replay(Detector(), notebook, order, len(notebook))
            for call in ("preflight", "record", "verdict", "per_run"):
                (b_med, b_p95), (a_med, a_p95) = stats(getattr(before, call)), stats(getattr(after, call))
                print(f"{size:>5} {state:<6} {call:<10} {b_med:7.3f} / {b_p95:7.3f} {a_med:7.3f} / {a_p95:7.3f} "
                      f"{b_med / a_med:8.1f}x")
            print(f"{'':>5} {state:<6} ({len(after.per_run)} timed runs, {after.dirty_runs} left the state "
                  f"not reproducible)")
        print(f"{size:>5} analyze (cold, once per new code): median {statistics.median(cold):.3f} ms")


if __name__ == "__main__":
    main()
