"""What has been sent where, and what is still to follow: the MLflow mirror's tables in the journal file.

The journal is the source of truth and MLflow a mirror of it, so "what is still to send" is a question
about journal ids: every row above a session's marks is unsent. Keeping the marks next to the rows (same
file, own tables) lets any process continue where another stopped — the project's follower process,
then ``jupyter mlops sync`` after the kernel died — and advancing them in one transaction after MLflow
accepted a batch is what makes the mirror idempotent. ``mlflow_follow`` is the subscription list: a kernel
that tracks with the mirror on adds its (session, store) and closes it after its last record; the
follower (``sinks/follower.py``) sends what the journal holds for every open or freshly closed one.

Two pushers of the same (session, store) would send the same rows twice, so a pass first takes a lease on
the row; a lease whose holder died on this host, or that is older than ``LEASE_SECONDS``, can be taken over.

The tables are the journal's (``journal_schema.py``); this module asks the journal for its connection (in
the kernel, a second one, only to subscribe and close), and WAL lets the follower read while the kernel
writes. Its transactions are a few row updates, so it never holds the kernel's cells up.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_mlops.journal import Journal, Provenance, Row
from jupyter_mlops.project import journal_home

LEASE_SECONDS = 600.0
"""Longer than any pass (MLflow's HTTP retries included), so a live pusher never loses its lease."""

@dataclass
class Marks:
    """How far a session's rows have been sent to one store."""

    param: int = 0
    metric: int = 0
    file: int = 0
    cell_run: int = 0
    steps: dict[str, int] = field(default_factory=dict)
    params_sent: dict[str, str] = field(default_factory=dict)


@dataclass
class SyncRow:
    experiment_id: str | None
    run_id: str | None
    marks: Marks
    provenance_sent: bool
    notebook_stamp: str | None
    finished: bool


@dataclass(frozen=True)
class WrittenFile:
    """The last version of a file or folder a session wrote, as the journal recorded it."""

    id: int
    path: str
    md5: str
    size: int | None
    mtime_ns: int | None
    nfiles: int | None
    cell_id: str | None


@dataclass(frozen=True)
class LoggedModelRecord:
    """What the mirror made of one written model file in one store."""

    path: str
    md5: str
    model_id: str | None
    flavor: str | None
    note: str | None
    logged_at: float


@dataclass(frozen=True)
class Followed:
    """One (session, store) a kernel asked to mirror, with what the follower needs to judge it."""

    session_id: str
    uri: str
    closed: bool
    host: str
    pid: int


@dataclass(frozen=True)
class Unsent:
    """Journal rows above the marks, oldest first, at most a batch's worth of each."""

    params: list[Row]
    metrics: list[Row]
    files: list[Row]
    latest_cell_run: Row | None


class LeaseLost(Exception):
    """Another pusher took this session over; stop without advancing anything."""


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Bookkeeping:
    """The mirror's tables in one journal file, and the journal rows it still has to send."""

    def __init__(self, journal_path: Path) -> None:
        self.home = journal_home(journal_path)  # the project of this journal (its sessions' roots may differ)
        self._journal = Journal(journal_path, create=False)  # its tables brought up to date, the mirror's included
        self.owner = _owner()

    def close(self) -> None:
        self._journal.close()

    def _all(self, sql: str, args: tuple = ()) -> list[Row]:
        """A read on the journal's connection, fetched while it is ours (the journal shares it under a lock)."""
        with self._journal.reading() as db:
            return db.execute(sql, args).fetchall()

    def _one(self, sql: str, args: tuple = ()) -> Row | None:
        with self._journal.reading() as db:
            return db.execute(sql, args).fetchone()

    # --- the journal's own rows --------------------------------------------------------------------

    def session(self, session_id: str) -> Row | None:
        return self._one("SELECT * FROM sessions WHERE id=?", (session_id,))

    def sessions(self) -> list[Row]:
        return self._all("SELECT * FROM sessions ORDER BY started_at")

    def unsent(self, session_id: str, marks: Marks, *, params: int, metrics: int, files: int,
               wait_pending: bool = True) -> Unsent:
        """Rows above the marks, oldest first. While the session runs, files stop before the first one
        still being hashed, so the file mark never passes a digest about to arrive; once it ended, a
        digest still missing never will, and the row is sent without one."""
        sid = session_id
        file_rows = []
        with self._journal.reading() as db:
            for row in db.execute(
                "SELECT * FROM file_accesses WHERE session_id=? AND id>? ORDER BY id LIMIT ?", (sid, marks.file, files)
            ):
                if row["pending"] and wait_pending:
                    break
                file_rows.append(row)
            return Unsent(
                params=db.execute(
                    "SELECT * FROM params WHERE session_id=? AND id>? ORDER BY id LIMIT ?", (sid, marks.param, params)
                ).fetchall(),
                metrics=db.execute(
                    "SELECT * FROM metrics WHERE session_id=? AND id>? ORDER BY id LIMIT ?",
                    (sid, marks.metric, metrics),
                ).fetchall(),
                files=file_rows,
                latest_cell_run=db.execute(
                    "SELECT * FROM cell_runs WHERE session_id=? AND id>? ORDER BY id DESC LIMIT 1",
                    (sid, marks.cell_run),
                ).fetchone(),
            )

    def written_files(self, session_id: str) -> list[WrittenFile]:
        """Each path's last hashed write in the session, oldest first (the model mirror's candidates)."""
        rows = self._all(
            "SELECT f.id, f.path, f.md5, f.size, f.mtime_ns, f.nfiles, c.cell_id FROM file_accesses f"
            " LEFT JOIN cell_runs c ON c.id = f.cell_run_id WHERE f.id IN (SELECT MAX(id) FROM file_accesses"
            " WHERE session_id=? AND mode='write' GROUP BY path) AND f.md5 IS NOT NULL AND f.pending=0"
            " ORDER BY f.id", (session_id,),
        )
        return [WrittenFile(r["id"], r["path"], r["md5"], r["size"], r["mtime_ns"], r["nfiles"], r["cell_id"])
                for r in rows]

    # --- models the mirror logged ---------------------------------------------------------------------

    def logged_models(self, session_id: str, uri: str) -> list[LoggedModelRecord]:
        rows = self._all(
            "SELECT * FROM mlflow_models WHERE session_id=? AND tracking_uri=? ORDER BY logged_at",
            (session_id, uri),
        )
        return [LoggedModelRecord(r["path"], r["md5"], r["model_id"], r["flavor"], r["note"], r["logged_at"])
                for r in rows]

    def save_logged_model(self, session_id: str, uri: str, record: LoggedModelRecord) -> None:
        with self._journal.writing() as db:
            db.execute(
                "INSERT OR REPLACE INTO mlflow_models(session_id, tracking_uri, path, md5, model_id, flavor, note,"
                " logged_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, uri, record.path, record.md5, record.model_id, record.flavor, record.note,
                 record.logged_at),
            )

    def forget_models(self, session_id: str, uri: str) -> None:
        """The store lost the run: its models go again with it."""
        with self._journal.writing() as db:
            db.execute("DELETE FROM mlflow_models WHERE session_id=? AND tracking_uri=?", (session_id, uri))

    def provenance(self, session_id: str) -> Provenance | None:
        """Where the session ran, as the kernel recorded it in the journal."""
        return self._journal.provenance(session_id)

    # --- subscriptions (the kernel subscribes and closes, the follower reads and drops) ----------------

    def follow(self, session_id: str, uri: str, python: str) -> None:
        with self._journal.writing() as db:
            db.execute("INSERT OR REPLACE INTO mlflow_follow(session_id, tracking_uri, python) VALUES (?, ?, ?)",
                       (session_id, uri, python))

    def close_follow(self, session_id: str, uri: str) -> None:
        with self._journal.writing() as db:
            db.execute("UPDATE mlflow_follow SET closed=1 WHERE session_id=? AND tracking_uri=?", (session_id, uri))

    def is_closed(self, session_id: str, uri: str) -> bool:
        """Whether the kernel closed this subscription (its last act before it exits)."""
        row = self._one("SELECT closed FROM mlflow_follow WHERE session_id=? AND tracking_uri=?", (session_id, uri))
        return bool(row and row["closed"])

    def unfollow(self, session_id: str, uri: str) -> None:
        with self._journal.writing() as db:
            db.execute("DELETE FROM mlflow_follow WHERE session_id=? AND tracking_uri=?", (session_id, uri))

    def followed(self, python: str) -> list[Followed]:
        """The subscriptions of kernels running ``python``, oldest session first."""
        rows = self._all(
            "SELECT f.session_id, f.tracking_uri, f.closed, s.host, s.pid FROM mlflow_follow f"
            " JOIN sessions s ON s.id = f.session_id WHERE f.python=? ORDER BY s.started_at", (python,),
        )
        return [Followed(r["session_id"], r["tracking_uri"], bool(r["closed"]), r["host"], r["pid"]) for r in rows]

    def following(self) -> int:
        """How many subscriptions the follower still serves, whatever their interpreter: a process that must
        not end before the mirror is done (a Kubeflow step, whose container goes with it) waits for 0."""
        return self._one("SELECT COUNT(*) FROM mlflow_follow")[0]

    def data_version(self) -> int:
        """Changes whenever another connection commits to the file: the follower's cheap "anything new?"."""
        return self._journal.data_version()

    def has_cell_runs(self, session_id: str) -> bool:
        row = self._one("SELECT 1 FROM cell_runs WHERE session_id=? LIMIT 1", (session_id,))
        return row is not None

    # --- marks and the lease -------------------------------------------------------------------------

    def sync_row(self, session_id: str, uri: str) -> SyncRow | None:
        row = self._one("SELECT * FROM mlflow_sync WHERE session_id=? AND tracking_uri=?", (session_id, uri))
        if row is None:
            return None
        marks = Marks(row["last_param_id"], row["last_metric_id"], row["last_file_id"], row["last_cell_run_id"],
                      json.loads(row["metric_steps"]), json.loads(row["params_sent"]))
        return SyncRow(row["experiment_id"], row["run_id"], marks, bool(row["provenance_sent"]),
                       row["notebook_stamp"], bool(row["finished"]))

    def claim(self, session_id: str, uri: str) -> bool:
        """Take the lease on (session, store) for one pass; False when a live pusher holds it."""
        now = time.time()
        with self._journal.writing() as db:
            db.execute("INSERT OR IGNORE INTO mlflow_sync(session_id, tracking_uri) VALUES (?, ?)", (session_id, uri))
            row = db.execute(
                "SELECT lease_owner, lease_until FROM mlflow_sync WHERE session_id=? AND tracking_uri=?",
                (session_id, uri),
            ).fetchone()
            holder = row["lease_owner"]
            if holder and holder != self.owner and (row["lease_until"] or 0) > now and _alive(holder):
                return False
            db.execute(
                "UPDATE mlflow_sync SET lease_owner=?, lease_until=? WHERE session_id=? AND tracking_uri=?",
                (self.owner, now + LEASE_SECONDS, session_id, uri),
            )
        return True

    def release(self, session_id: str, uri: str) -> None:
        with self._journal.writing() as db:
            db.execute(
                "UPDATE mlflow_sync SET lease_owner=NULL, lease_until=NULL"
                " WHERE session_id=? AND tracking_uri=? AND lease_owner=?", (session_id, uri, self.owner),
            )

    def update(self, session_id: str, uri: str, **columns: object) -> None:
        """Advance marks (or record the run, the notebook, the end) in one transaction, under our lease."""
        values = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in columns.items()}
        values["updated_at"] = time.time()
        assignments = ", ".join(f"{name}=?" for name in values)
        with self._journal.writing() as db:
            cur = db.execute(
                f"UPDATE mlflow_sync SET {assignments} WHERE session_id=? AND tracking_uri=? AND lease_owner=?",
                (*values.values(), session_id, uri, self.owner),
            )
            if cur.rowcount != 1:
                raise LeaseLost(f"session {session_id} is being sent to {uri} by another process")

    def forget_run(self, session_id: str, uri: str) -> None:
        """The store lost the run (deleted, or a fresh database): send the session again from scratch."""
        fresh = Marks()
        self.forget_models(session_id, uri)
        self.update(session_id, uri, experiment_id=None, run_id=None, provenance_sent=0, notebook_stamp=None,
                    finished=0, **mark_columns(fresh))


def mark_columns(marks: Marks) -> dict[str, object]:
    """The ``mlflow_sync`` columns that hold ``marks``, for :meth:`Bookkeeping.update`."""
    return {"last_param_id": marks.param, "last_metric_id": marks.metric, "last_file_id": marks.file,
            "last_cell_run_id": marks.cell_run, "metric_steps": marks.steps, "params_sent": marks.params_sent}


def _alive(owner: str) -> bool:
    """A holder on this host whose process is gone holds nothing; on another host, trust its lease."""
    host, _, rest = owner.partition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(rest.partition(":")[0]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True
