"""Issue 11 in a real kernel: every file a cell touches is in its record, whichever library, thread or child
process does the I/O, with its role and the md5 of what the cell left; nothing else is.

Each test is one kernel running many short cells (three startups in all): the watched cases, the negative
cases, and the watcher turned off as on macOS/Windows.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mlops.hashing import dir_digest
from jupyter_mlops.monitor import profiler
from tests.support.kernel import Kernel
from tests.support.records import files_of

pytestmark = pytest.mark.kernel


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def start_tracking(project: Path, env: dict[str, str] | None = None) -> Kernel:
    kernel = Kernel(project, env=env)
    kernel.cell("%load_ext jupyter_mlops", "load")
    assert "tracking session" in kernel.cell("%mlops_track --no-mlflow", "track").stdout
    kernel.cell("import os, subprocess, sqlite3\nimport pandas as pd, polars as pl, duckdb, h5py, numpy as np\n"
                "import pyarrow.parquet as pq", "imports")
    return kernel


@pytest.fixture
def watched(project: Path) -> Iterator[tuple[Kernel, Path]]:
    (project / "data").mkdir()
    (project / "data" / "in.csv").write_text("a,b\n1,2\n3,4\n")
    kernel = start_tracking(project)
    try:
        yield kernel, project
    finally:
        kernel.shutdown()


# (cell id, code, expected {(path, mode)}): each reads data/in.csv or files an earlier case wrote.
NATIVE_CASES = [
    ("pd-to-parquet", "pd.read_csv('data/in.csv').to_parquet('data/a.parquet')",
     {("data/in.csv", "read"), ("data/a.parquet", "write")}),
    ("pd-read-parquet", "df = pd.read_parquet('data/a.parquet')", {("data/a.parquet", "read")}),
    ("pq-read-table", "t = pq.read_table('data/a.parquet')", {("data/a.parquet", "read")}),
    ("pl-read-csv", "p = pl.read_csv('data/in.csv')", {("data/in.csv", "read")}),
    ("pl-scan-csv", "p = pl.scan_csv('data/in.csv').collect()", {("data/in.csv", "read")}),
    ("pl-write-parquet", "p.write_parquet('data/p.parquet')", {("data/p.parquet", "write")}),
    ("duckdb-read-csv", "rows = duckdb.sql(\"select * from read_csv('data/in.csv')\").fetchall()",
     {("data/in.csv", "read")}),
    ("duckdb-copy", "duckdb.sql(\"copy (select 42 as x) to 'data/duck.csv' (header)\")", {("data/duck.csv", "write")}),
    ("sqlite-write", "con = sqlite3.connect('data/db.sqlite')\ncon.execute('create table t(a)')\n"
                     "con.execute('insert into t values (1)')\ncon.commit()\ncon.close()",
     {("data/db.sqlite", "read"), ("data/db.sqlite", "write")}),
    ("sqlite-read", "con = sqlite3.connect('data/db.sqlite')\nn = con.execute('select count(*) from t').fetchone()\n"
                    "con.close()", {("data/db.sqlite", "read")}),
    ("h5py-write", "with h5py.File('data/x.h5', 'w') as f:\n    f['x'] = np.arange(10)", {("data/x.h5", "write")}),
    ("h5py-read", "with h5py.File('data/x.h5', 'r') as f:\n    xs = f['x'][:]", {("data/x.h5", "read")}),
    ("shell-cp", "!cp data/in.csv data/copy.csv", {("data/in.csv", "read"), ("data/copy.csv", "write")}),
    ("subprocess", "subprocess.run(['sh', '-c', 'printf made > data/sub.txt'], check=True)",
     {("data/sub.txt", "write")}),
    ("os-system", "os.system('printf sys > data/sys.txt')", {("data/sys.txt", "write")}),
    ("atomic-save", "open('data/out.bin.tmp', 'wb').write(b'final')\nos.replace('data/out.bin.tmp', 'data/out.bin')",
     {("data/out.bin", "write")}),
    ("writefile", "%%writefile data/notes.txt\nsome notes\n", {("data/notes.txt", "write")}),
    ("thread-pool", "from concurrent.futures import ThreadPoolExecutor\n"
                    "with ThreadPoolExecutor(2) as ex:\n"
                    "    got = list(ex.map(lambda f: f(), [lambda: pd.read_csv('data/copy.csv'),"
                    " lambda: pl.read_parquet('data/p.parquet')]))",
     {("data/copy.csv", "read"), ("data/p.parquet", "read")}),
]


def test_native_threads_children_and_dataset_folders_are_recorded_with_role_and_md5(watched):
    kernel, project = watched
    for cell_id, code, _ in NATIVE_CASES:
        reply = kernel.cell(code, cell_id)
        assert "jupyter-mlops" not in reply.stderr, reply.stderr
    got = {cell_id: files_of(project, cell_id) for cell_id, _, _ in NATIVE_CASES}
    # Every case's files, role and md5 of what the cell left (later cases only read, so files are as left).
    assert got == {cell_id: {key: md5(project / key[0]) for key in expected} for cell_id, _, expected in NATIVE_CASES}

    kernel.cell("SOURCE = 'data/a.parquet'", "name-it")
    kernel.cell("again = pq.read_table(SOURCE)", "use-it")
    assert files_of(project, "name-it") == {}
    assert files_of(project, "use-it") == {("data/a.parquet", "read"): md5(project / "data/a.parquet")}

    # A folder read or written as one dataset is one entry, with DVC's .dir digest.
    kernel.cell("pd.DataFrame({'k': [1, 1, 2], 'v': [1, 2, 3]}).to_parquet('data/parts', partition_cols=['k'])",
                "partitioned")
    kernel.cell("back = pd.read_parquet('data/parts')", "read-partitioned")
    kernel.cell("os.makedirs('shards', exist_ok=True)\n"
                "for i in range(3):\n    pl.DataFrame({'i': [i]}).write_parquet(f'shards/{i}.parquet')", "shards")
    kernel.cell("all_shards = pl.scan_parquet('shards/*.parquet').collect()", "scan-glob")
    kernel.cell("def save_pretrained(folder):\n    os.makedirs(folder)\n"
                "    for name in ('config.json', 'weights.bin', 'tokenizer.json'):\n"
                "        with open(os.path.join(folder, name), 'w') as f:\n            f.write(name)\n"
                "save_pretrained('model')", "save-pretrained")
    parts, shards, model = (dir_digest(project / d).md5 for d in ("data/parts", "shards", "model"))
    assert parts.endswith(".dir")
    assert files_of(project, "partitioned") == {("data/parts", "write"): parts}
    assert files_of(project, "read-partitioned") == {("data/parts", "read"): parts}
    assert files_of(project, "shards") == {("shards", "write"): shards}
    assert files_of(project, "scan-glob") == {("shards", "read"): shards}
    assert files_of(project, "save-pretrained") == {("model", "write"): model}
    # The detector sees through a file only native code touched: rewriting it makes its reader stale.
    kernel.cell("pl.DataFrame({'v': [1]}).write_parquet('data/feed.parquet')", "make")
    kernel.cell("fed = pl.read_parquet('data/feed.parquet')", "use")
    kernel.cell("pl.DataFrame({'v': [2]}).write_parquet('data/feed.parquet')", "make")
    issues = kernel.eval("__import__('jupyter_mlops').status()")["issues"]
    assert any(i["cell_id"] == "use" and i["kind"] == "stale-input" for i in issues), issues

    # An existing folder is not made a dataset by makedirs(exist_ok=True): two results stay two files.
    kernel.cell("os.makedirs('data', exist_ok=True)\nopen('data/r1.txt', 'w').write('1')\n"
                "open('data/r2.txt', 'w').write('2')", "two-results")
    assert files_of(project, "two-results") == {("data/r1.txt", "write"): md5(project / "data/r1.txt"),
                                                ("data/r2.txt", "write"): md5(project / "data/r2.txt")}


def test_no_false_records(watched, tmp_path_factory):
    """Outside the root, environments and caches, checkpoints, the notebook, our journal, temp files, the
    hasher's reads and another program's writes during a cell are not the cell's."""
    kernel, project = watched
    outside = tmp_path_factory.mktemp("outside")
    (project / "nb.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    kernel.cell(
        f"pl.DataFrame({{'a': [1]}}).write_parquet({str(outside / 'elsewhere.parquet')!r})\n"
        "os.makedirs('.venv/lib/python3/site-packages', exist_ok=True)\n"
        "!printf x > .venv/lib/python3/site-packages/mod.txt && mkdir -p .cache && printf c > .cache/blob\n"
        "!mkdir -p .ipynb_checkpoints && printf {} > .ipynb_checkpoints/nb-checkpoint.ipynb\n"
        "!printf 'tmp' > data/scratch.tmp && rm data/scratch.tmp\n"
        "!printf 1 > data/db.sqlite-journal && rm data/db.sqlite-journal\n"
        "!head -c 16 .mlops/journal.sqlite > /dev/null", "negatives")
    assert files_of(project, "negatives") == {}

    # A big file is hashed in background: its reads, during the next cell, are not that cell's.
    kernel.cell("open('big.bin', 'wb').write(b'\\x01' * (48 << 20))", "big")
    kernel.cell("__import__('jupyter_mlops').kernel.magic.current().hasher.wait(60)", "while-hashing")
    assert set(files_of(project, "big")) == {("big.bin", "write")}
    assert files_of(project, "while-hashing") == {}

    gate = tmp_path_factory.mktemp("gate") / "fifo"
    os.mkfifo(gate)

    def another_program() -> None:
        (project / "data" / "foreign-9f3.csv").write_text("not the cell's\n")
        subprocess.run(["cp", str(project / "data" / "in.csv"), str(project / "data" / "foreign-copy.csv")],
                       check=True)

    def the_lab_saving_a_notebook() -> None:
        (project / "other.ipynb").write_text("{}")

    def the_file_browser_listing_data() -> None:
        os.listdir(project / "data")

    while_a_cell_waits(kernel, gate, "", another_program, "waits")
    assert files_of(project, "waits") == {}
    # A cell that runs a child owns what the watcher sees meanwhile, but never a notebook being saved.
    while_a_cell_waits(kernel, gate, "!true\n", the_lab_saving_a_notebook, "waits-child")
    assert files_of(project, "waits-child") == {}
    # Two files of a folder another program lists meanwhile stay two files, not the folder as a dataset.
    (project / "data" / "second.csv").write_text("a,b\n5,6\n")
    while_a_cell_waits(kernel, gate, "one, two = pl.read_csv('data/in.csv'), pl.read_csv('data/second.csv')\n",
                       the_file_browser_listing_data, "reads-two")
    assert files_of(project, "reads-two") == {("data/in.csv", "read"): md5(project / "data/in.csv"),
                                              ("data/second.csv", "read"): md5(project / "data/second.csv")}


