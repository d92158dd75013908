"""``jupyter mlops export`` and ``jupyter mlops verify``: argument parsing and printing only.

Exit codes as for every command: 0 done / agrees, 1 refused / differs / a gate failed, 2 bad input; a
refusal or bad input is an ``errors.MlopsError`` that ``cli.main`` prints with its hint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from jupyter_mlops import inputs
from jupyter_mlops.export.layout import TARGETS
from jupyter_mlops.export.stages import MODES


def register(subparsers: Any) -> None:
    export = subparsers.add_parser("export", help="the notebook as a DVC (or Kubeflow) pipeline of papermill "
                                   "stages")
    export.add_argument("notebook", help="the .ipynb to export")
    export.add_argument("--to", choices=TARGETS, default="dvc",
                        help="dvc: dvc.yaml (default); kfp: a Kubeflow Pipelines v2 pipeline.py and its compiled "
                        "pipeline.yaml (needs the kfp SDK)")
    export.add_argument("--image", metavar="IMAGE",
                        help="with --to kfp: the container image of the steps (the project, jupyter-mlops, "
                        "papermill, kfp)")
    export.add_argument("--out", metavar="DIR", help="folder for dvc.yaml (or pipeline.py) and params.yaml "
                        "(default: project root)")
    export.add_argument("--stages", choices=MODES, default="auto",
                        help="auto: stage:NAME tags, else markdown sections; tags: only tags; single: one stage")
    export.add_argument("--force", action="store_true",
                        help="replace hand-edited stages and params.yaml values that differ from the notebook")
    export.add_argument("--dry-run", action="store_true", help="show what would be written, write nothing")
    export.add_argument("--remote", metavar="DIR_OR_URL",
                        help="make this the project's default DVC remote if it has none (a folder, s3://, gs://…)")
    export.add_argument("--push", action="store_true", help="dvc push the data and cached outputs afterwards")
    export.add_argument("--allow-dirty", action="store_true",
                        help="export even when the journal says the notebook's state is not reproducible")
    export.set_defaults(func=cmd_export)

    verify = subparsers.add_parser("verify", help="re-run the notebook in a clean kernel, compare with its last "
                                   "tracked session")
    verify.add_argument("notebook", help="the .ipynb to re-run")
    verify.add_argument("--tolerance", type=inputs.argument(lambda v: inputs.number(v, "--tolerance", low=0, high=1)),
                        default=1e-9, metavar="X",
                        help="largest absolute metric difference that still agrees (default 1e-9)")
    verify.add_argument("--expect", action="append", default=[], metavar="'METRIC OP N'",
                        help="a gate on the re-run's metrics, e.g. 'auc>=0.8'; repeatable")
    verify.set_defaults(func=cmd_verify)


def cmd_export(args: argparse.Namespace) -> int:
    from jupyter_mlops.export.api import export_report

    report = export_report(Path(args.notebook), out=Path(args.out) if args.out else None, stages=args.stages,
                           force=args.force, dry_run=args.dry_run, allow_dirty=args.allow_dirty,
                           remote=args.remote, push_data=args.push, to=args.to, image=args.image)
    result = report.result
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    for stage in report.plan.stages:
        print(_describe(stage))
    verb = "would write" if args.dry_run else "wrote"
    print(f"{verb}: {', '.join(result.written)}" if result.written else "nothing to write: already up to date")
    if args.dry_run:
        return 0
    # paths are the project root's: the .dvc files of raw data included
    add = f"git add {' '.join(result.written)} && " if result.written else ""
    if args.to == "kfp":
        print(f"next: {add}build the steps' image from the commit, then submit pipeline.yaml "
              "(README: Kubeflow)")
    else:
        print(f"next: {add}dvc repro")
    return 0


def _describe(stage: Any) -> str:
    parts = [f"stage {stage.name}"]
    if stage.deps:
        parts.append("reads " + ", ".join(stage.deps))
    if stage.outs or stage.saves:
        parts.append("writes " + ", ".join([*stage.outs, *(f"{n} (hand-off)" for n in stage.saves)]))
    if stage.params:
        parts.append("params " + ", ".join(stage.params))
    if stage.logs_metrics:
        parts.append("metrics")
    return "  ".join(parts)


def cmd_verify(args: argparse.Namespace) -> int:
    from jupyter_mlops.export.api import verify_notebook

    def progress(i: int, n: int) -> None:
        print(f"\rcell {i} of {n}", end="" if i < n else "\n", file=sys.stderr, flush=True)

    result = verify_notebook(Path(args.notebook), tolerance=args.tolerance, expect=args.expect,
                             progress=progress if sys.stderr.isatty() else _line_progress)
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
