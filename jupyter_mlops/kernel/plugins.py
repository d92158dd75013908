"""What hangs off a tracking session, behind one small interface: the session knows no plug-in by name.

When a session starts it calls :func:`start_for`; when it stops, after its last record, it calls each
plug-in's ``close``. Between the two, a plug-in that wants the cell runs subscribes to the session's events
(``session.listeners``: one call per finished cell, on the kernel thread, returning at once). The plug-ins:

- the profile sink (``monitor/sink.py``): starts the profiler when a cell reads a table, profiles
  ``--profile`` frames; for every session;
- the MLflow mirror (``sinks/mlflow.py``): subscribes the session for the follower, prints its notices;
  unless ``--no-mlflow``;
- the lab bridge (``kernel/comm.py``): the views' comm; in ipykernel only. ``close`` tells it the session
  ended (``--off``, ``--restart``, the kernel's exit); after that cell it says goodbye to the views unless a
  new session took over.

Anything slow (imports, network) happens in another process that reads the journal. A plug-in that cannot
start is one warning and the session runs without it; none ever touches the cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from jupyter_mlops.kernel.session import TrackingSession


class Plugin(Protocol):
    def close(self) -> None:
        """The session wrote its last record; never waits (for the mirror, a view)."""


def start_for(session: TrackingSession) -> list[Plugin]:
    """The plug-ins the session's options ask for, started and subscribed; returns at once."""
    from jupyter_mlops.kernel.comm import attach
    from jupyter_mlops.monitor.sink import ProfileSink

    started: list[Plugin] = [ProfileSink.start_for(session)]
    if session.options.mlflow:
        try:
            from jupyter_mlops.sinks.mlflow import MlflowMirror  # the follower needs flock: POSIX

            started.append(MlflowMirror.start_for(session))
        except Exception as exc:  # no flock, the journal locked or full: tracked, just not mirrored now
            session.warn_once("mlflow-start", f"cannot start the MLflow mirror ({type(exc).__name__}: {exc}); your "
                              "cells run normally, `jupyter mlops sync` can send this session later")
    try:
        bridge = attach(session)
    except Exception as exc:
        session.warn_once(f"connect the lab panel:{type(exc).__name__}", f"could not connect the lab panel "
                          f"({type(exc).__name__}: {exc}); tracking continues, your cell ran")
    else:
        if bridge is not None:
            started.append(bridge)
    return started
