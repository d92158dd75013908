"""Send a session's unsent journal rows to one MLflow store (with the models its cells wrote, through
``mlflow_model``): with that module and ``mlflow_registry``, the only ones that import MLflow.

Importing it costs ~2 s (MLflow itself), so the kernel never imports it: the project's follower process
does, and the CLI only inside ``sync`` and ``register``. A pass is: probe the store, take the lease, make sure the run
exists, then batches until the journal has nothing above the marks, each batch's marks advanced in one
transaction after MLflow accepted it. Parameters and metrics go first and are marked, then files: had
MLflow refused the files, a retry must not send the metrics again.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from jupyter_mlops import project_files
from jupyter_mlops.core import redact
from jupyter_mlops.errors import Conflict, one_line
from jupyter_mlops.journal import Row, pid_alive
from jupyter_mlops.monitor import mlflow_log
from jupyter_mlops.sinks import follower_daemon, mlflow_batch, mlflow_model, tracking_uri
from jupyter_mlops.sinks.bookkeeping import Bookkeeping, LeaseLost, Marks, SyncRow, mark_columns
from jupyter_mlops.sweep import identity


class StoreUnavailable(Exception):
    """The store cannot take records now; they wait in the journal. The message is one line."""


@dataclass
class PushResult:
    run_id: str | None = None
    experiment: str | None = None
    sent: int = 0
    complete: bool = False  # the run is terminated with everything sent
    busy: bool = False  # another process holds the session's lease: nothing was done


class Pusher:
    """Pushes sessions of one journal to one store; one per thread (it owns a SQLite connection)."""

    def __init__(self, book: Bookkeeping, uri: str) -> None:
        self.book = book
        self.uri = uri
        if uri.startswith("sqlite:///"):
            _create_sqlite_store(Path(uri[len("sqlite:///"):]))
        self.client = MlflowClient(tracking_uri=uri)

    def push(self, session_id: str) -> PushResult:
        """Send what the journal holds beyond the marks; terminate the run once the session ended."""
        reason = tracking_uri.unreachable(self.uri)
        if reason:
            raise StoreUnavailable(reason)
        session = self.book.session(session_id)
        if session is None:
            raise KeyError(session_id)
        if not self.book.claim(session_id, self.uri):
            return PushResult(busy=True)
        try:
            try:
                return self._push(session)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST" or not self._run_gone(session_id):
                    raise
                self.book.forget_run(session_id, self.uri)  # a fresh database: send the whole session again
                return self._push(session)
        except LeaseLost:
            return PushResult(busy=True)
        except Exception as exc:  # MLflow refusing, connection errors, a locked database: all mean "not now"
            raise StoreUnavailable(one_line(exc)) from exc
        finally:
            self.book.release(session_id, self.uri)

    def _run_gone(self, session_id: str) -> bool:
        """The store no longer has our run (not merely some other missing resource, e.g. an artifact)."""
        row = self.book.sync_row(session_id, self.uri)
        if row is None or row.run_id is None:
            return False
        try:
            self.client.get_run(row.run_id)
        except MlflowException as exc:
            return exc.error_code == "RESOURCE_DOES_NOT_EXIST"
        return False

    def _push(self, session: Row) -> PushResult:
        sid = session["id"]
        row = self.book.sync_row(sid, self.uri)
        result = PushResult(run_id=row.run_id, experiment=mlflow_batch.experiment_name(session))
        if row.finished:
            if not self._run_gone(sid):
                result.sent += mlflow_log.send_profiles(self.client, self.book.home, sid, row.run_id, self.uri)
                result.complete = True
                return result
            self.book.forget_run(sid, self.uri)  # complete in a store that has since lost it
            row = self.book.sync_row(sid, self.uri)
        if row.run_id is None:
            row.experiment_id, row.run_id = self._create_run(session)
            result.run_id = row.run_id
        running = session["state"] == "running"
        if not row.provenance_sent:
            self._send_provenance(sid, row.run_id, running)
        result.sent += self._send_rows(sid, row.run_id, row.marks, Path(session["root"]), wait_pending=running)
        mlflow_log.send_profiles(self.client, self.book.home, sid, row.run_id, self.uri)  # monitor/
        mlflow_model.log_written_models(self.client, self.book, self.uri, session, row.experiment_id, row.run_id)
        self._send_notebook(session, row)
        status = mlflow_batch.run_status(session["state"])
        if status is not None:
            end = int(session["ended_at"] * 1000) if session["ended_at"] else None
            self.client.set_terminated(row.run_id, status, end_time=end)
            self.book.update(sid, self.uri, finished=1)
            result.complete = True
        return result

    def _create_run(self, session: Row) -> tuple[str, str]:
        name = mlflow_batch.experiment_name(session)
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            experiment_id = self._create_experiment(name)
        else:
            experiment_id = experiment.experiment_id
            if experiment.lifecycle_stage == "deleted":
                self.client.restore_experiment(experiment_id)
        run = self.client.create_run(
            experiment_id, start_time=int(session["started_at"] * 1000),
            tags=mlflow_batch.run_tags(session) | identity.mlflow_tags(session["options"]),
            run_name=session["id"],
        )
        self.book.update(session["id"], self.uri, experiment_id=experiment_id, run_id=run.info.run_id)
        return experiment_id, run.info.run_id

    def _create_experiment(self, name: str) -> str:
        """A SQLite store keeps artifacts beside its database, wherever the pusher runs: MLflow's default
        (``./mlruns`` of the current directory) would scatter them between the kernel's and sync's cwd."""
        folder = tracking_uri.sqlite_dir(self.uri)
        location = (folder / "mlruns" / re.sub(r"[^\w.-]", "_", name)).as_uri() if folder else None
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # another pusher created it just now
                raise
            return self.client.get_experiment_by_name(name).experiment_id

    def _send_rows(self, sid: str, run_id: str, marks: Marks, root: Path, *, wait_pending: bool) -> int:
        sent = 0
        while True:
            unsent = self.book.unsent(sid, marks, params=mlflow_batch.MAX_PARAMS, metrics=mlflow_batch.MAX_METRICS,
                                      files=mlflow_batch.MAX_FILES, wait_pending=wait_pending)
            batch = mlflow_batch.build(unsent.params, unsent.metrics, unsent.files, unsent.latest_cell_run, marks,
                                       session_running=wait_pending)
            if batch.marks == marks:
                return sent
            row_marks = replace(batch.marks, file=marks.file)
            if row_marks != marks:
                if batch.params or batch.metrics or batch.tags:
                    self.client.log_batch(
                        run_id,
                        metrics=[Metric(m.key, m.value, m.timestamp_ms, m.step) for m in batch.metrics],
                        params=[Param(k, v) for k, v in batch.params],
                        tags=[RunTag(k, v) for k, v in batch.tags.items()],
                    )
                self.book.update(sid, self.uri, **mark_columns(row_marks))
            if unsent.files:
                if batch.datasets:
                    profiles = mlflow_log.dataset_profiles(self.book.home, sid)  # each dataset's profile, once made
                    self.client.log_inputs(run_id, datasets=[
                        DatasetInput(Dataset(d.name, d.digest, "local", d.source, profile=profiles.get(d.digest)),
                                     tags=[InputTag(MLFLOW_DATASET_CONTEXT, d.context)])
                        for d in batch.datasets
                    ])
                self._send_outputs(run_id, batch.outputs, root)
                self.book.update(sid, self.uri, last_file_id=batch.marks.file)
            marks = batch.marks
            sent += batch.records

    def _send_outputs(self, run_id: str, outputs: list[mlflow_batch.OutputFile], root: Path) -> None:
        """Small files still as the cell left them are copied; the others (large files, directories, files
        rewritten since) are named by digest, which is what DVC or a later check can compare against."""
        references = []
        for out in outputs:
            path = root / out.path
            if out.small and _unchanged(path, out, root):
                with follower_daemon.DAEMON.unwatched(self.book.home, path) as readable:  # not the running cell's read
                    self.client.log_artifact(run_id, str(readable), out.artifact_dir())
            else:
                references.append(RunTag(*out.reference_tag()))
        if references:
            self.client.log_batch(run_id, tags=references)

    def _send_provenance(self, sid: str, run_id: str, running: bool) -> None:
        provenance = self.book.provenance(sid)
        if provenance is None:
            if running:
                return  # the kernel records it while its tracking cell runs: the next pass finds it
            self.client.set_tag(run_id, "mlops.provenance", "not recorded: the session's journal has none")
        else:
            tags = mlflow_batch.provenance_tags(provenance)
            self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            self.client.log_text(run_id, provenance.env.packages, mlflow_batch.ENV_ARTIFACT)
        self.book.update(sid, self.uri, provenance_sent=1)

    def _send_notebook(self, session: Row, row: SyncRow) -> None:
        """The notebook as saved when this pass ran, i.e. as it stood after the cell that woke it, its cells'
        secrets masked as the journal's code is."""
        if not session["notebook"]:
            return
        path = Path(session["root"]) / session["notebook"]
        try:
            st = path.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
            if stamp == row.notebook_stamp:
                return
            text = (project_files.read_bytes(session["root"], path) or b"").decode("utf-8")  # a link out, a FIFO: no
            document = json.loads(text)
        except (OSError, Conflict, ValueError):  # gone, a link out, a FIFO, not JSON: no copy this pass
            return
        if not isinstance(document, dict):
            return
        secrets = json.loads(session["options"] or "{}").get("secrets") or ()
        masked = redact.masked_notebook(document, redact.Redactor(secrets))
        if masked != document:  # else the file as it is, byte for byte
            text = json.dumps(masked, indent=1, ensure_ascii=False) + "\n"
        self.client.log_text(row.run_id, text, f"notebook/{path.name}")
        self.book.update(session["id"], self.uri, notebook_stamp=stamp)
        row.notebook_stamp = stamp


