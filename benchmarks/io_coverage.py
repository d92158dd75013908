"""Which readers and writers end up in a cell's record, with the right role and md5, and what that costs.

(a) The coverage matrix: one tracked kernel (the watcher on, as on Linux), one cell per row, each on its own
    files under the project root. A row is *recorded* when the cell's record holds exactly the expected
    (path, role) pairs and every md5 equals hashlib's (DVC's ``.dir`` digest for dataset folders). The
    negative rows expect no record at all; any extra record anywhere is a *false record*. Rows whose library
    is not installed are listed as skipped (no heavy dependency is installed for this matrix). Deferred
    reads (a lazy value made in the setup cell, used by the row), reads through links (``linked/`` points to
    a folder outside the project, ``in/linked.parquet`` to a file there) and our own processes while a cell
    waits (git for provenance on a racily clean index, dvc add) are rows too.
(b) The same matrix with the watcher off (``JUPYTER_MLOPS_WATCH=0``: what macOS/Windows get).
(c) Idle-cell cost with and without the watcher: the capture's own work per cell (``start`` + ``stop``) and
    the tracker's two hooks, timed inside the kernel, and the round trip of trivial cells (kernels taking
    turns in a rotating order).
(d) A cell writing 10,000 small files into an existing folder: untracked, tracked without and with watcher.
(e) A project tree of ``--tree-files`` files: time until the watcher watches it all, and the idle-cell cost
    once it does.

    python benchmarks/io_coverage.py [--cells 200] [--tree-files 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyter_mlops.hashing import dir_digest  # noqa: E402
from tests.support.kernel import Kernel  # noqa: E402
from tests.support.records import files_of  # noqa: E402

R, W = "read", "write"


@dataclass(frozen=True)
class Row:
    name: str
    code: str
    expected: frozenset[tuple[str, str]]
    needs: tuple[str, ...] = ()
    during: Callable[[Path], object] | None = None  # run by this process while the cell waits on the gate


def row(name: str, code: str, *expected: tuple[str, str], needs: tuple[str, ...] = (),
        during: Callable[[Path], object] | None = None) -> Row:
    return Row(name, code, frozenset(expected), needs, during)


WAIT = "with open(GATE) as g:\n    word = g.read()"


def another_program_writes(project: Path) -> None:
    (project / "in" / "foreign.csv").write_text("written by someone else\n")


def our_git(project: Path) -> None:
    """Provenance's git on a racily clean index: git re-reads the tracked inputs (the cell's namespace names
    in/u.csv), announced."""
    from jupyter_mlops.provenance import git_state

    git_state(project)


def our_dvc_add(project: Path) -> None:
    from jupyter_mlops.export.rawdata import version_raw_inputs

    version_raw_inputs(project, ["in/raw.bin"], {})


ROWS = [
    row("open() read", "t = open('in/a.txt').read()", ("in/a.txt", R)),
    row("open() write", "open('out/open.txt', 'w').write('x')", ("out/open.txt", W)),
    row("open() read+write", "f = open('out/open.txt', 'r+'); f.read(); f.write('y'); f.close()",
        ("out/open.txt", R), ("out/open.txt", W)),
    row("pd.read_csv", "df = pd.read_csv('in/b.csv')", ("in/b.csv", R)),
    row("df.to_csv", "df.to_csv('out/df.csv')", ("out/df.csv", W)),
    row("np.save", "np.save('out/a.npy', np.arange(4))", ("out/a.npy", W)),
    row("np.load", "a = np.load('in/c.npy')", ("in/c.npy", R)),
    row("np.savez", "np.savez('out/z.npz', a=np.arange(3))", ("out/z.npz", W)),
    row("np.loadtxt", "m = np.loadtxt('in/d.txt')", ("in/d.txt", R)),
    row("pickle.dump", "pickle.dump([1], open('out/p.pkl', 'wb'))", ("out/p.pkl", W)),
    row("pickle.load", "obj = pickle.load(open('in/e.pkl', 'rb'))", ("in/e.pkl", R)),
    row("joblib.dump", "import joblib\njoblib.dump({'m': 1}, 'out/m.joblib')", ("out/m.joblib", W), needs=("joblib",)),
    row("json.dump", "json.dump({'k': 1}, open('out/k.json', 'w'))", ("out/k.json", W)),
    row("Path.read_text", "s = Path('in/f.txt').read_text()", ("in/f.txt", R)),
    row("Path.write_bytes", "Path('out/g.bin').write_bytes(b'g')", ("out/g.bin", W)),
    row("PIL open+save", "from PIL import Image\nImage.open('in/h.png').save('out/h2.png')",
        ("in/h.png", R), ("out/h2.png", W), needs=("PIL",)),
    row("shutil.copy", "shutil.copy('in/a.txt', 'out/copied.txt')", ("in/a.txt", R), ("out/copied.txt", W)),
    row("scipy.io.savemat", "import scipy.io\nscipy.io.savemat('out/m.mat', {'x': np.arange(3)})",
        ("out/m.mat", W), needs=("scipy",)),
    row("df.to_parquet", "df.to_parquet('out/df.parquet')", ("out/df.parquet", W), needs=("pyarrow",)),
    row("pd.read_parquet", "df2 = pd.read_parquet('in/i.parquet')", ("in/i.parquet", R), needs=("pyarrow",)),
    row("pq.read_table", "import pyarrow.parquet as pq\nt = pq.read_table('in/j.parquet')", ("in/j.parquet", R),
        needs=("pyarrow",)),
    row("pq.write_table", "pq.write_table(t, 'out/t.parquet')", ("out/t.parquet", W), needs=("pyarrow",)),
    row("pl.read_csv", "import polars as pl\np = pl.read_csv('in/k.csv')", ("in/k.csv", R), needs=("polars",)),
    row("pl.scan_csv.collect", "p = pl.scan_csv('in/l.csv').collect()", ("in/l.csv", R), needs=("polars",)),
    row("pl.write_parquet", "p.write_parquet('out/p.parquet')", ("out/p.parquet", W), needs=("polars",)),
    row("pl.write_csv", "p.write_csv('out/p.csv')", ("out/p.csv", W), needs=("polars",)),
    row("duckdb read_csv", "import duckdb\n"
        "n = duckdb.sql(\"select count(*) from read_csv('in/m.csv')\").fetchall()", ("in/m.csv", R), needs=("duckdb",)),
    row("duckdb COPY TO", "duckdb.sql(\"copy (select 1 as x) to 'out/duck.csv'\")", ("out/duck.csv", W),
        needs=("duckdb",)),
    row("sqlite3 write", "c = sqlite3.connect('out/w.db'); c.execute('create table t(a)'); c.commit(); c.close()",
        ("out/w.db", R), ("out/w.db", W)),
    row("sqlite3 read", "c = sqlite3.connect('in/r.db'); c.execute('select * from t').fetchall(); c.close()",
        ("in/r.db", R)),
    row("h5py write", "import h5py\nwith h5py.File('out/x.h5', 'w') as f:\n    f['x'] = np.arange(3)",
        ("out/x.h5", W), needs=("h5py",)),
    row("h5py read", "with h5py.File('in/y.h5', 'r') as f:\n    y = f['y'][:]", ("in/y.h5", R), needs=("h5py",)),
    row("!cp", "!cp in/n.txt out/n.txt", ("in/n.txt", R), ("out/n.txt", W)),
    row("subprocess.run writes", "subprocess.run(['sh', '-c', 'echo s > out/sub.txt'], check=True)",
        ("out/sub.txt", W)),
    row("subprocess.run reads", "subprocess.run(['wc', '-c', 'in/o.txt'], capture_output=True)", ("in/o.txt", R)),
    row("os.system", "os.system('echo o > out/sys.txt')", ("out/sys.txt", W)),
    row("atomic save (os.replace)", "open('out/final.bin.tmp', 'wb').write(b'f')\n"
        "os.replace('out/final.bin.tmp', 'out/final.bin')", ("out/final.bin", W)),
    row("%%writefile", "%%writefile out/notes.txt\nnotes\n", ("out/notes.txt", W)),
    row("%run script.py", "%run in/script.py", ("out/from_script.txt", W)),
    row("thread pool reads", "from concurrent.futures import ThreadPoolExecutor\n"
        "with ThreadPoolExecutor(2) as ex:\n    got = list(ex.map(pd.read_csv, ['in/q1.csv', 'in/q2.csv']))",
        ("in/q1.csv", R), ("in/q2.csv", R)),
    row("thread, native write", "th = threading.Thread(target=lambda: p.write_parquet('out/thread.parquet'))\n"
        "th.start(); th.join()", ("out/thread.parquet", W), needs=("polars",)),
    row("partitioned parquet write", "pd.DataFrame({'k': [1, 2], 'v': [3, 4]}).to_parquet('out/parts', "
        "partition_cols=['k'])", ("out/parts", W), needs=("pyarrow",)),
    row("partitioned parquet read", "back = pd.read_parquet('in/parts')", ("in/parts", R), needs=("pyarrow",)),
    row("pl.scan_parquet glob", "g = pl.scan_parquet('in/shards/*.parquet').collect()", ("in/shards", R),
        needs=("polars",)),
    row("save_pretrained-style folder", "def save_pretrained(d):\n    os.makedirs(d)\n"
        "    for n in ('config.json', 'model.bin'):\n        open(os.path.join(d, n), 'w').write(n)\n"
        "save_pretrained('out/model')", ("out/model", W)),
    row("path from another cell", "u = pl.read_csv(SOURCE)", ("in/u.csv", R), needs=("polars",)),
    row("helper defined earlier", "helper_write()", ("out/helper.parquet", W), needs=("polars",)),
    row("xarray netCDF", "import xarray as xr\nxr.Dataset({'v': ('x', [1, 2])}).to_netcdf('out/v.nc')",
        ("out/v.nc", W), needs=("xarray", "netCDF4")),
    row("zarr", "import zarr\nzarr.save('out/z.zarr', np.arange(3))", ("out/z.zarr", W), needs=("zarr",)),
    row("torch.save", "import torch\ntorch.save({'w': 1}, 'out/w.pt')", ("out/w.pt", W), needs=("torch",)),
    # Deferred: the lazy value was made by the setup cell, which named the file; this cell names none.
    row("later: polars plan collected", "lazy_out = lazy_plan.filter(pl.col('k') > 1).collect()",
        ("in/lazy.parquet", R), needs=("polars",)),
    row("later: pyarrow dataset to_table", "dataset_out = later_dataset.to_table()", ("in/ds.parquet", R),
        needs=("pyarrow",)),
    row("later: duckdb relation fetched", "relation_out = later_relation.fetchall()", ("in/rel.parquet", R),
        needs=("duckdb", "pyarrow")),
    row("later: np.load mmap touched", "mapped_sum = float(later_map.sum())", ("in/map.npy", R)),
    row("later: generator consumed", "rows_seen = sum(len(b) for b in later_batches)",
        ("in/g1.parquet", R), ("in/g2.parquet", R), needs=("polars",)),
    # Links: a folder outside the project linked as linked/, a file outside linked as in/linked.parquet.
    row("pq.read_table via folder link", "lt = pq.read_table('linked/s.parquet')", ("linked/s.parquet", R),
        needs=("pyarrow",)),
    row("pl.read_parquet via file link", "lf_ = pl.read_parquet('in/linked.parquet')", ("in/linked.parquet", R),
        needs=("polars",)),
    row("pl.write_parquet via link", "p.write_parquet('linked/w.parquet')", ("linked/w.parquet", W),
        needs=("polars",)),
]

NEGATIVE = [
    row("outside the root", "pl.DataFrame({'a': [1]}).write_parquet(OUTSIDE + '/x.parquet')", needs=("polars",)),
    row("environment / site-packages", "!mkdir -p .venv/lib/site-packages && echo x > .venv/lib/site-packages/m.txt"),
    row("tool cache", "!mkdir -p .cache && echo c > .cache/blob"),
    row("checkpoints", "!mkdir -p .ipynb_checkpoints && echo {} > .ipynb_checkpoints/nb-checkpoint.ipynb"),
    row("the notebook", "!touch nb.ipynb"),
    row("our journal", "!head -c 16 .mlops/journal.sqlite > /dev/null"),
    row("temp file removed", "!echo t > out/scratch.tmp && rm out/scratch.tmp"),
    row("sqlite side files", "!echo j > out/w.db-journal && rm out/w.db-journal"),
    row("hasher's reads", "__import__('jupyter_mlops').kernel.magic.current().hasher.wait(60)"),
    row("another program writes", WAIT, during=another_program_writes),
    row("our git (provenance)", WAIT, during=our_git),
    row("our dvc add", WAIT, during=our_dvc_add),
    row("idle cell", "x = 1"),
]

EMPTY_NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
INSTALLED = {m: importlib.util.find_spec(m) is not None
             for m in {n for r in ROWS + NEGATIVE for n in r.needs}}


def prepare(project: Path, outside: Path) -> None:
    """Inputs of the reading rows, written by this process (not by a tracked cell); ``outside``: where the
    links under the project point."""
    import numpy as np
    import pandas as pd

    inp = project / "in"
    (project / "out").mkdir(parents=True)
    inp.mkdir()
    for name in ("a.txt", "f.txt", "n.txt", "o.txt"):
        (inp / name).write_text(f"text of {name}\n")
    for name in ("b.csv", "k.csv", "l.csv", "m.csv", "q1.csv", "q2.csv", "u.csv"):
        (inp / name).write_text(f"a,b\n1,2\n3,{len(name)}\n")
    np.save(inp / "c.npy", np.arange(5))
    (inp / "d.txt").write_text("1 2\n3 4\n")
    import pickle

    (inp / "e.pkl").write_bytes(pickle.dumps({"e": 1}))
    if INSTALLED.get("PIL"):
        from PIL import Image

        Image.new("RGB", (2, 2)).save(inp / "h.png")
    if INSTALLED.get("pyarrow"):
        df = pd.DataFrame({"k": [1, 1, 2], "v": [1, 2, 3]})
        df.to_parquet(inp / "i.parquet")
        df.to_parquet(inp / "j.parquet")
        df.to_parquet(inp / "parts", partition_cols=["k"])
        (inp / "shards").mkdir()
        for i in range(3):
            df.to_parquet(inp / "shards" / f"{i}.parquet")
    import sqlite3

    con = sqlite3.connect(inp / "r.db")
    con.execute("create table t(a)")
    con.commit()
    con.close()
    if INSTALLED.get("h5py"):
        import h5py

        with h5py.File(inp / "y.h5", "w") as f:
            f["y"] = np.arange(3)
    (inp / "script.py").write_text("open('out/from_script.txt', 'w').write('from a script')\n")
    np.save(inp / "map.npy", np.arange(100.0))
    if INSTALLED.get("pyarrow"):
        for name in ("lazy", "ds", "rel", "g1", "g2"):
            df.to_parquet(inp / f"{name}.parquet")
        df.to_parquet(outside / "s.parquet")
        df.to_parquet(outside / "file.parquet")
        (project / "linked").symlink_to(outside)
        (inp / "linked.parquet").symlink_to(outside / "file.parquet")
    (inp / "raw.bin").write_bytes(b"\x00" * 4096)
    (project / "nb.ipynb").write_text(EMPTY_NOTEBOOK)
    # The inputs in git, the index racily clean (as a fresh clone's): any git status re-reads them.
    subprocess.run(["git", "add", "in"], cwd=project, check=True)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "inputs"], cwd=project,
                   check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=project, check=True,
                   env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    stamp = os.stat(inp / "a.txt")
    os.utime(project / ".git" / "index", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))


def digest(path: Path) -> str:
    return dir_digest(path).md5 if path.is_dir() else hashlib.md5(path.read_bytes()).hexdigest()


def start(project: Path, watch: bool) -> Kernel:
    kernel = Kernel(project, env={"JUPYTER_MLOPS_WATCH": "1" if watch else "0"})
    kernel.cell("%load_ext jupyter_mlops", "load")
    kernel.cell("%mlops_track --no-mlflow --notebook nb.ipynb", "track")
    return kernel


def run_matrix(watch: bool) -> tuple[int, int, int, int]:
    """Print each row's outcome; (rows recorded right, positive rows, false records, negative rows)."""
    with tempfile.TemporaryDirectory(prefix="mlops-io-") as tmp, tempfile.TemporaryDirectory() as outside, \
            tempfile.TemporaryDirectory(prefix="mlops-linked-") as linked:
        project = Path(tmp)
        subprocess.run(["git", "init", "-q", str(project)], check=True)
        prepare(project, Path(linked))
        gate = Path(outside) / "gate"
        os.mkfifo(gate)
        kernel = start(project, watch)
        try:
            kernel.cell("import os, sys, json, pickle, shutil, sqlite3, subprocess, threading\n"
                        "from pathlib import Path\nimport numpy as np, pandas as pd\n"
                        f"OUTSIDE = {outside!r}\nGATE = {str(gate)!r}\nSOURCE = 'in/u.csv'\n"
                        "later_map = np.load('in/map.npy', mmap_mode='r')\n", "setup")
            if INSTALLED.get("polars"):
                kernel.cell("import polars as pl\ndef helper_write():\n"
                            "    pl.DataFrame({'h': [1]}).write_parquet('out/helper.parquet')\n"
                            "lazy_plan = pl.scan_parquet('in/lazy.parquet')\n"
                            "def batches(files):\n    for f in files:\n        yield pl.read_parquet(f)\n"
                            "later_batches = batches(['in/g1.parquet', 'in/g2.parquet'])", "define")
            if INSTALLED.get("pyarrow"):
                kernel.cell("import pyarrow.dataset as pads\nlater_dataset = pads.dataset('in/ds.parquet')",
                            "define-ds")
            if INSTALLED.get("duckdb"):
                kernel.cell("import duckdb\nlater_relation = duckdb.sql(\"select * from 'in/rel.parquet'\")",
                            "define-rel")
            recorded = positives = false = 0
            print(f"  {'row':32} {'result':10} detail")
            for r in ROWS:
                if not all(INSTALLED.get(n) for n in r.needs):
                    print(f"  {r.name:32} {'skipped':10} {', '.join(n for n in r.needs if not INSTALLED[n])} "
                          "not installed")
                    continue
                positives += 1
                before = {p: digest(project / p) for p, _ in r.expected if (project / p).exists()}
                got = run_row(kernel, project, r)
                # A read's md5 is of what the cell read: the content before the cell when the file existed.
                wrong = {(p, m): v for (p, m), v in got.items() if (p, m) in r.expected
                         and v != (before.get(p) if m == R and p in before else digest(project / p))}
                extra = set(got) - r.expected
                missing = r.expected - set(got)
                ok = not wrong and not extra and not missing
                recorded += ok
                false += len(extra)
                detail = "; ".join(filter(None, [
                    f"missed {sorted(missing)}" if missing else "", f"extra {sorted(extra)}" if extra else "",
                    f"md5 wrong {sorted(wrong)}" if wrong else ""]))
                print(f"  {r.name:32} {'recorded' if ok else 'MISSED':10} {detail}")
            negatives = 0
            for r in NEGATIVE:
                if not all(INSTALLED.get(n) for n in r.needs):
                    continue
                negatives += 1
                if r.name == "hasher's reads":
                    kernel.cell("open('out/big.bin', 'wb').write(b'1' * (64 << 20))", "big")
                got = run_row(kernel, project, r, gate=gate)
                false += len(got)
                print(f"  {'(no record) ' + r.name:32} {'clean' if not got else 'FALSE':10} "
                      f"{sorted(got) if got else ''}")
        finally:
            kernel.shutdown()
    return recorded, positives, false, negatives


