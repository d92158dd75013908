"""Polling for what a background thread or another process makes true, with a message when it never does."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_mlops.sinks import follower_daemon


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """The first truthy value of ``condition()``; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def followers_done(root: Path) -> bool:
    """No MLflow follower holds its lock for this project: its last pass (store creation included) is over."""
    return not follower_daemon.DAEMON.running(root)
