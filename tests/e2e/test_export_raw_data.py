"""Raw data under DVC at export: real ``git`` and ``dvc`` in a temporary repository, no kernel needed
(without a journal the plan's inputs come from the notebook's code)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlops.export.api import export_report

pytestmark = pytest.mark.e2e
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}


def run(repo: Path, *argv: str) -> str:
    if argv[0] == "dvc":  # this interpreter's DVC, whatever PATH says
        argv = (sys.executable, "-m", "dvc", *argv[1:])
    done = subprocess.run(argv, cwd=repo, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done.stdout


def notebook(path: Path, *sources: str) -> None:
    cells = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "outputs": [], "execution_count": None,
              "source": source} for i, source in enumerate(sources)]
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    run(tmp_path, "git", "init", "-q")
    run(tmp_path, "dvc", "init", "-q")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "raw.csv").write_text("a,b\n1,2\n")
    (tmp_path / "data" / "images").mkdir()
    for name in ("x.txt", "y.txt"):
        (tmp_path / "data" / "images" / name).write_text(name)
    (tmp_path / "lookup.csv").write_text("k,v\n")
    run(tmp_path, "git", "add", "lookup.csv")  # small and already in git: it stays there
    notebook(tmp_path / "nb.ipynb",
             "import os\nrows = open('data/raw.csv').read()\nkeys = open('lookup.csv').read()\n"
             "names = os.listdir('data/images')\nopen('data/images/x.txt').read()",
             "open('out.txt', 'w').write(rows)", "copy = open('out.txt').read()")
    return tmp_path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_inputs_no_stage_makes_and_git_does_not_track_go_under_dvc(repo):
    report = export_report(repo / "nb.ipynb", stages="single")
    assert "data/raw.csv.dvc" in report.result.written and "data/.gitignore" in report.result.written
    dvc_file = (repo / "data" / "raw.csv.dvc").read_text()
    assert f"md5: {md5(repo / 'data' / 'raw.csv')}" in dvc_file
    assert "/raw.csv" in (repo / "data" / ".gitignore").read_text()
    assert not (repo / "lookup.csv.dvc").exists()  # git tracks it
    assert not (repo / "out.txt.dvc").exists()  # a stage makes it
    assert any(n.startswith("data/raw.csv: put under DVC") for n in report.notes), report.notes
    cached = run(repo, "dvc", "status", "data/raw.csv.dvc")
    assert "changed" not in cached  # in DVC's cache, as committed

    (repo / "data" / "raw.csv").write_text("a,b\n1,2\n3,4\n")
    again = export_report(repo / "nb.ipynb", stages="single")
    changed = [n for n in again.notes if n.startswith("data/raw.csv changed since data/raw.csv.dvc")]
    assert changed and md5(repo / "data" / "raw.csv") in changed[0], again.notes
    assert f"md5: {md5(repo / 'data' / 'raw.csv')}" in (repo / "data" / "raw.csv.dvc").read_text()
    assert again.result.written == ["data/raw.csv.dvc"]

    unchanged = export_report(repo / "nb.ipynb", stages="single")
    assert unchanged.result.written == [] and not [n for n in unchanged.notes if n.startswith("data/raw.csv")]
    assert any(n.startswith("no DVC remote yet") and "--remote" in n for n in unchanged.notes)


def test_a_directory_input_is_one_dvc_entry(repo):
    notebook(repo / "nb.ipynb", "import pandas as pd\nframe = pd.read_parquet('data/images')")
    report = export_report(repo / "nb.ipynb", stages="single")
    assert report.plan.stages[0].deps == ("data/images",)
    dvc_file = (repo / "data" / "images.dvc").read_text()
    assert dvc_file.count(".dir") == 1 and "nfiles: 2" in dvc_file
    assert not (repo / "data" / "images" / "x.txt.dvc").exists()


def test_dry_run_versions_nothing_and_says_what_it_would_do(repo):
    report = export_report(repo / "nb.ipynb", stages="single", dry_run=True)
    assert "would put data/raw.csv under DVC (dvc add)" in report.notes
    assert not (repo / "data" / "raw.csv.dvc").exists()


def test_without_dvc_the_export_says_how_to_start_versioning(tmp_path):
    run(tmp_path, "git", "init", "-q")
    (tmp_path / "in.csv").write_text("x\n")
    notebook(tmp_path / "nb.ipynb", "text = open('in.csv').read()")
    report = export_report(tmp_path / "nb.ipynb", stages="single")
    assert any("in.csv: not versioned" in n and "dvc init" in n for n in report.notes), report.notes
    assert not (tmp_path / "in.csv.dvc").exists()


def test_data_that_changed_since_the_tracked_session_read_it_is_named(repo):
    import time

    from jupyter_mlops.journal import CellRunRecord, FileRecord, Journal

    code = json.loads((repo / "nb.ipynb").read_text())["cells"][0]["source"]
    journal = Journal(repo / ".mlops" / "journal.sqlite")
    journal.start_session("s1", experiment=None, notebook="nb.ipynb", root=str(repo), python="3", ipython="9",
                          options={})
    journal.add_cell_run("s1", CellRunRecord(
        seq=1, cell_id="c0", execution_count=1, code=code, code_hash="h", started_at=time.time(), duration=0.1,
        status="ok", reproducible=True, files=[FileRecord("data/raw.csv", "read", 9, 1, "0" * 32)]))
    journal.end_session("s1")
    journal.close()
    report = export_report(repo / "nb.ipynb", stages="single")
    assert any(n.startswith("data/raw.csv is not the data the tracked session read (md5 " + "0" * 32)
               for n in report.notes), report.notes