def run_row(kernel: Kernel, project: Path, r: Row, gate: Path | None = None) -> dict[tuple[str, str], str | None]:
    cell_id = "row-" + uuid.uuid4().hex[:8]
    other = None
    if gate is not None and r.during is not None:
        def other_program() -> None:
            with open(gate, "w") as released:  # opens once the cell is waiting on the gate
                try:
                    r.during(project)
                finally:
                    released.write("go")
        other = threading.Thread(target=other_program)
        other.start()
    reply = kernel.run(r.code, cell_id)
    if other is not None:
        other.join(timeout=60)
    if reply.status != "ok":
        print(f"    ({r.name}: the cell failed: {reply.ename}: {reply.evalue})")
    return files_of(project, cell_id)


IDLE_TIMING = """
import time as _t
_files = __import__('jupyter_mlops').kernel.magic.current().capture
_n = {n}
_t0 = _t.perf_counter()
for _ in range(_n):
    _files.start('x = 1')
    _files.stop()
_capture_us = (_t.perf_counter() - _t0) / _n * 1e6
"""

# The tracker's two hooks, wrapped to time them inside the kernel: the round trip is too noisy on a shared
# machine to show tens of microseconds.
HOOK_TIMING = """
import time as _time
_s = __import__('jupyter_mlops').kernel.magic.current()
_ev = get_ipython().events
_ev.unregister('pre_run_cell', _s.pre_run_cell)
_ev.unregister('post_run_cell', _s.post_run_cell)
_hook_s = []
def _pre(info, _f=_s.pre_run_cell):
    global _hook_t0
    _hook_t0 = _time.perf_counter()
    _f(info)
    _hook_s.append(_time.perf_counter() - _hook_t0)
def _post(result, _f=_s.post_run_cell):
    _t = _time.perf_counter()
    _f(result)
    _hook_s[-1] += _time.perf_counter() - _t
_ev.register('pre_run_cell', _pre)
_ev.register('post_run_cell', _post)
"""


