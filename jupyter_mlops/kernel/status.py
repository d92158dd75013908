"""The session's state as plain data (``jupyter_mlops.status()``) and as a short text (``%mlops_status``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_mlops.kernel.session import TrackingSession


def status_dict(session: TrackingSession | None) -> dict[str, Any]:
    """JSON-serialisable; the same keys whether or not tracking is on, so callers need no special case."""
    if session is None:
        return {"session": None, "tracking": False, "reproducible": None, "issues": [], "cells": 0,
                "errors": 0, "files": [], "params": {}, "metrics": {}}
    return {
        "session": session.id,
        "tracking": True,
        "mode": "strict" if session.options.strict else "warn",
        "notebook": session.notebook.relative_path(),
        "root": str(session.root),
        "journal": str(session.journal.path),
        "reproducible": session.verdict.reproducible,
        "issues": [i.to_dict() for i in session.verdict.issues],
        "cells": session.cells,
        "errors": session.errors,
        "files": [
            {"path": f.path, "mode": f.mode, "md5": f.md5, "size": f.size, "pending": f.pending,
             "error": f.error}
            for f in sorted(session.files.values(), key=lambda f: (f.path, f.mode))
        ],
        "params": dict(session.params),
        "metrics": dict(session.metrics),
    }


def summary(status: dict[str, Any]) -> str:
    if not status["tracking"]:
        return "jupyter-mlops: not tracking (start with %mlops_track)"
    verdict = "reproducible" if status["reproducible"] else "NOT reproducible"
    lines = [
        f"session {status['session']} · {status['notebook'] or 'notebook not known'} · {status['mode']} mode",
        f"{status['cells']} cells run, {status['errors']} errors · state {verdict}",
    ]
    lines += [f"  ✗ {i['kind']}: {i['message']} → {i['fix']}" for i in status["issues"]]
    for f in status["files"]:
        digest = "hashing…" if f["pending"] else (f["md5"] or f["error"] or "?")[:12]
        lines.append(f"  {f['mode']:<8} {f['path']}  {digest}")
    if status["params"]:
        lines.append("  params   " + ", ".join(f"{k}={v!r}" for k, v in status["params"].items()))
    if status["metrics"]:
        lines.append("  metrics  " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in status["metrics"].items()))
    lines.append(f"  journal  {status['journal']}")
    return "\n".join(lines)
