"""How often is the detector right? Recall and false alarms against a restart-and-run-all oracle.

Each notebook in ``benchmarks/notebooks/`` is replayed in many seeded random session scripts, the way
people work: run top to bottom for a while, then re-run a cell, run one out of order, skip one, edit a
literal and run it (or not), delete a cell, "run all below". The scripts run in an in-process IPython
``InteractiveShell`` with the real tracker loaded (``%load_ext jupyter_mlops``, ``%mlops_track``), each
cell sent with its ``cell_id``; the notebook as the frontend shows it (edits, deletions, order) goes to
the session as ``live_order``. After every step the tracker's ``status()["reproducible"]`` is compared
with the oracle's answer, and with the naive execution-count rule's.

The oracle: a fresh namespace runs the current notebook top to bottom, in a copy of the working folder
as it is now (a restart keeps the disk), down to the lowest cell that has run. Not further: cells below
have not been reached yet, which is a state the user can reach again by running the notebook down to
there, so it is reproducible; the detector's definition is the same. Cells that raise are skipped over
(an error in the oracle where the session's last run of the same code succeeded makes the state not
reproducible). Then every variable of the session that can be compared — numbers, strings, containers,
numpy arrays, pandas objects (``.equals``) — must equal the oracle's; modules, functions, classes,
figures and objects with identity-only equality are skipped, and so are names the oracle itself does
not reproduce (two oracle runs of the unchanged notebook disagree: unseeded randomness), so that
nondeterminism is excluded from the oracle rather than blamed on the detector. Variables only the
session has (left by a deleted cell) are not compared: nothing a rerun shows depends on them unless a
cell reads them, and then that cell's values differ. Files the notebook writes are compared by content.

The naive rule (Julynter-style): the state is flagged unless the cells that ran, read in notebook order,
have consecutive execution counts, none above the lowest run cell was skipped, none was edited since it
ran and no cell that ran was deleted.

    python benchmarks/detector_precision.py [--scripts 12] [--steps 14] [--seed 0] [--notebooks a,b] [--show 8]

A benchmark, not a test: it prints figures and the worst cases with their scripts, to reproduce them
(``--notebooks NAME --scripts 1 --first-script K``).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import io
import itertools
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")
NOTEBOOKS = Path(__file__).parent / "notebooks"
_SKIP_TYPES = ("module", "function", "builtin_function_or_method", "type", "method")


# -- notebooks and scripts --------------------------------------------------------------------------


@dataclass
class Cell:
    cell_id: str
    code: str


def load(path: Path) -> list[Cell]:
    cells = json.loads(path.read_text())["cells"]
    return [Cell(c["id"], "".join(c["source"])) for c in cells if c["cell_type"] == "code"]


def edit_literal(code: str, rng: random.Random) -> str | None:
    """A plausible edit: one numeric literal changed (what people tweak: sizes, seeds, thresholds)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    numbers = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and type(n.value) in (int, float)
               and not isinstance(n.value, bool) and n.value not in (0, 1)]
    if not numbers:
        return None
    node = rng.choice(numbers)
    value = node.value
    new = value + rng.choice((1, 2, -1)) if isinstance(value, int) else round(value * rng.choice((0.5, 1.5, 2)), 3)
    if isinstance(value, int) and value > 1 and new < 1:
        new = value + 1
    lines = code.splitlines(keepends=True)
    line = lines[node.lineno - 1]
    lines[node.lineno - 1] = line[: node.col_offset] + repr(new) + line[node.end_col_offset :]
    return "".join(lines)


