"""The model a tracked cell wrote, as an MLflow 3 LoggedModel linked to the session's run.

Called by the pusher (the follower process, or ``sync``/``register``), never in the kernel: recognising a
model means loading it (unpickling runs the pickle's code, and costs the time a large model takes) and
talking to MLflow. Candidates are each path's last write in the session:

- a joblib or pickle file (``.joblib``, ``.pkl``, ``.pickle``) holding a scikit-learn estimator or
  pipeline becomes a ``sklearn`` model (cloudpickle, as trusted as the user's own pickle), with a
  signature and an input example rebuilt from the tables the session read (``model_example.py``);
- a folder an ``mlflow.<flavor>.save_model`` wrote (it holds an ``MLmodel`` file) is logged as it is;
- weights of other frameworks (torch, onnx, xgboost, lightgbm, keras) stay run artifacts, with a run tag
  saying what an MLflow model of them would need.

Each (path, md5) is judged once per store (``mlflow_models`` in the bookkeeping): a model rewritten by a
later cell is a new LoggedModel, a re-sent pass is nothing. The LoggedModel carries the session id, the
notebook, the cell, the file's md5, the git commit, the data the session had read by then (md5s), the
session's verdict at that point, and the session's params; the run's tag ``mlops.model.<path>`` says what
became of the file (the model id, or the one-line reason it is not a model).
"""

from __future__ import annotations

import logging
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput
from mlflow.exceptions import MlflowException
from mlflow.models import Model, infer_signature

from jupyter_mlops import project_files
from jupyter_mlops.errors import Conflict, one_line
from jupyter_mlops.hashing import file_digest
from jupyter_mlops.journal import Journal, latest_values
from jupyter_mlops.project import journal_path
from jupyter_mlops.sinks import mlflow_batch
from jupyter_mlops.sinks.bookkeeping import Bookkeeping, LoggedModelRecord, WrittenFile
from jupyter_mlops.sinks.follower_daemon import DAEMON
from jupyter_mlops.sinks.model_example import input_example, is_table

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
MLMODEL_FILE = "MLmodel"
ARTIFACT_ONLY = {
    ".pt": "pytorch", ".pth": "pytorch", ".ckpt": "pytorch", ".onnx": "onnx", ".ubj": "xgboost", ".xgb": "xgboost",
    ".lgb": "lightgbm", ".keras": "keras",
}
"""Weights files and the MLflow flavor of their framework: the file alone lacks what the flavor needs (the
model's class, its loader), so it stays a run artifact with a note naming ``mlflow.<flavor>.save_model``."""

_COVERED_MODULES = frozenset({"builtins", "__main__", "sklearn", "numpy", "scipy"})
"""Modules whose distribution the sklearn flavor's requirements already bring (or that have none)."""

MODEL_TAG_PREFIX = "mlops.model."
PATH_TAG = "mlops.model.path"
MD5_TAG = "mlops.model.md5"
CELL_TAG = "mlops.model.cell"
SIGNATURE_TAG = "mlops.model.signature"
NOTEBOOK_TAG = "mlops.notebook"
COMMIT_TAG = "mlflow.source.git.commit"
DATA_TAG_PREFIX = "mlops.data."

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """What the LoggedModel of one file says about where it came from."""

    session_id: str
    notebook: str | None
    experiment_id: str
    run_id: str
    commit: str | None
    dirty: bool | None
    reproducible: bool | None
    inputs: dict[str, str]        # data the session had read when the file was written: path → md5
    params: dict[str, str]

    def tags(self, written: WrittenFile) -> dict[str, str]:
        tags = {mlflow_batch.SESSION_TAG: self.session_id, PATH_TAG: written.path, MD5_TAG: written.md5,
                mlflow_batch.REPRODUCIBLE_TAG: "unknown" if self.reproducible is None else
                str(self.reproducible).lower()}
        if self.notebook:
            tags[NOTEBOOK_TAG] = self.notebook
        if written.cell_id:
            tags[CELL_TAG] = written.cell_id
        if self.commit:
            tags[COMMIT_TAG] = self.commit
            tags["mlops.git.dirty"] = str(bool(self.dirty)).lower()
        for path, md5 in self.inputs.items():
            tags[mlflow_batch.mlflow_key(DATA_TAG_PREFIX + path)] = md5
        return tags


