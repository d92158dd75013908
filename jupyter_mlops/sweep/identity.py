"""What names a sweep and its experiments, read back by the tracker inside each experiment.

The sweep names every DVC experiment it queues ``<sweep id>-<n>``; DVC hands the name to the stage command
as ``DVC_EXP_NAME`` (with ``DVC_ROOT``, the project it was queued in; see ``project.home_root``). So the
kernel of a queued experiment knows its sweep from DVC itself: no variable has to reach DVC's queue
workers, which may have been started by an earlier command with another environment. The session keeps
both in its ``options`` JSON (``dvc_experiment``, ``sweep``); the MLflow run carries ``mlops.sweep``.

Standard library only: the kernel imports this when tracking starts.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from typing import Any

DVC_EXP_NAME_ENV = "DVC_EXP_NAME"
SWEEP_TAG = "mlops.sweep"
EXPERIMENT_TAG = "mlops.dvc_experiment"
_SWEEP_ID = re.compile(r"sweep-[0-9a-f]{6}")
_EXPERIMENT = re.compile(rf"({_SWEEP_ID.pattern})-\d+")


def new_sweep_id() -> str:
    return f"sweep-{secrets.token_hex(3)}"


def is_sweep_id(text: str) -> bool:
    return _SWEEP_ID.fullmatch(text) is not None


def experiment_name(sweep_id: str, index: int, total: int) -> str:
    """The ``n``-th experiment of a sweep (from 1), zero-padded so names sort in queueing order."""
    return f"{sweep_id}-{index:0{len(str(total))}d}"


def sweep_of(experiment: str | None) -> str | None:
    """The sweep an experiment name belongs to; None for any other name (a user's own ``dvc exp run``)."""
    match = _EXPERIMENT.fullmatch(experiment or "")
    return match.group(1) if match else None


def session_options(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """What a session run by a DVC experiment adds to its ``options``: the experiment and its sweep."""
    name = environ.get(DVC_EXP_NAME_ENV)
    if not name:
        return {}
    sweep = sweep_of(name)
    return {"dvc_experiment": name, **({"sweep": sweep} if sweep else {})}


def mlflow_tags(options_json: str) -> dict[str, str]:
    """The MLflow run's tags for a session's ``options`` (the journal's JSON): which DVC experiment ran it,
    and which sweep."""
    options = json.loads(options_json or "{}")
    tags = {}
    if options.get("dvc_experiment"):
        tags[EXPERIMENT_TAG] = str(options["dvc_experiment"])
    if options.get("sweep"):
        tags[SWEEP_TAG] = str(options["sweep"])
    return tags
