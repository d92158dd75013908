"""``jupyter mlops verify NOTEBOOK``: re-run the notebook in a clean kernel and compare with its last tracked
session (``export/api.py`` runs and compares; this prints the table). Exit 0 agrees, 1 differs or a gate
failed, 2 bad input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from jupyter_mlops import inputs
from jupyter_mlops.commands.arguments import Subparsers, argument, open_project


def register(sub: Subparsers) -> None:
    verify = sub.add_parser("verify", help="re-run the notebook in a clean kernel, compare with its last "
                                           "tracked session")
    verify.add_argument("notebook", help="the .ipynb to re-run")
    verify.add_argument("--tolerance", type=argument(lambda v: inputs.number(v, "--tolerance", low=0, high=1)),
                        default=1e-9, metavar="X",
                        help="largest absolute metric difference that still agrees (default 1e-9)")
    verify.add_argument("--expect", action="append", default=[], metavar="'METRIC OP N'",
                        help="a gate on the re-run's metrics, e.g. 'auc>=0.8'; repeatable")
    verify.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jupyter_mlops.export.api import verify_notebook

    def progress(i: int, n: int) -> None:
        print(f"\rcell {i} of {n}", end="" if i < n else "\n", file=sys.stderr, flush=True)

    project = open_project(args, Path(args.notebook).resolve().parent)
    result = verify_notebook(Path(args.notebook), tolerance=args.tolerance, expect=args.expect,
                             progress=progress if sys.stderr.isatty() else _line_progress, root=project.root)
    print(render_rows(result.rows))
    print(result.message)
    return 0 if result.ok else 1


def _line_progress(i: int, n: int) -> None:
    """Without a terminal (CI logs), one line per cell instead of a rewritten one."""
    print(f"cell {i} of {n}", file=sys.stderr, flush=True)


def render_rows(rows: list[dict]) -> str:
    """The side-by-side table: what, tracked, now, and a mark for each row."""
    table = [("what", "tracked", "now", "")] + [
        (r["what"], _cell(r["tracked"]), _cell(r["now"]), "ok" if r["ok"] else "DIFFERS") for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip() for a, b, c, d in table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= 32 else text[:29] + "..."