def log_written_models(client: MlflowClient, book: Bookkeeping, uri: str, session: Any, experiment_id: str,
                       run_id: str) -> None:
    """Judge every model file the session wrote that this store has not seen in that version."""
    sid, root = session["id"], Path(session["root"])
    seen = {(m.path, m.md5) for m in book.logged_models(sid, uri)}
    todo = [w for w in book.written_files(sid) if (w.path, w.md5) not in seen and _is_candidate(root, w)]
    if not todo:
        return
    journal = Journal(journal_path(book.home), create=False)  # not root: a DVC experiment journals at home
    try:
        detail = journal.session_detail(sid, runs_limit=1)
    finally:
        journal.close()
    running = session["state"] == "running"
    for written in todo:
        if not _still_there(root, book.home, written):
            if running:
                continue  # rewritten meanwhile: its newer row comes with a later pass
            record = _record(written, None, None, "rewritten or removed after the session wrote it: not logged")
        else:
            record = _log_one(client, root, book.home, written, _context(book, session, detail, experiment_id, run_id,
                                                              written))
        book.save_logged_model(sid, uri, record)
        client.set_tag(run_id, mlflow_batch.mlflow_key(MODEL_TAG_PREFIX + written.path), describe(record))


def describe(record: LoggedModelRecord) -> str:
    """The run tag's value: which model the file became, or why it is not one."""
    if record.model_id is None:
        return f"not an MLflow model: {record.note}"
    return f"models:/{record.model_id} ({record.flavor})" + (f"; {record.note}" if record.note else "")


def _is_candidate(root: Path, written: WrittenFile) -> bool:
    suffix = Path(written.path).suffix.lower()
    if suffix in PICKLE_SUFFIXES or suffix in ARTIFACT_ONLY:
        return True
    return written.nfiles is not None and (root / written.path / MLMODEL_FILE).is_file()


def _still_there(root: Path, home: Path, written: WrittenFile) -> bool:
    path = root / written.path
    try:
        st = path.stat()
    except OSError:
        return False
    if path.is_dir():
        try:
            with DAEMON.unwatched(home, path) as readable:  # a folder: announced, not a read of the running cell
                return file_digest(readable).md5 == written.md5
        except OSError:
            return False
    return (st.st_size, st.st_mtime_ns) == (written.size, written.mtime_ns)


def _context(book: Bookkeeping, session: Any, detail: dict, experiment_id: str, run_id: str,
             written: WrittenFile) -> Context:
    writes = [f for f in detail["files"] if f["path"] == written.path and f["mode"] == "write"]
    seq = writes[-1]["seq"] if writes and writes[-1]["seq"] is not None else None
    inputs: dict[str, str] = {}
    for f in detail["files"]:
        if f["mode"] in ("read", "declared") and f["md5"] and (seq is None or (f["seq"] or 0) <= seq):
            inputs.setdefault(f["path"], f["md5"])
    runs = detail["cell_runs"]
    provenance = book.provenance(session["id"])
    git = provenance.git if provenance else None
    params = {mlflow_batch.mlflow_key(k): str(v)[:500] for k, v in latest_values(detail["params"]).items()}
    return Context(session["id"], session["notebook"], experiment_id, run_id, git.commit if git else None,
                   git.dirty if git else None, runs[-1]["reproducible"] if runs else None, inputs, params)


def _log_one(client: MlflowClient, root: Path, home: Path, written: WrittenFile, ctx: Context) -> LoggedModelRecord:
    try:  # what is uploaded or unpickled: inside the session's root, regular files (project_files' rule)
        project_files.check_tree(root, written.path)
    except Conflict as exc:
        return _record(written, None, None, f"not logged: {exc.message}")
    path = root / written.path
    suffix = path.suffix.lower()
    if suffix in ARTIFACT_ONLY and not path.is_dir():
        flavor = ARTIFACT_ONLY[suffix]
        return _record(written, None, flavor, f"{flavor} weights only (a run artifact); an MLflow model needs the "
                                              f"model object: save it with mlflow.{flavor}.save_model(model, 'DIR')")
    if path.is_dir():
        with DAEMON.unwatched(home, path) as folder:  # announced: reading it is not the running cell's read
            return _log_mlflow_dir(client, folder, written, ctx)
    return _log_pickle(client, root, home, written, ctx)


def _log_mlflow_dir(client: MlflowClient, folder: Path, written: WrittenFile, ctx: Context) -> LoggedModelRecord:
    try:
        saved = Model.load(str(folder / MLMODEL_FILE))
    except Exception as exc:  # a damaged or foreign MLmodel file: the folder stays a run artifact
        return _record(written, None, None, f"its MLmodel file cannot be read ({one_line(exc)})")
    flavor = next((f for f in saved.flavors if f != "python_function"), "python_function")
    how = "saved with the model" if saved.signature is not None else "unknown: it was saved without one"
    note = None if saved.signature is not None else f"no signature ({how})"

    def upload(model: Any) -> None:
        client.log_model_artifacts(model.model_id, str(folder))

    return _create(client, written, ctx, flavor, note, upload, signature_how=how)


