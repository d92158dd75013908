"""A served version put together: resolved, loaded, its reference and window ready, MLflow's app wrapped.

``open_server`` does everything that can fail before a port is bound (an unknown alias, a model MLflow cannot
load, a port in use), so ``serve`` either starts serving or stops with one clear error. ``Server.run``
serves until SIGINT or SIGTERM, then saves the window.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jupyter_mlops.errors import BadInput, MlopsError, one_line
from jupyter_mlops.journal import Journal
from jupyter_mlops.project import journal_path
from jupyter_mlops.serving import reference as references
from jupyter_mlops.serving import state, target
from jupyter_mlops.serving.app import MonitoredApp, ObservedModel
from jupyter_mlops.serving.feedback import Feedback
from jupyter_mlops.serving.metrics import ServingMetrics
from jupyter_mlops.serving.monitor import PROBABILITY, Monitor, Probabilities
from jupyter_mlops.serving.statistics import output_reference
from jupyter_mlops.serving.window import Window, as_columns


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 5001
    window_rows: int = 10_000
    sample_rows: int = 2_000
    seed: int = 0
    max_body_bytes: int = 32 * 1024 * 1024
    request_id_field: bool = True
    access_log: bool = False
    profile_wait_s: float = 60.0
    tracking_uri: str | None = None


@dataclass
class Server:
    version: target.ServedVersion
    options: ServeOptions
    app: MonitoredApp
    monitor: Monitor
    reference: references.Reference
    restored: str

    @property
    def url(self) -> str:
        host = f"[{self.options.host}]" if ":" in self.options.host else self.options.host
        return f"http://{host}:{self.options.port}"

    def banner(self) -> list[str]:
        """What ``serve`` prints before serving: the version, where, the reference, the window."""
        o = self.options
        return [
            f"serving {self.version.lineage()}",
            f"listening on {self.url}: /invocations, /ping, /health, /version (MLflow's), /metrics, "
            f"/feedback, /monitoring; Ctrl-C stops",
            self.reference.describe(),
            f"window: the last {o.window_rows} rows, a sample of {o.sample_rows} (seed {o.seed}); {self.restored}",
        ]

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM. The window is saved in uvicorn's shutdown, not after ``run`` returns:
        uvicorn re-raises the signal it caught once it has stopped, which ends the process there."""
        import uvicorn

        monitor = self.monitor

        class _Uvicorn(uvicorn.Server):
            async def shutdown(self, sockets: Any = None) -> None:
                await super().shutdown(sockets=sockets)
                await asyncio.to_thread(monitor.close)

        config = uvicorn.Config(self.app, host=self.options.host, port=self.options.port,
                                log_level="info" if self.options.access_log else "warning",
                                access_log=self.options.access_log, lifespan="off")
        # Everything loaded so far (MLflow, the model, pandas: 355,000 objects for the example, 142 ms a full
        # collection) lives as long as the server: out of the collector's sight, a full collection walks only
        # what was made since, and the rows the window keeps alive do not make each one walk them all again.
        gc.collect()
        gc.freeze()
        monitor.start()
        try:
            _Uvicorn(config).run()
        finally:
            monitor.close()