def make_script(cells: list[Cell], rng: random.Random, steps: int) -> list[tuple]:
    """A session: top to bottom for a while, then what people do. Steps are replayable tuples."""
    script: list[tuple] = [("run", c.cell_id) for c in cells[: rng.randint(1, len(cells))]]
    ids = [c.cell_id for c in cells]
    codes = {c.cell_id: c.code for c in cells}
    ran = [s[1] for s in script]
    for _ in range(steps):
        live = [i for i in ids if i in codes]
        pick = rng.random()
        nxt = next((i for i in live if i not in ran), None)
        if pick < 0.25 and nxt is not None:
            script.append(("run", nxt))
        elif pick < 0.45:
            script.append(("run", rng.choice([i for i in ran if i in codes] or live)))
        elif pick < 0.55:
            script.append(("run", rng.choice(live)))  # out of order, maybe ahead
        elif pick < 0.62 and nxt is not None and live.index(nxt) + 1 < len(live):
            script.append(("run", live[live.index(nxt) + 1]))  # skip one
        elif pick < 0.82:
            target = rng.choice(live[1:] or live)
            edited = edit_literal(codes[target], rng)
            if edited is None:
                continue
            codes[target] = edited
            script.append(("edit", target, edited))
            if rng.random() < 0.75:
                script.append(("run", target))
        elif pick < 0.87 and len(live) > 3:
            target = rng.choice(live[1:])
            del codes[target]
            script.append(("delete", target))
        else:
            start = rng.choice(live)
            script.extend(("run", i) for i in live[live.index(start) :])  # "run all below"
        ran.extend(s[1] for s in script[-1:] if s[0] == "run")
    return script


# -- comparing values -------------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool | None:
    """Equal, different, or None when the values cannot be compared (identity-only, figures …)."""
    import numpy as np
    import pandas as pd

    if type(a) is not type(b):
        return False
    if type(a).__name__ in _SKIP_TYPES:
        return None
    if isinstance(a, pd.DataFrame | pd.Series | pd.Index):
        return bool(a.equals(b))
    if isinstance(a, np.ndarray):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        try:
            return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        except TypeError:
            return bool(np.array_equal(a, b))
    if isinstance(a, float | np.floating):
        return bool(a == b or (math.isnan(a) and math.isnan(b)))
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return False
        return _all([same(x, y) for x, y in zip(a, b, strict=True)])
    if isinstance(a, dict):
        if list(a) != list(b):
            return False
        return _all([same(a[k], b[k]) for k in a])
    if type(a).__eq__ is object.__eq__:
        return None
    try:
        return bool(a == b)
    except Exception:
        return None


def _all(results: list[bool | None]) -> bool | None:
    if any(r is False for r in results):
        return False
    return None if any(r is None for r in results) else True


def user_names(ns: dict[str, Any]) -> dict[str, Any]:
    hidden = {"In", "Out", "get_ipython", "exit", "quit", "display"}
    return {k: v for k, v in ns.items() if not k.startswith("_") and k not in hidden}


def folder_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file() and ".mlops" not in p.parts
    }


# -- the oracle -------------------------------------------------------------------------------------


@dataclass
class OracleRun:
    values: dict[str, Any]
    files: dict[str, str]
    errors: set[str]  # cell ids that raised


class Oracle:
    """Fresh-namespace top-to-bottom runs, cached by (cells, files on disk) since scripts revisit states."""

    def __init__(self) -> None:
        self.cache: dict[tuple, OracleRun] = {}
        self.runs = 0

    def run(self, cells: list[Cell], folder: Path) -> OracleRun:
        files = folder_digest(folder)
        key = (tuple((c.cell_id, c.code) for c in cells), tuple(sorted(files.items())))
        if key not in self.cache:
            self.cache[key] = self._run(cells, folder)
        return self.cache[key]

    def _run(self, cells: list[Cell], folder: Path) -> OracleRun:
        import matplotlib.pyplot as plt
        import numpy as np

        self.runs += 1
        scratch = Path(tempfile.mkdtemp(prefix="oracle-"))
        shutil.copytree(folder, scratch, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".mlops"))
        ns: dict[str, Any] = {"__name__": "__main__", "display": lambda *a, **k: None}
        errors = set()
        cwd = os.getcwd()
        os.chdir(scratch)
        # Same process as the session under test: its global generators must not see the oracle's draws.
        states = np.random.get_state(), random.getstate()
        np.random.seed(None)  # a fresh kernel's generators are seeded from entropy
        random.seed()
        try:
            for cell in cells:
                try:
                    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        exec(compile(cell.code, f"<{cell.cell_id}>", "exec"), ns)
                except Exception:
                    errors.add(cell.cell_id)
            result = OracleRun(user_names(ns), folder_digest(scratch), errors)
        finally:
            np.random.set_state(states[0])
            random.setstate(states[1])
            os.chdir(cwd)
            plt.close("all")
            shutil.rmtree(scratch, ignore_errors=True)
        return result


