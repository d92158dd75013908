"""What ``verify`` concluded, kept in the journal file: the gate ``register`` asks before a model ships.

A verify re-runs the notebook as it stands in a clean kernel and compares with its last tracked session; a
pass says "this code, at this commit, gives that session's model and metrics". Each verdict is one row of
``verify_results`` (a table of the journal, ``journal_schema.py``),
with the session it compared against, the git commit and dirtiness of the tree it ran in, the gates of
``--expect`` and the one-line message. Standard library only: the CLI and the server both write it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jupyter_mlops.journal import Journal
from jupyter_mlops.project import journal_path
from jupyter_mlops.provenance import git_state


@dataclass(frozen=True)
class VerifyRecord:
    session_id: str
    notebook: str
    git_commit: str | None
    git_dirty: bool | None
    ok: bool
    expect: tuple[str, ...]
    message: str
    verified_at: float

    def summary(self) -> str:
        """One line: passed or failed, where, with which gates."""
        where = f"at {self.git_commit[:12]}{' (dirty tree)' if self.git_dirty else ''}" if self.git_commit \
            else "outside git"
        gates = f" with {' '.join(self.expect)}" if self.expect else ""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.verified_at))
        return f"{'passed' if self.ok else 'failed'} {where}{gates} against session {self.session_id} ({when} UTC)"


def record(root: Path, notebook: str, session_id: str, ok: bool, message: str, expect: Sequence[str]) -> None:
    """Keep one verify's verdict, with the commit of the tree it ran in."""
    git = git_state(root)  # what git reads of the work tree is announced: no kernel's cell is given it
    journal = Journal(journal_path(root), create=False)
    try:
        with journal.writing() as db:
            db.execute(
                "INSERT INTO verify_results(session_id, notebook, git_commit, git_dirty, ok, expect, message,"
                " verified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, notebook, git.commit, None if git.dirty is None else int(git.dirty), int(ok),
                 json.dumps(list(expect)), message, time.time()),
            )
    finally:
        journal.close()


def results(root: Path, notebook: str) -> list[VerifyRecord]:
    """Every verify of ``notebook`` (root-relative), oldest first."""
    if not journal_path(root).exists():
        return []
    journal = Journal(journal_path(root), create=False)
    try:
        with journal.reading() as db:
            rows = db.execute("SELECT * FROM verify_results WHERE notebook=? ORDER BY id", (notebook,)).fetchall()
    finally:
        journal.close()
    return [VerifyRecord(r["session_id"], r["notebook"], r["git_commit"],
                         None if r["git_dirty"] is None else bool(r["git_dirty"]), bool(r["ok"]),
                         tuple(json.loads(r["expect"])), r["message"], r["verified_at"]) for r in rows]


def latest_for(records: Sequence[VerifyRecord], session_id: str, commit: str | None) -> VerifyRecord | None:
    """The latest verify that speaks for a session: one compared with that very session (a verify of another
    session, with other injected params, says nothing about its model), run at the session's commit (one at
    another commit verified other code)."""
    mine = [r for r in records if r.session_id == session_id and (commit is None or r.git_commit == commit)]
    return mine[-1] if mine else None
