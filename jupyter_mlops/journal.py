"""The journal: one SQLite file that every other part reads; the only source of truth.

WAL mode lets the CLI and the server read while kernels write. ``synchronous=NORMAL`` keeps every committed
cell across a killed kernel (the WAL is intact; only an OS crash can lose the last commits) without an
fsync per cell, which alone would cost most of the per-cell budget. One transaction per cell.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_mlops import inputs, project_files
from jupyter_mlops.errors import BadInput, Conflict, NotFound
from jupyter_mlops.journal_schema import CREATE, FEATURE_TABLES, INDEXES, MIGRATIONS, SCHEMA_VERSION

# The key of a session's options naming the cell it started in: {"cell_id", "code", "code_hash"}.
TRACKING_CELL = "tracking_cell"
DEFAULT_BUSY_TIMEOUT = 10.0
"""Seconds a write waits for another process's write lock before it fails with "database is locked"."""
INTERRUPTED = "interrupted: the kernel ended before the digest was known"
_DAMAGED = ("it is damaged ({exc}): move it aside (mv {path} {path}.damaged) and run %mlops_track again; "
            "`sqlite3 {path}.damaged .recover` may rescue its records")


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT on an autocommit connection, rolled back on any failure, COMMIT's own
    included (a full disk fails there): a connection left inside a transaction refuses every later write.
    Every writer of the journal file (the kernel, the MLflow bookkeeping) goes through it."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (it does on SQLITE_FULL and I/O errors)
        raise


Row = sqlite3.Row
"""A row of the journal, read by name (``row["id"]``): what a feature's query returns."""


class JournalError(Conflict):
    """A journal that cannot be used (missing, damaged, from a newer version), with a message that says
    what to do: the kernel shows the message alone in its warning."""


def check_files(path: Path) -> None:
    """The journal and SQLite's side files, as ``project_files`` holds every file we open: inside the project
    (``.mlops/`` no link out of it) and regular files, before SQLite opens them (a FIFO would hang it)."""
    root = path.parent.parent  # the journal is <project>/.mlops/journal.sqlite
    try:
        for suffix in ("", "-wal", "-shm", "-journal"):
            project_files.check(root, path.with_name(path.name + suffix))
    except Conflict as exc:
        raise JournalError(f"cannot use the journal {path}: {exc.message}", hint=exc.hint) from None


class SessionNotFound(NotFound):
    """No session by that id: the journal is fine, the request is not."""


@dataclass
class FileRecord:
    path: str
    mode: str
    size: int | None = None
    mtime_ns: int | None = None
    md5: str | None = None
    nfiles: int | None = None
    pending: bool = False
    error: str | None = None


@dataclass
class ParamRecord:
    name: str
    value: Any
    source: str


@dataclass
class MetricRecord:
    name: str
    value: float | None
    step: int | None
    logged_at: float
    source: str
    reproducible: bool | None = None


@dataclass
class CellRunRecord:
    seq: int
    cell_id: str
    execution_count: int | None
    code: str
    code_hash: str
    started_at: float
    duration: float
    status: str
    error: str | None = None
    reproducible: bool | None = None
    issues: list[dict] = field(default_factory=list)
    rebound: list[str] | None = None
    files: list[FileRecord] = field(default_factory=list)
    params: list[ParamRecord] = field(default_factory=list)
    metrics: list[MetricRecord] = field(default_factory=list)


