"""Where a tracked session is mirrored besides the journal (MLflow, later others).

A sink subscribes to the session's cell-run events and must return at once: anything slow (imports,
network) happens in another process that reads the journal, and a sink that fails warns once and never
touches the cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from jupyter_mlops.kernel.session import TrackingSession


class Sink(Protocol):
    def close(self) -> None:
        """The session wrote its last record; never waits for the mirror."""


def start_for(session: TrackingSession) -> list[Sink]:
    """The sinks the session's options ask for, already subscribed to its events; returns at once. The
    profiles of its tabular inputs (``monitor/sink.py``) are made whether or not MLflow is mirrored."""
    from jupyter_mlops.monitor.sink import ProfileSink

    started: list[Sink] = [ProfileSink.start_for(session)]
    if not session.options.mlflow:
        return started
    try:
        from jupyter_mlops.sinks.mlflow import MlflowMirror  # the follower needs flock: POSIX

        started.append(MlflowMirror.start_for(session))
    except Exception as exc:  # no flock, the journal locked or full: tracked, just not mirrored now
        session.warn_once("mlflow-start", f"cannot start the MLflow mirror ({type(exc).__name__}: {exc}); your "
                          "cells run normally, `jupyter mlops sync` can send this session later")
    return started
