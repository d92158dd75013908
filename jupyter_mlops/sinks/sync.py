"""Sending journal sessions to MLflow after the fact: ``jupyter mlops sync`` and ``register`` come here.

For a kernel that ran while its store was down (or died before its mirror caught up), and for copying a
project's runs to a team server. It continues from the marks the kernel left, so nothing is sent twice, and
it takes each session's lease, so it can run while the project's follower is mirroring (a session the
follower is sending is waited for, then continued).

Which sessions: the ones named, whatever their options; by default every session that was tracked with the
mirror on (``--no-mlflow`` meant "not to MLflow", and a plain ``sync`` respects that) and is not complete
in this store yet.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_mlops.project import journal_path

if TYPE_CHECKING:
    from jupyter_mlops.sinks.bookkeeping import Bookkeeping
    from jupyter_mlops.sinks.mlflow_push import Pusher, PushResult

BUSY_WAIT_S = 60.0


@dataclass(frozen=True)
class Sent:
    """One session's pass: its result, or why the store refused it (then no later session is tried)."""

    session: str
    result: PushResult | None
    unavailable: str | None = None


def sync(root: Path, uri: str, wanted: list[str]) -> Iterator[Sent]:
    """Send ``wanted`` (by default every incomplete session tracked with MLflow) to ``uri``, one pass each,
    in order; stops after the first session the store refused. Nothing yielded: nothing to send."""
    from jupyter_mlops.sinks.bookkeeping import Bookkeeping

    book = Bookkeeping(journal_path(root))
    try:
        sessions = wanted or default_sessions(book, uri)
        if not sessions:
            return
        from jupyter_mlops.sinks.mlflow_push import Pusher, StoreUnavailable, limit_http_retries  # ~2 s: MLflow

        limit_http_retries()
        pusher = Pusher(book, uri)
        for sid in sessions:
            try:
                yield Sent(sid, push_when_free(pusher, sid))
            except StoreUnavailable as exc:
                yield Sent(sid, None, str(exc))
                return
    finally:
        book.close()


def default_sessions(book: Bookkeeping, uri: str) -> list[str]:
    """Sessions tracked with the mirror on that this store does not hold completely yet."""
    out = []
    for row in book.sessions():
        if not json.loads(row["options"]).get("mlflow", True):
            continue
        sync_row = book.sync_row(row["id"], uri)
        if sync_row is None or not sync_row.finished:
            out.append(row["id"])
    return out


def push_when_free(pusher: Pusher, session_id: str) -> PushResult:
    """Push, waiting while another pusher (the follower, another sync) holds the session's lease: its
    pass ends within seconds, and this one then sends whatever it left, so a sync run just after a kernel
    ended still leaves the session complete."""
    deadline = time.monotonic() + BUSY_WAIT_S
    result = pusher.push(session_id)
    while result.busy and time.monotonic() < deadline:
        time.sleep(0.2)
        result = pusher.push(session_id)
    return result
