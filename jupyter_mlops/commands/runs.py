"""``jupyter mlops runs [NOTEBOOK]``: the tracked sessions, with their cells, data, params and metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

from jupyter_mlops import strict_json
from jupyter_mlops.commands.arguments import Subparsers, add_json, add_root, open_project
from jupyter_mlops.report import RUNS_SHOWN, render_sessions


def register(sub: Subparsers) -> None:
    runs = sub.add_parser("runs", help="list tracked sessions with their cells, data, params and metrics")
    runs.add_argument("notebook", nargs="?", help="only the sessions of this notebook")
    add_json(runs)
    runs.add_argument("--sweep", metavar="SWEEP", help="only the sessions of this sweep's experiments")
    add_root(runs, "the notebook or cwd")
    runs.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    project = open_project(args, Path(args.notebook).resolve().parent if args.notebook else None)
    journal = project.journal()
    key = project.notebook_key(args.notebook)
    limit = None if args.json else RUNS_SHOWN  # a 10,000-cell session costs what its last cells cost
    chosen = [s for s in journal.sessions(key) if args.sweep is None or s["options"].get("sweep") == args.sweep]
    details = [journal.session_detail(s["id"], runs_limit=limit) for s in chosen]
    if args.json:
        print(strict_json.dumps(details, indent=2))
    elif not details:
        print(f"no tracked sessions{' of ' + key if key else ''}{' of ' + args.sweep if args.sweep else ''} "
              f"in {journal.path}")
    else:
        print(render_sessions(details))
    return 0
