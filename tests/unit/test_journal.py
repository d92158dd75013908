import sqlite3
import subprocess
import sys

import pytest

from jupyter_mlops.errors import BadInput
from jupyter_mlops.journal import (
    INTERRUPTED,
    SCHEMA_VERSION,
    CellRunRecord,
    FileRecord,
    Journal,
    JournalError,
    MetricRecord,
    ParamRecord,
    SessionNotFound,
)


def _session(journal: Journal, sid: str = "s1") -> None:
    journal.start_session(sid, experiment="exp", notebook="nb.ipynb", root="/r", python="3", ipython="9",
                          options={"strict": False})


def _run(seq: int, **kw) -> CellRunRecord:
    return CellRunRecord(seq=seq, cell_id=f"c{seq}", execution_count=seq, code="x = 1", code_hash="h",
                         started_at=1.0 + seq, duration=0.01, status="ok", **kw)


def test_a_cell_run_is_stored_with_everything_it_touched(tmp_path):
    j = Journal(tmp_path / ".mlops" / "journal.sqlite")
    _session(j)
    j.add_cell_run("s1", _run(1, files=[FileRecord("d.csv", "read", 3, 5, "abc")],
                             params=[ParamRecord("lr", 0.1, "parameters")],
                             metrics=[MetricRecord("auc", 0.8, None, 2.0, "api", True)]))
    detail = j.session_detail("s1")
    assert [r["cell_id"] for r in detail["cell_runs"]] == ["c1"]
    assert (detail["files"][0]["path"], detail["files"][0]["md5"], detail["files"][0]["seq"]) == ("d.csv", "abc", 1)
    assert detail["params"] == [{"name": "lr", "value": 0.1, "source": "parameters", "seq": 1}]
    assert detail["metrics"][0]["value"] == 0.8 and detail["metrics"][0]["reproducible"] is True


def test_a_pending_digest_is_completed_later(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    _session(j)
    _, ids = j.add_cell_run("s1", _run(1, files=[FileRecord("big.bin", "write", pending=True)]))
    j.complete_file(ids[0], size=10, mtime_ns=1, md5="ff", nfiles=None, error=None)
    f = j.session_detail("s1")["files"][0]
    assert (f["md5"], f["pending"]) == ("ff", False)


def test_sessions_by_prefix_and_latest(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    _session(j, "abc123")
    _session(j, "abd456")
    assert j.find_session("abc") == "abc123"
    assert j.find_session("latest") == "abd456"
    with pytest.raises(BadInput, match="ambiguous") as ambiguous:
        j.find_session("ab")
    assert ambiguous.value.hint == "give more characters"
    with pytest.raises(SessionNotFound, match="no session 'zz'"):
        j.find_session("zz")


def test_missing_journal_says_how_to_make_one_on_each_surface(tmp_path):
    with pytest.raises(JournalError, match="no journal at") as missing:
        Journal(tmp_path / "none.sqlite", create=False)
    assert "%mlops_track" in missing.value.hint and "--root" in missing.value.hint
    assert "%mlops_track" in missing.value.panel_hint and "--root" not in missing.value.panel_hint


def test_journal_of_a_newer_version_is_refused_with_advice(tmp_path):
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(JournalError, match=r"newer jupyter-mlops.*pip install -U"):
        Journal(path)


def test_corrupt_journal_is_a_clear_error(tmp_path):
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError, match="cannot open the journal"):
        Journal(path)


def test_session_of_a_dead_kernel_is_marked_abandoned(tmp_path):
    path = tmp_path / "j.sqlite"
    code = (
        "import sys; from jupyter_mlops.journal import Journal;"
        "j = Journal(__import__('pathlib').Path(sys.argv[1]));"
        "j.start_session('dead', experiment=None, notebook=None, root='/', python='3', ipython='9', options={})"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    j = Journal(path)
    _session(j, "alive")
    states = {s["id"]: s["state"] for s in j.sessions()}
    assert states == {"dead": "abandoned", "alive": "running"}


def test_a_version_1_journal_is_upgraded_in_place(tmp_path):
    path = tmp_path / "j.sqlite"
    with sqlite3.connect(path) as db:  # the first released layout of cell_runs, without `rebound`
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO meta VALUES ('schema_version', '1');"
            "CREATE TABLE cell_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, seq INTEGER,"
            " cell_id TEXT, execution_count INTEGER, code TEXT, code_hash TEXT, started_at REAL, duration REAL,"
            " status TEXT, error TEXT, reproducible INTEGER, issues TEXT);"
        )
    Journal(path, create=False).close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)
        assert "rebound" in [r[1] for r in db.execute("PRAGMA table_info(cell_runs)")]


