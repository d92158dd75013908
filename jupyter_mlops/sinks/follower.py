"""The MLflow follower: one process per project (and interpreter) that mirrors the journal to MLflow.

MLflow costs ~2 s of import and tens of milliseconds of client code per pass; in the kernel's process that
time is taken from the user's cells (a thread shares the interpreter lock: papermill runs went 1.5× slower).
So the kernel never imports MLflow. Tracking with the mirror on adds a subscription to the journal
(``mlflow_follow``, see ``bookkeeping.py``) and makes sure a follower runs; the follower polls the journal's
``data_version`` (no cost to the kernel), and sends each subscribed session's unsent rows once the cells
pause for ``QUIET_S`` (or every ``MAX_DELAY_S`` during a long "Run All"), exactly once thanks to the marks.

One follower per project root and interpreter: an exclusive ``flock`` on ``.mlops/mlflow/follower-<key>.lock``
is held for its lifetime, so kernels that start together start one follower between them (the loser of the
race exits at once). A kernel that stops tracking, or exits, closes its subscription after its last record;
the follower makes the last pass (run terminated, notebook uploaded), drops it, and exits once nothing is
followed. A session whose kernel died is dropped unsent: ``jupyter mlops sync`` catches it up, as it does
any store that was down. Nobody waits for MLflow: not the cell, not the exiting kernel.

What the follower has to say to the user (the store is down) is appended to
``.mlops/mlflow/<session>.notices``; the kernel prints each line once, under the next cell (one ``stat`` per
cell). The follower's own output (MLflow's logging) goes to ``.mlops/mlflow/follower.log``. What the kernel,
this process and the pusher share of it (the process's folder and lock, the notices) is ``follower_daemon.py``.
"""

from __future__ import annotations

import socket
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_mlops.journal import pid_alive
from jupyter_mlops.monitor.mlflow_log import awaiting_profiles
from jupyter_mlops.project import journal_path
from jupyter_mlops.sinks.follower_daemon import DAEMON, notices_path

if TYPE_CHECKING:
    from jupyter_mlops.sinks.bookkeeping import Bookkeeping, Followed
    from jupyter_mlops.sinks.mlflow_push import Pusher

POLL_S = 0.1
QUIET_S = 0.5
MAX_DELAY_S = 5.0
"""A pass waits until the journal has not changed for ``QUIET_S``, but no longer than ``MAX_DELAY_S``."""
RECHECK_S = 1.0
"""Subscriptions are re-read at least this often even when the journal is quiet (to notice a dead kernel)."""
LINGER_S = 3.0
"""With nothing to follow, the follower waits this long (a kernel restart, the next DVC stage) before exiting."""


# --- the follower process ---------------------------------------------------------------------------


@dataclass
class _State:
    """What the follower remembers about one subscription between passes."""

    pushed: bool = False
    down: bool = False
    outages: int = 0


