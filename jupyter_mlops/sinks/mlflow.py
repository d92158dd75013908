"""The MLflow mirror of a tracked session: a daemon thread that follows the journal, never the kernel.

The kernel thread only ever sets an event (the listener, once per finished cell) and prints warnings the
thread left for it: everything slow — importing MLflow (~2 s), git, listing the environment, talking to
the store — happens on the thread, which reads what is unsent from the journal itself. So a store that is
down or slow costs a cell nothing: the records wait in the journal, the thread retries on the next cell,
and ``jupyter mlops sync`` can finish the job from another process. Warnings are printed from the
listener rather than the thread because the kernel routes a thread's prints to whichever cell happens to
be running; the listener runs inside the cell that follows the failure. One warning per outage.

This module imports only the standard library: it is imported when tracking starts.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.sinks import tracking_uri

if TYPE_CHECKING:
    from jupyter_mlops.kernel.session import TrackingSession
    from jupyter_mlops.sinks.bookkeeping import Bookkeeping
    from jupyter_mlops.sinks.mlflow_push import Pusher

THREAD_NAME = "jupyter-mlops-mlflow"
START_DELAY_S = 1.0
"""The thread waits this long (or for the first cell) before importing anything: it shares the kernel's GIL,
and importing MLflow while ``%mlops_track`` sends its reply would slow the magic down by ~0.15 s."""
QUIET_S = 0.5
MAX_DELAY_S = 5.0
"""A pass waits until no cell has finished for ``QUIET_S``, but no longer than ``MAX_DELAY_S``: a pass is
~40 ms of MLflow client code holding the GIL the kernel needs, so it should run while the user reads the
output, and "Run All" over quick cells pays for one pass every few seconds, not one per cell."""


class MlflowMirror:
    """Mirrors one session's journal rows to one MLflow store, as they are written."""

    def __init__(self, session_id: str, journal_path: Path, root: Path, uri: str,
                 warn_once: Callable[[str, str], None], *, eager: bool) -> None:
        self.session_id = session_id
        self.uri = uri
        self._journal_path = journal_path
        self._root = root
        self._warn_once = warn_once
        self._eager = eager
        self._wake = threading.Event()
        self._closing = False
        self._down = False
        self._outages = 0
        self._notices: deque[tuple[str, str]] = deque()  # (warn_once key, message), appended by the thread
        self._listeners: list[Callable[[dict[str, Any]], None]] | None = None
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)

    @classmethod
    def start_for(cls, session: TrackingSession) -> MlflowMirror:
        # The first pass creates the run at once when its experiment is known; otherwise it waits for the
        # first cell, which names the notebook (and so the experiment) when the frontend sends cell ids.
        eager = bool(session.options.experiment or session.notebook_path)
        mirror = cls(session.id, session.journal.path, session.root, tracking_uri.resolve(session.root),
                     session.warn_once, eager=eager)
        mirror._listeners = session.listeners
        session.listeners.append(mirror.on_cell_run)
        mirror._thread.start()
        return mirror

    # --- the kernel thread -------------------------------------------------------------------------

    def on_cell_run(self, event: dict[str, Any]) -> None:
        """The session's listener: say what the thread found, then wake it. Returns at once."""
        self._report()
        self._wake.set()

    def close(self, timeout: float, *, at_exit: bool = False) -> None:
        """Send what is left (final tags, notebook, run end) within ``timeout``, then stop the thread.

        At kernel exit (papermill, a DVC stage) nobody should wait for MLflow: a detached ``sync`` finishes
        the session once this process is gone.
        """
        if self._listeners is not None and self.on_cell_run in self._listeners:
            self._listeners.remove(self.on_cell_run)
        self._closing = True
        if at_exit:
            from jupyter_mlops.sinks.sync_cli import hand_off

            hand_off(self.session_id, self._root, self.uri)
            return
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._notices.append(("mlflow-close", f"MLflow ({self.uri}) still busy after {timeout:.0f} s; "
                                  "what is not sent waits in the journal: run `jupyter mlops sync`"))
        self._report()

    def _report(self) -> None:
        while self._notices:
            key, message = self._notices.popleft()
            self._warn_once(key, message)

    # --- the mirror's thread -----------------------------------------------------------------------

    def _run(self) -> None:
        self._wake.wait(START_DELAY_S)
        try:
            from jupyter_mlops.sinks.bookkeeping import Bookkeeping

            book = Bookkeeping(self._journal_path)
        except Exception as exc:
            self._notices.append(("mlflow-start", f"cannot start the MLflow mirror ({exc}); your cells run "
                                  "normally, `jupyter mlops sync` can send this session later"))
            return
        try:
            self._capture_provenance(book)
            pusher = self._pusher(book)
            if pusher is not None:
                self._follow(pusher)
        finally:
            book.close()

    def _capture_provenance(self, book: Bookkeeping) -> None:
        from jupyter_mlops.provenance import environment, git_state
        from jupyter_mlops.sinks.bookkeeping import Provenance

        try:
            git = git_state(self._root)
            book.save_provenance(self.session_id, Provenance(git, environment()))
        except Exception as exc:
            self._notices.append(("mlflow-provenance", f"cannot record git and environment provenance ({exc}); "
                                  "runs are mirrored without it"))
            return
        if git.note:
            self._notices.append(("mlflow-git", f"{git.note}: MLflow runs record no git commit (commit the "
                                  "project to record one); tracking continues"))

    def _pusher(self, book: Bookkeeping) -> Pusher | None:
        try:
            return _load_pusher()(book, self.uri)
        except Exception as exc:
            self._notices.append(("mlflow-start", f"cannot start the MLflow mirror ({type(exc).__name__}: "
                                  f"{exc}); your cells run normally, `jupyter mlops sync` can send them later"))
            return None

    def _follow(self, pusher: Pusher) -> None:
        if not self._eager:
            self._wake.wait()
        while True:
            self._wake.clear()  # before the pass: a cell finishing during it wakes the next one
            closing = self._closing
            self._push(pusher)
            if closing:
                return
            self._wake.wait()
            self._settle()

    def _settle(self) -> None:
        """Let a burst of cells finish before the next pass (closing does not wait)."""
        deadline = time.monotonic() + MAX_DELAY_S
        while not self._closing and time.monotonic() < deadline:
            self._wake.clear()
            if not self._wake.wait(min(QUIET_S, deadline - time.monotonic())):
                return

    def _push(self, pusher: Pusher) -> None:
        try:
            pusher.push(self.session_id)
        except Exception as exc:  # StoreUnavailable, or a bug: either way the journal keeps the records
            if not self._down:
                self._down = True
                self._outages += 1
                self._notices.append((f"mlflow-down-{self._outages}", (
                    f"MLflow store unreachable ({exc}); records wait in the journal and are sent when it is "
                    "back (next cell, or `jupyter mlops sync`) — your cells run normally")))
            return
        self._down = False


def _load_pusher() -> type[Pusher]:
    """Import MLflow (here, never on the kernel thread) without its import-time warnings landing in the
    user's running cell.

    MLflow imports ``tqdm.auto``, which warns "IProgress not found" in a kernel without ipywidgets; that
    warning is about MLflow, not the user's code. Filters are process-wide, so the window stays the
    length of the import.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from jupyter_mlops.sinks.mlflow_push import Pusher

    return Pusher