def _log_pickle(client: MlflowClient, root: Path, home: Path, written: WrittenFile, ctx: Context) -> LoggedModelRecord:
    try:
        import joblib

        with DAEMON.unwatched(home, root / written.path) as readable:  # not a read of the cell running now
            obj = joblib.load(readable)  # the user's own pickle, in the mirror's process only
    except Exception as exc:
        return _record(written, None, None, f"cannot be loaded here ({one_line(exc)})")
    if not _is_sklearn_estimator(obj):
        kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
        return _record(written, None, None, f"a pickled {kind}, not a scikit-learn estimator: kept as a run "
                                            "artifact (save it with mlflow.<flavor>.save_model to make it a model)")
    import mlflow.sklearn

    tables = [root / p for p in ctx.inputs if is_table(p) and (root / p).is_file()]
    example = input_example(obj, tables, root, reading=lambda table: DAEMON.unwatched(home, table))
    frame, signature, how = example.frame, None, example.how
    if frame is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # MLflow's hints about integer columns
                signature = infer_signature(frame, obj.predict(frame))
            how = f"inferred from {how}"
        except Exception as exc:
            frame, how = None, f"unknown: predict on the rebuilt example failed ({type(exc).__name__})"
    note = None if signature is not None else f"no signature ({how})"

    def upload(model: Any) -> None:
        mlflow_model = Model(artifact_path=model.artifact_location, run_id=ctx.run_id, model_uuid=model.model_id,
                             model_id=model.model_id)
        with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            local = Path(tmp) / "model"
            mlflow.sklearn.save_model(obj, str(local), mlflow_model=mlflow_model, signature=signature,
                                      input_example=frame, serialization_format="cloudpickle",
                                      pip_requirements=_pip_requirements(obj))
            client.log_model_artifacts(model.model_id, str(local))

    return _create(client, written, ctx, "sklearn", note, upload, signature_how=how)


def _create(client: MlflowClient, written: WrittenFile, ctx: Context, flavor: str, note: str | None,
            upload: Any, signature_how: str | None = None) -> LoggedModelRecord:
    tags = ctx.tags(written) | {"mlops.model.flavor": flavor}
    if signature_how:
        tags[SIGNATURE_TAG] = signature_how[:5000]
    model = client.create_logged_model(ctx.experiment_id, name=_model_name(written.path), source_run_id=ctx.run_id,
                                       tags=tags, params=ctx.params or None, model_type=flavor)
    try:
        upload(model)
        client.log_outputs(ctx.run_id, [LoggedModelOutput(model.model_id, step=0)])
        client.finalize_logged_model(model.model_id, "READY")
    except Exception as exc:
        _log.warning("model %s of session %s: %s", written.path, ctx.session_id, exc)
        try:
            client.finalize_logged_model(model.model_id, "FAILED")
        except Exception:
            pass  # the store went away: the pass fails below and the model is tried again
        if isinstance(exc, (MlflowException, *_connection_errors())):
            raise  # the store, not the model: "not now", like any record the pass could not send
        return _record(written, None, flavor, f"cannot be saved as an MLflow model ({one_line(exc)})")
    return _record(written, model.model_id, flavor, note)


def _connection_errors() -> tuple[type[BaseException], ...]:
    import requests

    return (requests.exceptions.RequestException,)



def _pip_requirements(estimator: Any) -> list[str]:
    """What serving the model needs, pinned as installed here (the follower runs the kernel's interpreter):
    the sklearn flavor's defaults and the distribution of every module the estimator's parts come from (an
    xgboost step in a pipeline). MLflow's own inference instead loads the model in a child process and traces
    its imports: ~6 s of CPU per model, most of the mirror's time for a model."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    import mlflow.sklearn

    pinned = list(mlflow.sklearn.get_default_pip_requirements(include_cloudpickle=True))
    have = {r.partition("==")[0].lower() for r in pinned}
    parts = [estimator, *(estimator.get_params(deep=True).values() if hasattr(estimator, "get_params") else ())]
    modules = {type(part).__module__.partition(".")[0] for part in parts} - _COVERED_MODULES
    owners = packages_distributions() if modules else {}  # a scan of every installed distribution: ~1 s
    for module in sorted(modules):
        for dist in owners.get(module, ()):
            if dist.lower() in have:
                continue
            try:
                pinned.append(f"{dist}=={version(dist)}")
            except PackageNotFoundError:
                continue
            have.add(dist.lower())
    return pinned


def _is_sklearn_estimator(obj: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(obj, BaseEstimator) and callable(getattr(obj, "predict", None))


def _model_name(path: str) -> str:
    """MLflow's model name: the file's stem, in the characters MLflow allows."""
    stem = Path(path).stem if not path.endswith("/") else Path(path.rstrip("/")).name
    return mlflow_batch.mlflow_key(stem).replace("/", "_") or "model"


def _record(written: WrittenFile, model_id: str | None, flavor: str | None, note: str | None) -> LoggedModelRecord:
    return LoggedModelRecord(written.path, written.md5, model_id, flavor, note, time.time())
