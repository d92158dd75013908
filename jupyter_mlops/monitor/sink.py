"""The kernel's side of monitoring: start the profiler when a cell reads a table; profile ``--profile`` frames.

Per cell it looks at the names of the files the cell read (no ``stat``, no import) and, when one is a CSV or
parquet file (at most every ``RECHECK_S``), a short-lived thread tries the profiler's lock and starts it
if nobody holds it (``profiler.ensure_running``); the profiler process does the reading.
A DataFrame named by ``--profile NAME`` is profiled in the kernel,
because only the kernel holds it: on a background thread, and only when it is a pandas or polars DataFrame
(its type says so: the library is imported already, we import nothing the user did not). The thread takes a
seeded sample of at most ``SAMPLE_ROWS`` rows and computes the profile with numpy; the cell has returned by
then (``benchmarks/profile.py`` measures what the next cell sees). A frame changed in place while the thread
reads it may give a profile of a mix, or an error, which is one warning.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from jupyter_mlops.errors import Conflict
from jupyter_mlops.monitor import frame_library, is_tabular, profiler

if TYPE_CHECKING:
    from jupyter_mlops.kernel.session import TrackingSession

RECHECK_S = 2.0
"""The profiler's lock is tried at most this often: it lingers ``profiler.LINGER_S`` before it exits."""
JOIN_S = 10.0
"""At the end of a session, how long frame profiles still being computed are waited for."""


class ProfileSink:
    def __init__(self, session: TrackingSession) -> None:
        self._session = session
        self._names = frozenset(session.options.profile)
        self._checked_at = -RECHECK_S
        self._threads: list[threading.Thread] = []

    @classmethod
    def start_for(cls, session: TrackingSession) -> ProfileSink:
        sink = cls(session)
        session.listeners.append(sink.on_cell_run)
        return sink

    def on_cell_run(self, event: dict[str, Any]) -> None:
        """The session's listener; returns at once."""
        if any(f["mode"] in ("read", "declared") and is_tabular(f["path"]) for f in event["files"]):
            now = time.monotonic()
            if now - self._checked_at >= RECHECK_S:
                self._checked_at = now
                # Off the kernel thread: starting the process costs tens of milliseconds
                threading.Thread(target=self._start_profiler, name="mlops-profiler-start", daemon=True).start()
        for name in self._names.intersection(event.get("rebound") or ()):
            value = self._session.shell.user_ns.get(name)
            if frame_library(value) is None:
                self._session.warn_once(f"profile-type-{name}", f"--profile {name}: {type(value).__name__} is not "
                                        "a pandas or polars DataFrame; not profiled")
                continue
            thread = threading.Thread(target=self._profile, args=(name, value, event["seq"]),
                                      name=f"mlops-profile-{name}", daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _start_profiler(self) -> None:
        try:
            profiler.ensure_running(self._session.home)  # where the journal is (a DVC experiment: not root)
        except (OSError, Conflict) as exc:  # Conflict: .mlops/profiles/ linked out of the project, a FIFO there
            self._session.warn_once("profiler-start", f"cannot start the profiler ({exc}); data files are "
                                    "tracked, not profiled")

    def _profile(self, name: str, frame: Any, seq: int) -> None:
        session = self._session
        try:
            from jupyter_mlops.monitor.profile import profile_frame

            profile = profile_frame(frame)
        except Exception as exc:  # changed in place meanwhile, an exotic dtype: the cell is not concerned
            session.warn_once(f"profile-{name}", f"could not profile {name} ({type(exc).__name__}: {exc}); "
                              "tracking continues")
            return

        def write() -> None:
            session.journal.save_frame_profile(session.id, seq, name, profile)

        try:
            write()
        except Exception:  # the journal busy or full: the backlog retries with the next record
            session.backlog.add(f"the profile of {name}", write)

    def close(self) -> None:
        """Frame profiles still being computed get ``JOIN_S`` to finish, then go to the journal."""
        deadline = time.monotonic() + JOIN_S
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._session.backlog.flush()
