"""Where a tracked session is mirrored besides the journal (MLflow, later others).

A sink subscribes to the session's cell-run events and must return at once: anything slow (imports,
network) happens on its own thread, and a sink that fails warns once and never touches the cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from jupyter_mlops.kernel.session import TrackingSession


class Sink(Protocol):
    def close(self, timeout: float, *, at_exit: bool = False) -> None:
        """Flush what can be flushed within ``timeout`` seconds, then stop; at kernel exit, without waiting."""


def start_for(session: TrackingSession) -> list[Sink]:
    """The sinks the session's options ask for, already subscribed to its events.

    Returns at once: a sink's thread does its own slow start (MLflow's import) in the background.
    """
    if not session.options.mlflow:
        return []
    from jupyter_mlops.sinks.mlflow import MlflowMirror

    return [MlflowMirror.start_for(session)]
