"""What does the out-of-order detector cost per cell run?

The session calls it on the kernel's hot path: ``preflight`` before a cell, ``record`` and ``verdict``
after it. This builds a 200-cell data-science-shaped notebook (imports, loads, cleaning, a feature per
cell, helpers, models, displays, plots), runs it top to bottom, then re-runs ~800 cells picked at random
(displays and plots most often, as people do), timing every call. Pure Python, no kernel: these are the
milliseconds the detector adds on top of the cell itself.

    python benchmarks/detector_cost.py [--cells 200] [--executions 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from jupyter_mlops.kernel.analysis import analyze
from jupyter_mlops.kernel.order import Detector, Execution, NotebookCell


def build_notebook(size: int) -> list[NotebookCell]:
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
    return [NotebookCell(f"c{i}", code) for i, code in enumerate(cells[:size])]


def files_for(cell: NotebookCell) -> dict[str, dict[str, str]]:
    if "read_csv" in cell.code:
        return {"files_read": {"data/raw.csv": "r1", "data/lookup.csv": "l1"}}
    if "to_csv" in cell.code:
        return {"files_written": {"out/features.csv": "w1"}}
    return {}


def timed(call: Callable[[], object], into: list[float]) -> object:
    start = time.perf_counter()
    result = call()
    into.append((time.perf_counter() - start) * 1000)
    return result


def summary(label: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1] if ordered else 0.0
    print(f"  {label:<22} n={len(samples):5d}  median {statistics.median(samples):7.3f} ms  "
          f"p95 {p95:7.3f} ms  max {max(samples):7.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    notebook = build_notebook(args.cells)

    cold: list[float] = []
    analyze.cache_clear()
    for cell in notebook:
        timed(lambda cell=cell: analyze(cell.code), cold)
    cached: list[float] = []
    for cell in notebook:
        timed(lambda cell=cell: analyze(cell.code), cached)

    detector = Detector()
    preflights: list[float] = []
    records: list[float] = []
    verdicts: list[float] = []
    verdicts_clean: list[float] = []
    verdicts_dirty: list[float] = []
    displays = [c for c in notebook if "head()" in c.code or "subplots" in c.code]
    order = list(notebook)
    while len(order) < args.executions:
        order.append(rng.choice(displays) if rng.random() < 0.6 else rng.choice(notebook))
    for cell in order:
        timed(lambda cell=cell: detector.preflight(notebook, cell.cell_id, cell.code), preflights)
        timed(lambda cell=cell: detector.record(Execution(cell.cell_id, cell.code, **files_for(cell))), records)
        start = time.perf_counter()
        verdict = detector.verdict(notebook, frozenset({"np", "pd", "plt", "fig", "ax", "model", "scale"}))
        elapsed = (time.perf_counter() - start) * 1000
        verdicts.append(elapsed)
        (verdicts_clean if verdict.reproducible else verdicts_dirty).append(elapsed)

    per_run = [p + r + v for p, r, v in zip(preflights, records, verdicts, strict=True)]
    print(f"detector cost: {len(notebook)}-cell notebook, {len(order)} executions "
          f"({len(verdicts_clean)} clean verdicts, {len(verdicts_dirty)} with issues)")
    summary("analyze (cold)", cold)
    summary("analyze (cached)", cached)
    summary("preflight", preflights)
    summary("record", records)
    summary("verdict", verdicts)
    if verdicts_clean:
        summary("verdict, reproducible", verdicts_clean)
    if verdicts_dirty:
        summary("verdict, with issues", verdicts_dirty)
    summary("per cell run (all 3)", per_run)
    print(f"  final verdict: {len(verdict.issues)} issue(s); kinds: {sorted({i.kind for i in verdict.issues})}")


if __name__ == "__main__":
    main()
