"""The profiler's work list and cache (journal schema 3 and later), on real files and a real journal."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pandas as pd

from jupyter_mlops.journal import SCHEMA_VERSION, FileRecord, Journal
from jupyter_mlops.monitor.profiler import CHANGED, profile_pending


def read_record(path, rel: str) -> FileRecord:
    st = path.stat()
    return FileRecord(rel, "read", st.st_size, st.st_mtime_ns, hashlib.md5(path.read_bytes()).hexdigest())


def journal_with_reads(tmp_path, *rels: str) -> Journal:
    j = Journal(tmp_path / ".mlops" / "journal.sqlite")
    j.start_session("s1", experiment=None, notebook=None, root=str(tmp_path), python="3", ipython="9", options={})
    j.add_session_records("s1", files=[read_record(tmp_path / rel, rel) for rel in rels])
    return j


def test_each_content_is_profiled_once_and_non_tables_are_left_alone(tmp_path):
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(tmp_path / "one.csv", index=False)
    (tmp_path / "copy.csv").write_bytes((tmp_path / "one.csv").read_bytes())
    (tmp_path / "notes.txt").write_text("x")
    j = journal_with_reads(tmp_path, "one.csv", "copy.csv", "notes.txt")
    assert profile_pending(j, log=lambda _: None) == 1  # two paths, one content
    assert profile_pending(j, log=lambda _: None) == 0
    files = j.session_profiles("s1")["files"]
    rows = {f["path"]: f["profile"]["rows"] if f["profile"] else None for f in files}
    assert rows == {"one.csv": 3, "copy.csv": 3, "notes.txt": None}


def test_a_file_changed_since_it_was_read_is_noted_not_profiled(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(path, index=False)
    j = journal_with_reads(tmp_path, "t.csv")
    pd.DataFrame({"a": [7, 8, 9, 10]}).to_csv(path, index=False)
    os.utime(path, ns=(1, 1))
    assert profile_pending(j, log=lambda _: None) == 0
    [f] = j.session_profiles("s1")["files"]
    assert (f["profile"], f["note"]) == (None, CHANGED)
    assert j.unprofiled_reads({".csv"}) == []  # said once, not retried


def test_a_file_touched_but_unchanged_is_still_profiled(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(path, index=False)
    j = journal_with_reads(tmp_path, "t.csv")
    os.utime(path, ns=(1, 1))  # same bytes, another mtime: the md5 decides
    assert profile_pending(j, log=lambda _: None) == 1


def test_a_file_that_is_no_table_keeps_its_error_by_md5(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"nope")
    j = journal_with_reads(tmp_path, "bad.parquet")
    profile_pending(j, log=lambda _: None)
    [f] = j.session_profiles("s1")["files"]
    assert f["profile"] is None and "bad.parquet" in f["error"]
    assert j.unprofiled_reads({".parquet"}) == []


def test_a_version_2_journal_is_upgraded_to_hold_profiles(tmp_path):
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    with sqlite3.connect(path) as db:  # the release before profiles
        db.executescript("DROP TABLE profiles; DROP TABLE frame_profiles; DROP TABLE profile_notes;"
                         "UPDATE meta SET value='2' WHERE key='schema_version';")
    j = Journal(path, create=False)
    j.start_session("s", experiment=None, notebook=None, root=str(tmp_path), python="3", ipython="9", options={})
    md5 = j.save_frame_profile("s", 1, "df", {"rows": 1, "fields": []})
    assert j.session_profiles("s")["frames"] == [
        {"name": "df", "seq": 1, "md5": md5, "profile": {"rows": 1, "fields": []}}]
    j.close()
    with sqlite3.connect(path) as db:
        version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        assert version == str(SCHEMA_VERSION)
        assert db.execute("SELECT md5 FROM profiles").fetchall() == [(md5,)]