def idle_cost(n_cells: int) -> None:
    """(c): the capture's cost per cell and both hooks' time in-kernel, plus round trips; the kernels take
    turns in a rotating order, so that neither always runs after the other."""
    with tempfile.TemporaryDirectory(prefix="mlops-idle-") as tmp:
        project = Path(tmp)
        subprocess.run(["git", "init", "-q", str(project)], check=True)
        (project / "nb.ipynb").write_text(EMPTY_NOTEBOOK)
        kernels = {"watcher off": start(project, False), "watcher on": start(project, True)}
        try:
            for kernel in kernels.values():
                kernel.cell(HOOK_TIMING)
            times: dict[str, list[float]] = {k: [] for k in kernels}
            names = list(kernels)
            for i in range(n_cells + 5):
                for name in names if i % 2 else names[::-1]:
                    t0 = time.perf_counter()
                    kernels[name].run(("x = 1", "y = x + 1", "x")[i % 3], f"idle-{i % 3}")
                    if i >= 5:
                        times[name].append(time.perf_counter() - t0)
            hooks = {}
            for name, kernel in kernels.items():
                hooks[name] = statistics.median(kernel.eval("_hook_s[6:]"))
                kernel.cell(IDLE_TIMING.format(n=5000))
                us = kernel.eval("_capture_us")
                print(f"  {name:12} capture start+stop {us:6.1f} µs/cell   both hooks {hooks[name] * 1e3:6.3f} ms "
                      f"(median)   round trip median {statistics.median(times[name]) * 1e3:6.2f} ms")
            off, on = hooks["watcher off"], hooks["watcher on"]
            print(f"  hooks with/without watcher: {on / off:.2f}x ({(on - off) * 1e3:+.3f} ms) over {n_cells} cells")
        finally:
            for kernel in kernels.values():
                kernel.shutdown()