@dataclass(frozen=True)
class GitState:
    """The work tree's state; ``commit`` is None with a ``note`` saying why (no repository, no commit)."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    remote: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Environment:
    python: str
    packages: str  # one ``name==version`` a line, sorted
    packages_hash: str  # md5 of ``packages``: equal hashes, equal environments


@dataclass(frozen=True)
class Provenance:
    """Where a session ran: its git state and its environment."""

    git: GitState
    env: Environment


def _json(value: Any) -> str:
    return json.dumps(value, default=repr, allow_nan=True)


def _bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _text(value: str | None) -> str | None:
    """Text SQLite can store. A file name that is not UTF-8 reaches us surrogate-escaped (and a cell may hold
    a lone surrogate); sqlite3 cannot encode either, and one such record would block every record after it.
    Such text is stored with its odd bytes spelled out (``data/\\xff.csv``)."""
    if value is None or value.isascii():
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogatepass")
        return raw.decode("utf-8", "backslashreplace")


def _metric(value: float | None) -> float | None:
    """NaN is stored as NULL, which SQLite would do silently; said here so readers know NULL means NaN."""
    return None if value is None or math.isnan(value) else value


class Journal:
    """Writes and reads the journal. Thread-safe: the hasher completes digests from its workers.

    A read that finds the file damaged raises :class:`JournalError` saying what to do, never a bare
    ``sqlite3.DatabaseError``. Writes raise ``sqlite3`` errors: the kernel decides what a failed write means.
    """

    def __init__(self, path: Path, *, create: bool = True, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = path
        check_files(path)
        if not create and not path.exists():
            raise JournalError(
                f"no journal at {path}",
                hint="run a notebook with `%load_ext jupyter_mlops` and `%mlops_track` first, or pass --root "
                "to point at the project",
                panel_hint="run the notebook with `%load_ext jupyter_mlops` and `%mlops_track` first")
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=busy_timeout, check_same_thread=False,
                                       isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self.busy_timeout = busy_timeout
            if create:
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._check_schema(create)
        except (sqlite3.DatabaseError, OSError) as exc:
            if self._db is not None:
                self._db.close()
            raise JournalError(f"cannot open the journal {path}: {explain(exc, path)}") from exc

    @property
    def busy_timeout(self) -> float:
        return self._busy_timeout

    @busy_timeout.setter
    def busy_timeout(self, seconds: float) -> None:
        """How long the next writes wait for another process's lock (a kernel shortens it while it is
        behind, so a lock held for minutes stalls one cell, not every cell)."""
        with self._lock:
            self._busy_timeout = seconds
            self._db.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    def _check_schema(self, create: bool) -> None:
        has_meta = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if has_meta:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"the journal {self.path} was written by a newer jupyter-mlops (schema {version}, "
                    f"this one reads {SCHEMA_VERSION}): upgrade with `pip install -U jupyter-mlops`"
                )
            if version in MIGRATIONS:
                self._migrate()
            if version == SCHEMA_VERSION or version in MIGRATIONS:
                self._add_missing(create)
                return
        if not create:
            raise JournalError(f"{self.path} is not a jupyter-mlops journal (no schema version)")
        # executescript would commit an open transaction first, so the script carries its own.
        self._db.executescript(
            f"BEGIN IMMEDIATE;{CREATE}{';'.join(INDEXES.values())};"
            f"INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');COMMIT;"
        )

    def _add_missing(self, create: bool) -> None:
        """The features' tables a journal lacks (``FEATURE_TABLES``: earlier releases made them on first use)
        and, when a kernel opens it, the indexes an earlier release did not make; one read when none is
        missing. A reader that cannot write (a read-only copy of the project) reads without them: the feature
        that needs one says so when it asks."""
        present = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
        missing = [sql for name, sql in FEATURE_TABLES.items() if name not in present]
        if create:
            missing += [sql for name, sql in INDEXES.items() if name not in present]
        if not missing:
            return
        try:  # executescript would commit an open transaction first, so the script carries its own
            self._db.executescript(f"BEGIN IMMEDIATE;{';'.join(missing)};COMMIT;")
        except sqlite3.OperationalError:
            if self._db.in_transaction:
                self._db.rollback()
            if create:
                raise

    def _migrate(self) -> None:
        """Upgrade in one transaction; another kernel may be doing the same, so re-read the version inside."""
        with self._transaction() as db:
            version = int(db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
            while version < SCHEMA_VERSION:
                for statement in MIGRATIONS[version]:
                    db.execute(statement)
                version += 1
            db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db)

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One transaction on the journal's connection, for a feature's own tables (the MLflow mirror's
        marks, a verify's verdict): the journal made them (``journal_schema.py``), the feature asks here
        rather than opening the file itself. Rolled back on any failure, which is raised as SQLite's error."""
        with self._lock, self._transaction() as db:
            yield db

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for a read; a damaged file becomes a JournalError that says what to do."""
        with self._lock:
            if self._db is None:
                raise JournalError(f"the journal {self.path} is closed")
            try:
                yield self._db
            except sqlite3.DatabaseError as exc:
                raise JournalError(f"cannot read the journal {self.path}: {explain(exc, self.path)}") from exc

    @property
    def is_open(self) -> bool:
        return self._db is not None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # --- writing -----------------------------------------------------------------------------------

    def start_session(
        self, session_id: str, *, experiment: str | None, notebook: str | None, root: str,
        python: str, ipython: str, options: Mapping[str, Any],
    ) -> None:
        with self._lock, self._transaction() as db:
            self._mark_abandoned(db)
            db.execute(
                "INSERT INTO sessions(id, experiment, notebook, root, started_at, state, host, pid, python,"
                " ipython, options) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                (session_id, experiment, notebook, root, time.time(), socket.gethostname(), os.getpid(),
                 python, ipython, _json(dict(options))),
            )

    @staticmethod
    def _mark_abandoned(db: sqlite3.Connection) -> None:
        """Sessions of this host whose kernel died without ending them ended abnormally; digests they were
        still computing will never arrive, so their rows say so instead of "hashing…" forever."""
        host = socket.gethostname()
        for row in db.execute("SELECT id, pid FROM sessions WHERE state='running' AND host=?", (host,)):
            if not pid_alive(row["pid"]):
                last = db.execute(
                    "SELECT MAX(started_at + duration) FROM cell_runs WHERE session_id=?", (row["id"],)
                ).fetchone()[0]
                db.execute(
                    "UPDATE sessions SET state='abandoned', ended_at=? WHERE id=?", (last, row["id"])
                )
                db.execute(
                    "UPDATE file_accesses SET pending=0, error=? WHERE session_id=? AND pending=1",
                    (INTERRUPTED, row["id"]),
                )

    def set_notebook(self, session_id: str, notebook: str) -> None:
        """The notebook became known after the session started (found by a cell id)."""
        with self._lock, self._transaction() as db:
            db.execute(
                "UPDATE sessions SET notebook=?, experiment=COALESCE(experiment, ?) WHERE id=?",
                (notebook, Path(notebook).stem, session_id),
            )

    def set_tracking_cell(self, session_id: str, cell_id: str, code: str, code_hash: str | None = None) -> None:
        """The cell the session started in (``%mlops_track``): it is running while the session begins, so it
        is never a cell run of its own; its id, code (secrets masked, as a cell run's) and the digest of the
        code as it ran go to the session's options as ``tracking_cell``."""
        cell = {"cell_id": cell_id, "code": code, "code_hash": code_hash}
        with self._lock, self._transaction() as db:
            self._update_options(db, session_id, lambda o: o | {TRACKING_CELL: cell})

    def rename_cells(self, session_id: str, renamed: Mapping[str, str]) -> None:
        """Cells recorded under their code's id before the notebook was found get the notebook's ids (the
        tracking cell's included)."""
        with self._lock, self._transaction() as db:
            db.executemany("UPDATE cell_runs SET cell_id=? WHERE session_id=? AND cell_id=?",
                           [(new, session_id, old) for old, new in renamed.items()])

            def rename(options: dict) -> dict:
                cell = options.get(TRACKING_CELL)
                if isinstance(cell, dict) and cell.get("cell_id") in renamed:
                    return options | {TRACKING_CELL: cell | {"cell_id": renamed[cell["cell_id"]]}}
                return options

            self._update_options(db, session_id, rename)

    @staticmethod
    def _update_options(db: sqlite3.Connection, session_id: str, change: Callable[[dict], dict]) -> None:
        row = db.execute("SELECT options FROM sessions WHERE id=?", (session_id,)).fetchone()
        if row is not None:
            before = json.loads(row["options"])
            after = change(before)
            if after != before:
                db.execute("UPDATE sessions SET options=? WHERE id=?", (_json(after), session_id))

    def end_session(self, session_id: str) -> None:
        with self._lock, self._transaction() as db:
            db.execute(
                "UPDATE sessions SET state='ended', ended_at=? WHERE id=?", (time.time(), session_id)
            )

    def add_cell_run(self, session_id: str, run: CellRunRecord) -> tuple[int, list[int]]:
        """Store one finished cell with everything it touched; returns its id and its file rows' ids.

        Most cells touch nothing but themselves: their one INSERT is a transaction of its own, which
        saves the two round trips of BEGIN and COMMIT on the kernel's hot path.
        """
        row = (session_id, run.seq, _text(run.cell_id), run.execution_count, _text(run.code), run.code_hash,
               run.started_at, run.duration, run.status, _text(run.error), _bool(run.reproducible),
               _json(run.issues) if run.issues else None,
               None if run.rebound is None else _json(sorted(run.rebound)))
        insert = ("INSERT INTO cell_runs(session_id, seq, cell_id, execution_count, code, code_hash,"
                  " started_at, duration, status, error, reproducible, issues, rebound)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        if not (run.files or run.params or run.metrics):
            with self._lock:
                return int(self._db.execute(insert, row).lastrowid), []
        with self._lock, self._transaction() as db:
            run_id = int(db.execute(insert, row).lastrowid)
            file_ids = self._insert_files(db, session_id, run_id, run.files)
            self._insert_params(db, session_id, run_id, run.params)
            self._insert_metrics(db, session_id, run_id, run.metrics)
        return run_id, file_ids

    def add_session_records(
        self, session_id: str, *, files: Iterable[FileRecord] = (), params: Iterable[ParamRecord] = (),
        metrics: Iterable[MetricRecord] = (),
    ) -> list[int]:
        """Records that belong to the session but to no cell (declared data, API calls between cells)."""
        with self._lock, self._transaction() as db:
            file_ids = self._insert_files(db, session_id, None, files)
            self._insert_params(db, session_id, None, params)
            self._insert_metrics(db, session_id, None, metrics)
        return file_ids

    @staticmethod
    def _insert_files(
        db: sqlite3.Connection, session_id: str, run_id: int | None, files: Iterable[FileRecord]
    ) -> list[int]:
        ids = []
        for f in files:
            cur = db.execute(
                "INSERT INTO file_accesses(session_id, cell_run_id, path, mode, size, mtime_ns, md5, nfiles,"
                " pending, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, run_id, _text(f.path), f.mode, f.size, f.mtime_ns, f.md5, f.nfiles,
                 int(f.pending), _text(f.error)),
            )
            ids.append(int(cur.lastrowid))
        return ids

    @staticmethod
    def _insert_params(
        db: sqlite3.Connection, session_id: str, run_id: int | None, params: Iterable[ParamRecord]
    ) -> None:
        db.executemany(
            "INSERT INTO params(session_id, cell_run_id, name, value, source) VALUES (?, ?, ?, ?, ?)",
            [(session_id, run_id, _text(p.name), _json(p.value), p.source) for p in params],
        )

    @staticmethod
    def _insert_metrics(
        db: sqlite3.Connection, session_id: str, run_id: int | None, metrics: Iterable[MetricRecord]
    ) -> None:
        db.executemany(
            "INSERT INTO metrics(session_id, cell_run_id, name, value, step, logged_at, source, reproducible)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(session_id, run_id, _text(m.name), _metric(m.value), m.step, m.logged_at, m.source,
              _bool(m.reproducible)) for m in metrics],
        )

    def complete_file(
        self, file_id: int, *, size: int | None, mtime_ns: int | None, md5: str | None,
        nfiles: int | None, error: str | None,
    ) -> None:
        """Fill in a digest that was computed after its cell had returned."""
        with self._lock, self._transaction() as db:
            db.execute(
                "UPDATE file_accesses SET size=?, mtime_ns=?, md5=?, nfiles=?, error=?, pending=0 WHERE id=?",
                (size, mtime_ns, md5, nfiles, _text(error), file_id),
            )

    # --- provenance ----------------------------------------------------------------------------------

    def save_provenance(self, session_id: str, provenance: Provenance) -> None:
        git, env = provenance.git, provenance.env
        with self._lock, self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO session_provenance(session_id, git_commit, git_branch, git_dirty,"
                " git_remote, git_note, python, packages, packages_hash, captured_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, git.commit, _text(git.branch), _bool(git.dirty), _text(git.remote), _text(git.note),
                 env.python, _text(env.packages), env.packages_hash, time.time()),
            )

    def provenance(self, session_id: str) -> Provenance | None:
        """Where the session ran; None for a session from before the journal recorded it (and that no
        MLflow follower mirrored)."""
        with self.reading() as db:
            return read_provenance(db, session_id)

    def sessions_at_commit(self, commit: str, notebook: str | None = None) -> list[str]:
        """The sessions (of ``notebook``, root-relative) that ran at ``commit``, oldest first."""
        where, args = ("AND s.notebook=?", (notebook,)) if notebook is not None else ("", ())
        with self.reading() as db:
            rows = db.execute(
                "SELECT s.id FROM sessions s JOIN session_provenance p ON p.session_id = s.id"
                f" WHERE p.git_commit=? {where} ORDER BY s.started_at", (commit, *args),
            ).fetchall()
        return [r["id"] for r in rows]

    # --- profiles (monitor/) ------------------------------------------------------------------------

    def data_version(self) -> int:
        """Changes whenever another connection commits (SQLite's ``PRAGMA data_version``): a poller's cue."""
        with self.reading() as db:
            return int(db.execute("PRAGMA data_version").fetchone()[0])

    def unprofiled_reads(self, suffixes: Iterable[str]) -> list[dict]:
        """Reads of files named ``*<suffix>`` whose digest is known, whose content has no profile yet, and
        which no note excludes: the profiler's work, oldest first."""
        suffixes = sorted(suffixes)
        like = " OR ".join("lower(f.path) LIKE ?" for _ in suffixes) or "0"
        with self.reading() as db:
            rows = db.execute(
                "SELECT f.id, f.path, f.md5, f.size, f.mtime_ns, s.root FROM file_accesses f"
                " JOIN sessions s ON s.id = f.session_id"
                " WHERE f.mode IN ('read', 'declared') AND f.md5 IS NOT NULL AND f.nfiles IS NULL"
                f" AND ({like}) AND f.md5 NOT IN (SELECT md5 FROM profiles)"
                " AND f.id NOT IN (SELECT file_id FROM profile_notes) ORDER BY f.id",
                [f"%{suffix}" for suffix in suffixes],
            ).fetchall()
        return [dict(r) for r in rows]

    def save_profile(self, md5: str, profile: Mapping[str, Any] | None, error: str | None = None) -> None:
        """The profile of one content, or why it has none; a content already profiled keeps its profile."""
        with self._lock, self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO profiles(md5, profile, error, profiled_at) VALUES (?, ?, ?, ?)",
                       (md5, None if profile is None else json.dumps(profile, allow_nan=False), _text(error),
                        time.time()))

    def note_unprofiled(self, file_ids: Iterable[int], note: str) -> None:
        """These reads are not profiled (their file changed since): said once, never retried."""
        with self._lock, self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO profile_notes(file_id, note) VALUES (?, ?)",
                           [(file_id, _text(note)) for file_id in file_ids])

    def save_frame_profile(self, session_id: str, seq: int | None, name: str, profile: Mapping[str, Any]) -> str:
        """A DataFrame's profile (``--profile NAME``), keyed by the md5 of its JSON; returns that key."""
        text = json.dumps(profile, allow_nan=False, sort_keys=True)
        md5 = hashlib.md5(text.encode()).hexdigest()
        with self._lock, self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO profiles(md5, profile, error, profiled_at) VALUES (?, ?, NULL, ?)",
                       (md5, text, time.time()))
            db.execute("INSERT INTO frame_profiles(session_id, seq, name, md5) VALUES (?, ?, ?, ?)",
                       (session_id, seq, _text(name), md5))
        return md5

    def session_profiles(self, session_id: str) -> dict[str, list[dict]]:
        """What a session's inputs look like: per file read (path and md5, first read first) its profile,
        the error that prevented one, the note that excluded it, or none of these while it is not made yet;
        per frame profiled (the last profile of each name) its profile."""
        with self.reading() as db:
            files = db.execute(
                "SELECT f.path, f.md5, MIN(f.id) AS first, p.profile, p.error, MAX(n.note) AS note"
                " FROM file_accesses f LEFT JOIN profiles p ON p.md5 = f.md5"
                " LEFT JOIN profile_notes n ON n.file_id = f.id"
                " WHERE f.session_id=? AND f.mode IN ('read', 'declared') AND f.md5 IS NOT NULL"
                " AND f.nfiles IS NULL GROUP BY f.path, f.md5 ORDER BY first", (session_id,),
            ).fetchall()
            frames = db.execute(
                "SELECT fp.name, fp.seq, fp.md5, p.profile FROM frame_profiles fp JOIN profiles p ON p.md5 = fp.md5"
                " WHERE fp.session_id=? AND fp.id IN (SELECT MAX(id) FROM frame_profiles WHERE session_id=?"
                " GROUP BY name) ORDER BY fp.id", (session_id, session_id),
            ).fetchall()
        return {
            "files": [{"path": r["path"], "md5": r["md5"], "error": r["error"], "note": r["note"],
                       "profile": json.loads(r["profile"]) if r["profile"] else None} for r in files],
            "frames": [{"name": r["name"], "seq": r["seq"], "md5": r["md5"], "profile": json.loads(r["profile"])}
                       for r in frames],
        }

    # --- reading -----------------------------------------------------------------------------------

    def sessions(self, notebook: str | None = None) -> list[dict]:
        sql = "SELECT * FROM sessions"
        args: tuple = ()
        if notebook is not None:
            sql += " WHERE notebook = ?"
            args = (notebook,)
        with self.reading() as db:
            rows = db.execute(sql + " ORDER BY started_at", args).fetchall()
        return [_session_dict(r) for r in rows]

    def find_session(self, ref: str, *, notebook: str | None = None) -> str:
        """A session id from a full id, a unique prefix, ``latest`` or ``latest~N`` (the N-th before it);
        ``notebook`` (root-relative) limits ``latest`` to that notebook's sessions."""
        with self.reading() as db:
            if (back := _latest_back(ref)) is not None:
                where, args = ("WHERE notebook=?", (notebook,)) if notebook else ("", ())
                row = db.execute(f"SELECT id FROM sessions {where} ORDER BY started_at DESC LIMIT 1 OFFSET ?",
                                 (*args, back)).fetchone()
                rows = [row] if row else []
            else:
                rows = db.execute(
                    "SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                    (ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
                ).fetchall()
        if not rows:
            raise SessionNotFound(f"no session {ref!r} in {self.path}", hint="`jupyter mlops runs` lists them")
        if len(rows) > 1:
            raise BadInput(f"session prefix {ref!r} is ambiguous", hint="give more characters")
        return str(rows[0]["id"])

    def session_detail(self, session_id: str, *, runs_limit: int | None = None,
                       runs_offset: int | None = None) -> dict:
        """One session with its cell runs, files, params and metrics, as plain JSON-able data.

        ``runs_limit`` bounds the cell runs returned — the latest ones, or from ``runs_offset`` (0 is the
        first run) — so a page of a 10,000-cell session costs a page; ``cells``, ``errors`` and
        ``runs_offset`` describe the whole. Files, params and metrics are always whole.
        """
        with self.reading() as db:
            row = db.execute("SELECT * FROM sessions WHERE id=?", (session_id,)).fetchone()
            if row is None:
                raise SessionNotFound(f"no session {session_id!r} in {self.path}")
            cells, errors = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(status != 'ok'), 0) FROM cell_runs WHERE session_id=?",
                (session_id,),
            ).fetchone()
            if runs_limit is None:
                offset, limit = 0, -1
            else:
                offset = max(0, cells - runs_limit) if runs_offset is None else runs_offset
                limit = runs_limit
            runs = db.execute(
                "SELECT * FROM cell_runs WHERE session_id=? ORDER BY seq LIMIT ? OFFSET ?",
                (session_id, limit, offset),
            ).fetchall()
            files = db.execute(
                "SELECT f.*, c.seq AS seq, c.cell_id AS cell_id FROM file_accesses f"
                " LEFT JOIN cell_runs c ON c.id = f.cell_run_id WHERE f.session_id=? ORDER BY f.id",
                (session_id,),
            ).fetchall()
            params = db.execute(
                "SELECT p.*, c.seq AS seq FROM params p LEFT JOIN cell_runs c ON c.id = p.cell_run_id"
                " WHERE p.session_id=? ORDER BY p.id", (session_id,),
            ).fetchall()
            metrics = db.execute(
                "SELECT m.*, c.seq AS seq FROM metrics m LEFT JOIN cell_runs c ON c.id = m.cell_run_id"
                " WHERE m.session_id=? ORDER BY m.id", (session_id,),
            ).fetchall()
        detail = _session_dict(row)
        detail |= {"cells": cells, "errors": errors, "runs_offset": offset}
        detail["cell_runs"] = [_run_dict(r) for r in runs]
        detail["files"] = [
            {k: r[k] for k in ("path", "mode", "size", "mtime_ns", "md5", "nfiles", "error", "seq", "cell_id")}
            | {"pending": bool(r["pending"])}
            for r in files
        ]
        detail["params"] = [
            {"name": r["name"], "value": json.loads(r["value"]), "source": r["source"], "seq": r["seq"]}
            for r in params
        ]
        detail["metrics"] = [
            {"name": r["name"], "value": r["value"], "step": r["step"], "logged_at": r["logged_at"],
             "source": r["source"], "seq": r["seq"],
             "reproducible": None if r["reproducible"] is None else bool(r["reproducible"])}
            for r in metrics
        ]
        return detail