def test_a_background_process_reading_data_during_a_cell_does_not_make_it_the_cells_read(watched, tmp_path_factory):
    """The profiler and the MLflow follower read project data while later cells run (a Run All, papermill).
    inotify names no process, and this cell can name the file (its namespace holds the path), so a read
    under the data's own name would be taken for the cell's: the daemons read through ``unwatched``."""
    kernel, project = watched
    kernel.cell("path = 'data/in.csv'", "names-it")
    gate = tmp_path_factory.mktemp("gate") / "fifo"
    os.mkfifo(gate)
    data = project / "data" / "in.csv"
    content = data.read_bytes()

    def the_profiler_reading() -> None:
        with profiler.DAEMON.unwatched(project, data) as readable:
            assert readable != data and readable.read_bytes() == content

    def a_read_under_its_own_name() -> None:
        data.read_bytes()

    while_a_cell_waits(kernel, gate, "", the_profiler_reading, "profiler-reads")
    assert files_of(project, "profiler-reads") == {}
    assert not list(profiler.DAEMON.state_dir(project).glob("reading-*"))  # the link is gone with the read
    while_a_cell_waits(kernel, gate, "", a_read_under_its_own_name, "direct-read")
    assert ("data/in.csv", "read") in files_of(project, "direct-read")


def while_a_cell_waits(kernel: Kernel, gate: Path, prefix: str, action, cell_id: str) -> None:
    """Run ``action`` in this process while the cell ``cell_id`` is running: the cell blocks on a FIFO until
    the action is done, and opening the FIFO's other end returns only once the cell has opened it."""
    def released_after_action() -> None:
        with open(gate, "w") as release:
            action()
            release.write("go")

    thread = threading.Thread(target=released_after_action)
    thread.start()
    try:
        kernel.cell(f"{prefix}with open({str(gate)!r}) as g:\n    word = g.read()", cell_id)
    finally:
        thread.join(timeout=60)
    assert kernel.eval("word") == "go"


