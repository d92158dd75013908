"""File records whose md5 is still being computed, joined with their journal rows when both are known.

Hashing never blocks a cell: a file too big to hash at once gets a record marked pending, the hasher's
threads compute its digest, and the digest completes the record's row in the journal later. The two
arrive in either order — the digest before the cell's record is written (a small file, a busy journal)
or after — and whichever comes second completes the row. A record written late because the journal was
busy is joined the same way, whenever that is.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence

from jupyter_mlops.hashing import VANISHED, FileDigest, Hasher
from jupyter_mlops.journal import FileRecord, Journal
from jupyter_mlops.kernel.backlog import Backlog

# A pending digest's row in the journal, and the in-memory record the digest completes.
_Target = tuple[int, FileRecord]


class PendingDigests:
    """Asks the hasher for the digests of the files a cell touched and completes the rows that wait."""

    def __init__(self, hasher: Hasher, journal: Journal, backlog: Backlog) -> None:
        self.hasher = hasher
        self.journal = journal
        self.backlog = backlog
        self._tokens = itertools.count()
        # Kernel thread only: the pending records not written yet (by id, the record itself kept alive).
        self._unwritten: dict[int, tuple[FileRecord, int]] = {}
        self._arrived: dict[int, _Target | FileDigest] = {}  # token -> whichever of row and digest came first
        self._lock = threading.Lock()

    def record(self, rel: str, path: str, mode: str) -> FileRecord | None:
        """The file's record: with its digest, or pending until the hasher has it; None when it is no
        data the cell used (it vanished, or the cell wrote and removed it)."""
        token = next(self._tokens)
        digest = self.hasher.digest(path, lambda d, t=token: self._digest_done(t, d))
        if digest is None:
            record = FileRecord(rel, mode, pending=True)
            self._unwritten[id(record)] = (record, token)
            return record
        if digest.error and mode == "write":
            return None  # a temporary file the cell wrote and removed is not an output
        if digest.error == VANISHED:
            return None  # an open() that failed: nothing was read
        return FileRecord(rel, mode, digest.size, digest.mtime_ns, digest.md5, digest.nfiles, error=digest.error)

    def written(self, files: Sequence[FileRecord], file_ids: Sequence[int]) -> None:
        """The rows of records just written: complete those whose digest came first, tell the rest where
        to go."""
        for record, file_id in zip(files, file_ids, strict=True):
            if (waiting := self._unwritten.pop(id(record), None)) is None:
                continue
            if (both := self._meet(waiting[1], (file_id, record))) is not None:
                self._complete(*both)

    def _digest_done(self, token: int, digest: FileDigest) -> None:
        """Runs on a hasher thread: complete the row if it is written already, else leave the digest."""
        if (both := self._meet(token, digest)) is not None:
            self._complete(*both)

    def _meet(self, token: int, half: _Target | FileDigest) -> tuple[_Target, FileDigest] | None:
        """Row and digest, whichever comes second (from any thread): the first leaves its half here."""
        with self._lock:
            other = self._arrived.pop(token, None)
            if other is None or isinstance(other, FileDigest) == isinstance(half, FileDigest):
                self._arrived[token] = half
                return None
        return (other, half) if isinstance(half, FileDigest) else (half, other)  # type: ignore[return-value]

    def _complete(self, target: _Target, digest: FileDigest) -> None:
        """Fill in a late digest (any thread); if the journal refuses it now, the backlog retries it."""
        file_id, record = target
        record.size, record.mtime_ns, record.md5, record.nfiles, record.error, record.pending = (
            digest.size, digest.mtime_ns, digest.md5, digest.nfiles, digest.error, False)

        def write() -> None:
            self.journal.complete_file(file_id, size=digest.size, mtime_ns=digest.mtime_ns, md5=digest.md5,
                                       nfiles=digest.nfiles, error=digest.error)

        try:
            write()
        except Exception:
            self.backlog.add(f"the digest of {record.path}", write)
