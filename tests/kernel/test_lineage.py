"""Issues 11 and 24 in a real kernel: every file a cell touches is in its record, whichever library, thread or
child process does the I/O, whenever a lazy value does it, through whichever link, with its role and the md5
of what the cell left; nothing else is.

Each test is one kernel running many short cells: the watched cases, the negative cases, deferred reads,
reads through links, and the watcher turned off as on macOS/Windows.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from jupyter_mlops.hashing import dir_digest
from jupyter_mlops.monitor import profiler
from tests.support.kernel import Kernel, while_a_cell_waits
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


def test_deferred_reads_belong_to_the_cell_that_performs_them(project, tmp_path_factory):
    """A lazy value reads its file when a later cell uses it: that cell is the reader, though its code names no
    file (issue 24). Polars and dask-style lazy plans, pyarrow datasets, duckdb relations, a memory map touched
    later, a generator over files, a function that collects a lazy frame; another program's I/O meanwhile is
    still not the cell's."""
    data = project / "data"
    data.mkdir()
    frame = pl.DataFrame({"k": [1, 2, 3], "v": [4.0, 5.0, 6.0]})
    for name in ("x", "ds", "duck", "p1", "p2"):
        frame.write_parquet(data / f"{name}.parquet")
    frame.write_csv(data / "in.csv")
    np.save(data / "a.npy", np.arange(1000.0))
    kernel = start_tracking(project)
    try:
        cases = [  # (maker cells, the cell that uses the value, the files it reads)
            ([("scan", "lf = pl.scan_parquet('data/x.parquet')"), ("filter", "lf2 = lf.filter(pl.col('k') > 1)")],
             ("collect", "out = lf2.collect()"), ["data/x.parquet"]),
            ([("dataset", "import pyarrow.dataset as ds\ndset = ds.dataset('data/ds.parquet')")],
             ("to-table", "table = dset.to_table()"), ["data/ds.parquet"]),
            ([("relation", "rel = duckdb.sql(\"select * from 'data/duck.parquet'\")")],
             ("fetch", "rows = rel.fetchall()"), ["data/duck.parquet"]),
            ([("map", "arr = np.load('data/a.npy', mmap_mode='r')")],
             ("touch", "total = float(arr.sum())"), ["data/a.npy"]),
            ([("generator", "def batches(files):\n    for f in files:\n        yield pl.read_parquet(f)\n"
                            "gen = batches(['data/p1.parquet', 'data/p2.parquet'])")],
             ("consume", "n_rows = sum(len(b) for b in gen)"), ["data/p1.parquet", "data/p2.parquet"]),
            ([("lazy-csv", "lazy = pl.scan_csv('data/in.csv')"),
              ("helper", "def count():\n    return lazy.select(pl.len()).collect().item()")],
             ("call", "n = count()"), ["data/in.csv"]),
        ]
        for makers, (cell_id, code), _ in cases:
            for maker_id, maker in makers:
                kernel.cell(maker, maker_id)
            kernel.cell(code, cell_id)
        for _, (cell_id, _), files in cases:
            assert files_of(project, cell_id) == {(f, "read"): md5(project / f) for f in files}, cell_id
        assert files_of(project, "filter") == {} and files_of(project, "helper") == {}

        gate = tmp_path_factory.mktemp("gate") / "fifo"
        os.mkfifo(gate)

        def another_program() -> None:
            (data / "foreign.csv").write_text("not the cell's\n")
            (data / "x.parquet").read_bytes()

        while_a_cell_waits(kernel, gate, "again = lf.collect()\n", another_program, "collect-while-foreign")
        assert files_of(project, "collect-while-foreign") == {("data/x.parquet", "read"): md5(data / "x.parquet")}
        # A cell that uses none of those values is not given a read of their files by another program.
        while_a_cell_waits(kernel, gate, "", another_program, "unrelated")
        assert files_of(project, "unrelated") == {}
        kernel.cell("del arr", "unmap")
        kernel.cell("total2 = 2 * total", "after-unmap")
        assert files_of(project, "after-unmap") == {}
    finally:
        kernel.shutdown()


