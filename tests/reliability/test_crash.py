"""Issue 7, crash safety: SIGKILL of a tracking kernel at any moment loses at most the unfinished cell.

The kernel is fed cells faster than it runs them and killed at a random moment — mid-cell, mid-commit,
mid-hash of a big file; the MLflow follower mid-send. The journal must pass SQLite's integrity check,
hold every cell the kernel answered (and no gap or duplicate), and the next session must mark the killed
one abandoned.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from jupyter_mlops.journal import INTERRUPTED
from tests.reliability.helpers import duplicates, integrity, journal, track
from tests.support.kernel import Kernel
from tests.support.wait import wait_for

pytestmark = pytest.mark.kernel

SEED = int(os.environ.get("MLOPS_CRASH_SEED", "7"))
CELLS = [
    "import jupyter_mlops\nx{i} = {i}\njupyter_mlops.log_metric('step', {i}, step={i})",
    "open('out/f{i}.txt', 'w').write('v' * {i})",
    "data = open('big.bin', 'rb').read(10)",            # 12 MiB: hashed by a worker, after the cell
    "import time; time.sleep(0.0{i} % 0.05)",
    "open('big.bin', 'r+b').write(b'{i:08d}')",          # a rewrite: hashed again, in background
]


def send(kernel: Kernel, code: str, cell_id: str) -> str:
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
               "allow_stdin": False, "stop_on_error": False}
    msg = kernel.kc.session.msg("execute_request", content, metadata={"cellId": cell_id})
    kernel.kc.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def kill(kernel: Kernel) -> None:
    os.kill(kernel.km.provisioner.pid, signal.SIGKILL)
    kernel.kc.stop_channels()
    kernel.km.cleanup_resources()


def answered_until_killed(kernel: Kernel, ids: dict[str, str], after: float) -> list[str]:
    """Read replies for ``after`` seconds, then kill; the cell ids the kernel answered ok."""
    answered = []
    deadline = time.monotonic() + after
    while (left := deadline - time.monotonic()) > 0:
        try:
            reply = kernel.kc.get_shell_msg(timeout=left)
        except queue.Empty:
            break
        cell = ids.get(reply["parent_header"].get("msg_id"))
        if cell is not None and reply["content"]["status"] == "ok":
            answered.append(cell)
    kill(kernel)
    return answered


def test_sigkill_at_random_moments_loses_at_most_the_unfinished_cell(project):
    rng = random.Random(SEED)
    (project / "out").mkdir()
    (project / "big.bin").write_bytes(os.urandom(12 << 20))
    killed = []
    for round_ in range(3):
        k = Kernel(project)
        track(k)
        cell_ids = [f"r{round_}-c{i}" for i in range(400)]
        ids = {send(k, CELLS[i % len(CELLS)].format(i=i), cid): cid for i, cid in enumerate(cell_ids)}
        answered = answered_until_killed(k, ids, rng.uniform(0.3, 2.0))
        assert integrity(project) == "ok"
        j = journal(project)
        session = j.sessions()[-1]["id"]
        stored = [r["cell_id"] for r in j.session_detail(session)["cell_runs"]]
        j.close()
        # Every answered cell is stored, in order, and nothing else but a prefix of what was sent
        assert stored == cell_ids[: len(stored)] and len(stored) >= len(answered) > 0, (len(stored), len(answered))
        killed.append((session, len(stored)))
    # The next session opens the journal cleanly and settles the killed ones
    k = Kernel(project)
    try:
        track(k)
        k.cell("z = 1", "after")
    finally:
        k.shutdown()
    j = journal(project)
    states = {s["id"]: s["state"] for s in j.sessions()}
    assert all(states[s] == "abandoned" for s, _ in killed)
    for session, _ in killed:
        assert not any(f["pending"] for f in j.session_detail(session)["files"])
    assert duplicates(project) == [] and integrity(project) == "ok"
    print("cells stored per killed session:", [n for _, n in killed])


def test_sigkill_mid_hash_leaves_a_row_that_says_its_digest_was_interrupted(project):
    k = Kernel(project)
    track(k)
    # A cell reads 10 bytes of a sparse 8 GiB file: its md5 needs seconds of reading, after the cell returns
    k.cell("with open('huge.bin', 'wb') as f:\n    f.truncate(8 << 30)\nhead = open('huge.bin', 'rb').read(10)", "big")
    time.sleep(0.5)
    j = journal(project)
    sid = j.sessions()[-1]["id"]
    assert all(f["pending"] for f in j.session_detail(sid)["files"])
    j.close()
    kill(k)
    assert integrity(project) == "ok"
    k2 = Kernel(project)
    try:
        track(k2)
    finally:
        k2.shutdown()
    j = journal(project)
    files = j.session_detail(sid)["files"]
    assert j.sessions()[0]["state"] == "abandoned"
    assert {(f["path"], f["pending"], f["error"]) for f in files} == {
        ("huge.bin", False, INTERRUPTED)}
    (project / "huge.bin").unlink()


def store_metrics(project) -> int:
    """Metrics the MLflow store holds (read with sqlite3; 0 while the store is being created)."""
    db = project / "mlflow.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.e2e
def test_sigkill_mid_mlflow_send_then_sync_sends_everything_once(project):
    k = Kernel(project, env={"MLFLOW_TRACKING_URI": ""})  # the default store: sqlite at the project root
    track(k, "--experiment crash")
    cell_ids = [f"m{i}" for i in range(300)]
    ids = {send(k, f"import jupyter_mlops\njupyter_mlops.log_metric('auc', {i} / 300, step={i})", cid): cid
           for i, cid in enumerate(cell_ids)}
    # The follower sends while the cells keep coming; both it and the kernel are killed at a random moment
    wait_for(lambda: store_metrics(project) > 0, 120, "the follower's first metrics in the store")
    [lock] = (project / ".mlops" / "mlflow").glob("follower-*.lock")
    follower = int(lock.read_text())
    answered_until_killed(k, ids, random.Random(SEED).uniform(0.0, 1.5))
    os.kill(follower, signal.SIGKILL)
    assert integrity(project) == "ok"
    with sqlite3.connect(project / "mlflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    j = journal(project)
    sid = j.sessions()[-1]["id"]
    stored = len(j.session_detail(sid)["metrics"])
    j.close()
    # When sync finishes the job from another process
    done = subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "sync"], cwd=project, capture_output=True,
                          text=True, timeout=180, env={**os.environ, "MLFLOW_TRACKING_URI": ""})
    assert done.returncode == 0, done.stderr
    # Then MLflow holds every metric the journal holds, exactly once
    with sqlite3.connect(project / "mlflow.db") as db:
        steps = [r[0] for r in db.execute("SELECT step FROM metrics WHERE key='auc' ORDER BY step")]
    assert steps == list(range(stored)), (len(steps), stored)
