"""The profiler: one process per project (and interpreter) that profiles the tabular files sessions read.

Reading a table costs pyarrow's import (~0.3 s) and seconds of CPU for a large file; the kernel pays neither.
Like the MLflow follower it is started lazily (by the kernel's ``monitor/sink.py``, the first time a cell
reads a CSV or parquet file), is one per project root and interpreter thanks to an exclusive ``flock`` on
``.mlops/profiles/profiler-<key>.lock``, runs niced, and reads its work from the journal: every read of a
tabular file whose md5 is known and whose content has no profile yet (``Journal.unprofiled_reads``). So
an unchanged file is never profiled twice, whichever session read it, and the profile lands in the journal
whether or not MLflow is mirrored (``--no-mlflow``).

Before reading, the file must still be the content the journal names: same size and mtime as when it was
hashed (the hasher's own rule), else its md5 is computed again; a file that has changed since is not
profiled, and its reads get a note saying so. The profiler exits once no session of this host is running
and nothing is left to profile, after ``LINGER_S``. Its log is ``.mlops/profiles/profiler.log``.

The kernel's side (``ensure_running``) imports only the standard library.
"""

from __future__ import annotations

import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

from jupyter_mlops.daemon import ProjectDaemon
from jupyter_mlops.journal import Journal, JournalError, pid_alive
from jupyter_mlops.monitor import TABULAR_SUFFIXES
from jupyter_mlops.project import journal_home, journal_path

STATE_DIR = "profiles"
POLL_S = 0.2
RECHECK_S = 2.0
"""The work list is read when another process wrote to the journal, else at least this often (retries)."""
LINGER_S = 3.0
CHANGED = "changed since the cell read it: not profiled (its content is no longer the one read)"


DAEMON = ProjectDaemon("profiler", "jupyter_mlops.monitor.profiler", STATE_DIR)
state_dir = DAEMON.state_dir
ensure_running = DAEMON.ensure_running  # one flock try; a profiler about to exit looks for work again
running = DAEMON.running


# --- the profiler process -----------------------------------------------------------------------------


def profile_pending(journal: Journal, *, log: Callable[[str], None] = print) -> int:
    """Profile every content the journal's reads name and no profile holds yet; returns how many were made."""
    from jupyter_mlops.monitor.tables import NotTabular, profile_file

    work: dict[str, list[dict]] = {}
    for row in journal.unprofiled_reads(TABULAR_SUFFIXES):
        work.setdefault(row["md5"], []).append(row)
    made, home = 0, journal_home(journal.path)
    for md5, reads in work.items():
        path = _still_there(md5, reads, home)
        if path is None:
            journal.note_unprofiled([r["id"] for r in reads], CHANGED)
            log(f"{reads[0]['path']} ({md5}): {CHANGED}")
            continue
        try:
            with DAEMON.unwatched(home, path) as readable:  # not a read of the cell running now
                profile = profile_file(readable)
        except NotTabular as exc:
            journal.save_profile(md5, None, str(exc))
            log(f"{reads[0]['path']} ({md5}): not profiled: {exc}")
            continue
        except Exception as exc:  # out of memory, a reader's bug: said once, not retried on every pass
            journal.save_profile(md5, None, f"cannot profile it: {type(exc).__name__}: {exc}"[:500])
            log(f"{reads[0]['path']} ({md5}): {type(exc).__name__}: {exc}")
            continue
        if _still_there(md5, reads, home) != path:  # rewritten while it was read: the sample may mix two contents
            continue  # the next pass decides (a note if it stays changed)
        journal.save_profile(md5, profile)
        made += 1
        log(f"profiled {reads[0]['path']} ({md5}): {profile['rows']} rows, {profile['columns']} columns"
            f"{', sampled' if profile['sampled'] else ''}")
    return made


def settled_profiles(journal: Journal, root: Path, session_id: str, wait: float) -> dict[str, list[dict]]:
    """A session's profiles (``Journal.session_profiles``) once none is still being made: waited for while a
    profiler runs (at most ``wait`` seconds), else made here, in the caller's process."""
    from jupyter_mlops.monitor import drift

    deadline = time.monotonic() + wait
    while True:
        profiles = journal.session_profiles(session_id)
        if not drift.missing_profiles(profiles) or time.monotonic() >= deadline:
            return profiles
        if not running(root):
            profile_pending(journal, log=lambda _: None)
            return journal.session_profiles(session_id)
        time.sleep(POLL_S)


def _still_there(md5: str, reads: list[dict], home: Path) -> Path | None:
    """A path holding the content ``md5`` now: stat-identical to a read's record, else re-hashed."""
    from jupyter_mlops.hashing import md5_file

    candidates = []
    for read in reads:
        path = Path(read["root"]) / read["path"]
        try:
            st = path.stat()
        except OSError:
            continue
        if (st.st_size, st.st_mtime_ns) == (read["size"], read["mtime_ns"]):
            return path
        if st.st_size == read["size"]:
            candidates.append(path)
    for path in dict.fromkeys(candidates):
        try:
            with DAEMON.unwatched(home, path) as readable:
                if md5_file(readable) == md5:
                    return path
        except OSError:
            continue
    return None


def _sessions_running(journal: Journal) -> bool:
    """A session of this host whose kernel is alive may still read files (another host's is its own)."""
    host = socket.gethostname()
    return any(s["state"] == "running" and s["host"] == host and pid_alive(s["pid"]) for s in journal.sessions())


class Profiler:
    def __init__(self, root: Path, lock_fd: int) -> None:
        self.root = root
        self._lock_fd = lock_fd

    def run(self) -> None:
        path = journal_path(self.root)
        journal = Journal(path, create=False)
        try:
            idle_since, version, looked_at = time.monotonic(), None, 0.0
            while path.exists():
                now = time.monotonic()
                current = journal.data_version()
                if current != version or now - looked_at >= RECHECK_S:  # the work list is a scan: not per poll
                    version, looked_at = current, now
                    try:
                        made = profile_pending(journal, log=_log)
                    except sqlite3.Error as exc:  # locked past the busy timeout, full: the work waits
                        _log(f"cannot write to the journal now ({exc}); retrying")
                        made = 0
                    if made:
                        idle_since = now
                    elif now - idle_since >= LINGER_S and not _sessions_running(journal):
                        if self._may_exit(journal):
                            return
                        idle_since = now
                time.sleep(POLL_S)
            _log("the journal is gone: exiting")
        finally:
            journal.close()

    def _may_exit(self, journal: Journal) -> bool:
        return DAEMON.may_exit(self._lock_fd, lambda: bool(
            _sessions_running(journal) or journal.unprofiled_reads(TABULAR_SUFFIXES)))


_log = DAEMON.log


def main(argv: list[str]) -> int:
    root = Path(argv[0]).resolve()
    fd = DAEMON.hold(root)
    if fd is None:
        return 0  # another profiler won the race
    _log(f"profiling the tabular inputs of {root}")
    try:
        Profiler(root, fd).run()
    except JournalError as exc:
        _log(f"cannot read the journal: {exc}")
        return 1
    _log("nothing left to profile: exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
