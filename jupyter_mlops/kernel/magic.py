"""``%mlops_track`` and ``%mlops_status``: the user's handles on the tracking session.

Loading the extension registers two magics and imports nothing heavy; the session (journal, hasher,
detector) is built when tracking starts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from jupyter_mlops.core.options import (
    OptionsDiffer,
    OptionsError,
    TrackOptions,
    check_paths,
    from_mapping,
    join_or_restart,
    parse_magic_line,
)

if TYPE_CHECKING:
    from jupyter_mlops.kernel.session import TrackingSession

_session: TrackingSession | None = None


def current() -> TrackingSession | None:
    return _session


def start(shell: Any, options: TrackOptions) -> TrackingSession | None:
    """Start tracking in ``shell``, or join the session already running; ``--off`` stops it.

    One session per kernel, whichever view starts it: no options or the same ones join it (a second tab,
    a collaborator, "Run All" again); other options raise ``OptionsDiffer`` (nothing changes) unless
    ``--restart`` asks to replace it. A journal that cannot be used (damaged, from a newer version, on a
    full or read-only disk) is one warning saying what to do, not an error: a notebook run with "Run All"
    must not stop over tracking.
    """
    global _session
    check_paths(options, Path.cwd())
    if options.off:
        stop()
        return None
    running = _session
    if running is not None and not join_or_restart(running.options, options, running.id):
        from jupyter_mlops.kernel import comm

        comm.announce(shell)  # the view that ran this cell opens its comm, if it has none yet
        return running
    stop()
    from jupyter_mlops.journal import JournalError
    from jupyter_mlops.kernel.session import TrackingSession

    try:
        session = TrackingSession(shell, options.session, Path.cwd())
        session.start()
    except JournalError as exc:
        warn(f"tracking not started: {exc}. Your cells run normally, untracked")
        return None
    _session = session
    return session


def stop() -> None:
    global _session
    session, _session = _session, None
    if session is not None:
        session.stop()


def track_magic(shell: Any, line: str) -> None:
    running = _session
    try:
        options = parse_magic_line(line)
        session = start(shell, options)
    except OptionsDiffer as exc:
        raise TrackingRunning(str(exc)) from None
    except OptionsError as exc:
        raise UsageError(str(exc)) from None
    if session is None:
        if options.off:
            print("jupyter-mlops: tracking off")
        return
    mode = "strict" if session.options.strict else "warn"
    notebook = session.notebook.relative_path() or "notebook not known yet"
    verb = "joined tracking session" if session is running else "tracking session"
    print(f"jupyter-mlops: {verb} {session.id} ({notebook}, {mode} mode) → {session.journal.path}")


class TrackingRunning(UsageError):
    """The kernel tracks with other options and ``--restart`` was not given. A ``UsageError`` (IPython
    shows the message, no traceback); its name is the reply's ``ename``, which the lab's Start button reads
    to ask the user whether to restart."""


def status_magic(shell: Any, line: str) -> None:
    from jupyter_mlops.kernel.status import status_dict, summary

    print(summary(status_dict(_session)))


def register(shell: Any) -> None:
    shell.register_magic_function(lambda line: track_magic(shell, line), "line", "mlops_track")
    shell.register_magic_function(lambda line: status_magic(shell, line), "line", "mlops_status")


def unregister(shell: Any) -> None:
    stop()


def start_from_api(options: dict[str, Any]) -> TrackingSession | None:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("jupyter_mlops.track() runs inside an IPython kernel (Jupyter, VS Code, papermill)")
    return start(shell, from_mapping(options))


def warn(message: str) -> None:
    print(f"jupyter-mlops: {message}", file=sys.stderr)
