"""The panel's sweeps: each ``jupyter mlops sweep`` of the notebook's project as the table ``--show`` prints
(``sweep.run.sweep_table``), each row with a summary of its tracked session, and ``dvc exp apply`` of one
experiment (``sweep.run.apply_experiment``, as ``--apply``).

Tornado-free, like ``history.py``. DVC runs as a command: one ``dvc exp show`` per baseline commit, for at
most ``MAX_SWEEPS`` sweeps, newest first.
"""

from __future__ import annotations

from typing import Any

from jupyter_mlops import project_files
from jupyter_mlops.errors import BadInput, NotFound
from jupyter_mlops.server.history import _open, summarise
from jupyter_mlops.server.paths import NotebookRef
from jupyter_mlops.sweep import identity, queue
from jupyter_mlops.sweep.record import SweepRecord
from jupyter_mlops.sweep.run import apply_experiment, sweep_table

MAX_SWEEPS = 10


def sweeps(ref: NotebookRef) -> dict[str, Any]:
    """``{"notebook", "sweeps": [...]}``: the project's sweeps, newest first, each its table (``to_dict``)
    with ``notebook``, ``created_at``, ``jobs``, and per row ``details``: its session's summary (cells,
    verdict, every param and metric), None while it has none."""
    records = SweepRecord.all(ref.project)[:MAX_SWEEPS]
    by_baseline: dict[str, dict[str, queue.Experiment]] = {}
    shown = []
    for record in records:
        if record.baseline not in by_baseline:
            by_baseline[record.baseline] = queue.experiments(ref.project, record.baseline)
        table = sweep_table(ref.project, record, experiments=by_baseline[record.baseline]).to_dict()
        shown.append({**table, "notebook": record.notebook, "created_at": record.created_at, "jobs": record.jobs})
    _add_details(ref, [row for sweep in shown for row in sweep["rows"]])
    return {"notebook": ref.key, "sweeps": shown}


def apply(ref: NotebookRef, experiment: object) -> dict[str, Any]:
    """``dvc exp apply`` of one experiment of a recorded sweep: anything else is refused before DVC sees it
    (a name starting with ``-`` would be an option to DVC)."""
    if not isinstance(experiment, str) or identity.sweep_of(experiment) is None:
        raise BadInput(f"{experiment!r} is not an experiment of a sweep",
                       hint="experiments of a sweep are named like sweep-3fa91c-2")
    record = SweepRecord.load(ref.project, identity.sweep_of(experiment))
    if experiment not in record.experiments:
        raise NotFound(f"{record.sweep} has no experiment {experiment}",
                       hint=f"its experiments: {', '.join(record.experiments)}")
    changed = apply_experiment(ref.project, experiment, lock_wait_s=project_files.REQUEST_LOCK_WAIT_S)
    return {"experiment": experiment, "changed": changed, "params": record.experiments[experiment]}


def _add_details(ref: NotebookRef, rows: list[dict[str, Any]]) -> None:
    journal = _open(ref)
    for row in rows:
        row["details"] = None
    if journal is None:
        return
    try:
        for row in rows:
            if row["session"]:
                row["details"] = summarise(journal.session_detail(row["session"], runs_limit=1))
    finally:
        journal.close()