def test_without_a_watcher_named_paths_that_change_are_written(project):
    (project / "in.csv").write_text("a\n1\n")
    kernel = start_tracking(project, env={"JUPYTER_MLOPS_WATCH": "0"})
    try:
        check_fallback(kernel, project)
    finally:
        kernel.shutdown()


def check_fallback(kernel: Kernel, project: Path) -> None:
    assert kernel.eval("__import__('jupyter_mlops').kernel.magic.current().capture.watching") is False
    kernel.cell("pl.read_csv('in.csv').write_parquet('out.parquet')", "native")
    kernel.cell("!cp in.csv copy.csv", "child")
    kernel.cell("con = sqlite3.connect('db.sqlite')\ncon.execute('create table t(a)')\n"
                "con.commit()\ncon.close()", "sqlite")
    kernel.cell("x = 1", "idle")
    # Native reads are not seen without a watcher (they need --data); what a cell names and changes is.
    assert files_of(project, "native") == {("out.parquet", "write"): md5(project / "out.parquet")}
    assert files_of(project, "child") == {("copy.csv", "write"): md5(project / "copy.csv")}
    assert files_of(project, "sqlite") == {("db.sqlite", "read"): md5(project / "db.sqlite"),
                                           ("db.sqlite", "write"): md5(project / "db.sqlite")}
    assert files_of(project, "idle") == {}
