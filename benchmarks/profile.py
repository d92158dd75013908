"""The profile of a 1 GiB CSV and a 1 GiB parquet file against their md5, and what profiling costs the cells.

Prints figures and ratios measured in the same run, asserts nothing:

  * per file: ``jupyter_mlops.hashing.md5_file`` (the digest every read file gets) vs
    ``monitor.tables.profile_file`` (the profile the profiler makes: bounded, seeded sample), page cache
    warm for both; the issue's goal is profile ≤ md5;
  * the libraries the profile could read with: a whole read of each file by pyarrow, polars and pandas
    (why ``tables.py`` uses pyarrow);
  * the kernel: what the profile sink's listener costs a cell (no file; a table read while the profiler
    runs: one flock try), the cell that reads the CSV in a tracked session (the profiler is started after
    it returns), and a fixed-work cell run while the profiler works vs once it is done.

    PYTHONPATH=. python benchmarks/profile.py [--gib 1.0] [--dir /tmp] [--skip-libraries]

The files are generated under ``--dir`` and deleted at the end.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from jupyter_mlops.hashing import md5_file
from jupyter_mlops.monitor.tables import profile_file

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def best_of(n: int, fn, *args) -> tuple[float, object]:
    runs = [timed(fn, *args) for _ in range(n)]
    return min(r[0] for r in runs), runs[0][1]


DISTINCT_CHUNKS = 4
"""Chunks of 1M rows cycle through this many draws: generating 1 GiB of random rows costs minutes here."""


@functools.cache
def frame(rows: int, seed: int):
    """A churn-like table: floats, integers, low-cardinality strings."""
    import polars as pl

    if seed >= DISTINCT_CHUNKS:
        return frame(rows, seed % DISTINCT_CHUNKS)

    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "monthly": rng.normal(65.0, 15.0, rows), "total": rng.gamma(2.0, 900.0, rows),
        "score": rng.random(rows), "noise": rng.normal(0.0, 1.0, rows),
        "tenure": rng.integers(1, 73, rows), "calls": rng.poisson(1.5, rows),
        "account": rng.integers(0, 10**9, rows),
        "plan": rng.choice(["month-to-month", "one-year", "two-year"], rows),
        "payment": rng.choice(["electronic check", "mailed check", "bank transfer", "credit card"], rows),
    })


def make_csv(path: Path, target: int) -> None:
    """Chunks of 1M rows appended until the file reaches ``target`` bytes."""
    with open(path, "wb") as f:
        seed = 0
        while f.tell() < target:
            frame(1_000_000, seed).write_csv(f, include_header=seed == 0, float_precision=4)
            seed += 1


def library_reads(path: Path) -> list[tuple[str, float]]:
    import pandas as pd
    import polars as pl
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if path.suffix == ".csv":
        readers = [("pyarrow.csv.read_csv", lambda: pacsv.read_csv(path)),
                   ("polars.read_csv", lambda: pl.read_csv(path)),
                   ("pandas.read_csv (pyarrow engine)", lambda: pd.read_csv(path, engine="pyarrow")),
                   ("pandas.read_csv (C engine)", lambda: pd.read_csv(path))]
    else:
        readers = [("pyarrow.parquet.read_table", lambda: pq.read_table(path)),
                   ("polars.read_parquet", lambda: pl.read_parquet(path)),
                   ("pandas.read_parquet", lambda: pd.read_parquet(path))]
    out = []
    for name, read in readers:
        seconds, table = timed(read)
        del table
        out.append((name, seconds))
    return out


def listener_cost(folder: Path) -> None:
    """The kernel-side listener, called as the session calls it after every cell."""
    from types import SimpleNamespace

    from jupyter_mlops.monitor import profiler
    from jupyter_mlops.monitor.sink import ProfileSink

    project = folder / "listener"
    project.mkdir()
    session = SimpleNamespace(root=project, options=SimpleNamespace(profile=()), listeners=[],
                              warn_once=lambda *a: None)
    sink = ProfileSink(session)
    idle = {"files": [], "rebound": ["x"], "seq": 1}
    read = {"files": [{"path": "data/t.csv", "mode": "read"}], "rebound": [], "seq": 2}
    n = 100_000
    seconds, _ = timed(lambda: [sink.on_cell_run(idle) for _ in range(n)])
    print(f"  listener, a cell without files: {seconds / n * 1e6:.2f} µs")
    lock = profiler.DAEMON.lock_path(project)
    lock.parent.mkdir(parents=True, exist_ok=True)
    import fcntl
    import os

    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running profiler holds it
    try:
        m = 2000
        seconds, _ = timed(lambda: [profiler.ensure_running(project) for _ in range(m)])
        print(f"  a cell that read a table, profiler running (one flock try): {seconds / m * 1e6:.1f} µs")
    finally:
        os.close(fd)
    sink._checked_at = -1e9
    seconds, _ = timed(sink.on_cell_run, read)
    print(f"  a cell that read a table, on the kernel thread (the lock try and any start are a thread's): "
          f"{seconds * 1e6:.0f} µs")


def kernel_cells(csv: Path) -> None:
    """The cell reading the CSV in a tracked session, and a fixed-work cell during and after profiling."""
    sys.path.insert(0, str(ROOT))
    from tests.support.kernel import Kernel

    project = Path(tempfile.mkdtemp(prefix="profile-bench-", dir=csv.parent))
    (project / "data").mkdir()
    link = project / "data" / csv.name
    shutil.copyfile(csv, link)
    kernel = Kernel(project)
    work = "_s = _t.perf_counter()\nsum(i * i for i in range(3_000_000))\n_d = _t.perf_counter() - _s"
    try:
        kernel.cell("%load_ext jupyter_mlops")
        kernel.cell("%mlops_track --no-mlflow")
        kernel.cell("import time as _t")
        kernel.cell(f"_s = _t.perf_counter()\n_raw = open({str(link)!r}, 'rb').read()\n_read = _t.perf_counter() - _s")
        read = kernel.eval("_read")
        log_file = project / ".mlops" / "profiles" / "profiler.log"

        def log() -> str:
            return log_file.read_text() if log_file.exists() else ""

        during = []
        while "profiled" not in log() and len(during) < 100:
            kernel.cell(work)
            during.append(kernel.eval("_d"))
        after = []
        for _ in range(max(5, len(during))):
            kernel.cell(work)
            after.append(kernel.eval("_d"))
        print(f"  cell reading the CSV (open().read(), tracked; the profiler starts once it returns): {read:.2f} s")
        print(f"  fixed-work cell while the profiler works: median {statistics.median(during) * 1e3:.0f} ms "
              f"over {len(during)} cells; after: median {statistics.median(after) * 1e3:.0f} ms "
              f"(ratio {statistics.median(during) / statistics.median(after):.2f})")
        made = [line for line in log().splitlines() if "profiled" in line]
        print(f"  profiler: {made[0].split(': ', 1)[1] if made else 'made no profile: ' + log()}")
    finally:
        kernel.shutdown()
        shutil.rmtree(project, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--skip-libraries", action="store_true", help="no whole reads by each library")
    parser.add_argument("--skip-kernel", action="store_true", help="no kernel measurement")
    args = parser.parse_args()
    target = int(args.gib * (1 << 30))
    folder = Path(tempfile.mkdtemp(prefix="profile-bench-", dir=args.dir))
    try:
        csv, parquet = folder / "big.csv", folder / "big.parquet"
        seconds, _ = timed(make_csv, csv, target)
        print(f"generated {csv.stat().st_size / (1 << 30):.2f} GiB CSV in {seconds:.0f} s")
        seconds, _ = timed(write_parquet, parquet, target)
        print(f"generated {parquet.stat().st_size / (1 << 30):.2f} GiB parquet in {seconds:.0f} s")
        for path in (csv, parquet):
            md5_file(path)  # page cache warm for both measurements
            md5_s, _ = best_of(2, md5_file, path)
            profile_s, profile = best_of(2, profile_file, path)
            print(f"\n{path.name} ({path.stat().st_size / (1 << 30):.2f} GiB, {profile['rows']:,} rows):")
            print(f"  md5 (hashing.md5_file): {md5_s:.2f} s ({path.stat().st_size / md5_s / (1 << 20):.0f} MiB/s)")
            print(f"  profile (tables.profile_file): {profile_s:.2f} s — {profile['sample_rows']:,} rows sampled "
                  f"({profile['sample_method']})")
            print(f"  profile / md5 = {profile_s / md5_s:.2f}")
            if not args.skip_libraries:
                print("  whole read by library (the profile's reader is chosen on this):")
                for name, seconds in library_reads(path):
                    print(f"    {name:<34} {seconds:6.2f} s  ({seconds / md5_s:.2f} × md5)")
        if not args.skip_kernel:
            print("\nkernel:")
            listener_cost(folder)
            kernel_cells(csv)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_parquet(path: Path, target: int) -> None:
    """Row groups of 1M rows until the file on disk reaches ``target`` bytes (the size is known once a
    group is flushed, which ``ParquetWriter`` does per ``write_table``)."""
    import pyarrow.parquet as pq

    writer, seed = None, 0
    try:
        while True:
            table = frame(1_000_000, seed).to_arrow()
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            seed += 1
            if path.stat().st_size >= target:
                return
    finally:
        if writer is not None:
            writer.close()


if __name__ == "__main__":
    main()
