"""``jupyter mlops sweep``: run a notebook's params grid as DVC's queued experiments, watch, tabulate.

``sweep NOTEBOOK -S 'max_depth=4,6,8' -S 'n_estimators=50,100' -j 2`` exports the notebook if it never was
(and stages the files for git: DVC's copy of the repository holds only what git tracks), refuses when its
export is stale, queues one experiment per combination (``--random N``: a seeded sample), starts DVC's
workers, follows the queue and prints the table. ``--show SWEEP`` prints a sweep's table again; ``--apply
EXPERIMENT`` brings one experiment's params (and outputs) into the workspace (``dvc exp apply``).

Exit codes: 0 every experiment succeeded, 1 some failed or the queue got stuck, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from jupyter_mlops import inputs, project_files, strict_json
from jupyter_mlops.errors import BadInput, Conflict, MlopsError, NotFound, Refused
from jupyter_mlops.export.stages import MODES
from jupyter_mlops.journal import Journal
from jupyter_mlops.project import JOURNAL_DIR, find_root, journal_path
from jupyter_mlops.sweep import grid, identity, queue, results, watch

MAX_JOBS = 64
MAX_EXPERIMENTS = 100_000
POLL_S = 3.0
"""Seconds between two looks at the queue: each ``dvc exp show`` costs about a second of CPU."""
SWEEPS_DIR = "sweeps"


def register(subparsers: Any) -> None:
    sweep = subparsers.add_parser(
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
                       type=inputs.argument(lambda v: inputs.number(v, "--stuck-after", low=1, high=7 * 86400)),
                       help="call the queue stuck when nothing moved this long with no worker busy (default 60)")
    sweep.add_argument("--json", action="store_true", help="the table as JSON (progress goes to stderr)")
    sweep.add_argument("--show", metavar="SWEEP", help="print the table of an earlier sweep")
    sweep.add_argument("--apply", metavar="EXPERIMENT",
                       help="bring this experiment's params and outputs into the workspace (dvc exp apply)")
    sweep.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.apply:
        return _apply(args)
    if args.show:
        return _show(args)
    if not args.notebook:
        raise BadInput("which notebook?", hint="jupyter mlops sweep NOTEBOOK -S 'name=v1,v2' (or --show/--apply)")
    return run_sweep(args)


def _count(option: str, low: int, high: int) -> Callable[[str], int]:
    return inputs.argument(lambda value: inputs.whole_number(value, option, low=low, high=high))


@dataclass(frozen=True)
class SweepRecord:
    """What was asked, kept in ``.mlops/sweeps/<id>.json``: DVC holds the results, this the question."""

    sweep: str
    notebook: str
    baseline: str
    params: list[str]
    experiments: dict[str, dict[str, str]]   # experiment name → {param: value as typed}
    jobs: int
    created_at: float

    @staticmethod
    def path(root: Path, sweep: str) -> Path:
        return root / JOURNAL_DIR / SWEEPS_DIR / f"{sweep}.json"

    def save(self, root: Path) -> None:
        project_files.write_text(root, self.path(root, self.sweep), json.dumps(self.__dict__, indent=2) + "\n")

    @classmethod
    def all(cls, root: Path) -> list[SweepRecord]:
        """Every sweep of the project, newest first (the panel's list; a file not named by a sweep id is
        someone else's and skipped)."""
        folder = root / JOURNAL_DIR / SWEEPS_DIR
        found = [cls.load(root, f.stem) for f in sorted(folder.glob("*.json")) if identity.is_sweep_id(f.stem)]
        return sorted(found, key=lambda r: r.created_at, reverse=True)

    @classmethod
    def load(cls, root: Path, sweep: str) -> SweepRecord:
        if not identity.is_sweep_id(sweep):
            raise BadInput(f"{sweep!r} is not a sweep id",
                           hint="sweep ids look like sweep-3fa91c (see `ls .mlops/sweeps`)")
        path = cls.path(root, sweep)
        text = project_files.read_text(root, path)  # a link out of the project, a FIFO: refused
        if text is None:
            raise NotFound(f"no sweep {sweep} in {root}", hint=f"`ls {root / JOURNAL_DIR / SWEEPS_DIR}` lists them")
        try:
            return cls._checked(sweep, json.loads(text))
        except (ValueError, TypeError) as exc:  # not JSON, or not a record's fields
            raise Conflict(f"{path} is not a sweep record: {exc}",
                           hint="restore it, or delete it to forget that sweep (DVC keeps its experiments)") from exc

    @classmethod
    def _checked(cls, sweep: str, data: Any) -> SweepRecord:
        """The record in ``data``, every field of the type it must have (TypeError saying which is not)."""
        if not isinstance(data, dict) or set(data) != set(cls.__dataclass_fields__):
            raise TypeError(f"expected the fields {', '.join(cls.__dataclass_fields__)}")
        experiments = data["experiments"]
        fine = {
            "sweep": data["sweep"] == sweep,
            "notebook": isinstance(data["notebook"], str),
            "baseline": isinstance(data["baseline"], str),
            "params": isinstance(data["params"], list) and all(isinstance(p, str) for p in data["params"]),
            "experiments": isinstance(experiments, dict) and all(
                isinstance(name, str) and identity.sweep_of(name) == sweep and isinstance(values, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())
                for name, values in experiments.items()),
            "jobs": type(data["jobs"]) is int and data["jobs"] >= 1,
            "created_at": type(data["created_at"]) in (int, float) and math.isfinite(data["created_at"]),
        }
        wrong = [name for name, ok in fine.items() if not ok]
        if wrong:
            raise TypeError(f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} not what a sweep writes")
        return cls(**data)


def run_sweep(args: argparse.Namespace) -> int:
    path = Path(args.notebook).resolve()
    root = find_root(path.parent)
    if not (root / ".dvc").is_dir():
        raise BadInput(f"{root} is not a DVC project: sweeps run as DVC experiments",
                       hint="`dvc init`, commit, then sweep again")
    baseline = queue.baseline(root)
    key = _ensure_exported(path, root, args.stages)
    axes = grid.parse_axes(args.axes, _read(root))
    combos = grid.combinations(axes, sample=args.random, seed=args.seed)
    sweep_id = identity.new_sweep_id()
    names = [identity.experiment_name(sweep_id, i, len(combos)) for i in range(1, len(combos) + 1)]
    record = SweepRecord(sweep_id, key, baseline, [a.name for a in axes],
                         {n: dict(c) for n, c in zip(names, combos, strict=True)}, args.jobs, time.time())
    record.save(root)
    out = sys.stderr if args.json else sys.stdout
    print(f"{sweep_id}: {len(combos)} experiments of {key}"
          f"{f' ({args.random} drawn from the grid, seed {args.seed})' if args.random else ''}, {args.jobs} at a time",
          file=out, flush=True)
    for i, (name, combo) in enumerate(zip(names, combos, strict=True)):
        try:
            queue.queue(root, name, combo)
        except MlopsError as exc:
            if i:  # the ones queued before stay in DVC's queue: say how to drop them
                exc.hint = f"{exc.hint}; `dvc queue remove {' '.join(names[:i])}` drops the ones already queued"
            raise
        print(f"queued {name}  {_assignments(combo)}", file=out, flush=True)
    queue.start(root, args.jobs)
    try:
        stuck = follow(root, record, out, patience=args.stuck_after)
    except KeyboardInterrupt:
        print(f"\n{sweep_id}: stopped watching; DVC's workers go on with the queue. `jupyter mlops sweep --show "
              f"{sweep_id}` tabulates it later; `dvc queue kill {' '.join(names)}` stops them", file=sys.stderr)
        return 130
    table = _table(root, record, args)
    _print_table(table, args, out)
    if stuck is not None:
        print(f"{sweep_id}: {stuck.message()}; to clear it:", file=sys.stderr)
        for line in stuck.remedies(args.jobs):
            print(f"  {line}", file=sys.stderr)
        return 1
    return 1 if table.failed else 0


def _ensure_exported(path: Path, root: Path, stages: str | None) -> str:
    """The notebook's pipeline as git must hold it: exported now if it never was (and staged), refused when
    the export is stale or not in git, since a queued experiment runs what git tracks. An exported notebook
    is up to date when an export in the mode given (by default: any mode) would write nothing."""
    from jupyter_mlops.export.api import export_report

    key = path.relative_to(root).as_posix()
    exported = _exported(root, key)
    plans = []
    for mode in [stages] if stages else (MODES if exported else ("auto",)):
        try:
            plans.append(export_report(path, stages=mode, dry_run=True))
        except BadInput:
            if stages or mode == "auto":  # `tags` without stage tags: not the mode this notebook was exported in
                raise
            continue
        if not plans[-1].result.written:
            break
    planned = min(plans, key=lambda p: len(p.result.written))
    layout = planned.plan.layout
    if planned.result.written:
        if exported:
            raise Refused(f"{key} changed since it was exported: the export would rewrite "
                          f"{', '.join(planned.result.written)}",
                          hint=f"`jupyter mlops export {key}`, commit, then sweep again (the experiments run the "
                               "committed pipeline)")
        report = export_report(path, stages=stages or "auto")
        for note in report.notes:
            print(f"note: {note}", file=sys.stderr)
        _git(root, "add", "--", *report.result.written)
        print(f"exported {key}: {', '.join(report.result.written)} (staged for git: commit them with the sweep's "
              "winner)", file=sys.stderr)
    needed = [layout.dvc_yaml, layout.params_yaml, *(layout.stage_notebook(s.name) for s in planned.plan.stages)]
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--", *needed).split()
    if untracked:
        raise Refused(f"git does not track {', '.join(untracked)}: DVC's experiments would run without them",
                      hint=f"git add {' '.join(untracked)} (and commit), then sweep again")
    return key


def _exported(root: Path, key: str) -> bool:
    try:
        doc = yaml.safe_load(project_files.read_text(root, "dvc.yaml") or "") or {}
    except yaml.YAMLError as exc:
        raise BadInput(f"dvc.yaml is not valid YAML ({str(exc).splitlines()[0]})",
                       hint="fix it, then sweep again") from exc
    stages = (doc.get("stages") if isinstance(doc, dict) else None) or {}
    return isinstance(stages, dict) and any(
        isinstance(s, dict) and (s.get("meta") or {}).get("notebook") == key for s in stages.values())


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BadInput(f"git {args[0]} failed: {done.stderr.strip()}", hint="fix the git repository, then sweep again")
    return done.stdout


def follow(root: Path, record: SweepRecord, out: TextIO, *, patience: float) -> watch.Stuck | None:
    """Poll DVC until every experiment finished (None) or the queue is stuck (its verdict)."""
    follower = watch.QueueWatch(list(record.experiments), patience_s=patience)
    display = watch.Display(out, {n: _assignments(c.items()) for n, c in record.experiments.items()})
    failing_since: float | None = None
    while True:
        try:
            states = {n: e.state for n, e in queue.experiments(root, record.baseline).items()}
        except Conflict:
            # `dvc exp show` fails now and then while a worker creates or removes an experiment's temporary
            # copy ("… .dvc/tmp/exps/tmp…/.dvc does not exist"): asked again, it answers; failing for longer
            # than the queue's patience, it is DVC's answer.
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > patience:
                raise
            time.sleep(POLL_S)
            continue
        failing_since = None
        now = time.monotonic()
        display.show(follower.observe(now, states), follower.counts)
        stuck = follower.stuck(now, queue.workers(root)) if follower.needs_worker_check(now) else None
        if follower.finished or stuck is not None:
            display.close()
            return stuck
        time.sleep(POLL_S)


def sweep_table(root: Path, record: SweepRecord, *, metric: str | None = None, minimize: bool | None = None,
                experiments: dict[str, queue.Experiment] | None = None) -> results.SweepTable:
    """The sweep's table as ``--show`` prints it (and the lab's panel shows it). ``experiments``: DVC's
    answer for the record's baseline when the caller already has it (one ``dvc exp show`` per baseline)."""
    sessions, declared = _sessions(root, record.sweep)
    if experiments is None:
        experiments = queue.experiments(root, record.baseline)
    metric = metric or next((m for m in declared if any(m in e.metrics for e in experiments.values())), None)
    return results.build_table(record.sweep, list(record.experiments), experiments, record.params, sessions,
                               metric=metric, minimize=minimize)


def _table(root: Path, record: SweepRecord, args: argparse.Namespace) -> results.SweepTable:
    return sweep_table(root, record, metric=args.sort, minimize=args.minimize)


def _sessions(root: Path, sweep: str) -> tuple[dict[str, str], list[str]]:
    """The sweep's tracked sessions by experiment name, and the metrics their tracking line declares."""
    if not journal_path(root).exists():
        return {}, []
    journal = Journal(journal_path(root), create=False)
    try:
        mine = [s for s in journal.sessions() if s["options"].get("sweep") == sweep]
    finally:
        journal.close()
    declared = [m for s in mine for m in s["options"].get("metrics") or []]
    return {s["options"]["dvc_experiment"]: s["id"] for s in mine}, list(dict.fromkeys(declared))


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
    root = find_root(Path(args.notebook).resolve().parent if args.notebook else Path.cwd())
    record = SweepRecord.load(root, args.show)
    table = _table(root, record, args)
    _print_table(table, args, sys.stderr if args.json else sys.stdout)
    return 1 if table.failed else 0


def apply_experiment(root: Path, experiment: str) -> dict[str, Any]:
    """``dvc exp apply``: the experiment's params and outputs into the workspace (under the project's write
    lock); the params of ``params.yaml`` that changed (name → new value), for the CLI's line and the panel's."""
    with project_files.writing(root, f"applying {experiment}"):
        before = _read(root)
        queue.apply(root, experiment)
        return {k: v for k, v in _read(root).items() if before.get(k) != v}


def _apply(args: argparse.Namespace) -> int:
    root = find_root(Path(args.notebook).resolve().parent if args.notebook else Path.cwd())
    changed = apply_experiment(root, args.apply)
    what = ", ".join(f"{k}={v}" for k, v in changed.items()) or "no param changed"
    print(f"applied {args.apply}: {what} (params.yaml; its outputs too)")
    print("next: git diff, then commit, or `dvc repro` to re-run it in the workspace")
    return 0


def _read(root: Path) -> dict:
    """The project's ``params.yaml`` as a mapping ({} when there is none); BadInput when it is damaged."""
    text = project_files.read_text(root, "params.yaml")
    try:
        values = yaml.safe_load(text or "") or {}
    except yaml.YAMLError as exc:
        raise BadInput(f"params.yaml is not valid YAML ({str(exc).splitlines()[0]})",
                       hint="fix it (or `git checkout params.yaml`), then try again") from exc
    if not isinstance(values, dict):
        raise BadInput("params.yaml is not a mapping of names to values", hint="fix it, then try again")
    return values


def _assignments(combo: Any) -> str:
    return " ".join(f"{k}={v}" for k, v in combo)
