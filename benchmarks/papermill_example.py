"""What does tracking add to a batch run? The example notebook under papermill, untracked vs tracked.

Three variants of ``examples/churn.ipynb`` take turns, round after round (machine noise lands on all alike),
each in a fresh project (git repository, no journal, no MLflow store: a CI checkout):

    untracked   the tracking cell replaced by ``import jupyter_mlops`` (``log_metric`` is then a no-op)
    no-mlflow   ``%mlops_track ... --no-mlflow``
    mirror      the notebook as shipped: tracking and the MLflow mirror into the project's SQLite store

Timed: the ``papermill`` command, start to exit, as a DVC stage or CI job waits for it, and the CPU time
of papermill and its kernel (steadier than wall time on a loaded machine; the follower is not their child
and is not counted: its CPU is the machine's, not the batch job's). ``--baseline-code DIR`` adds a fourth
variant, the shipped notebook run with the package found in DIR (e.g. an older checkout). The MLflow
mirror goes on after papermill returns; the next run starts only once the store holds the finished run,
so its work is not billed to the next variant, and how long it took after papermill's exit is printed
too. No asserts.

    python benchmarks/papermill_example.py [--rounds 3] [--baseline-code DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MIRROR_TIMEOUT_S = 300.0


def project(folder: Path, variant: str) -> Path:
    folder.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    shutil.copytree(EXAMPLES / "data", folder / "data")
    nb = json.loads((EXAMPLES / "churn.ipynb").read_text())
    [track] = [c for c in nb["cells"] if "%mlops_track" in "".join(c["source"])]
    source = "".join(track["source"])
    if variant == "untracked":
        track["source"] = "import jupyter_mlops"
    elif variant == "no-mlflow":
        track["source"] = source.rstrip() + " --no-mlflow"
    (folder / "churn.ipynb").write_text(json.dumps(nb))
    return folder


def mirror_done(folder: Path) -> bool:
    """The MLflow store holds the session's run, terminated (read with sqlite3: no MLflow import here)."""
    db = folder / "mlflow.db"
    if not db.exists():
        return False
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM runs WHERE status='FINISHED'").fetchone()[0] > 0
    except sqlite3.OperationalError:  # tables not created yet
        return False


def run(folder: Path, mirrored: bool, code: Path | None) -> tuple[float, float, float]:
    """Seconds papermill took, CPU seconds of it and its kernel, seconds after its exit until the mirror
    was done."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": ""}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "papermill", "churn.ipynb", "out.ipynb", "-k", "python3",
                    "--no-progress-bar"], cwd=folder, env=env, check=True, capture_output=True)
    exited = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    while mirrored and not mirror_done(folder) and time.perf_counter() - exited < MIRROR_TIMEOUT_S:
        time.sleep(0.05)
    return exited - started, cpu, time.perf_counter() - exited


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-code", type=Path, help="folder holding an other jupyter_mlops package")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    variants = ["untracked", "no-mlflow", "mirror"] + (["baseline"] if args.baseline_code else [])
    wall: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    tails: dict[str, list[float]] = {"mirror": [], "baseline": []}
    with tempfile.TemporaryDirectory(prefix="mlops-papermill-bench-") as tmp:
        for i in range(args.rounds):
            for variant in variants:
                folder = project(Path(tmp) / f"{variant}-{i}", "mirror" if variant == "baseline" else variant)
                mirrored = variant in tails
                seconds, used, tail = run(folder, mirrored, args.baseline_code if variant == "baseline" else None)
                wall[variant].append(seconds)
                cpu[variant].append(used)
                if mirrored:
                    tails[variant].append(tail)
                print(f"round {i + 1} {variant:9} {seconds:6.2f} s  cpu {used:6.2f} s"
                      + (f"  (MLflow run done {tail:.2f} s after exit)" if mirrored else ""))
    print(f"median of {args.rounds} rounds (papermill start to exit; CPU of papermill and its kernel):")
    base_wall, base_cpu = statistics.median(wall["untracked"]), statistics.median(cpu["untracked"])
    for variant in variants:
        w, c = statistics.median(wall[variant]), statistics.median(cpu[variant])
        print(f"    {variant:9} {w:6.2f} s {w / base_wall:5.2f}x untracked   cpu {c:6.2f} s {c / base_cpu:5.2f}x")
    for variant, done in tails.items():
        if done:
            print(f"    {variant}: the MLflow run complete {statistics.median(done):.2f} s (median) after exit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
