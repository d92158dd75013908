"""What a session's journal rows become in MLflow: pure decisions, no MLflow import, no I/O.

Kept apart from the client calls so that the mapping (param immutability, step numbering, key rules,
dataset identity) is unit-tested in milliseconds, and so both pushers — the kernel's mirror and ``sync``
— make exactly the same run from the same journal.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from jupyter_mlops.journal import Provenance
from jupyter_mlops.sinks.bookkeeping import Marks

# Per pass, well inside MLflow's log_batch limits (1000 metrics, 100 params + tags, 1000 entities):
# a batch also carries up to ~60 tags (one per changed param, plus ours).
MAX_PARAMS = 50
MAX_METRICS = 800
MAX_FILES = 100
SMALL_OUTPUT_BYTES = 10 << 20
"""Written files up to this size are uploaded as artifacts; larger ones are only referenced by a tag."""

_MAX_PARAM_VALUE = 6000
_MAX_TAG_VALUE = 8000
_MAX_KEY = 250
_BAD_KEY_CHARS = re.compile(r"[^/\w.\- :]")

SESSION_TAG = "mlops.session"
REPRODUCIBLE_TAG = "mlops.reproducible"
ENV_HASH_TAG = "mlops.env.hash"
ENV_ARTIFACT = "environment/requirements.txt"
INPUT_CONTEXT = "input"


@dataclass(frozen=True)
class MetricPoint:
    key: str
    value: float
    timestamp_ms: int
    step: int


@dataclass(frozen=True)
class DatasetRef:
    """A data file read: MLflow's dataset identity is (name, digest), so a re-read unchanged file is one
    dataset and a changed one is a new dataset version."""

    name: str
    digest: str
    source: str
    context: str = INPUT_CONTEXT


@dataclass(frozen=True)
class OutputFile:
    """A file a cell wrote, as the journal knew it; uploaded only if it is still that file."""

    path: str
    md5: str
    size: int
    mtime_ns: int | None

    @property
    def small(self) -> bool:
        return self.size <= SMALL_OUTPUT_BYTES

    def reference_tag(self) -> tuple[str, str]:
        """Large (or since rewritten) outputs are named, not copied: the digest says which version."""
        return mlflow_key(f"mlops.output.{self.path}"), f"md5={self.md5} size={self.size}"

    def artifact_dir(self) -> str:
        parent = PurePosixPath(self.path).parent
        return "outputs" if str(parent) == "." else f"outputs/{parent}"


@dataclass
class Batch:
    params: list[tuple[str, str]] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: list[DatasetRef] = field(default_factory=list)
    outputs: list[OutputFile] = field(default_factory=list)
    marks: Marks = field(default_factory=Marks)

    @property
    def records(self) -> int:
        return len(self.params) + len(self.metrics) + len(self.tags) + len(self.datasets) + len(self.outputs)


# The journal's ``params.source`` of papermill's cells (``kernel.notebook_view.parameters_source``).
PARAMETERS_SOURCE = "parameters"  # the cell tagged ``parameters``: the notebook's defaults
INJECTED_SOURCE = "injected"      # papermill's ``injected-parameters`` cell: the values of this run


def mlflow_key(name: str) -> str:
    """A key MLflow accepts (its character set, no path tricks, ≤ 250 chars) that still reads like ``name``."""
    key = _BAD_KEY_CHARS.sub("_", name)[:_MAX_KEY]
    if key != posixpath.normpath(key) or key.startswith(("/", "..")) or key in ("", "."):
        key = "_" + key.replace("/", "_")[: _MAX_KEY - 1]
    return key


def param_text(stored: str) -> str:
    """A journal param value (JSON) as MLflow shows params: ``str(value)``, as ``mlflow.log_param`` would."""
    try:
        value = json.loads(stored)
    except ValueError:
        value = stored
    text = value if isinstance(value, str) else str(value)
    return text[:_MAX_PARAM_VALUE]


def build(unsent_params: Sequence[Mapping[str, Any]], unsent_metrics: Sequence[Mapping[str, Any]],
          unsent_files: Sequence[Mapping[str, Any]], latest_cell_run: Mapping[str, Any] | None,
          marks: Marks, *, session_running: bool = False) -> Batch:
    """The next batch from rows above ``marks``, with the marks it reaches once MLflow accepted it."""
    new = replace(marks, steps=dict(marks.steps), params_sent=dict(marks.params_sent))
    batch = Batch(marks=new)
    last_run = latest_cell_run["id"] if latest_cell_run is not None else marks.cell_run
    _add_params(batch, _without_pending_defaults(unsent_params, last_run) if session_running else unsent_params)
    _add_metrics(batch, unsent_metrics)
    _add_files(batch, unsent_files)
    if latest_cell_run is not None:
        new.cell_run = latest_cell_run["id"]
        if latest_cell_run["reproducible"] is not None:
            batch.tags[REPRODUCIBLE_TAG] = str(bool(latest_cell_run["reproducible"])).lower()
    return batch


def _without_pending_defaults(rows: Sequence[Mapping[str, Any]], last_run: int | None) -> Sequence[Mapping[str, Any]]:
    """The rows up to the parameters cell's, when that cell is the last one run: under papermill (every DVC
    stage, every sweep experiment) its values are defaults the injected cell run next replaces, and MLflow
    keeps a param's first value. Held back one cell run (or until the session ends), both arrive together."""
    for i, row in enumerate(rows):
        if row["source"] == PARAMETERS_SOURCE and row["cell_run_id"] == last_run:
            return rows[:i]
    return rows


