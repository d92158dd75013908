"""``jupyter mlops drift``: has the data moved? Two sessions' inputs, a file against a registered model's
training data, or a served model's live traffic (``monitor/drift_report.py`` compares). Exit 0 without
drift, 1 when an input drifts (so a scheduled job can watch a new batch), 2 for bad input."""

from __future__ import annotations

import argparse
from pathlib import Path

from jupyter_mlops import strict_json
from jupyter_mlops.commands.arguments import Subparsers, add_json, add_notebook, add_root, open_project
from jupyter_mlops.errors import BadInput
from jupyter_mlops.monitor import drift
from jupyter_mlops.monitor.drift_report import live_drift, model_drift, render, session_drift


def register(sub: Subparsers) -> None:
    p = sub.add_parser("drift", help="data drift per column (PSI) between two sessions' inputs, or a file "
                                     "against a registered model's training data; exit 1 on drift")
    p.add_argument("refs", nargs="*", metavar="A B",
                   help="sessions (id, prefix, latest~N, git revision; default latest~1 latest); with --model: FILE")
    p.add_argument("--model", metavar="NAME@ALIAS", help="compare FILE with this registered model's training data "
                                                         "(NAME@alias or NAME/version)")
    p.add_argument("--live", metavar="URL_OR_DIR", help="with --model: the live traffic of `jupyter mlops serve` "
                                                        "(its URL, or the project or .mlops/serving folder) instead "
                                                        "of a FILE")
    add_notebook(p)
    p.add_argument("--wait", type=float, default=60.0, metavar="S",
                   help="seconds to wait for profiles still being made (default 60)")
    add_json(p)
    add_root(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    project = open_project(args)
    journal = project.journal()
    try:
        if args.live:
            if not args.model or args.refs:
                raise BadInput("drift --live compares a served model's traffic: give --model NAME@ALIAS and no "
                               "FILE", hint="jupyter mlops drift --model churn@candidate --live http://127.0.0.1:5001")
            report = live_drift(journal, project.root, args.model, args.live, args.wait)
        elif args.model:
            if len(args.refs) != 1:
                raise BadInput("drift --model NAME@ALIAS takes one FILE", hint="jupyter mlops drift --model churn@prod "
                               "data/new_batch.csv")
            report = model_drift(journal, project.root, args.model, Path(args.refs[0]), args.wait)
        else:
            if len(args.refs) > 2:
                raise BadInput("drift takes at most two sessions", hint="jupyter mlops drift latest~1 latest")
            report = session_drift(journal, project.root, list(args.refs), project.notebook_key(args.notebook),
                                   args.wait)
    finally:
        journal.close()
    print(strict_json.dumps(report, indent=2) if args.json else render(report))
    return 1 if report["verdict"] == drift.DRIFT else 0
