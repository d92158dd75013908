"""The session's journal writes, in order, kept in memory while the journal cannot take them.

Every record a session writes (a cell run, a logged param or metric, a late digest) goes through one
:class:`Backlog`. A journal that cannot be written for now (locked past the busy timeout, disk full,
damaged: :func:`jupyter_mlops.journal.unavailable` says which) pauses tracking with one warning: the
records wait here, oldest first, and the next write saves them before its own; nothing is written twice.
A record the journal refuses for itself is dropped with a warning, so that it cannot hold back the rest.
"""

from __future__ import annotations

import collections
import os
import sys
from collections.abc import Callable

from jupyter_mlops.journal import DEFAULT_BUSY_TIMEOUT, Journal, Unavailable, unavailable

BUSY_TIMEOUT_ENV = "JUPYTER_MLOPS_BUSY_TIMEOUT"
"""Seconds a cell waits for the journal while another process holds its write lock (default 10)."""
BEHIND_BUSY_TIMEOUT = 0.05
"""While records wait in memory for the journal, a cell tries it this long only: a lock held for minutes
(a VACUUM, an open sqlite3 shell) then stalls one cell for the full timeout, not every cell."""

Write = Callable[[], None]
"""One journal transaction, retried as a whole until the journal takes it."""


def busy_timeout() -> float:
    """How long a session's writes wait for another process's lock: the user's setting, else the default."""
    return float(os.environ.get(BUSY_TIMEOUT_ENV) or DEFAULT_BUSY_TIMEOUT)


class Backlog:
    """The journal writes not done yet, oldest first; appended to by the hasher's threads too."""

    def __init__(self, journal: Journal, warn: Callable[[str, BaseException], None]) -> None:
        self.journal = journal
        self.patience = journal.busy_timeout  # the wait while the journal is fine; shortened while behind
        self._warn = warn  # for a record the journal refuses: "could not <what>" once, keyed by error type
        self._waiting: collections.deque[tuple[str, Write]] = collections.deque()
        self._behind = False

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def behind(self) -> bool:
        """Records are waiting because the journal could not take them."""
        return self._behind

    def add(self, what: str, write: Write) -> None:
        """Queue a write behind those waiting; the next :meth:`flush` does it (safe from any thread)."""
        self._waiting.append((what, write))

    def write(self, what: str, write: Write) -> None:
        """Write now, after anything still waiting; kept for later if the journal cannot take it."""
        self.add(what, write)
        self.flush()

    def flush(self) -> None:
        """Do the waiting writes, oldest first, each one transaction; stop at the first the file refuses."""
        written = 0
        while self._waiting:
            what, write = self._waiting.popleft()
            try:
                write()
            except Exception as exc:
                why = unavailable(exc)
                if why is None:
                    self._warn(f"store {what}", exc)
                    continue
                self._waiting.appendleft((what, write))
                self._fall_behind(why, exc)
                return
            written += 1
        if self._behind:
            self._behind = False
            self.journal.busy_timeout = self.patience
            _say(f"the journal is writable again; the {written} records kept in memory are saved")

    def be_patient(self) -> None:
        """The last writes of a session (it is stopping) wait the full busy timeout, behind or not."""
        self.journal.busy_timeout = self.patience

    def _fall_behind(self, why: Unavailable, exc: Exception) -> None:
        if self._behind:
            return
        self._behind = True
        self.journal.busy_timeout = BEHIND_BUSY_TIMEOUT
        reason = (f"another process has held its write lock for over {self.patience:g} s"
                  if why is Unavailable.BUSY else str(exc))
        _say(f"cannot write the journal {self.journal.path} ({reason}); records are kept in memory and "
             "retried after each cell — your cells run normally")


def _say(message: str) -> None:
    print(f"jupyter-mlops: {message}", file=sys.stderr)
