"""Which failed writes are the journal file's fault, and of what kind: ``journal.unavailable``, on real
SQLite errors (a lock another connection holds, a read-only open, a full file, a file that is no database)."""

import sqlite3

import pytest

from jupyter_mlops.journal import CellRunRecord, Journal, Unavailable, explain, unavailable


def _session(journal: Journal) -> None:
    journal.start_session("s1", experiment="exp", notebook="nb.ipynb", root="/r", python="3", ipython="9",
                          options={"strict": False})


def _run(seq: int, **kw) -> CellRunRecord:
    return CellRunRecord(seq=seq, cell_id=f"c{seq}", execution_count=seq, code="x = 1", code_hash="h",
                         started_at=1.0 + seq, duration=0.01, status="ok", **kw)


def _error_of(write) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as caught:
        write()
    return caught.value


def test_a_write_lock_held_by_another_connection_is_busy(tmp_path):
    # Given a journal whose write lock another connection holds
    j = Journal(tmp_path / "j.sqlite", busy_timeout=0.01)
    _session(j)
    holder = sqlite3.connect(j.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # When a write waits past its busy timeout
        exc = _error_of(lambda: j.add_cell_run("s1", _run(1)))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # Then it is "busy": retry later
    assert "locked" in str(exc) and unavailable(exc) is Unavailable.BUSY


def test_a_journal_opened_read_only_is_unwritable(tmp_path):
    path = tmp_path / "j.sqlite"
    _session(Journal(path))
    # (root writes to a chmod 444 file: SQLite's read-only open is what a read-only file gives everyone)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    exc = _error_of(lambda: db.execute("UPDATE sessions SET ended_at = 1"))
    db.close()
    assert "readonly" in str(exc) and unavailable(exc) is Unavailable.UNWRITABLE


def test_a_full_journal_is_unwritable(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    _session(j)
    pages = j._db.execute("PRAGMA page_count").fetchone()[0]
    j._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk full" at this size
    exc = _error_of(lambda: [j.add_cell_run("s1", _run(i, error="e" * 5000)) for i in range(1, 20)])
    assert "full" in str(exc) and unavailable(exc) is Unavailable.UNWRITABLE


def test_a_file_that_is_not_a_database_is_damaged_and_explained(tmp_path):
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"\x00garbage" * 4096)
    db = sqlite3.connect(path)
    exc = _error_of(lambda: db.execute("SELECT * FROM sqlite_master"))
    db.close()
    assert unavailable(exc) is Unavailable.DAMAGED
    assert "damaged" in explain(exc, path) and f"mv {path} {path}.damaged" in explain(exc, path)


def test_a_record_the_journal_refuses_is_not_the_files_fault(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    _session(j)
    refused = _error_of(lambda: j.add_cell_run("s1", CellRunRecord(
        seq=1, cell_id=None, execution_count=1, code="x", code_hash="h", started_at=1.0, duration=0.1,
        status="ok")))  # cell_id is NOT NULL
    assert isinstance(refused, sqlite3.IntegrityError) and unavailable(refused) is None
    closed = Journal(tmp_path / "k.sqlite")
    closed._db.close()
    assert unavailable(_error_of(lambda: closed._db.execute("SELECT 1"))) is None  # a bug, not the file
    assert unavailable(ValueError("not ours")) is None
    assert unavailable(OSError(28, "No space left on device")) is Unavailable.UNWRITABLE


def test_without_sqlites_error_code_the_message_sorts_the_error():
    # Python 3.10 raises these without ``sqlite_errorcode``: the same classes, the same messages
    assert unavailable(sqlite3.OperationalError("database is locked")) is Unavailable.BUSY
    assert unavailable(sqlite3.OperationalError("database or disk is full")) is Unavailable.UNWRITABLE
    assert unavailable(sqlite3.DatabaseError("file is not a database")) is Unavailable.DAMAGED
    assert unavailable(sqlite3.IntegrityError("NOT NULL constraint failed: cell_runs.cell_id")) is None