# -- the session under test -------------------------------------------------------------------------


@dataclass
class Step:
    action: tuple
    truth: bool  # reproducible per the oracle
    ours: bool
    naive: bool
    why: str = ""  # what the oracle found different
    issues: list[str] = field(default_factory=list)


class Session:
    """One script in the shared in-process shell, with a fresh namespace, folder and tracking session."""

    def __init__(self, shell: Any, cells: list[Cell], nondet: set[str]) -> None:
        self.shell, self.nondet = shell, nondet
        self.folder = Path(tempfile.mkdtemp(prefix="session-"))
        self.codes = {c.cell_id: c.code for c in cells}
        self.order = [c.cell_id for c in cells]
        self.ran_code: dict[str, str] = {}  # cell id -> code of its last run
        self.ok: dict[str, bool] = {}
        self.counts: dict[str, int] = {}
        self.count = 0
        self.ever_ran_deleted = False
        shell.reset(new_session=False)
        os.chdir(self.folder)
        self._quiet(lambda: shell.run_cell(f"%mlops_track --no-mlflow --root {self.folder}"))

    def _quiet(self, call: Any) -> Any:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()

    def current(self) -> list[Cell]:
        return [Cell(i, self.codes[i]) for i in self.order if i in self.codes]

    def apply(self, action: tuple) -> None:
        import jupyter_mlops
        from jupyter_mlops.kernel import magic
        from jupyter_mlops.kernel.order import NotebookCell

        if action[0] == "edit":
            self.codes[action[1]] = action[2]
        elif action[0] == "delete":
            del self.codes[action[1]]
            self.ever_ran_deleted |= action[1] in self.ran_code
        session = magic.current()
        session.live_order = [NotebookCell(c.cell_id, c.code) for c in self.current()]
        if action[0] == "run":
            code = self.codes[action[1]]
            result = self._quiet(lambda: self.shell.run_cell(code, store_history=True, cell_id=action[1]))
            self.count += 1
            self.counts[action[1]] = self.count
            self.ran_code[action[1]] = code
            self.ok[action[1]] = result.success
        self.status = jupyter_mlops.status()

    def frontier_cells(self) -> list[Cell]:
        cells = self.current()
        ran = [i for i, c in enumerate(cells) if c.cell_id in self.ran_code]
        return cells[: max(ran) + 1] if ran else []

    def naive(self) -> bool:
        cells = self.frontier_cells()
        counts = [self.counts.get(c.cell_id) for c in cells]
        if None in counts or self.ever_ran_deleted:
            return False
        if any(self.ran_code[c.cell_id] != c.code for c in cells):
            return False
        return all(b == a + 1 for a, b in itertools.pairwise(counts))

    def truth(self, oracle: Oracle) -> tuple[bool, str]:
        cells = self.frontier_cells()
        if not cells:
            return True, ""
        run = oracle.run(cells, self.folder)
        for cell in cells:
            if cell.cell_id in run.errors and self.ok.get(cell.cell_id) and self.ran_code[cell.cell_id] == cell.code:
                return False, f"a rerun raises in {cell.cell_id}"
        ns = user_names(self.shell.user_ns)
        for name, value in ns.items():
            if name in self.nondet or name not in run.values:
                continue
            if same(value, run.values[name]) is False:
                return False, f"{name} differs"
        for path, digest in folder_digest(self.folder).items():
            if run.files.get(path, digest) != digest:
                return False, f"file {path} differs"
        return True, ""

    def close(self) -> None:
        import matplotlib.pyplot as plt

        self._quiet(lambda: self.shell.run_cell("%mlops_track --off"))
        plt.close("all")
        os.chdir(tempfile.gettempdir())
        shutil.rmtree(self.folder, ignore_errors=True)