MANY_FILES = ("import time as _time\n_cpu0 = _time.process_time()\nfor _i in range(10000):\n"
              "    open(f'many{r}/{{_i}}.txt', 'w').write(str(_i))\n_cpu = _time.process_time() - _cpu0")
MANY_ROUNDS = 3


def many_files() -> None:
    """(d): one cell writing 10,000 small files into an existing folder; three kernels, each round in a
    rotating order, the median of the rounds: the round trip (the disk is shared and noisy) and the CPU time
    the kernel process spent during the cell (the watcher's thread included; much less noisy)."""
    variants = {"untracked": None, "tracked, watcher off": "0", "tracked, watcher on": "1"}
    with tempfile.TemporaryDirectory(prefix="mlops-many-") as tmp:
        kernels: dict[str, tuple[Kernel, Path]] = {}
        try:
            for label, watch in variants.items():
                project = Path(tmp) / str(len(kernels))
                project.mkdir()
                subprocess.run(["git", "init", "-q", str(project)], check=True)
                (project / "nb.ipynb").write_text(EMPTY_NOTEBOOK)
                kernel = Kernel(project) if watch is None else start(project, watch == "1")
                kernels[label] = (kernel, project)
            took: dict[str, list[float]] = {label: [] for label in variants}
            cpu: dict[str, list[float]] = {label: [] for label in variants}
            labels = list(variants)
            for r in range(MANY_ROUNDS):
                for label in labels[r:] + labels[:r]:
                    kernel, _ = kernels[label]
                    kernel.cell(f"import os; os.makedirs('many{r}')")
                    t0 = time.perf_counter()
                    kernel.cell(MANY_FILES.format(r=r), f"many{r}")
                    took[label].append(time.perf_counter() - t0)
                    cpu[label].append(kernel.eval("_cpu"))
            base, base_cpu = statistics.median(took["untracked"]), statistics.median(cpu["untracked"])
            for label, (_, project) in kernels.items():
                median, median_cpu = statistics.median(took[label]), statistics.median(cpu[label])
                record = ("" if variants[label] is None else
                          "   record: " + ", ".join(f"{p} ({m})" for p, m in files_of(project, "many0")))
                print(f"  {label:22} {median * 1e3:7.0f} ms ({median / base:.2f}x), CPU in the cell "
                      f"{median_cpu * 1e3:5.0f} ms ({median_cpu / base_cpu:.2f}x){record}")
        finally:
            for kernel, _ in kernels.values():
                kernel.shutdown()


