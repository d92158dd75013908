"""``jupyter mlops sweep NOTEBOOK -S 'name=v1,v2' -j N``: run a notebook's params grid as DVC's queued
experiments, watch, tabulate (``sweep/run.py`` does each; this prints).

``--show SWEEP`` prints a sweep's table again; ``--apply EXPERIMENT`` brings one experiment's params (and
outputs) into the workspace (``dvc exp apply``). Exit codes: 0 every experiment succeeded, 1 some failed or
the queue got stuck, 2 bad input, 130 interrupted while watching (the workers go on).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from jupyter_mlops import inputs, strict_json
from jupyter_mlops.commands.arguments import Subparsers, argument, open_project
from jupyter_mlops.errors import BadInput
from jupyter_mlops.export.stages import MODES
from jupyter_mlops.sweep import results, watch
from jupyter_mlops.sweep.record import SweepRecord
from jupyter_mlops.sweep.run import apply_experiment, follow, queue_sweep, sweep_table

MAX_JOBS = 64
MAX_EXPERIMENTS = 100_000


def register(sub: Subparsers) -> None:
    sweep = sub.add_parser(
        "sweep", help="run a grid of params as DVC experiments (queued, in parallel); a table of the results",
        description="Queue one DVC experiment per combination of the -S values, run them with -j workers, and "
                    "print params and metrics sorted by the first metric. --show SWEEP prints a sweep again; "
                    "--apply EXPERIMENT brings one experiment's params into params.yaml (dvc exp apply).")
    sweep.add_argument("notebook", nargs="?", help="the .ipynb to sweep (exported to dvc.yaml if it never was)")
    sweep.add_argument("-S", "--set-param", dest="axes", action="append", default=[], metavar="NAME=V1,V2",
                       help="a param of params.yaml and the values to try, comma-separated; repeatable (a grid)")
    sweep.add_argument("--stages", choices=MODES,
                       help="how to cut the notebook into stages, as for export (default: as it was exported, "
                            "else auto)")
    sweep.add_argument("-j", "--jobs", type=_count("-j", 1, MAX_JOBS), default=1, metavar="N",
                       help="experiments run at once (default 1)")
    sweep.add_argument("--random", type=_count("--random", 1, MAX_EXPERIMENTS), metavar="N",
                       help="run N combinations drawn from the grid")
    sweep.add_argument("--seed", type=_count("--seed", 0, 2**32 - 1), default=0,
                       help="seed of --random's draw (default 0)")
    sweep.add_argument("--sort", metavar="METRIC", help="sort by this metric (default: the first the notebook "
                       "tracks with --metrics, else the first DVC reports)")
    order = sweep.add_mutually_exclusive_group()
    order.add_argument("--minimize", dest="minimize", action="store_true", default=None,
                       help="lower is better (the default for names like loss, error, rmse)")
    order.add_argument("--maximize", dest="minimize", action="store_false", help="higher is better")
    sweep.add_argument("--stuck-after", default=watch.DEFAULT_PATIENCE_S, metavar="SECONDS",
                       type=argument(lambda v: inputs.number(v, "--stuck-after", low=1, high=7 * 86400)),
                       help="call the queue stuck when nothing moved this long with no worker busy (default 60)")
    sweep.add_argument("--json", action="store_true", help="the table as JSON (progress goes to stderr)")
    sweep.add_argument("--show", metavar="SWEEP", help="print the table of an earlier sweep")
    sweep.add_argument("--apply", metavar="EXPERIMENT",
                       help="bring this experiment's params and outputs into the workspace (dvc exp apply)")
    sweep.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.apply:
        return _apply(args)
    if args.show:
        return _show(args)
    if not args.notebook:
        raise BadInput("which notebook?", hint="jupyter mlops sweep NOTEBOOK -S 'name=v1,v2' (or --show/--apply)")
    return _run_sweep(args)


def _count(option: str, low: int, high: int) -> Callable[[str], int]:
    return argument(lambda value: inputs.whole_number(value, option, low=low, high=high))


def _run_sweep(args: argparse.Namespace) -> int:
    out = sys.stderr if args.json else sys.stdout
    root = open_project(args, Path(args.notebook).resolve().parent).root
    record = queue_sweep(root, args.notebook, args.axes, stages=args.stages, jobs=args.jobs, sample=args.random,
                         seed=args.seed, out=out)
    try:
        stuck = follow(root, record, out, patience=args.stuck_after)
    except KeyboardInterrupt:
        print(f"\n{record.sweep}: stopped watching; DVC's workers go on with the queue. `jupyter mlops sweep --show "
              f"{record.sweep}` tabulates it later; `dvc queue kill {' '.join(record.experiments)}` stops them",
              file=sys.stderr)
        return 130
    table = _table(root, record, args)
    _print_table(table, args, out)
    if stuck is not None:
        print(f"{record.sweep}: {stuck.message()}; to clear it:", file=sys.stderr)
        for line in stuck.remedies(args.jobs):
            print(f"  {line}", file=sys.stderr)
        return 1
    return 1 if table.failed else 0


def _table(root: Path, record: SweepRecord, args: argparse.Namespace) -> results.SweepTable:
    return sweep_table(root, record, metric=args.sort, minimize=args.minimize)


def _print_table(table: results.SweepTable, args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        print(strict_json.dumps(table.to_dict(), indent=2))
    else:
        print(results.render(table))
    for row in table.failed:
        print(f"{row.experiment} failed: `dvc queue logs {row.experiment}` shows its log"
              f"{f' (session {row.session}: jupyter mlops show {row.session})' if row.session else ''}", file=out)
    if table.best is not None and not args.json:
        print(f"best: {table.best.experiment}; `jupyter mlops sweep --apply {table.best.experiment}` puts its "
              "params into params.yaml", file=out)
    print(f"`jupyter mlops runs --sweep {table.sweep}` lists its sessions", file=out)


def _show(args: argparse.Namespace) -> int:
    root = open_project(args, Path(args.notebook).resolve().parent if args.notebook else None).root
    record = SweepRecord.load(root, args.show)
    table = _table(root, record, args)
    _print_table(table, args, sys.stderr if args.json else sys.stdout)
    return 1 if table.failed else 0


def _apply(args: argparse.Namespace) -> int:
    root = open_project(args, Path(args.notebook).resolve().parent if args.notebook else None).root
    changed = apply_experiment(root, args.apply)
    what = ", ".join(f"{k}={v}" for k, v in changed.items()) or "no param changed"
    print(f"applied {args.apply}: {what} (params.yaml; its outputs too)")
    print("next: git diff, then commit, or `dvc repro` to re-run it in the workspace")
    return 0