def nondeterministic(cells: list[Cell], oracle: Oracle) -> set[str]:
    """Names two top-to-bottom runs of the unchanged notebook disagree on (unseeded randomness)."""
    folder = Path(tempfile.mkdtemp(prefix="nondet-"))
    try:
        first, second = oracle._run(cells, folder), oracle._run(cells, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {n for n, v in first.values.items() if n in second.values and same(v, second.values[n]) is False}


# -- main -------------------------------------------------------------------------------------------


def rate(hits: int, total: int) -> str:
    return f"{hits / total:6.1%} ({hits}/{total})" if total else "   n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", type=int, default=12, help="session scripts per notebook")
    parser.add_argument("--first-script", type=int, default=0, help="index of the first script (to replay one)")
    parser.add_argument("--steps", type=int, default=14, help="actions per script after the first run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--notebooks", default="", help="comma-separated names (default: all)")
    parser.add_argument("--show", type=int, default=8, help="worst cases to list")
    parser.add_argument("--verbose", action="store_true", help="print every step")
    args = parser.parse_args()

    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_cell("%load_ext jupyter_mlops")
    oracle = Oracle()
    wanted = {n for n in args.notebooks.split(",") if n}
    paths = [p for p in sorted(NOTEBOOKS.glob("*.ipynb")) if not wanted or p.stem in wanted]
    results: list[tuple[str, int, list[tuple], Step]] = []
    started = time.perf_counter()
    for path in paths:
        cells = load(path)
        nondet = nondeterministic(cells, oracle)
        for index in range(args.first_script, args.first_script + args.scripts):
            rng = random.Random(f"{args.seed}:{path.stem}:{index}")
            script = make_script(cells, rng, args.steps)
            session = Session(shell, cells, nondet)
            try:
                for n, action in enumerate(script):
                    session.apply(action)
                    if action[0] != "run":
                        continue  # the kernel learns of edits and deletions with the next run: judged then
                    truth, why = session.truth(oracle)
                    ours = bool(session.status["reproducible"])
                    step = Step(action, truth, ours, session.naive(), why,
                                [f"{i['kind']}@{i['cell_id']}: {i['message']}" for i in session.status["issues"]])
                    results.append((path.stem, index, script[: n + 1], step))
                    if args.verbose:
                        print(path.stem, index, n, action[:2], "truth", truth, "ours", ours, why, step.issues[:2])
            finally:
                session.close()
    elapsed = time.perf_counter() - started

    bad = [r for r in results if not r[3].truth]
    good = [r for r in results if r[3].truth]
    caught = [r for r in bad if not r[3].ours]
    alarms = [r for r in good if not r[3].ours]
    naive_caught = [r for r in bad if not r[3].naive]
    naive_alarms = [r for r in good if not r[3].naive]
    print(f"detector precision: {len(paths)} notebooks × {args.scripts} scripts, {len(results)} states judged "
          f"({len(bad)} not reproducible per the oracle), {oracle.runs} oracle runs, {elapsed:.0f} s")
    print(f"  {'':<26} {'recall':>16}   {'false alarms':>16}")
    print(f"  {'jupyter-mlops':<26} {rate(len(caught), len(bad)):>16}   {rate(len(alarms), len(good)):>16}")
    print(f"  {'naive execution counts':<26} {rate(len(naive_caught), len(bad)):>16}   "
          f"{rate(len(naive_alarms), len(good)):>16}")
    per_nb: dict[str, list[int]] = {}
    for name, _, _, step in results:
        row = per_nb.setdefault(name, [0, 0, 0, 0])
        row[0 if not step.truth else 2] += 1
        row[1 if not step.truth else 3] += not step.ours  # caught, or a false alarm
    print("  per notebook: missed/not-reproducible, false-alarms/reproducible")
    for name, (nb, caught_n, ng, alarm_n) in per_nb.items():
        print(f"    {name:<24} missed {nb - caught_n:3d}/{nb:<4d} alarms {alarm_n:3d}/{ng}")
    misses = [r for r in bad if r[3].ours]
    for title, cases in (("misses", misses), ("false alarms", alarms)):
        if not cases:
            continue
        print(f"\n{title} ({len(cases)}), first {args.show} (distinct scripts):")
        seen = set()
        for name, index, script, step in cases:
            if (name, index) in seen or len(seen) >= args.show:
                continue
            seen.add((name, index))
            print(f"  {name} script {index} step {len(script) - 1}: {step.action[:2]}  oracle: "
                  f"{step.why or 'reproducible'}")
            for issue in step.issues[:2]:
                print(f"      {issue}")
            print("      script: " + " ".join(
                f"{a[0][0]}:{a[1].rsplit('-', 1)[-1]}" for a in script))


if __name__ == "__main__":
    sys.exit(main())
