"""What the reliability tests share: tracking a kernel, reading its journal, checking nothing was lost."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from jupyter_mlops.journal import Journal
from tests.support.kernel import Kernel, ThisPythonKernelManager

JOURNAL = Path(".mlops") / "journal.sqlite"


def track(kernel: Kernel, options: str = "--no-mlflow") -> str:
    """Start tracking; returns what %mlops_track printed (stdout and stderr)."""
    kernel.cell("%load_ext jupyter_mlops", "load")
    reply = kernel.cell(f"%mlops_track {options}", "track")
    return reply.stdout + reply.stderr


def journal(project: Path) -> Journal:
    return Journal(project / JOURNAL, create=False)


def latest(project: Path, **kw) -> dict:
    j = journal(project)
    try:
        return j.session_detail(j.find_session("latest"), **kw)
    finally:
        j.close()


def integrity(project: Path) -> str:
    with sqlite3.connect(project / JOURNAL) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def duplicates(project: Path) -> list[tuple]:
    """(session, seq) pairs stored more than once: a retried write must never store a record twice."""
    with sqlite3.connect(project / JOURNAL) as db:
        return db.execute("SELECT session_id, seq, COUNT(*) FROM cell_runs GROUP BY session_id, seq"
                          " HAVING COUNT(*) > 1").fetchall()


class _NoDacManager(ThisPythonKernelManager):
    """Root reads any file (CAP_DAC_OVERRIDE): drop those capabilities so "permission denied" is real."""

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        spec.argv = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps",
                     "-dac_override,-dac_read_search", "--", *spec.argv]
        return spec


class NoDacKernel(Kernel):
    """A kernel that, even as root, gets EACCES from files its user may not read."""

    def __init__(self, cwd: Path) -> None:
        import os

        self.cwd = cwd
        self.km = _NoDacManager()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("JPY_SESSION_NAME", None)
        self.km.start_kernel(cwd=str(cwd), env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)


PYTHON = sys.executable
