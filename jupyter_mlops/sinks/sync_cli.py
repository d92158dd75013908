"""``jupyter mlops sync``: send journal sessions to MLflow after the fact.

For a kernel that ran while its store was down (or died before its mirror caught up), and for copying a
project's runs to a team server (``--to``). It continues from the marks the kernel left, so nothing is
sent twice, and it takes each session's lease, so it can run while the project's follower is mirroring
(a session the follower is sending is waited for, then continued).

Which sessions: the ones named, whatever their options; by default every session that was tracked with
the mirror on (``--no-mlflow`` meant "not to MLflow", and a plain ``sync`` respects that) and is not
complete in this store yet. Exit 0 when all were sent, 1 when the store is unreachable, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_mlops.journal import Journal
from jupyter_mlops.project import find_root, journal_path
from jupyter_mlops.sinks import tracking_uri

if TYPE_CHECKING:
    from jupyter_mlops.sinks.bookkeeping import Bookkeeping
    from jupyter_mlops.sinks.mlflow_push import Pusher, PushResult

BUSY_WAIT_S = 60.0


def register(subparsers: argparse._SubParsersAction) -> None:
    sync = subparsers.add_parser("sync", help="send tracked sessions to MLflow (after the fact, or to a team server)")
    sync.add_argument("sessions", nargs="*", metavar="SESSION",
                      help="session ids or unique prefixes (default: every incomplete session tracked with MLflow)")
    sync.add_argument("--to", metavar="URI",
                      help="tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///<root>/mlflow.db)")
    sync.add_argument("--root", help="project root (default: the git root of cwd)")
    sync.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve() if args.root else find_root(Path.cwd())
    journal = Journal(journal_path(root), create=False)  # a clear JournalError (exit 2) when there is none
    try:
        wanted = [journal.find_session(ref) for ref in args.sessions]
    finally:
        journal.close()
    uri = tracking_uri.resolve(root, args.to)
    reason = tracking_uri.unreachable(uri)
    if reason:
        print(f"jupyter mlops sync: {reason}; nothing sent (the journal keeps everything: retry when it is up)",
              file=sys.stderr)
        return 1
    return _sync(root, uri, wanted)


def _sync(root: Path, uri: str, wanted: list[str]) -> int:
    from jupyter_mlops.sinks.bookkeeping import Bookkeeping

    book = Bookkeeping(journal_path(root))
    try:
        sessions = wanted or _default_sessions(book, uri)
        if not sessions:
            print(f"nothing to sync: every session tracked with MLflow is complete in {uri}")
            return 0
        from jupyter_mlops.sinks.mlflow_push import Pusher, StoreUnavailable, limit_http_retries  # ~2 s: MLflow

        limit_http_retries()
        pusher = Pusher(book, uri)
        for sid in sessions:
            try:
                result = push_when_free(pusher, sid)
            except StoreUnavailable as exc:
                print(f"jupyter mlops sync: {uri}: {exc}; session {sid} and later ones not sent (retry later)",
                      file=sys.stderr)
                return 1
            if result.busy:
                print(f"{sid}: still being sent by another process after {BUSY_WAIT_S:.0f} s: skipped")
            else:
                state = "complete" if result.complete else "up to date, still running"
                print(f"{sid} → {uri} experiment {result.experiment!r} run {result.run_id}: "
                      f"{result.sent} records sent, {state}")
    finally:
        book.close()
    return 0


def _default_sessions(book: Bookkeeping, uri: str) -> list[str]:
    """Sessions tracked with the mirror on that this store does not hold completely yet."""
    out = []
    for row in book.sessions():
        if not json.loads(row["options"]).get("mlflow", True):
            continue
        sync = book.sync_row(row["id"], uri)
        if sync is None or not sync.finished:
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
