"""Issue 7, hostile and broken input, in real kernels: each case a clear message, the cell runs, nothing lost."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlops.journal import SCHEMA_VERSION
from tests.reliability.helpers import JOURNAL, NoDacKernel, duplicates, latest, track
from tests.support.kernel import Kernel

pytestmark = pytest.mark.kernel


def cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", *args], cwd=project, capture_output=True,
                          text=True, timeout=60)


def notebook(cells: list[tuple[str, str]]) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": cid, "metadata": {}, "source": src, "outputs": [], "execution_count": None}
        for cid, src in cells]})


# --- notebooks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["--notebook", "jupyter-says"])
def test_a_truncated_notebook_warns_once_and_every_cell_is_recorded(kernel, project, how):
    # Given a notebook cut off mid-save (as --notebook, or as the notebook Jupyter tells the kernel it runs)
    text = notebook([("a", "x = 1"), ("b", "y = x + 1")])
    (project / "nb.ipynb").write_text(text[: len(text) // 2])
    if how == "jupyter-says":
        kernel.cell("__session__ = 'nb.ipynb'", "tell")
    out = track(kernel, "--no-mlflow --notebook nb.ipynb" if how == "--notebook" else "--no-mlflow")
    # When cells run
    first = kernel.cell("x = 1", "a")
    second = kernel.cell("y = x + 1", "b")
    # Then one warning says the notebook cannot be read, and both cells are recorded in execution order
    warning = first.stderr + second.stderr
    assert warning.count("is not a readable notebook") == 1, out + warning
    assert "falls back to execution order" in warning
    runs = latest(project)["cell_runs"]
    assert [(r["cell_id"], r["status"]) for r in runs] == [("a", "ok"), ("b", "ok")]
    assert all(r["reproducible"] for r in runs)


def test_a_truncated_notebook_holding_the_cell_id_is_not_taken_for_the_notebook(kernel, project):
    # Given a broken notebook next to the kernel that contains the id of the cell being run
    text = notebook([("only-here", "z = 3")])
    (project / "broken.ipynb").write_text(text[:-20])
    track(kernel)
    kernel.cell("z = 3", "only-here")
    session = latest(project)
    assert session["notebook"] is None and [r["cell_id"] for r in session["cell_runs"]] == ["only-here"]


# --- journals -----------------------------------------------------------------------------------------


def test_a_damaged_journal_pauses_tracking_with_one_warning_and_the_cli_says_what_to_do(kernel, project):
    # Given a journal file that is not a database any more
    (project / ".mlops").mkdir()
    (project / JOURNAL).write_bytes(b"\x00garbage" * 4096)
    # When tracking starts and cells run
    kernel.cell("%load_ext jupyter_mlops", "load")
    started = kernel.run("%mlops_track --no-mlflow", "track")
    after = kernel.cell("v = 41 + 1\nv", "work")
    # Then %mlops_track warns once (no traceback, the notebook goes on) and the cells run
    assert started.status == "ok" and "Traceback" not in started.stderr
    assert "tracking not started" in started.stderr and "damaged" in started.stderr
    assert "mv " in started.stderr and after.result == "42"
    assert kernel.eval("__import__('jupyter_mlops').status()['tracking']") is False
    # And the CLI says the same, exit 2
    result = cli(project, "runs")
    assert result.returncode == 2 and "damaged" in result.stderr and "Traceback" not in result.stderr


def test_a_truncated_journal_is_reported_by_the_cli_not_crashed_on(project):
    # Given a journal with records, cut to its first pages
    k = Kernel(project)
    try:
        track(k)
        for i in range(200):
            k.cell(f"x{i} = '{'p' * 400}'", f"c{i}")
    finally:
        k.shutdown()
    path = project / JOURNAL
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file, which is then cut
    db.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    # When it is listed
    result = cli(project, "runs")
    # Then the CLI explains (malformed or damaged) and exits 2 without a traceback
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and "journal" in result.stderr


def test_a_journal_from_a_newer_version_is_left_alone_with_advice(kernel, project):
    # Given a journal written by a newer jupyter-mlops
    k0 = Kernel(project)
    try:
        track(k0)
    finally:
        k0.shutdown()
    with sqlite3.connect(project / JOURNAL) as db:
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    before = (project / JOURNAL).read_bytes()
    # When this version is asked to track into it
    kernel.cell("%load_ext jupyter_mlops", "load")
    started = kernel.run("%mlops_track --no-mlflow", "track")
    kernel.cell("a = 1", "a")
    # Then it says to upgrade, the cell runs, and the journal is untouched
    assert started.status == "ok" and "pip install -U jupyter-mlops" in started.stderr
    result = cli(project, "runs")
    assert result.returncode == 2 and "newer jupyter-mlops" in result.stderr
    assert (project / JOURNAL).read_bytes() == before


@pytest.fixture
def small_disk(project: Path):
    """`.mlops` on a 2 MiB tmpfs (root can mount one); None where mounting is not permitted."""
    mount = project / ".mlops"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    yield mount if done.returncode == 0 else None
    if done.returncode == 0:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_pauses_tracking_with_one_warning_and_loses_nothing(kernel, project, small_disk):
    # Given a journal on a small disk (a real tmpfs; else SQLite's max_page_count makes the file "full")
    track(kernel)
    kernel.cell("x = 0", "warm")
    if small_disk is not None:
        filler = small_disk / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k", "count=64"], capture_output=True)
        assert shutil.disk_usage(small_disk).free < 64 << 10
    else:
        pages = kernel.eval("__import__('jupyter_mlops').kernel.magic.current().journal._db.execute("
                            "'PRAGMA page_count').fetchone()[0]")
        kernel.cell(f"__import__('jupyter_mlops').kernel.magic.current().journal._db.execute("
                    f"'PRAGMA max_page_count = {pages}')", "fill")
    # When cells that log metrics, params and files run on the full disk
    replies = [kernel.run(f"import jupyter_mlops\nblob{i} = '{'z' * 20000}'\n"
                          f"jupyter_mlops.log_metric('m', {i})\nopen('out{i}.txt', 'w').write('v{i}')", f"full-{i}")
               for i in range(5)]
    # Then every cell ran, with one warning between them
    assert [r.status for r in replies] == ["ok"] * 5
    warnings = "".join(r.stderr for r in replies)
    assert warnings.count("cannot write the journal") == 1 and "your cells run normally" in warnings, warnings
    # And once space is back, the next cell writes everything kept in memory, once
    if small_disk is not None:
        filler.unlink()
    else:
        kernel.cell("__import__('jupyter_mlops').kernel.magic.current().journal._db.execute("
                    "'PRAGMA max_page_count = 1073741823')", "unfill")
    back = kernel.cell("y = 1", "after")
    assert "writable again" in back.stderr
    session = latest(project)
    ids = [r["cell_id"] for r in session["cell_runs"]]
    assert ids[0] == "warm" and ids[-1] == "after"
    assert [i for i in ids if i.startswith("full-")] == [f"full-{i}" for i in range(5)]
    assert [m["value"] for m in session["metrics"]] == [0, 1, 2, 3, 4]
    assert {f["path"] for f in session["files"]} == {f"out{i}.txt" for i in range(5)}
    assert duplicates(project) == []
    print("full disk simulated with", "tmpfs" if small_disk is not None else "max_page_count")


# --- data files ---------------------------------------------------------------------------------------


def test_unreadable_data_is_recorded_with_the_reason(project):
    # Given a file the kernel's user may not read (the kernel runs without root's DAC override)
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop CAP_DAC_OVERRIDE: as root every file is readable")
    secret = project / "secret.csv"
    secret.write_text("a,b\n")
    secret.chmod(0)
    k = NoDacKernel(project)
    try:
        track(k)
        # When a cell tries to read it
        reply = k.run("open('secret.csv').read()", "read")
        k.cell("after = 1", "after")
    finally:
        k.shutdown()
    # Then the cell failed as Python says, and the journal records the attempt and why it has no digest
    assert reply.ename == "PermissionError"
    session = latest(project)
    assert [(r["cell_id"], r["status"]) for r in session["cell_runs"]] == [("read", "error"), ("after", "ok")]
    assert [(f["path"], f["md5"], f["error"]) for f in session["files"]] == [("secret.csv", None, "permission denied")]


def test_fifos_devices_symlink_loops_and_vanishing_files_never_hang_or_lose_a_cell(kernel, project):
    # Given odd things in the project: a FIFO, a character device, a symlink to one, a symlink loop
    data = project / "data"
    data.mkdir()
    os.mkfifo(data / "pipe")
    (data / "zero").symlink_to("/dev/zero")
    (data / "loop").symlink_to(data / "loop")
    has_mknod = True
    try:
        os.mknod(data / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        has_mknod = False
    track(kernel)
    # When cells open them (the FIFO from both ends, without blocking) and read then delete a file
    kernel.cell("import os\nr = os.open('data/pipe', os.O_RDONLY | os.O_NONBLOCK)\n"
                "with open('data/pipe', 'w') as w:\n    w.write('x')\nos.close(r)", "fifo", timeout=30)
    kernel.cell("head = open('data/zero', 'rb').read(16)", "device", timeout=30)
    if has_mknod:
        kernel.cell("open('data/null', 'wb').write(b'gone')", "mknod", timeout=30)
    loop = kernel.run("open('data/loop')", "loop", timeout=30)
    kernel.cell("open('tmp.txt', 'w').write('t')\nt = open('tmp.txt').read()\nos.remove('tmp.txt')", "vanish",
                timeout=30)
    missing = kernel.run("open('data/never.csv')", "missing", timeout=30)
    # Then every cell finished and is recorded, and each file says why it has no digest
    assert loop.ename == "OSError" and missing.ename == "FileNotFoundError"
    session = latest(project)
    expected = ["fifo", "device", *(["mknod"] if has_mknod else []), "loop", "vanish", "missing"]
    assert [r["cell_id"] for r in session["cell_runs"]] == expected
    reasons = {(f["path"], f["mode"]): f["error"] for f in session["files"]}
    assert reasons[("data/pipe", "read")] == "not a regular file" and ("data/pipe", "write") not in reasons
    assert reasons[("data/zero", "read")] == "not a regular file"
    assert reasons[("data/loop", "read")] == "symlink loop"
    assert ("tmp.txt", "write") not in reasons and ("data/never.csv", "read") not in reasons


def test_a_non_utf8_file_name_is_recorded_and_does_not_block_later_records(kernel, project):
    # Given a cell that writes a file whose name is not UTF-8
    track(kernel)
    kernel.cell("import os\nwith open(os.fsencode('data-') + b'\\xff.csv', 'wb') as f:\n    f.write(b'1')", "odd")
    # When later cells run
    kernel.cell("n = 1", "later")
    # Then both are recorded, the name with its odd byte spelled out
    session = latest(project)
    assert [r["cell_id"] for r in session["cell_runs"]] == ["odd", "later"]
    assert [(f["path"], f["md5"]) for f in session["files"]] == [("data-\\xff.csv", hashlib.md5(b"1").hexdigest())]


def test_a_huge_cell_source_is_recorded_whole(kernel, project):
    # Given a cell of 4 MB (a big literal, as a pasted dataset would be)
    code = "blob = '" + "q" * (4 << 20) + "'\nlen(blob)"
    track(kernel)
    reply = kernel.cell(code, "huge", timeout=120)
    kernel.cell("small = 1", "small")
    # Then it ran, and its record holds its code and hash
    runs = latest(project)["cell_runs"]
    assert reply.result == str(4 << 20)
    assert [r["cell_id"] for r in runs] == ["huge", "small"]
    assert len(runs[0]["code"]) == len(code) and runs[0]["code_hash"] == hashlib.md5(code.encode()).hexdigest()


# --- params and metrics -------------------------------------------------------------------------------


def test_params_that_do_not_serialise_are_recorded_as_text_and_secrets_redacted(kernel, project):
    track(kernel)
    # Given a papermill parameters cell with awkward values and secrets
    kernel.cell(
        "# Parameters\n"
        "class Broken:\n    def __repr__(self):\n        raise RuntimeError('no repr')\n"
        "broken = Broken()\n"
        "looped = [1]\nlooped.append(looped)\n"
        "big = list(range(1_000_000))\n"
        "fn = lambda x: x\n"
        "nan = float('nan')\n"
        "db_password = 'hunter2'\n"
        "conf = {'api_key': 'sk-live-123', 'depth': 3}\n",
        "params",
    )
    kernel.cell("import jupyter_mlops\njupyter_mlops.log_param('access_token', 'tok-456')", "api")
    # Then every param is recorded, in a form that survives JSON, without the secrets
    params = {p["name"]: p["value"] for p in latest(project)["params"]}
    assert params["broken"].startswith("<Broken")
    assert params["looped"][0] == 1 and len(json.dumps(params["looped"])) < 400
    assert params["big"].startswith("[0, 1, 2") and len(params["big"]) <= 200
    assert params["fn"].startswith("<function") and params["nan"] == "nan"
    assert params["db_password"] == params["access_token"] == "***redacted***"
    assert params["conf"] == {"api_key": "***redacted***", "depth": 3}
    # (the params table is what leaves the project, for MLflow; the cell's code is kept as the .ipynb keeps it)
    with sqlite3.connect(project / JOURNAL) as db:
        stored = json.dumps(db.execute("SELECT name, value FROM params").fetchall())
    assert "hunter2" not in stored and "sk-live-123" not in stored and "tok-456" not in stored


def test_metrics_nan_inf_and_strings(kernel, project):
    track(kernel, "--no-mlflow --metrics score")
    # When metrics are NaN, infinite, a string (refused) and a watched variable that turns into a string
    reply = kernel.cell(
        "import jupyter_mlops, numpy as np\n"
        "jupyter_mlops.log_metric('loss', float('nan'))\n"
        "jupyter_mlops.log_metric('loss', np.float32('inf'))\n"
        "jupyter_mlops.log_metric('loss', -np.inf)\n"
        "jupyter_mlops.log_metric('loss', 'high')\n"
        "score = 0.5", "m")
    kernel.cell("score = 'n/a'", "w")
    # Then NaN is stored as NULL (the journal's explicit NaN), ±inf as themselves, strings refused with a warning
    metrics = [(m["name"], m["value"]) for m in latest(project)["metrics"]]
    assert metrics[0] == ("loss", None)
    assert metrics[1:3] == [("loss", math.inf), ("loss", -math.inf)] and metrics[3] == ("score", 0.5)
    assert len(metrics) == 4
    assert "log_metric('loss')" in reply.stderr and "a metric must be a number, not str" in reply.stderr
    listing = subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "show", "latest"], cwd=project,
                             capture_output=True, text=True, timeout=60).stdout
    assert "loss = NaN" in listing and "loss = inf" in listing


def test_a_failing_detector_costs_the_verdict_not_the_record(kernel, project):
    track(kernel)
    kernel.cell("from jupyter_mlops.kernel import magic\n"
                "def boom(*a, **k):\n    raise RuntimeError('detector bug')\n"
                "magic.current().detector.verdict = boom\nmagic.current().detector.preflight = boom", "break")
    reply = kernel.cell("x = 1", "x")
    kernel.cell("y = 2", "y")
    runs = latest(project)["cell_runs"]
    assert [r["cell_id"] for r in runs] == ["break", "x", "y"]
    assert runs[-1]["reproducible"] is None and "detector bug" in reply.stderr
