"""``jupyter mlops sync [SESSION…]``: send tracked sessions to MLflow after the fact, or to a team server
(``sinks/sync.py``). Exit 0 when all were sent, 1 when the store is unreachable, 2 for bad input."""

from __future__ import annotations

import argparse
import sys

from jupyter_mlops.commands.arguments import Subparsers, add_root, open_project
from jupyter_mlops.sinks import tracking_uri
from jupyter_mlops.sinks.sync import BUSY_WAIT_S, sync


def register(sub: Subparsers) -> None:
    p = sub.add_parser("sync", help="send tracked sessions to MLflow (after the fact, or to a team server)")
    p.add_argument("sessions", nargs="*", metavar="SESSION",
                   help="session ids or unique prefixes (default: every incomplete session tracked with MLflow)")
    p.add_argument("--to", metavar="URI",
                   help="tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///<root>/mlflow.db)")
    add_root(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    project = open_project(args)
    journal = project.journal()  # a clear JournalError (exit 2) when there is none
    try:
        wanted = [journal.find_session(ref) for ref in args.sessions]
    finally:
        journal.close()
    uri = tracking_uri.resolve(project.root, args.to)
    reason = tracking_uri.unreachable(uri)
    if reason:
        print(f"jupyter mlops sync: {reason}; nothing sent (the journal keeps everything: retry when it is up)",
              file=sys.stderr)
        return 1
    sent_any = False
    for sent in sync(project.root, uri, wanted):
        sent_any = True
        if sent.result is None:
            print(f"jupyter mlops sync: {uri}: {sent.unavailable}; session {sent.session} and later ones not sent "
                  "(retry later)", file=sys.stderr)
            return 1
        if sent.result.busy:
            print(f"{sent.session}: still being sent by another process after {BUSY_WAIT_S:.0f} s: skipped")
        else:
            state = "complete" if sent.result.complete else "up to date, still running"
            print(f"{sent.session} → {uri} experiment {sent.result.experiment!r} run {sent.result.run_id}: "
                  f"{sent.result.sent} records sent, {state}")
    if not sent_any:
        print(f"nothing to sync: every session tracked with MLflow is complete in {uri}")
    return 0