class Follower:
    def __init__(self, root: Path, lock_fd: int) -> None:
        self.root = root
        self._journal = journal_path(root)
        self._lock_fd = lock_fd
        self._python = sys.executable
        self._pushers: dict[str, Pusher] = {}
        self._states: dict[tuple[str, str], _State] = {}

    def run(self) -> None:
        from jupyter_mlops.sinks.bookkeeping import Bookkeeping

        book = Bookkeeping(self._journal)
        try:
            self._loop(book)
        finally:
            book.close()

    def _loop(self, book: Bookkeeping) -> None:
        version, changed_at, dirty_since = book.data_version(), 0.0, None
        subs, read_at = book.followed(self._python), time.monotonic()
        idle_since = read_at
        while True:
            now = time.monotonic()
            current = book.data_version()
            if current != version or now - read_at >= RECHECK_S:
                if current != version:
                    version, changed_at, dirty_since = current, now, dirty_since or now
                subs, read_at = book.followed(self._python), now
            if not subs:
                if now - idle_since >= LINGER_S and self._may_exit(book):
                    return
            elif not self._journal.exists():  # the project was deleted (a scratch copy, a test's folder)
                _log("the journal is gone: exiting")
                return
            else:
                idle_since = now
                due = dirty_since is not None and (now - changed_at >= QUIET_S or now - dirty_since >= MAX_DELAY_S)
                subs = [sub for sub in subs if self._serve_guarded(book, sub, due)]
                if due:
                    dirty_since = None
            time.sleep(POLL_S)

    def _may_exit(self, book: Bookkeeping) -> bool:
        return DAEMON.may_exit(self._lock_fd, lambda: bool(book.followed(self._python)))

    def _serve_guarded(self, book: Bookkeeping, sub: Followed, due: bool) -> bool:
        """One subscription failing in a way nobody foresaw must not stop the others: it is dropped (the
        journal keeps its records for `jupyter mlops sync`) and the failure logged."""
        try:
            return self._serve(book, sub, due)
        except Exception as exc:
            _log(f"{sub.session_id} → {sub.uri}: {type(exc).__name__}: {exc}; left to `jupyter mlops sync`")
            try:
                self._drop(book, sub, "failed")
            except Exception as again:
                _log(f"{sub.session_id}: cannot drop it either ({again})")
            return False

    def _serve(self, book: Bookkeeping, sub: Followed, due: bool) -> bool:
        """Push when due; False once the subscription is dropped."""
        key = (sub.session_id, sub.uri)
        state = self._states.setdefault(key, _State())
        if not sub.closed and not _kernel_alive(sub):
            # ``sub`` was read before the other subscriptions were served; a kernel closes its own just
            # before it exits (parallel DVC experiments end together), so only a fresh look can tell.
            if not book.is_closed(sub.session_id, sub.uri):
                self._drop(book, sub, "its kernel died: `jupyter mlops sync` sends what it left")
                return False
            sub = replace(sub, closed=True)
        session = book.session(sub.session_id)
        if session is None:
            self._drop(book, sub, "the session is not in the journal")
            return False
        first = not state.pushed and (session["experiment"] or book.has_cell_runs(sub.session_id))
        if not (due or first or sub.closed):
            return True
        if sub.closed and awaiting_profiles(self.root, sub.session_id):  # the last pass waits for the profiler
            return True
        state.pushed = True
        sent = self._push(book, sub, state)
        if sub.closed or key not in self._states:  # closed, or dropped for want of a pusher
            if key in self._states:
                self._drop(book, sub, "sent" if sent else "not all sent: `jupyter mlops sync` sends the rest later")
            return False
        return True

    def _push(self, book: Bookkeeping, sub: Followed, state: _State) -> bool:
        pusher = self._pusher(book, sub)
        if pusher is None:
            return False
        try:
            result = pusher.push(sub.session_id)
        except Exception as exc:  # StoreUnavailable, or a bug: either way the journal keeps the records
            if not state.down:
                state.down = True
                state.outages += 1
                self._notice(sub, f"mlflow-down-{state.outages}", (
                    f"MLflow store unreachable ({exc}); records wait in the journal and are sent when it is "
                    "back (next cell, or `jupyter mlops sync`) — your cells run normally"))
            _log(f"{sub.session_id} → {sub.uri}: {exc}")
            return False
        state.down = False
        return not result.busy

    def _pusher(self, book: Bookkeeping, sub: Followed) -> Pusher | None:
        pusher = self._pushers.get(sub.uri)
        if pusher is None:
            try:
                from jupyter_mlops.sinks.mlflow_push import Pusher  # ~2 s: MLflow itself

                pusher = self._pushers[sub.uri] = Pusher(book, sub.uri)
            except Exception as exc:
                self._notice(sub, "mlflow-start", f"cannot start the MLflow mirror ({type(exc).__name__}: "
                             f"{exc}); your cells run normally, `jupyter mlops sync` can send them later")
                self._drop(book, sub, f"no pusher: {exc}")
                return None
        return pusher

    def _notice(self, sub: Followed, key: str, message: str) -> None:
        with open(notices_path(self.root, sub.session_id), "a", encoding="utf-8") as f:
            f.write(f"{key}\t{' '.join(message.split())}\n")

    def _drop(self, book: Bookkeeping, sub: Followed, why: str) -> None:
        book.unfollow(sub.session_id, sub.uri)
        self._states.pop((sub.session_id, sub.uri), None)
        notices_path(self.root, sub.session_id).unlink(missing_ok=True)
        _log(f"{sub.session_id} → {sub.uri}: done ({why})")


def _kernel_alive(sub: Followed) -> bool:
    """A kernel on another host cannot be checked: trust it until it closes its subscription."""
    if sub.host != socket.gethostname():
        return True
    return pid_alive(sub.pid)


_log = DAEMON.log


def main(argv: list[str]) -> int:
    root = Path(argv[0]).resolve()
    fd = DAEMON.hold(root)
    if fd is None:
        return 0  # another follower won the race: it follows every kernel of this interpreter
    _log(f"following {root}")
    Follower(root, fd).run()
    _log("nothing left to follow: exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