def open_server(root: Path, ref: str, options: ServeOptions) -> Server:
    """Everything ``serve`` needs, checked before the port is bound (see the module doc)."""
    _check_port(options.host, options.port)
    version = target.resolve(root, ref, options.tracking_uri)
    model = target.load(version)
    inputs = _input_names(model)
    reference, training_entry = _reference(root, version, inputs, options.profile_wait_s)
    probabilities = Probabilities.of(model)
    name = state.key(version.name, version.version, options.host, options.port)
    window, feedback, restored = _restore(root, name, version, options)
    record = {"model": version.name, "version": version.version, "aliases": list(version.aliases),
              "session": version.session, "notebook": version.notebook, "commit": version.commit,
              "url": f"http://{options.host}:{options.port}", "key": name}

    def training_outputs() -> None:
        if training_entry is None:
            reference.outputs_note = "the training input is not a file on disk"
            return
        table = root / training_entry["path"]
        fields, note = output_reference(table, training_entry.get("md5"), inputs,
                                        lambda frame: _outputs(model, probabilities, frame))
        reference.outputs, reference.outputs_note = fields, note

    monitor = Monitor(reference=reference, window=window, feedback=feedback, root=root, name=name, record=record,
                      probabilities=probabilities, training_outputs=training_outputs,
                      metrics_of=lambda source: ServingMetrics(version.name, version.version, version.labels(),
                                                               source))
    from mlflow.pyfunc import scoring_server

    scoring_app = scoring_server.init(ObservedModel(model))
    app = MonitoredApp(scoring_app, monitor, max_body_bytes=options.max_body_bytes,
                       request_id_field=options.request_id_field, describe=lambda: dict(record))
    return Server(version, options, app, monitor, reference, restored)


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise BadInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                           hint=f"another server holds it: stop it, or choose another port (--port {port + 1})",
                           ) from exc


def _input_names(model: Any) -> list[str]:
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        return []
    return [str(n) for n in schema.input_names()]


def _reference(root: Path, version: target.ServedVersion, inputs: list[str],
               wait: float) -> tuple[references.Reference, dict | None]:
    """The training reference from the journal (see ``reference.py``), and the training input's entry."""
    from jupyter_mlops.monitor import drift, profiler

    if version.session is None:
        return references.build(inputs, {}, None), None
    path = journal_path(root)
    if not path.exists():
        return references.Reference(None, version.session, note=f"no journal at {path} (serve from the project "
                                                                 "that trained it, or --root)"), None
    journal = Journal(path, create=False)
    try:
        session = journal.find_session(version.session)
        training = drift.inputs_of(profiler.settled_profiles(journal, root, session, wait))
    except MlopsError as exc:
        return references.Reference(None, version.session, note=exc.message), None
    finally:
        journal.close()
    ref = references.build(inputs, training, version.session)
    entry = training.get(ref.training_input or "")
    return ref, entry if entry is not None and "path" in entry else None


def _restore(root: Path, name: str, version: target.ServedVersion,
             options: ServeOptions) -> tuple[Window, Feedback, str]:
    """The window and feedback saved by the last server of this version on this address, if compatible."""
    fresh = Window(options.window_rows, options.sample_rows, seed=options.seed), Feedback(options.window_rows)
    path = state.window_path(root, name)
    if not path.exists():
        return (*fresh, f"kept in {path.relative_to(root)}")
    try:
        saved = state.read_json(root, path)
        if (saved["model"], saved["version"]) != (version.name, version.version):
            raise ValueError("another version's window")
        window = Window.from_state(saved["window"])
        if window.settings != fresh[0].settings:
            return (*fresh, f"the saved window in {path.relative_to(root)} had other settings "
                            f"({window.settings}): started anew")
        feedback = Feedback.from_state(saved["feedback"], options.window_rows)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return (*fresh, f"the saved window in {path.relative_to(root)} could not be read ({one_line(exc)}): "
                        "started anew")
    return window, feedback, f"restored {window.window_rows} rows from {path.relative_to(root)}"


def _outputs(model: Any, probabilities: Probabilities | None, frame: Any) -> Mapping[str, np.ndarray]:
    """The model's outputs for a frame of inputs, with the class probabilities the window keeps."""
    columns = as_columns(model.predict(frame), "prediction")
    out = dict(columns[0]) if columns else {}
    if probabilities is not None:
        proba = probabilities.of_frame(frame)
        if proba is not None and probabilities.positive is not None:
            out[PROBABILITY] = proba[:, -1]
        elif proba is not None:
            out |= {n: proba[:, i] for i, n in enumerate(probabilities.columns())}
    return out