def test_native_reads_through_links_are_recorded_under_their_project_path(project, tmp_path_factory):
    """A data folder (or file) linked from elsewhere, another disk when there is one: pyarrow and polars read
    through the link are recorded under the path in the project, with the md5 of the content (issue 24). A
    link inside the project names its target; the profiler reading through a link is not a cell's read."""
    shm = Path("/dev/shm")
    outside = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) else \
        tmp_path_factory.mktemp("elsewhere")
    try:
        frame = pl.DataFrame({"k": [1, 2], "v": [3, 4]})
        frame.write_parquet(outside / "s.parquet")
        frame.write_parquet(outside / "file.parquet")
        (outside / "shards").mkdir()
        for i in range(2):
            frame.write_parquet(outside / "shards" / f"{i}.parquet")
        (project / "data").mkdir()
        frame.write_parquet(project / "data" / "in.parquet")
        (project / "data" / "in.csv").write_text("a\n1\n")
        (project / "ext").symlink_to(outside)
        (project / "data" / "linked.parquet").symlink_to(outside / "file.parquet")
        (project / "alias").symlink_to(project / "data")
        kernel = start_tracking(project)
        try:
            check_links(kernel, project, tmp_path_factory)
        finally:
            kernel.shutdown()
    finally:
        for path in sorted(outside.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        outside.rmdir()


def check_links(kernel: Kernel, project: Path, tmp_path_factory) -> None:
    assert kernel.eval("__import__('jupyter_mlops').kernel.magic.current().capture.watcher.ready.wait(60)")
    cases = [
        ("pq-folder-link", "t = pq.read_table('ext/s.parquet')", {("ext/s.parquet", "read")}),
        ("pl-file-link", "p = pl.read_parquet('data/linked.parquet')", {("data/linked.parquet", "read")}),
        ("pq-inner-link", "q = pq.read_table('alias/in.parquet')", {("data/in.parquet", "read")}),
        ("open-inner-link", "s = open('alias/in.csv').read()", {("alias/in.csv", "read")}),
        ("pl-write-link", "pl.DataFrame({'a': [1]}).write_parquet('ext/out.parquet')", {("ext/out.parquet", "write")}),
    ]
    for cell_id, code, _ in cases:
        reply = kernel.cell(code, cell_id)
        assert "jupyter-mlops" not in reply.stderr, reply.stderr
    kernel.cell("g = pl.scan_parquet('ext/shards/*.parquet').collect()", "glob-link")
    got = {cell_id: files_of(project, cell_id) for cell_id, _, _ in cases}  # all at once: a miss shows where
    assert got == {cell_id: {key: md5(project / key[0]) for key in expected} for cell_id, _, expected in cases}
    shards = dir_digest(project / "ext" / "shards").md5
    assert files_of(project, "glob-link") == {("ext/shards", "read"): shards}

    gate = tmp_path_factory.mktemp("gate") / "fifo"
    os.mkfifo(gate)
    kernel.cell("where = 'ext'", "names-ext")
    data = project / "ext" / "s.parquet"

    def the_profiler_reading() -> None:  # through a hard link, or announced where none can be made (another disk)
        with profiler.DAEMON.unwatched(project, data) as readable:
            assert readable.read_bytes() == data.read_bytes()

    while_a_cell_waits(kernel, gate, "", the_profiler_reading, "profiler-through-link")
    assert files_of(project, "profiler-through-link") == {}
    while_a_cell_waits(kernel, gate, "", lambda: subprocess.run(["cat", str(data)], capture_output=True),
                       "someone-reads-through-link")
    assert files_of(project, "someone-reads-through-link") == {("ext/s.parquet", "read"): md5(data)}


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
