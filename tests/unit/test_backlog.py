"""The session's write-behind backlog and pending digests, on a real journal file and a real hasher."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from jupyter_mlops.hashing import Hasher
from jupyter_mlops.journal import CellRunRecord, FileRecord, Journal
from jupyter_mlops.kernel.backlog import BEHIND_BUSY_TIMEOUT, Backlog
from jupyter_mlops.kernel.pending import PendingDigests


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.sqlite", busy_timeout=0.2)
    j.start_session("s1", experiment=None, notebook=None, root=str(tmp_path), python="3", ipython="9",
                    options={})
    yield j
    j.close()


@contextmanager
def write_lock_held(journal: Journal) -> Iterator[None]:
    """Another connection (as another kernel or a sqlite3 shell would) holds the journal's write lock."""
    holder = sqlite3.connect(journal.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("COMMIT")
        holder.close()


def cell(seq: int, cell_id: str | None = None, files: list[FileRecord] | None = None) -> CellRunRecord:
    return CellRunRecord(seq=seq, cell_id=cell_id or f"c{seq}", execution_count=seq, code=f"x = {seq}",
                         code_hash="h", started_at=float(seq), duration=0.01, status="ok", files=files or [])


def saved_cells(journal: Journal) -> list[str]:
    return [r["cell_id"] for r in journal.session_detail("s1")["cell_runs"]]


def test_writes_the_journal_cannot_take_wait_in_order_and_go_with_the_next_write(journal, capsys):
    refused: list[str] = []
    backlog = Backlog(journal, warn=lambda what, exc: refused.append(what))
    backlog.write("cell #1", lambda: journal.add_cell_run("s1", cell(1)))
    # Given a journal locked by another process past the busy timeout
    with write_lock_held(journal):
        # When two cells are written meanwhile
        backlog.write("cell #2", lambda: journal.add_cell_run("s1", cell(2)))
        backlog.write("cell #3", lambda: journal.add_cell_run("s1", cell(3)))
        # Then both wait in memory, the later writes try the journal only briefly, one warning names the lock
        assert (len(backlog), backlog.behind, journal.busy_timeout) == (2, True, BEHIND_BUSY_TIMEOUT)
        warned = capsys.readouterr().err
        assert warned.count("jupyter-mlops:") == 1 and "held its write lock for over 0.2 s" in warned
    assert saved_cells(journal) == ["c1"]
    # And the next write, once the lock is gone, saves them first, each once, in their order
    backlog.write("cell #4", lambda: journal.add_cell_run("s1", cell(4)))
    assert saved_cells(journal) == ["c1", "c2", "c3", "c4"]
    assert (len(backlog), backlog.behind, journal.busy_timeout, refused) == (0, False, 0.2, [])
    assert "writable again; the 3 records kept in memory are saved" in capsys.readouterr().err


def test_a_record_the_journal_refuses_is_dropped_with_a_warning_and_holds_back_nothing(journal):
    refused: list[tuple[str, str]] = []
    backlog = Backlog(journal, warn=lambda what, exc: refused.append((what, type(exc).__name__)))
    backlog.add("cell #1", lambda: journal.add_cell_run("s1", cell(1)))
    backlog.add("cell #2", lambda: journal.add_cell_run("s1", CellRunRecord(
        seq=2, cell_id=None, execution_count=2, code="y", code_hash="h", started_at=2.0, duration=0.1,
        status="ok")))  # no cell id: the journal refuses this record, and would every time
    backlog.write("cell #3", lambda: journal.add_cell_run("s1", cell(3)))
    assert saved_cells(journal) == ["c1", "c3"]
    assert (refused, len(backlog), backlog.behind) == ([("store cell #2", "IntegrityError")], 0, False)


class Gate:
    """Holds the hasher's reads until the test opens it: when a digest arrives is the test's choice."""

    def __init__(self) -> None:
        self._open = threading.Event()

    def __call__(self, path: str, delta: int) -> None:  # the hasher's own_open: told before each open
        if delta > 0:
            assert self._open.wait(timeout=30)

    def open(self) -> None:
        self._open.set()


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[str, str]:
    data = b"\x07" * (1 << 20)
    (tmp_path / "big.bin").write_bytes(data)
    return str(tmp_path / "big.bin"), hashlib.md5(data).hexdigest()


def digests(journal: Journal, gate: Gate) -> tuple[PendingDigests, Hasher, Backlog]:
    hasher = Hasher(inline_limit=0, own_open=gate)  # every file on the hasher's threads, as a big one is
    backlog = Backlog(journal, warn=lambda what, exc: pytest.fail(f"{what}: {exc}"))
    return PendingDigests(hasher, journal, backlog), hasher, backlog


def stored_file(journal: Journal) -> tuple[str | None, bool]:
    (row,) = journal.session_detail("s1")["files"]
    return row["md5"], row["pending"]


@pytest.mark.parametrize("digest_first", [True, False], ids=["digest-before-row", "row-before-digest"])
def test_a_pending_digest_completes_its_row_whichever_arrives_first(journal, big_file, digest_first):
    path, md5 = big_file
    gate = Gate()
    pending, hasher, backlog = digests(journal, gate)
    try:
        record = pending.record("big.bin", path, "read")
        assert record is not None and record.pending and record.md5 is None  # the cell did not wait
        save = cell(1, files=[record])
        if digest_first:
            gate.open()
            assert hasher.wait(timeout=30)
        backlog.write("cell #1", lambda: pending.written(save.files, journal.add_cell_run("s1", save)[1]))
        assert stored_file(journal) == ((md5, False) if digest_first else (None, True))
        gate.open()
        assert hasher.wait(timeout=30)
    finally:
        hasher.close()
    assert stored_file(journal) == (md5, False) and (record.md5, record.pending) == (md5, False)


def test_a_digest_the_locked_journal_cannot_take_is_written_by_the_next_flush(journal, big_file):
    path, md5 = big_file
    gate = Gate()
    pending, hasher, backlog = digests(journal, gate)
    try:
        record = pending.record("big.bin", path, "write")
        save = cell(1, files=[record])
        backlog.write("cell #1", lambda: pending.written(save.files, journal.add_cell_run("s1", save)[1]))
        # Given the row written, and the journal locked when its digest arrives
        with write_lock_held(journal):
            gate.open()
            assert hasher.wait(timeout=30)
            assert len(backlog) == 1 and stored_file(journal) == (None, True)
        # When the next write flushes the backlog
        backlog.flush()
    finally:
        hasher.close()
    # Then the row has its digest
    assert stored_file(journal) == (md5, False) and len(backlog) == 0
