"""The pieces of a cell's file capture, without a kernel: dataset folders, which names cover a path, the roles
of open modes, and the inotify watcher on a real directory (Linux)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlops.hashing import Hasher
from jupyter_mlops.kernel import io_capture
from jupyter_mlops.kernel.lineage import _datasets, _Names
from jupyter_mlops.project import is_ignored_dir

ROOT = "/p"
CWD = "/p/nb"


def test_a_listed_or_created_folder_with_two_touched_files_is_one_dataset():
    reads = {"/p/ds/a=1/x.parquet", "/p/ds/a=2/y.parquet", "/p/other.csv"}
    assert _datasets(reads, set(), {"/p/ds", "/p/ds/a=1", "/p/ds/a=2"}, set(), ROOT, CWD) == (
        {"/p/ds", "/p/other.csv"}, set())
    writes = {"/p/model/config.json", "/p/model/weights.bin"}
    assert _datasets(set(), writes, set(), {"/p/model"}, ROOT, CWD) == (set(), {"/p/model"})


def test_one_file_a_plain_folder_or_the_root_is_not_a_dataset():
    assert _datasets(set(), {"/p/out/one.csv"}, set(), {"/p/out"}, ROOT, CWD) == (set(), {"/p/out/one.csv"})
    two = {"/p/out/a.csv", "/p/out/b.csv"}
    assert _datasets(set(), two, set(), set(), ROOT, CWD) == (set(), two)
    assert _datasets(two, set(), {"/p"}, set(), ROOT, CWD) == (two, set())
    beside_the_notebook = {"/p/nb/a.csv", "/p/nb/b.csv"}
    assert _datasets(beside_the_notebook, set(), {"/p/nb"}, set(), ROOT, CWD) == (beside_the_notebook, set())


def test_many_files_of_one_folder_are_one_dataset_even_unlisted():
    many = {f"/p/frames/{i}.png" for i in range(101)}
    assert _datasets(set(), many, set(), set(), ROOT, CWD) == (set(), {"/p/frames"})


def names(*texts: str, namespace: dict | None = None) -> _Names:
    n = _Names("/p/nb", "/p")
    for text in texts:
        n.add_text(text)
    if namespace is not None:
        n.add_namespace(namespace)
    return n


def test_a_path_is_covered_by_its_name_a_folder_above_it_or_a_glob():
    assert names("pd.read_parquet('data/x.parquet')").covers("/p/nb/data/x.parquet")
    assert names("pl.read_parquet('../shared/')").covers("/p/shared/part-0.parquet")
    assert names("pl.scan_parquet('ds/*.parquet')").covers("/p/nb/ds/3.parquet")
    assert names("duckdb.sql(\"select * from read_csv('in.csv')\")").covers("/p/nb/in.csv")
    assert names("!dd if=a.bin of=b.bin").covers("/p/nb/b.bin")


def test_operators_the_root_and_other_names_cover_nothing():
    text = "x = y * 2\nos.chdir('.')\nprint('data/a.csv')"
    for path in ("/p/nb/z.csv", "/p/nb/data/b.csv", "/p/other/a.csv"):
        assert not names(text).covers(path)
    assert not names("ds/*.parquet").covers("/p/nb/ds/sub/deeper.csv")


def test_the_namespace_names_paths_but_not_ipython_history_or_dunders():
    def helper() -> None:
        with open("out/helper.csv", "w") as f:
            f.write("h")

    helper.__module__ = "__main__"
    ns = {"SOURCE": "data/in.csv", "paths": [Path("ds2")], "helper": helper,
          "_i3": "read('hist.csv')", "In": ["", "read('hist.csv')"], "__doc__": "data interactive"}
    n = names(namespace=ns)
    assert n.covers("/p/nb/data/in.csv") and n.covers("/p/nb/ds2/x.parquet") and n.covers("/p/nb/out/helper.csv")
    assert not n.covers("/p/nb/hist.csv") and not n.covers("/p/nb/data/other.csv")


@pytest.mark.parametrize("mode,flags,roles", [
    ("r", None, {"read"}), ("rb", None, {"read"}), ("r+", None, {"read", "write"}), ("a+", None, {"read", "write"}),
    ("w", None, {"write"}), ("w+b", None, {"write"}), ("x", None, {"write"}), ("ab", None, {"write"}),
    (None, os.O_RDONLY, {"read"}), (None, os.O_RDWR, {"read", "write"}),
    (None, os.O_RDWR | os.O_TRUNC | os.O_CREAT, {"write"}), (None, os.O_WRONLY | os.O_APPEND, {"write"}),
])
def test_open_modes_give_roles_and_an_emptied_file_is_not_read(mode, flags, roles):
    capture = io_capture.FileCapture()
    capture.start()
    capture.on_event("open", ("/p/f.bin", mode, flags))
    seen = capture.stop()
    assert {r for r, paths in (("read", seen.reads), ("write", seen.writes)) if "/p/f.bin" in paths} == roles


linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")


@linux
def test_the_watcher_sees_native_and_child_io_and_not_the_hashers_reads(tmp_path: Path):
    from jupyter_mlops.kernel.tree_watch import TreeWatcher

    (tmp_path / "data").mkdir()
    (tmp_path / ".venv").mkdir()
    (tmp_path / "py311").mkdir()
    (tmp_path / "py311" / "pyvenv.cfg").write_text("home = /usr/bin\n")  # an environment of any name
    (tmp_path / "data" / "in.csv").write_text("a\n1\n")
    warnings: list[str] = []
    watcher = TreeWatcher(str(tmp_path), is_ignored_dir, warnings.append)
    hasher = Hasher(own_open=watcher.own_open)
    try:
        assert watcher.ready.wait(30)
        watcher.begin()
        subprocess.run(["sh", "-c", "cat data/in.csv > data/copy.csv; mkdir -p new/deep; echo n > new/deep/f.txt;"
                        "echo v > .venv/ignored.txt; echo e > py311/too.txt;"
                        "echo t > data/t.tmp; mv data/t.tmp data/final.txt"],
                       cwd=tmp_path, check=True)
        seen = watcher.end()
        data = str(tmp_path / "data")
        assert str(tmp_path / "data" / "in.csv") in seen.reads
        assert {f"{data}/copy.csv", f"{data}/final.txt", str(tmp_path / "new" / "deep" / "f.txt")} <= seen.writes
        assert not any(".venv" in p or "py311" in p for p in seen.writes | seen.reads)
        assert str(tmp_path / "new") in seen.created

        watcher.begin()
        digest = hasher.digest(tmp_path / "data" / "copy.csv", lambda d: None)
        assert digest.md5 == hashlib.md5(b"a\n1\n").hexdigest()
        assert hasher.digest(tmp_path / "new", lambda d: None).md5.endswith(".dir")
        seen = watcher.end()
        assert seen.empty(), (seen.reads, seen.listed, seen.opened)
        assert warnings == []
    finally:
        hasher.close()
        watcher.close()
