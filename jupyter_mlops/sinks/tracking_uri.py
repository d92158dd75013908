"""Which MLflow store a session goes to, and whether it answers — stdlib only, safe on the kernel thread.

The URI is also the bookkeeping key (marks are per store), so it is normalised: a relative SQLite path
means the kernel's working directory, and ``sync`` running elsewhere must name the same database.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_DB = "mlflow.db"
PROBE_TIMEOUT_S = 3.0


def resolve(root: Path, explicit: str | None = None, cwd: Path | None = None) -> str:
    """``explicit`` (``sync --to``), else ``MLFLOW_TRACKING_URI``, else MLflow's own default — SQLite —
    placed at the project root so that ``mlflow ui`` run there shows the runs."""
    uri = explicit or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / DEFAULT_DB}"
    return normalise(uri, cwd or Path.cwd())


def normalise(uri: str, cwd: Path) -> str:
    uri = uri.strip()
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
        return f"sqlite:///{(cwd / path).resolve() if not path.is_absolute() else path}"
    if "://" not in uri:  # a bare path: MLflow's file store, refused by MLflow >= 3.13, kept as given
        return str((cwd / uri).resolve())
    return uri.rstrip("/")


def sqlite_dir(uri: str) -> Path | None:
    """The folder of a SQLite store (its artifacts go beside it), None for other stores."""
    return Path(uri[len("sqlite:///"):]).parent if uri.startswith("sqlite:///") else None


def unreachable(uri: str) -> str | None:
    """Why an HTTP store cannot be reached now (one line), or None when it answers or is not HTTP.

    MLflow's REST client retries a refused connection for minutes; probing first turns a store that is
    down into an immediate, clear "not now". Any HTTP answer — even 401 or 404 behind a proxy — means
    the server is there.
    """
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(uri + "/health", timeout=PROBE_TIMEOUT_S):
            return None
    except urllib.error.HTTPError:
        return None
    except OSError as exc:  # URLError and timeouts are OSErrors
        reason = getattr(exc, "reason", exc)
        return f"{uri} does not answer ({reason})"