def big_tree(n_files: int) -> None:
    """(e): the watcher on a tree of ``n_files`` files in folders of 100."""
    with tempfile.TemporaryDirectory(prefix="mlops-tree-") as tmp:
        project = Path(tmp)
        subprocess.run(["git", "init", "-q", str(project)], check=True)
        for i in range(n_files):
            folder = project / "tree" / f"{i // 10000}" / f"{i // 100}"
            if i % 100 == 0:
                folder.mkdir(parents=True)
            (folder / f"{i}.txt").write_text("x")
        (project / "nb.ipynb").write_text(EMPTY_NOTEBOOK)
        kernel = start(project, True)
        try:
            t0 = time.perf_counter()
            kernel.cell("__import__('jupyter_mlops').kernel.magic.current().capture.watcher.ready.wait(300)",
                        "ready")
            ready = time.perf_counter() - t0
            watches = kernel.eval("len(__import__('jupyter_mlops').kernel.magic.current().capture.watcher._dirs)")
            kernel.cell(IDLE_TIMING.format(n=5000))
            us = kernel.eval("_capture_us")
            print(f"  {n_files} files, {watches} folders watched; ready {ready:.2f} s after the first cell asked; "
                  f"capture start+stop then {us:.1f} µs/cell")
        finally:
            kernel.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200, help="trivial cells per kernel for (c)")
    parser.add_argument("--tree-files", type=int, default=100_000, help="files in the tree of (e)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    for label, watch in (("(a) watcher on (Linux)", True),
                         ("(b) watcher off (macOS/Windows, or JUPYTER_MLOPS_WATCH=0)", False)):
        print(label)
        recorded, positives, false, negatives = run_matrix(watch)
        print(f"  => {recorded}/{positives} rows recorded with the right role and md5 "
              f"({recorded / positives:.0%}); false records: {false} (over {positives} rows and "
              f"{negatives} negative cases)")
    print("(c) idle cell")
    idle_cost(args.cells)
    print("(d) a cell writing 10,000 small files")
    many_files()
    print(f"(e) a project tree of {args.tree_files} files")
    big_tree(args.tree_files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