def read_provenance(db: sqlite3.Connection, session_id: str) -> Provenance | None:
    """A session's provenance through any connection to the journal file (the MLflow bookkeeping has its own)."""
    row = db.execute("SELECT git_commit, git_branch, git_dirty, git_remote, git_note, python, packages,"
                     " packages_hash FROM session_provenance WHERE session_id=?", (session_id,)).fetchone()
    if row is None:
        return None
    commit, branch, dirty, remote, note, python, packages, packages_hash = row
    return Provenance(GitState(commit, branch, None if dirty is None else bool(dirty), remote, note),
                      Environment(python, packages, packages_hash))


def latest_values(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The last value of each name in a session detail's ``params`` or ``metrics`` (they are in order)."""
    return {r["name"]: r["value"] for r in records}


def _latest_back(ref: str) -> int | None:
    """0 for ``latest``, N for ``latest~N``, None for anything else (an id or a prefix)."""
    if ref == "latest":
        return 0
    head, sep, count = ref.partition("~")
    if head == "latest" and sep:
        return inputs.whole_number(count, f"session {ref!r}: N of latest~N (e.g. latest~1)")
    return None


def _session_dict(row: sqlite3.Row) -> dict:
    out = dict(row)
    out["options"] = json.loads(row["options"])
    return out


def _run_dict(row: sqlite3.Row) -> dict:
    out = dict(row)
    del out["session_id"]
    out["reproducible"] = None if row["reproducible"] is None else bool(row["reproducible"])
    out["issues"] = json.loads(row["issues"]) if row["issues"] else []
    out["rebound"] = json.loads(row["rebound"]) if row["rebound"] else None
    return out


def pid_alive(pid: int) -> bool:
    """Whether the kernel process still runs; a killed kernel its parent has not reaped yet is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class Unavailable(enum.Enum):
    """Why the journal file cannot take a write now (see :func:`unavailable`)."""

    BUSY = "busy"              # another process holds its write lock past the busy timeout: retry later
    UNWRITABLE = "unwritable"  # disk full, read-only, I/O error: retry once the user has made room or fixed it
    DAMAGED = "damaged"        # not a database, or corrupt: the user moves it aside


# SQLite's primary result codes (the low byte of an extended code), stable across SQLite versions.
_BUSY_CODES = frozenset({5, 6})        # SQLITE_BUSY ("database is locked"), SQLITE_LOCKED (a table is)
_DAMAGED_CODES = frozenset({11, 26})   # SQLITE_CORRUPT ("malformed"), SQLITE_NOTADB ("not a database")


def unavailable(exc: BaseException) -> Unavailable | None:
    """Whether a failed write failed because of the journal file, and how; None when the write failed for
    itself (a constraint, a value SQLite refuses, a closed connection, a bug).

    The one place that sorts SQLite's errors: a writer keeps records the file cannot take now and retries
    them later, but drops a record the journal refuses, which would fail the same way every time.
    """
    if isinstance(exc, OSError):
        return Unavailable.UNWRITABLE
    operational = isinstance(exc, sqlite3.OperationalError)
    if not operational and type(exc) is not sqlite3.DatabaseError:  # Python's class for CORRUPT, NOTADB
        return None
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+ (extended code); else the message tells
    if code is None:
        busy, damaged = "locked" in str(exc), False
    else:
        busy, damaged = code & 0xFF in _BUSY_CODES, code & 0xFF in _DAMAGED_CODES
    if busy:
        return Unavailable.BUSY
    if damaged or not operational:
        return Unavailable.DAMAGED
    return Unavailable.UNWRITABLE


def explain(exc: BaseException, path: Path) -> str:
    """A SQLite or OS error as the user should read it: what happened to the file and what to do."""
    text = str(exc)
    if unavailable(exc) is Unavailable.DAMAGED:
        return _DAMAGED.format(exc=text, path=path)
    if "disk is full" in text or getattr(exc, "errno", None) == 28:
        return f"the disk is full ({text}): free space under {path.parent}"
    return text
