"""The MLflow follower as a project process (``daemon.ProjectDaemon``), and its notices: what the kernel, the
follower (``follower.py``) and the pusher (``mlflow_push.py``, ``mlflow_model.py``) share of it.

The kernel starts the follower (``ensure_running``) after subscribing a session, and reads what the follower
has to tell the user from ``.mlops/mlflow/<session>.notices`` (``NoticeReader``, one ``stat`` a cell); the
pusher reads project files through the follower's folder (``DAEMON.unwatched``). Standard library only: the
kernel imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path

from jupyter_mlops.daemon import ProjectDaemon

STATE_DIR = "mlflow"

DAEMON = ProjectDaemon("follower", "jupyter_mlops.sinks.follower", STATE_DIR)
state_dir = DAEMON.state_dir


def notices_path(root: Path, session_id: str) -> Path:
    return state_dir(root) / f"{session_id}.notices"


def ensure_running(root: Path) -> None:
    """Start this interpreter's follower for ``root`` unless one runs. Call after subscribing: a follower
    about to exit re-reads the subscriptions after releasing the lock, so none is orphaned."""
    DAEMON.ensure_running(root)


class NoticeReader:
    """The kernel's view of its session's notices file: new lines since the last look, one ``stat`` a call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def new(self) -> list[tuple[str, str]]:
        try:
            if os.stat(self.path).st_size <= self._offset:
                return []
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return []
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next look
        self._offset += len(complete)
        out = []
        for line in complete.decode("utf-8", "replace").splitlines():
            key, _, message = line.partition("\t")
            out.append((key, message))
        return out
