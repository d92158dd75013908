"""``jupyter mlops export NOTEBOOK``: the notebook as a DVC (or Kubeflow) pipeline of papermill stages
(``export/api.py`` plans and writes it; this prints the plan). Exit 0 done, 1 refused, 2 bad input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from jupyter_mlops.commands.arguments import Subparsers, open_project
from jupyter_mlops.export.layout import TARGETS
from jupyter_mlops.export.stages import MODES


def register(sub: Subparsers) -> None:
    export = sub.add_parser("export", help="the notebook as a DVC (or Kubeflow) pipeline of papermill stages")
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
    export.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jupyter_mlops.export.api import export_report

    project = open_project(args, Path(args.notebook).resolve().parent)
    report = export_report(Path(args.notebook), out=Path(args.out) if args.out else None, stages=args.stages,
                           force=args.force, dry_run=args.dry_run, allow_dirty=args.allow_dirty,
                           remote=args.remote, push_data=args.push, to=args.to, image=args.image,
                           root=project.root)
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
