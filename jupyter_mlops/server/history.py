"""The journal's record of one notebook, shaped for the panel: session summaries, one session, a comparison.

Read-only and Tornado-free: the handlers pass a validated :class:`NotebookRef` and send back what these
functions return. A notebook that was never tracked has an empty history, not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jupyter_mlops import inputs
from jupyter_mlops.core.redact import Redactor
from jupyter_mlops.journal import Journal, SessionNotFound, latest_values
from jupyter_mlops.server.paths import NotebookRef, RequestError
from jupyter_mlops.session_diff import Row, diff_sessions

MAX_SESSIONS = 50


def sessions(ref: NotebookRef) -> dict[str, Any]:
    """The notebook's tracked sessions, newest first, each summarised (latest params and metrics)."""
    journal = _open(ref)
    if journal is None:
        return {"notebook": ref.key, "sessions": [], "note": "not tracked yet: run %mlops_track in it"}
    try:
        rows = journal.sessions(ref.key)[-MAX_SESSIONS:]
        summaries = [summarise(journal.session_detail(row["id"], runs_limit=1)) for row in reversed(rows)]
    finally:
        journal.close()
    return {"notebook": ref.key, "sessions": summaries, "note": None if summaries else "no sessions yet"}


def session(ref: NotebookRef, session_id: str, *, limit: int | None = None,
            offset: int | None = None) -> dict[str, Any]:
    """One session of this notebook: files, params, metrics, and its cell runs (a page of them if ``limit``)."""
    journal = _require(ref)
    try:
        return _detail(journal, ref, session_id, limit=limit, offset=offset)
    finally:
        journal.close()


def compare(ref: NotebookRef, first: str, second: str) -> dict[str, Any]:
    """Two sessions side by side: params, metrics and data hashes, each row flagged when they differ."""
    journal = _require(ref)
    try:
        a, b = _detail(journal, ref, first, limit=1), _detail(journal, ref, second, limit=1)
    finally:
        journal.close()
    diff = diff_sessions(a, b)  # the CLI's ``diff`` too; the panel shows params, metrics and data
    return {
        "a": _header(a), "b": _header(b),
        "params": _rows(diff.params), "metrics": _rows(diff.metrics),
        "files": _rows(diff.files, lambda value: value["md5"]),
    }


def summarise(detail: dict[str, Any]) -> dict[str, Any]:
    """What the session list shows: state, verdict after the last cell, latest params and metrics.

    Needs only the last cell run: callers read the detail with ``runs_limit=1``.
    """
    runs = detail["cell_runs"]
    last = runs[-1] if runs else None
    return {
        **_header(detail),
        "cells": detail["cells"],
        "errors": detail["errors"],
        "reproducible": last["reproducible"] if last else None,
        "issues": len(last["issues"]) if last else 0,
        "params": latest_values(detail["params"]),
        "metrics": latest_values(detail["metrics"]),
    }


def _header(detail: dict[str, Any]) -> dict[str, Any]:
    options = detail.get("options") or {}
    return {
        "id": detail["id"], "experiment": detail["experiment"], "notebook": detail["notebook"],
        "started_at": detail["started_at"], "ended_at": detail["ended_at"], "state": detail["state"],
        "mode": "strict" if options.get("strict") else "warn",
    }


def _rows(rows: tuple[Row, ...], shown: Callable[[Any], Any] = lambda value: value) -> list[dict[str, Any]]:
    """The panel's comparison rows: each side's value (None where it has none) and whether they differ."""
    def side(value: Any) -> Any:
        return None if value is None else shown(value)
    return [{"name": r.name, "a": side(r.a), "b": side(r.b), "differs": r.differs} for r in rows]


def _open(ref: NotebookRef) -> Journal | None:
    if not ref.journal.is_file():
        return None
    return Journal(ref.journal, create=False)  # damaged or newer: a JournalError, answered 409


def _require(ref: NotebookRef) -> Journal:
    journal = _open(ref)
    if journal is None:
        raise RequestError(404, f"{ref.key} has no journal yet: run %mlops_track in it")
    return journal


def _detail(journal: Journal, ref: NotebookRef, session_id: str, *, limit: int | None = None,
            offset: int | None = None) -> dict[str, Any]:
    session_id = inputs.session_id(session_id)
    try:
        detail = journal.session_detail(session_id, runs_limit=limit, runs_offset=offset)
    except SessionNotFound as exc:
        raise RequestError(404, f"no session {session_id} in this notebook's journal") from exc
    if detail["notebook"] != ref.key:
        raise RequestError(404, f"session {session_id} is not a session of {ref.key}")
    # Masked in the kernel already; masked again for journals written before the kernel did (it is idempotent).
    redact = Redactor((detail.get("options") or {}).get("secrets") or ())
    for run in detail["cell_runs"]:
        run["code"] = redact.code(run["code"])
        run["error"] = run["error"] and redact.text(run["error"])
    return detail
