"""``jupyter mlops report NOTEBOOK``: the Markdown report of the latest session for a pull request
(``pr_report.py`` writes it); exit 1 when an ``--expect`` gate fails, so one CI step writes and judges."""

from __future__ import annotations

import argparse
from pathlib import Path

from jupyter_mlops.commands.arguments import Subparsers, open_project
from jupyter_mlops.export.compare import parse_expectation
from jupyter_mlops.pr_report import write_report

EXIT_GATES_PASS, EXIT_GATE_FAILED = 0, 1


def register(sub: Subparsers) -> None:
    report = sub.add_parser("report", help="a Markdown report of the latest session for a pull request")
    report.add_argument("notebook", help="the tracked .ipynb")
    report.add_argument("--base", default="latest~1",
                        help="what to compare with: a session (id, prefix, latest~N) or a git revision "
                             "(the session tracked at that commit); default: the session before the latest")
    report.add_argument("--expect", action="append", default=[], metavar="'METRIC OP N'",
                        help="a gate on the latest session's metrics, e.g. 'auc>=0.8' (repeatable); "
                             "exit 1 when one fails")
    report.add_argument("--out", default="mlops-report.md", help="the Markdown file (default: mlops-report.md)")
    report.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    gates = [parse_expectation(e) for e in args.expect]
    project = open_project(args, Path(args.notebook).resolve().parent)
    written = write_report(args.notebook, args.base, gates, Path(args.out), root=project.root)
    print(f"wrote {written.out}" + (f" and {len(written.plots)} plot(s)" if written.plots else "") +
          ("" if written.passed else "; a gate failed"))
    return EXIT_GATES_PASS if written.passed else EXIT_GATE_FAILED
