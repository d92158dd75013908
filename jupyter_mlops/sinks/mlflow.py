"""The kernel's side of the MLflow mirror: subscribe the session, make sure the follower runs, relay its notices.

The mirroring itself happens in the project's follower process (``sinks/follower.py``), which reads the
journal: the kernel never imports MLflow, git or the package metadata, and a store that is down or slow
costs a cell nothing. Per cell the kernel does one ``stat`` (has the follower something to say?); the
follower's notices are printed from the session's listener, i.e. under the cell that follows them, once
per outage.

This module imports only the standard library: it is imported when tracking starts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jupyter_mlops.errors import Conflict
from jupyter_mlops.sinks import follower_daemon, tracking_uri

if TYPE_CHECKING:
    from jupyter_mlops.kernel.session import TrackingSession
    from jupyter_mlops.sinks.bookkeeping import Bookkeeping


class MlflowMirror:
    """One session's subscription to the follower, for one MLflow store."""

    def __init__(self, session: TrackingSession, book: Bookkeeping, uri: str) -> None:
        self.session_id = session.id
        self.uri = uri
        self._book = book
        self._warn_once: Callable[[str, str], None] = session.warn_once
        self._listeners = session.listeners
        self._notices = follower_daemon.NoticeReader(follower_daemon.notices_path(session.home, session.id))

    @classmethod
    def start_for(cls, session: TrackingSession) -> MlflowMirror:
        from jupyter_mlops.sinks.bookkeeping import Bookkeeping

        uri = tracking_uri.resolve(session.home)
        book = Bookkeeping(session.journal.path)
        book.follow(session.id, uri, sys.executable)
        mirror = cls(session, book, uri)
        session.listeners.append(mirror.on_cell_run)
        git = session.provenance.git if session.provenance is not None else None
        if git is not None and git.note:
            session.warn_once("mlflow-git", f"{git.note}: MLflow runs record no git commit (commit the project to "
                              "record one); tracking continues")
        try:
            follower_daemon.ensure_running(session.home)
        except (OSError, Conflict) as exc:  # Conflict: .mlops/mlflow/ linked out of the project, a FIFO there
            session.warn_once("mlflow-start", f"cannot start the MLflow follower ({exc}); your cells run "
                              "normally, `jupyter mlops sync` can send this session later")
        return mirror

    def on_cell_run(self, event: dict[str, Any]) -> None:
        """The session's listener: print what the follower found since the last cell. Returns at once."""
        for key, message in self._notices.new():
            self._warn_once(key, message)

    def close(self) -> None:
        """The session wrote its last record: the follower makes the last pass. Nobody waits for it: the
        follower outlives the kernel, at exit as after ``--off``."""
        if self.on_cell_run in self._listeners:
            self._listeners.remove(self.on_cell_run)
        try:
            self._book.close_follow(self.session_id, self.uri)
        finally:
            self._book.close()
