"""``jupyter mlops sync``: send journal sessions to MLflow after the fact.

For a kernel that ran while its store was down (or died before its mirror caught up), and for copying a
project's runs to a team server (``--to``). It continues from the marks the kernel left, so nothing is
sent twice, and it takes each session's lease, so it can run while that kernel is still mirroring.

Which sessions: the ones named, whatever their options; by default every session that was tracked with
the mirror on (``--no-mlflow`` meant "not to MLflow", and a plain ``sync`` respects that) and is not
complete in this store yet. Exit 0 when all were sent, 1 when the store is unreachable, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_mlops.journal import Journal
from jupyter_mlops.project import find_root, journal_path
from jupyter_mlops.sinks import tracking_uri

if TYPE_CHECKING:
    from jupyter_mlops.sinks.bookkeeping import Bookkeeping


def register(subparsers: argparse._SubParsersAction) -> None:
    sync = subparsers.add_parser("sync", help="send tracked sessions to MLflow (after the fact, or to a team server)")
    sync.add_argument("sessions", nargs="*", metavar="SESSION",
                      help="session ids or unique prefixes (default: every incomplete session tracked with MLflow)")
    sync.add_argument("--to", metavar="URI",
                      help="tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///<root>/mlflow.db)")
    sync.add_argument("--root", help="project root (default: the git root of cwd)")
    # Internal: a kernel that exits hands its mirror's last pass to a detached sync, which waits for the
    # kernel to be gone (and so for its lease to be free) before sending.
    sync.add_argument("--after-pid", type=int, help=argparse.SUPPRESS)
    sync.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace) -> int:
    if args.after_pid:
        _wait_for_exit(args.after_pid)
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
                result = pusher.push(sid)
            except StoreUnavailable as exc:
                print(f"jupyter mlops sync: {uri}: {exc}; session {sid} and later ones not sent (retry later)",
                      file=sys.stderr)
                return 1
            if result.busy:
                print(f"{sid}: being sent by another process (its kernel?): skipped")
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


def _wait_for_exit(pid: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        time.sleep(0.1)


def hand_off(session_id: str, root: Path, uri: str) -> None:
    """Finish a session's mirroring in a detached process, so an exiting kernel does not wait for MLflow.

    Its output goes to ``.mlops/mlflow-sync.log``; whatever it cannot send stays in the journal for the next
    ``jupyter mlops sync``.
    """
    log = journal_path(root).parent / "mlflow-sync.log"
    with open(log, "ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "jupyter_mlops.cli", "sync", session_id, "--root", str(root), "--to", uri,
             "--after-pid", str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, close_fds=True,
        )
