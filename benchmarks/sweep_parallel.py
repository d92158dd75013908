"""What does ``jupyter mlops sweep -j N`` buy over the loop users write today? Wall time of one grid.

The same 2×2 grid of ``examples/churn.ipynb`` (``max_depth`` × ``n_estimators``), three ways, each in its own
copy of one committed git + DVC project (exported as a single stage), all tracked:

    loop      ``papermill churn.ipynb out.ipynb -p max_depth D -p n_estimators N`` four times in a row
    sweep -j1 the grid queued as DVC experiments, one worker
    sweep -j2 the same with two workers

Printed: each wall time and its ratio to the loop (the sweep also queues, copies the repository per
experiment and commits each result as a DVC experiment, which the loop does not). On a machine with fewer
free cores than workers, -j2 gains less. No asserts.

    PYTHONPATH=. python benchmarks/sweep_parallel.py [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
GRID = {"max_depth": ("2", "4"), "n_estimators": ("5", "10")}
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
       "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}


def run(cwd: Path, *argv: str) -> None:
    subprocess.run(argv, cwd=cwd, env=ENV, check=True, capture_output=True, text=True)


def project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    run(folder, "git", "init", "-q")
    run(folder, sys.executable, "-m", "dvc", "init", "-q")
    shutil.copy(EXAMPLES / "churn.ipynb", folder / "churn.ipynb")
    shutil.copytree(EXAMPLES / "data", folder / "data")
    (folder / ".gitignore").write_text(".mlops/\nmlflow.db\nmlruns/\nmodel.joblib\nout*.ipynb\n")
    run(folder, sys.executable, "-m", "papermill", "churn.ipynb", "out.ipynb", "-k", "python3")
    run(folder, sys.executable, "-m", "jupyter_mlops.commands", "export", "churn.ipynb", "--stages", "single")
    run(folder, "git", "add", "-A")
    run(folder, "git", "commit", "-qm", "pipeline")
    return folder


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="workers of the parallel sweep (default 2)")
    args = parser.parse_args()
    if args.jobs < 2:
        parser.error("--jobs: at least 2 (one worker is the -j1 run)")
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        base = project(Path(tmp) / "base")
        copies = {name: Path(tmp) / name for name in ("loop", "j1", f"j{args.jobs}")}
        for folder in copies.values():
            shutil.copytree(base, folder, symlinks=True)
        combos = [(d, n) for d in GRID["max_depth"] for n in GRID["n_estimators"]]

        def loop() -> None:
            for i, (d, n) in enumerate(combos):
                run(copies["loop"], sys.executable, "-m", "papermill", "churn.ipynb", f"out{i}.ipynb", "-k", "python3",
                    "-p", "max_depth", d, "-p", "n_estimators", n)

        def sweep(jobs: int) -> None:
            axes = [arg for name, values in GRID.items() for arg in ("-S", f"{name}={','.join(values)}")]
            run(copies[f"j{jobs}"], sys.executable, "-m", "jupyter_mlops.commands", "sweep", "churn.ipynb", *axes,
                "-j", str(jobs))

        seconds = {"loop (papermill -p, in a row)": timed(loop), "sweep -j1": timed(lambda: sweep(1)),
                   f"sweep -j{args.jobs}": timed(lambda: sweep(args.jobs))}
    baseline = next(iter(seconds.values()))
    print(f"{len(combos)} experiments of examples/churn.ipynb, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    for name, s in seconds.items():
        print(f"  {name:<32} {s:7.1f} s   {s / baseline:5.2f}× the loop")


if __name__ == "__main__":
    main()