def _create_sqlite_store(db: Path) -> None:
    """Create a missing SQLite store under a temporary name, then link it into place.

    MLflow builds a fresh database with dozens of migrations (seconds, not atomic): a process stopped
    meanwhile would leave a half-migrated ``mlflow.db`` that MLflow then refuses to open. Linking never
    replaces a store another process created in the meantime. The temporary goes in our own
    ``.mlops/mlflow/`` when the store is the project's (nothing to see in the user's folder while it is
    made), else beside the store. One left by a process killed with SIGKILL (SIGTERM unwinds and removes
    it) is removed by the next creator.
    """
    if db.exists():
        return
    _remove_abandoned_temporaries(db)
    tmp = _temporaries_dir(db) / f".{db.name}.{os.getpid()}.tmp"
    chatty = logging.getLogger("mlflow.store.db.utils")  # "Creating initial MLflow database tables..."
    level = chatty.level
    chatty.setLevel(logging.WARNING)
    try:
        try:
            SqlAlchemyStore(f"sqlite:///{tmp}", str(db.parent / "mlruns")).engine.dispose()
            os.link(tmp, db)
        except FileExistsError:
            pass
    finally:
        chatty.setLevel(level)
        tmp.unlink(missing_ok=True)


def _temporaries_dir(db: Path) -> Path:
    """Where a store is made before it is linked into place: on the store's own filesystem, out of sight."""
    ours = follower_daemon.state_dir(db.parent)
    return ours if ours.is_dir() else db.parent


def _remove_abandoned_temporaries(db: Path) -> None:
    """``.mlflow.db.<pid>.tmp`` (and SQLite's ``-journal`` beside it) of a creator that is gone."""
    for tmp in (*db.parent.glob(f".{db.name}.*.tmp*"), *_temporaries_dir(db).glob(f".{db.name}.*.tmp*")):
        pid = tmp.name[len(db.name) + 2:].partition(".")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _unchanged(path: Path, out: mlflow_batch.OutputFile, root: Path) -> bool:
    """Still the file the journal describes: same size and mtime (a directory's stamp proves nothing), and
    a regular file inside the root (``project_files``' rule: a link out of it is named by digest only)."""
    try:
        project_files.check(root, path)
        st = path.stat()
    except (OSError, Conflict):
        return False
    return not path.is_dir() and out.mtime_ns is not None and (st.st_size, st.st_mtime_ns) == (out.size, out.mtime_ns)



def limit_http_retries() -> None:
    """For command-line use: MLflow's default HTTP retries make an unreachable server hang for minutes."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