def test_the_features_tables_are_the_journals_and_an_earlier_release_still_reads_the_file(tmp_path):
    """Earlier releases made the MLflow mirror's and verify's tables in the journal file the first time the
    feature ran: a journal where they did keeps its rows, one where they never ran gets the tables when the
    journal opens it (a reader too), and the schema version stays, so an earlier kernel sharing the project
    still reads the file."""
    from jupyter_mlops.export import verify_log
    from jupyter_mlops.journal_schema import FEATURE_TABLES
    from jupyter_mlops.sinks.bookkeeping import Bookkeeping

    for used in (True, False):
        root = tmp_path / str(used)
        path = root / ".mlops" / "journal.sqlite"
        journal = Journal(path)
        _session(journal)
        journal.close()
        with sqlite3.connect(path) as db:  # as the release before left it: the features' tables, or none
            if used:
                db.execute("INSERT INTO mlflow_follow(session_id, tracking_uri, python) VALUES ('s1', 'u', 'py')")
                db.execute("INSERT INTO verify_results(session_id, notebook, ok, expect, message, verified_at)"
                           " VALUES ('s1', 'nb.ipynb', 1, '[]', 'agrees', 1.0)")
            else:
                for table in FEATURE_TABLES:
                    db.execute(f"DROP TABLE {table}")
        assert [r.message for r in verify_log.results(root, "nb.ipynb")] == (["agrees"] if used else [])
        book = Bookkeeping(path)
        assert [f.uri for f in book.followed("py")] == (["u"] if used else [])
        book.follow("s1", "v", "py")
        assert [f.uri for f in book.followed("py")] == (["u", "v"] if used else ["v"])
        book.close()
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION) == "4"
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert set(FEATURE_TABLES) <= tables


def test_a_reader_that_cannot_write_reads_without_the_features_tables(tmp_path):
    """Adding a missing table is a write: while the file cannot be written (another process holds its write
    lock, as a kernel does during a cell's transaction; a read-only copy fails the same way) the history is
    still read, and the tables come with the next open that can write."""
    from jupyter_mlops.journal_schema import FEATURE_TABLES

    path = tmp_path / ".mlops" / "journal.sqlite"
    journal = Journal(path)
    _session(journal)
    journal.close()
    with sqlite3.connect(path) as db:
        for table in FEATURE_TABLES:
            db.execute(f"DROP TABLE {table}")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        reader = Journal(path, create=False, busy_timeout=0.05)
        assert [s["id"] for s in reader.sessions()] == ["s1"]
        reader.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    tables = lambda: {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}  # noqa: E731
    assert not set(FEATURE_TABLES) & tables()
    Journal(path, create=False).close()
    assert set(FEATURE_TABLES) <= tables()


def test_a_failed_write_leaves_the_connection_usable(tmp_path):
    # A full journal fails the insert; the transaction must be gone, or every later write would fail too
    j = Journal(tmp_path / "j.sqlite")
    _session(j)
    pages = j._db.execute("PRAGMA page_count").fetchone()[0]
    j._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        j.add_cell_run("s1", _run(1, files=[FileRecord("x" * 5000, "read")] * 20))
    assert not j._db.in_transaction
    j._db.execute("PRAGMA max_page_count = 1073741823")
    j.add_cell_run("s1", _run(1))
    assert [r["seq"] for r in j.session_detail("s1")["cell_runs"]] == [1]


