"""A sweep's operations, free of any command line: queue it (exporting the notebook first if it never was,
refusing a stale export), follow DVC's queue, tabulate, apply one experiment. ``jupyter mlops sweep`` and the
lab's Sweeps section (``server/sweeps.py``) both call these.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import yaml

from jupyter_mlops import project_files
from jupyter_mlops.errors import BadInput, Conflict, MlopsError, Refused
from jupyter_mlops.export.stages import MODES
from jupyter_mlops.journal import Journal
from jupyter_mlops.project import journal_path
from jupyter_mlops.sweep import grid, identity, queue, results, watch
from jupyter_mlops.sweep.record import SweepRecord

POLL_S = 3.0
"""Seconds between two looks at the queue: each ``dvc exp show`` costs about a second of CPU."""


def queue_sweep(root: Path, notebook: str, axes_given: list[str], *, stages: str | None, jobs: int,
                sample: int | None, seed: int, out: TextIO) -> SweepRecord:
    """Export the notebook if it never was, queue one experiment per combination of the axes (``-S``; ``sample``:
    that many drawn with ``seed``) and start ``jobs`` workers; progress lines go to ``out``."""
    path = Path(notebook).resolve()
    if not (root / ".dvc").is_dir():
        raise BadInput(f"{root} is not a DVC project: sweeps run as DVC experiments",
                       hint="`dvc init`, commit, then sweep again")
    baseline = queue.baseline(root)
    key = _ensure_exported(path, root, stages)
    axes = grid.parse_axes(axes_given, read_params(root))
    combos = grid.combinations(axes, sample=sample, seed=seed)
    sweep_id = identity.new_sweep_id()
    names = [identity.experiment_name(sweep_id, i, len(combos)) for i in range(1, len(combos) + 1)]
    record = SweepRecord(sweep_id, key, baseline, [a.name for a in axes],
                         {n: dict(c) for n, c in zip(names, combos, strict=True)}, jobs, time.time())
    record.save(root)
    print(f"{sweep_id}: {len(combos)} experiments of {key}"
          f"{f' ({sample} drawn from the grid, seed {seed})' if sample else ''}, {jobs} at a time",
          file=out, flush=True)
    for i, (name, combo) in enumerate(zip(names, combos, strict=True)):
        try:
            queue.queue(root, name, combo)
        except MlopsError as exc:
            if i:  # the ones queued before stay in DVC's queue: say how to drop them
                exc.hint = f"{exc.hint}; `dvc queue remove {' '.join(names[:i])}` drops the ones already queued"
            raise
        print(f"queued {name}  {assignments(combo)}", file=out, flush=True)
    queue.start(root, jobs)
    return record


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
    display = watch.Display(out, {n: assignments(c.items()) for n, c in record.experiments.items()})
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


def apply_experiment(root: Path, experiment: str, *, lock_wait_s: float = project_files.LOCK_WAIT_S) -> dict[str, Any]:
    """``dvc exp apply``: the experiment's params and outputs into the workspace (under the project's write
    lock, waited for ``lock_wait_s``); the params of ``params.yaml`` that changed (name → new value), for the
    CLI's line and the panel's."""
    with project_files.writing(root, f"applying {experiment}", wait_s=lock_wait_s):
        before = read_params(root)
        queue.apply(root, experiment)
        return {k: v for k, v in read_params(root).items() if before.get(k) != v}


def read_params(root: Path) -> dict:
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


def assignments(combo: Any) -> str:
    return " ".join(f"{k}={v}" for k, v in combo)
