"""Does tracking stay cheap as the data, the notebook and the session grow? (issue 7)

Prints figures and ratios against a baseline measured in the same run; asserts nothing.
Real kernels driven over ZMQ with JupyterLab's ``cellId``; everything in a temporary directory.

(a) data size: a cell that reads 16 bytes of a 1 KiB, 1 GiB and 10 GiB file (sparse, made with truncate),
    each rewritten before every run so its digest is never cached: the cell's round trip, tracked vs a
    plain kernel. The digest itself is computed after the cell by the hasher's workers.
(b) a directory of 100,000 small files declared with ``--data``: what ``%mlops_track`` costs, how long the
    background digest takes, against hashing the same files with plain hashlib in one loop.
(c) a 500-cell notebook (``--notebook``): cell round trips over its first and last 50 cells.
(d) a session of 10,000 cell runs: round trips over its first and last 500 cells; then how long
    ``jupyter mlops runs``/``show`` and the server's session list and session page take on that journal.

    python benchmarks/scale.py [--cells 10000] [--files 100000] [--big-gib 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyter_mlops.hashing import dir_digest  # noqa: E402
from jupyter_mlops.journal import Journal  # noqa: E402
from jupyter_mlops.server import history  # noqa: E402
from jupyter_mlops.server.paths import notebook_ref  # noqa: E402
from tests.support.kernel import Kernel  # noqa: E402


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def timed(kernel: Kernel, code: str, cell_id: str) -> float:
    t0 = time.perf_counter()
    kernel.cell(code, cell_id)
    return time.perf_counter() - t0


def tracked_kernel(project: Path, options: str = "--no-mlflow") -> Kernel:
    k = Kernel(project)
    k.cell("%load_ext jupyter_mlops", "load")
    k.cell(f"%mlops_track {options}", "track")
    return k


def data_size(project: Path, big_gib: int, repeat: int) -> None:
    print("(a) cell round trip vs the size of the file it reads (digest never cached, hasher idle at the start)")
    sizes = {"1 KiB": 1 << 10, "1 GiB": 1 << 30, f"{big_gib} GiB": big_gib << 30}
    for size in sizes.values():
        with open(project / f"d-{size}.bin", "wb") as f:
            f.truncate(size)
    plain, tracked = Kernel(project), tracked_kernel(project)
    idle = "__import__('jupyter_mlops').kernel.magic.current().hasher.wait(None)"
    try:
        for name, size in sizes.items():
            path = project / f"d-{size}.bin"
            times = {"plain": [], "tracked": []}
            for i in range(repeat):
                for label, k in (("plain", plain), ("tracked", tracked)):
                    fd = os.open(path, os.O_WRONLY)
                    os.pwrite(fd, f"{label}{i:04d}".encode(), 0)  # new content: no cached digest
                    os.close(fd)
                    times[label].append(timed(k, f"h = open({str(path)!r}, 'rb').read(16)", f"read-{size}-{i}"))
                t0 = time.perf_counter()
                tracked.eval(idle, timeout=900)
                hashed = time.perf_counter() - t0
            p, t = statistics.median(times["plain"]), statistics.median(times["tracked"])
            print(f"  {name:>7}: plain {ms(p)}  tracked {ms(t)}  added {ms(t - p)}  "
                  f"(its digest followed {hashed:5.1f} s later, off the cell)")
        # What the user does pay: CPU. Trivial cells while a big digest runs beside them, vs idle.
        quiet = statistics.median(timed(tracked, "x = 1", f"q{i}") for i in range(20))
        fd = os.open(project / f"d-{big_gib << 30}.bin", os.O_WRONLY)
        os.pwrite(fd, b"busy", 0)
        os.close(fd)
        tracked.cell(f"h = open({str(project / f'd-{big_gib << 30}.bin')!r}, 'rb').read(16)", "start-digest")
        busy = statistics.median(timed(tracked, "x = 1", f"b{i}") for i in range(20))
        print(f"  a trivial cell: {ms(quiet)} with the hasher idle, {ms(busy)} beside a {big_gib} GiB digest "
              f"({busy / quiet:.2f}x; 2 CPUs, workers at nice +10)")
        tracked.eval(idle, timeout=900)
    finally:
        plain.shutdown()
        tracked.shutdown()
    for size in sizes.values():
        (project / f"d-{size}.bin").unlink()


def big_directory(project: Path, files: int) -> None:
    print(f"(b) a directory of {files:,} small files declared with --data")
    folder = project / "many"
    for d in range(files // 1000 + 1):
        (folder / f"d{d:03d}").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (folder / f"d{i // 1000:03d}" / f"f{i:06d}.txt").write_bytes(b"row %d\n" % i * 10)
    old = time.time() - 3600
    for path in folder.rglob("*.txt"):
        os.utime(path, (old, old))
    t0 = time.perf_counter()
    plain = hashlib.md5()
    for path in sorted(folder.rglob("*.txt")):
        with open(path, "rb") as f:
            plain.update(hashlib.md5(f.read()).digest())
    plain_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    reference = dir_digest(folder)
    direct_s = time.perf_counter() - t0
    k = Kernel(project)
    try:
        k.cell("%load_ext jupyter_mlops", "load")
        t0 = time.perf_counter()
        k.cell("%mlops_track --no-mlflow --data many", "track")
        track_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        k.eval("__import__('jupyter_mlops').kernel.magic.current().hasher.wait(None)", timeout=600)
        digest_s = time.perf_counter() - t0 + track_s
        cell = statistics.median(timed(k, "x = 1", f"c{i}") for i in range(50))
        j = Journal(project / ".mlops" / "journal.sqlite", create=False)
        declared = [f for f in j.session_detail(j.find_session("latest"))["files"] if f["mode"] == "declared"]
        j.close()
    finally:
        k.shutdown()
    assert declared[0]["md5"] == reference.md5, declared
    print(f"  plain hashlib loop over the files   {plain_s:6.2f} s")
    print(f"  dir_digest (DVC's .dir digest)      {direct_s:6.2f} s   ratio {direct_s / plain_s:.2f}x")
    print(f"  %mlops_track --data many returns in {ms(track_s)}; its digest is in the journal "
          f"{digest_s:.2f} s after the magic started (nfiles {declared[0]['nfiles']:,})")
    print(f"  a cell afterwards (one stat of the declared folder) {ms(cell)}")


def long_notebook(project: Path, cells: int) -> None:
    print(f"(c) a {cells}-cell notebook (--notebook, so the detector judges against all of it)")
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": f"n{i}", "metadata": {}, "outputs": [], "execution_count": None,
         "source": f"x{i} = {'x' + str(i - 1) if i else 0} + 1"} for i in range(cells)]}
    (project / "long.ipynb").write_text(json.dumps(nb))
    plain, k = Kernel(project), tracked_kernel(project, "--no-mlflow --notebook long.ipynb")
    try:
        rows = []
        for cell in nb["cells"]:
            rows.append((timed(plain, cell["source"], cell["id"]), timed(k, cell["source"], cell["id"])))
    finally:
        plain.shutdown()
        k.shutdown()
    for label, part in (("first 50", rows[:50]), ("last 50", rows[-50:])):
        p, t = statistics.median(r[0] for r in part), statistics.median(r[1] for r in part)
        print(f"  {label:>8} cells: plain {ms(p)}  tracked {ms(t)}  added {ms(t - p)}")


def long_session(project: Path, cells: int) -> None:
    print(f"(d) a session of {cells:,} cell runs")
    (project / "s.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}))
    k = tracked_kernel(project, "--no-mlflow --notebook s.ipynb")
    codes = ["import jupyter_mlops\njupyter_mlops.log_metric('loss', 1 / ({i} + 1), step={i})",
             "v = {i}", "open('state.txt', 'w').write('{i}')", "w = v * 2"]
    times = []
    t_all = time.perf_counter()
    try:
        for i in range(cells):
            times.append(timed(k, codes[i % len(codes)].format(i=i), f"s{i % 40}"))
    finally:
        k.shutdown()
    total = time.perf_counter() - t_all
    first, last = statistics.median(times[:500]), statistics.median(times[-500:])
    print(f"  {cells:,} cells in {total:.1f} s; median round trip first 500 {ms(first)}, last 500 {ms(last)}"
          f" (ratio {last / first:.2f}x)")
    size = sum(p.stat().st_size for p in (project / ".mlops").iterdir())
    print(f"  journal size {size / 1e6:.1f} MB")
    for args in (["runs"], ["show", "latest"]):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", *args], cwd=project, capture_output=True,
                             text=True, check=True).stdout
        took = time.perf_counter() - t0
        print(f"  jupyter mlops {' '.join(args):<12} {took:6.2f} s  ({len(out.splitlines()):,} lines)")
    ref = notebook_ref(project, "s.ipynb")
    t0 = time.perf_counter()
    history.sessions(ref)
    listed = time.perf_counter() - t0
    sid = Journal(project / ".mlops" / "journal.sqlite", create=False).find_session("latest")
    t0 = time.perf_counter()
    page = history.session(ref, sid, limit=500)
    paged = time.perf_counter() - t0
    t0 = time.perf_counter()
    whole = history.session(ref, sid)
    unpaged = time.perf_counter() - t0
    print(f"  server: session list {ms(listed)}; session page of 500 runs {ms(paged)} "
          f"({len(json.dumps(page, default=str)) / 1e6:.1f} MB); all {len(whole['cell_runs']):,} runs {ms(unpaged)} "
          f"({len(json.dumps(whole, default=str)) / 1e6:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--notebook-cells", type=int, default=500)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--big-gib", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for step, run in (("a", lambda p: data_size(p, args.big_gib, args.repeat)),
                      ("b", lambda p: big_directory(p, args.files)),
                      ("c", lambda p: long_notebook(p, args.notebook_cells)),
                      ("d", lambda p: long_session(p, args.cells))):
        with tempfile.TemporaryDirectory(prefix=f"mlops-scale-{step}-") as tmp:
            project = Path(tmp)
            subprocess.run(["git", "init", "-q", str(project)], check=True)
            run(project)


if __name__ == "__main__":
    main()