def _add_params(batch: Batch, rows: Sequence[Mapping[str, Any]]) -> None:
    """MLflow params cannot change once logged, so a param keeps its first value and, once it is set
    again (a re-run parameters cell), tag ``mlops.param.<name>`` holds its latest value: the run still
    says which value produced its last metrics. A parameters cell's value that papermill's injected cell
    replaces in the same batch was a default, never the run's: the injected value is the param."""
    sent = batch.marks.params_sent
    logged: dict[str, str] = {}
    injected = {row["name"] for row in rows if row["source"] == INJECTED_SOURCE}
    for row in rows:
        if row["source"] == PARAMETERS_SOURCE and row["name"] in injected:
            batch.marks.param = row["id"]
            continue
        key, text = mlflow_key(row["name"]), param_text(row["value"])
        if key not in sent:
            sent[key] = logged[key] = text
        else:
            batch.tags[mlflow_key(f"mlops.param.{key}")] = text[:_MAX_TAG_VALUE]
        batch.marks.param = row["id"]
    batch.params = list(logged.items())


def _add_metrics(batch: Batch, rows: Sequence[Mapping[str, Any]]) -> None:
    """A metric logged without a step gets the one after the last step of its name, so a watched
    variable's values form a history instead of overwriting each other at step 0."""
    steps = batch.marks.steps
    for row in rows:
        batch.marks.metric = row["id"]
        if row["value"] is None:
            continue
        key = mlflow_key(row["name"])
        step = row["step"] if row["step"] is not None else steps.get(key, -1) + 1
        steps[key] = max(step, steps.get(key, step))
        batch.metrics.append(MetricPoint(key, float(row["value"]), int(row["logged_at"] * 1000), int(step)))


def _add_files(batch: Batch, rows: Sequence[Mapping[str, Any]]) -> None:
    datasets: dict[tuple[str, str], DatasetRef] = {}
    outputs: dict[str, OutputFile] = {}
    for row in rows:
        batch.marks.file = row["id"]
        if not row["md5"]:
            continue  # could not be hashed (permission, vanished): nothing to identify it by
        if row["mode"] in ("read", "declared"):
            ref = DatasetRef(name=row["path"], digest=row["md5"], source=json.dumps({"uri": row["path"]}))
            datasets.setdefault((ref.name, ref.digest), ref)
        elif row["mode"] == "write":
            # Only the last write of a path in this batch matters: the earlier file no longer exists.
            outputs[row["path"]] = OutputFile(row["path"], row["md5"], row["size"] or 0, row["mtime_ns"])
    batch.datasets = list(datasets.values())
    batch.outputs = list(outputs.values())


def experiment_name(session: Mapping[str, Any]) -> str:
    """``--experiment``, else the notebook's name, else the project folder's."""
    if session["experiment"]:
        return str(session["experiment"])
    if session["notebook"]:
        return PurePosixPath(session["notebook"]).stem
    return PurePosixPath(str(session["root"]).replace("\\", "/")).name or "jupyter-mlops"


def run_tags(session: Mapping[str, Any]) -> dict[str, str]:
    """Tags a run gets at creation: which session it mirrors and which notebook ran it."""
    tags = {SESSION_TAG: session["id"], "mlflow.source.type": "NOTEBOOK"}
    if session["notebook"]:
        tags["mlflow.source.name"] = session["notebook"]
    return tags


def provenance_tags(provenance: Provenance) -> dict[str, str]:
    git, env = provenance.git, provenance.env
    tags = {"mlops.python": env.python, ENV_HASH_TAG: env.packages_hash}
    if git.commit:
        tags["mlflow.source.git.commit"] = git.commit
        tags["mlops.git.dirty"] = str(bool(git.dirty)).lower()
    if git.branch:
        tags["mlflow.source.git.branch"] = git.branch
    if git.remote:
        tags["mlflow.source.git.repoURL"] = git.remote
    if git.note:
        tags["mlops.git"] = git.note[:_MAX_TAG_VALUE]
    return tags


def run_status(state: str) -> str | None:
    """MLflow's end status for a journal session state; None while it is still running."""
    return {"ended": "FINISHED", "abandoned": "KILLED"}.get(state)