def test_text_sqlite_cannot_encode_is_stored_readably(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    _session(j)
    j.add_cell_run("s1", CellRunRecord(seq=1, cell_id="c\udcff", execution_count=1, code="s = '\ud800'",
                                       code_hash="h", started_at=1.0, duration=0.1, status="ok",
                                       files=[FileRecord("data/\udcff.csv", "read", 1, 1, "m")]))
    detail = j.session_detail("s1")
    assert detail["files"][0]["path"] == "data/\\xff.csv"
    assert detail["cell_runs"][0]["cell_id"] == "c\\xff" and detail["cell_runs"][0]["code"] == "s = '\\xed\\xa0\\x80'"


def test_nan_is_stored_as_null_and_infinities_as_themselves(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    _session(j)
    j.add_session_records("s1", metrics=[MetricRecord("m", v, None, 1.0, "api")
                                         for v in (float("nan"), float("inf"), -float("inf"), 2.5)])
    assert [m["value"] for m in j.session_detail("s1")["metrics"]] == [None, float("inf"), -float("inf"), 2.5]


def test_an_abandoned_sessions_pending_digests_are_settled(tmp_path):
    path = tmp_path / "j.sqlite"
    code = (
        "import sys; from pathlib import Path; from jupyter_mlops.journal import *;"
        "j = Journal(Path(sys.argv[1]));"
        "j.start_session('dead', experiment=None, notebook=None, root='/', python='3', ipython='9', options={});"
        "j.add_cell_run('dead', CellRunRecord(1, 'c', 1, 'x', 'h', 1.0, 0.1, 'ok',"
        " files=[FileRecord('big.bin', 'read', pending=True)]))"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    j = Journal(path)
    _session(j, "next")
    (f,) = j.session_detail("dead")["files"]
    assert (f["pending"], f["md5"], f["error"]) == (False, None, INTERRUPTED)


def test_a_journal_without_the_newer_indexes_gets_them_from_a_kernel(tmp_path):
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX params_session")
    Journal(path, create=False).close()  # a reader adds nothing
    with sqlite3.connect(path) as db:
        assert not db.execute("SELECT 1 FROM sqlite_master WHERE name='params_session'").fetchone()
    Journal(path).close()
    with sqlite3.connect(path) as db:
        plan = db.execute("EXPLAIN QUERY PLAN SELECT * FROM params WHERE session_id='x'").fetchall()
    assert "params_session" in str(plan)


def test_cell_runs_are_read_a_page_at_a_time_with_totals(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    _session(j)
    for seq in range(1, 31):
        j.add_cell_run("s1", CellRunRecord(seq=seq, cell_id=f"c{seq}", execution_count=seq, code="x",
                                           code_hash="h", started_at=1.0, duration=0.1,
                                           status="error" if seq % 10 == 0 else "ok"))
    latest = j.session_detail("s1", runs_limit=5)
    first = j.session_detail("s1", runs_limit=5, runs_offset=0)
    assert [r["seq"] for r in latest["cell_runs"]] == [26, 27, 28, 29, 30] and latest["runs_offset"] == 25
    assert [r["seq"] for r in first["cell_runs"]] == [1, 2, 3, 4, 5]
    assert (latest["cells"], latest["errors"]) == (30, 3)


def test_a_damaged_journal_read_is_a_journal_error_that_says_what_to_do(tmp_path):
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    for i in range(300):
        _session(j, f"s{i:03d}")
    j.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096 * 2:] = b"\xff" * (len(data) - 4096 * 2)  # every page after the second is garbage
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match=r"damaged.*mv "):
        Journal(path, create=False).sessions()
