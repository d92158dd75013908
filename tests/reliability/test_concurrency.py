"""Issue 7, concurrency: many kernels tracking into one journal while the CLI and the server read it.

Eight kernels — six notebooks, and two kernels on one notebook — run cells as fast as they answer for
``MLOPS_LOAD_SECONDS`` (default 25; ``benchmarks/concurrency.py`` runs it for minutes). Every answered cell
must be stored once, in its own session, with no "database is locked" reaching a cell. A second test holds
the journal's write lock for longer than the busy timeout: records wait in memory and arrive whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jupyter_mlops.kernel.backlog import BEHIND_BUSY_TIMEOUT
from jupyter_mlops.server import history
from jupyter_mlops.server.paths import notebook_ref
from tests.reliability.helpers import JOURNAL, duplicates, integrity, journal, latest, track
from tests.support.kernel import Kernel

pytestmark = pytest.mark.kernel

LOAD_SECONDS = float(os.environ.get("MLOPS_LOAD_SECONDS", "25"))
NOTEBOOKS = ["nb0", "nb1", "nb2", "nb3", "nb4", "nb5", "shared", "shared"]
CELLS = [
    "import jupyter_mlops\nv = {n}\njupyter_mlops.log_metric('n', v, step={n})",
    "open('out/{k}-{n}.txt', 'w').write('{k}')",
    "text = open('shared.csv').read()",
    "w = [i * i for i in range(2000)]",
]


def empty_notebook(path: Path) -> None:
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}))


def drive(kernel: Kernel, k: int, stop_at: float) -> list[str]:
    """Run cells until ``stop_at``; the ids of the cells answered. Any journal trouble a cell shows fails."""
    done = []
    n = 0
    while time.monotonic() < stop_at:
        cell_id = f"k{k}-{n}"
        reply = kernel.run(CELLS[n % len(CELLS)].format(k=k, n=n), cell_id)
        assert reply.status == "ok", reply
        assert "jupyter-mlops" not in reply.stderr, reply.stderr  # no warning of any kind, "locked" included
        done.append(cell_id)
        n += 1
    return done


def read_while_writing(project: Path, stop: threading.Event, failures: list[str], counts: dict[str, int]) -> None:
    """The CLI (a process) and the server's history code read the journal the whole time."""
    ref = notebook_ref(project, "shared.ipynb")
    while not stop.is_set():
        result = subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "runs"], cwd=project,
                                capture_output=True, text=True, timeout=60)
        counts["cli"] += 1
        if result.returncode != 0:
            failures.append(result.stderr)
        for _ in range(5):
            try:
                listed = history.sessions(ref)
                counts["server"] += 1
                for s in listed["sessions"]:
                    history.session(ref, s["id"], limit=50)
            except Exception as exc:  # any failure of a reader is the finding
                failures.append(repr(exc))


def test_eight_kernels_one_journal_every_cell_once_no_cross_talk(project):
    (project / "out").mkdir()
    (project / "shared.csv").write_text("a,b\n1,2\n")
    for name in set(NOTEBOOKS):
        empty_notebook(project / f"{name}.ipynb")
    with ThreadPoolExecutor(len(NOTEBOOKS)) as pool:
        kernels = list(pool.map(lambda _: Kernel(project), NOTEBOOKS))
    stop, failures, counts = threading.Event(), [], {"cli": 0, "server": 0}
    try:
        sessions = []
        for kernel, name in zip(kernels, NOTEBOOKS, strict=True):
            track(kernel, f"--no-mlflow --notebook {name}.ipynb")
            sessions.append(kernel.eval("__import__('jupyter_mlops').status()['session']"))
        reader = threading.Thread(target=read_while_writing, args=(project, stop, failures, counts))
        reader.start()
        stop_at = time.monotonic() + LOAD_SECONDS
        with ThreadPoolExecutor(len(kernels)) as pool:
            answered = list(pool.map(lambda kk: drive(kk[1], kk[0], stop_at), enumerate(kernels)))
        stop.set()
        reader.join()
    finally:
        stop.set()
        for kernel in kernels:
            kernel.shutdown()
    assert failures == []
    j = journal(project)
    total = 0
    for k, (sid, cells) in enumerate(zip(sessions, answered, strict=True)):
        detail = j.session_detail(sid)
        stored = [r["cell_id"] for r in detail["cell_runs"]]
        assert stored == cells, f"kernel {k}: {len(stored)} stored, {len(cells)} answered"
        assert [r["seq"] for r in detail["cell_runs"]] == list(range(1, len(cells) + 1))
        assert detail["notebook"] == f"{NOTEBOOKS[k]}.ipynb"
        assert {m["value"] for m in detail["metrics"]} == {int(c.split("-")[1]) for c in cells[::4]}
        assert all(f["path"].startswith((f"out/{k}-", "shared.csv")) for f in detail["files"])
        total += len(cells)
    j.close()
    assert duplicates(project) == [] and integrity(project) == "ok"
    print(f"{len(kernels)} kernels x {total} cells in {LOAD_SECONDS:.0f} s, readers: {counts}")


def test_a_lock_held_past_the_busy_timeout_keeps_records_in_memory_and_writes_them_once(project):
    # Given a kernel that waits 0.3 s for the journal, and another process that holds its write lock
    k = Kernel(project, env={"JUPYTER_MLOPS_BUSY_TIMEOUT": "0.3"})
    try:
        track(k)
        k.cell("x = 0", "before")
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sqlite3, sys\n"
             "db = sqlite3.connect(sys.argv[1], isolation_level=None)\ndb.execute('BEGIN IMMEDIATE')\n"
             "print('locked', flush=True)\nsys.stdin.readline()\ndb.execute('COMMIT')", str(project / JOURNAL)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
        # When cells run meanwhile: a big file (digest computed after the cell), metrics, plain cells
        replies = [k.run(code, f"locked-{i}") for i, code in enumerate([
            "open('big.bin', 'wb').write(b'\\x01' * (12 << 20))",
            "import jupyter_mlops\njupyter_mlops.log_metric('m', 1.5)",
            "y = 2", "z = 3",
        ])]
        session = "__import__('jupyter_mlops').kernel.magic.current()"
        k.eval(f"{session}.hasher.wait(30)")
        waits_while_behind = k.eval(f"{session}.journal.busy_timeout")
        # (readers are not blocked by a writer: the CLI still lists the journal)
        listed = subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "runs"], cwd=project,
                                capture_output=True, text=True, timeout=60)
        holder.communicate("go\n", timeout=30)
        after = k.cell("w = 4", "after")
        waits_after = k.eval(f"{session}.journal.busy_timeout")
    finally:
        k.shutdown()
    # Then every cell ran, one warning named the lock, and while behind a cell only tried the journal briefly
    assert [r.status for r in replies] == ["ok"] * 4 and listed.returncode == 0
    warnings = "".join(r.stderr for r in replies)
    assert warnings.count("jupyter-mlops:") == 1 and "held its write lock for over 0.3 s" in warnings, warnings
    assert (waits_while_behind, waits_after) == (BEHIND_BUSY_TIMEOUT, 0.3)
    assert "writable again" in after.stderr
    # And the journal holds each record once, the late digest included
    session = latest(project)
    assert [r["cell_id"] for r in session["cell_runs"]] == ["before", *(f"locked-{i}" for i in range(4)), "after"]
    assert [(f["path"], f["md5"], f["pending"]) for f in session["files"]] == [
        ("big.bin", hashlib.md5(b"\x01" * (12 << 20)).hexdigest(), False)]
    assert [m["value"] for m in session["metrics"]] == [1.5]
    assert duplicates(project) == []
