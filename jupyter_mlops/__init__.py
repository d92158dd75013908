"""jupyter-mlops: reproducible notebook experiments.

``%load_ext jupyter_mlops`` then ``%mlops_track`` in any IPython kernel. This module is imported at
``%load_ext`` time, so it imports nothing heavy: the session, MLflow and DVC load when they are needed.
"""

from __future__ import annotations

from typing import Any

from jupyter_mlops._version import __version__

__all__ = ["__version__", "log_metric", "log_param", "status", "track"]


def load_ipython_extension(shell: Any) -> None:
    from jupyter_mlops.kernel import magic

    magic.register(shell)


def unload_ipython_extension(shell: Any) -> None:
    from jupyter_mlops.kernel import magic

    magic.unregister(shell)


def track(**options: Any) -> dict[str, Any]:
    """Start tracking from Python (``track(experiment="churn", metrics=["auc"])``), or join the session the
    kernel runs (no options, or the same ones); ``restart=True`` replaces it, ``off=True`` stops."""
    from jupyter_mlops.kernel import magic

    magic.start_from_api(options)
    return status()


def log_param(name: str, value: Any) -> None:
    """Record a param of the tracked session; ignored with one warning when tracking is off."""
    session = _session_or_warn("log_param")
    if session is not None:
        session.log_param(str(name), value)


def log_metric(name: str, value: Any, step: int | None = None) -> None:
    """Record a metric (a number) of the tracked session, optionally at a step."""
    session = _session_or_warn("log_metric")
    if session is not None:
        session.log_metric(str(name), value, step)


def status() -> dict[str, Any]:
    """The session's state: ``{"session", "reproducible", "issues", "cells", "files", "params", "metrics"…}``."""
    from jupyter_mlops.kernel import magic
    from jupyter_mlops.kernel.status import status_dict

    return status_dict(magic.current())


def _session_or_warn(what: str) -> Any:
    from jupyter_mlops.kernel import magic

    session = magic.current()
    if session is None:
        magic.warn(f"{what}() ignored: tracking is off (start it with %mlops_track)")
    return session


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The Jupyter server extension (REST over the journal for the lab panel); loaded by the server only."""
    return [{"module": "jupyter_mlops.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt lab extension lives in this package (for `jupyter labextension develop`)."""
    return [{"src": "labextension", "dest": "jupyter-mlops"}]
