"""Export to DVC and Verify, as the panel runs them: validated options in, plain JSON-able results out.

Request fields never become command lines: the export engine is called in-process with a notebook path
that :func:`notebook_ref` validated and options checked against fixed choices. Verify re-runs the whole
notebook (minutes), so it runs as a background job the panel polls for progress.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops import inputs, project_files
from jupyter_mlops.errors import Conflict, MlopsError
from jupyter_mlops.server.paths import NotebookRef, RequestError

STAGES = ("auto", "tags", "single")
MAX_EXPECT = 20
MAX_JOBS = 20
_MISSING = "the export engine is not installed with this jupyter-mlops (jupyter_mlops.export.api is missing)"


@dataclass(frozen=True)
class ExportOptions:
    stages: str = "auto"
    force: bool = False
    dry_run: bool = False
    allow_dirty: bool = False


@dataclass(frozen=True)
class VerifyOptions:
    tolerance: float = 1e-9
    expect: tuple[str, ...] = ()


def export_options(body: dict[str, Any]) -> ExportOptions:
    stages = body.get("stages", "auto")
    if stages not in STAGES:
        raise RequestError(400, f"stages must be one of {', '.join(STAGES)}")
    return ExportOptions(stages, *(_flag(body, name) for name in ("force", "dry_run", "allow_dirty")))


def verify_options(body: dict[str, Any]) -> VerifyOptions:
    tolerance = inputs.number(body.get("tolerance", 1e-9), "tolerance", low=0, high=1)
    expect = body.get("expect", [])
    if not isinstance(expect, list) or len(expect) > MAX_EXPECT:
        raise RequestError(400, f"expect must be a list of at most {MAX_EXPECT} gates such as 'auc>=0.8'")
    return VerifyOptions(tolerance, tuple(inputs.metric_gate(gate) for gate in expect))


def export(ref: NotebookRef, options: ExportOptions) -> dict[str, Any]:
    """Write ``dvc.yaml`` and ``params.yaml`` at the project root (inside the server root, checked)."""
    try:
        from jupyter_mlops.export.api import export_notebook
    except ImportError as exc:
        raise RequestError(501, _MISSING) from exc
    result = export_notebook(ref.path, stages=options.stages, force=options.force, dry_run=options.dry_run,
                             allow_dirty=options.allow_dirty, lock_wait_s=project_files.REQUEST_LOCK_WAIT_S)
    return {"written": list(result.written), "stages": list(result.stages)}


def verify(ref: NotebookRef, options: VerifyOptions, progress: Callable[..., None]) -> dict[str, Any]:
    try:
        from jupyter_mlops.export.api import verify_notebook
    except ImportError as exc:
        raise RequestError(501, _MISSING) from exc
    result = verify_notebook(ref.path, tolerance=options.tolerance, expect=options.expect, progress=progress)
    return {"ok": bool(result.ok), "rows": list(result.rows), "message": result.message}


@dataclass(frozen=True)
class RegisterOptions:
    session: str
    name: str
    model: str
    aliases: tuple[str, ...]


def register_options(body: dict[str, Any]) -> RegisterOptions:
    alias = body.get("alias") or None
    return RegisterOptions(inputs.session_id(body.get("session")), inputs.model_name(body.get("name")),
                           inputs.text(body.get("model"), "model (the path of a model file the session wrote)",
                                       max_chars=1000),
                           (inputs.alias(alias),) if alias is not None else ())


def models(ref: NotebookRef, session_id: str) -> dict[str, Any]:
    """The models a session of this notebook wrote, as the mirror logged them, with their registered versions."""
    from jupyter_mlops.server.history import session as one_session
    from jupyter_mlops.sinks.registration import session_models

    one_session(ref, session_id, limit=1)  # a session of this notebook: 400/404 otherwise
    return session_models(ref.project, session_id)


def register(ref: NotebookRef, options: RegisterOptions) -> dict[str, Any]:
    """The session's model as a new registry version, behind the same gate as ``jupyter mlops register``."""
    from jupyter_mlops.server.history import session as one_session
    from jupyter_mlops.sinks.registration import register_model

    one_session(ref, options.session, limit=1)
    try:
        model = project_files.resolve(ref.project, options.model)
    except Conflict as exc:
        raise RequestError(400, f"model must be a path inside the project: {exc.message}") from None
    _, registered = register_model(ref.project, options.session, options.name, notebook=ref.key,
                                   model=str(model), aliases=options.aliases)
    return registered.to_dict()


@dataclass
class Job:
    """A long action the panel polls: progress lines while it runs, then a result or an error."""

    id: str
    kind: str
    notebook: str
    state: str = "running"                      # running | done | failed
    progress: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    message: str | None = None
    hint: str | None = None                     # what to do about a failure, as the panel can
    started_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "notebook": self.notebook, "state": self.state,
                "progress": self.progress[-50:], "result": self.result, "message": self.message,
                "hint": self.hint, "started_at": self.started_at}


class Jobs:
    """Background actions, one worker (verify starts a kernel; two at once would starve the machine)."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlops-job")

    def start(self, kind: str, notebook: str, work: Callable[[Callable[..., None]], dict[str, Any]]) -> Job:
        with self._lock:
            if any(j.state == "running" and j.notebook == notebook for j in self._jobs.values()):
                raise RequestError(409, f"a {kind} of {notebook} is already running; wait for it to finish")
            job = Job(id=f"{kind}-{next(self._ids)}", kind=kind, notebook=notebook)
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise RequestError(404, f"no job {job_id} (jobs are forgotten when the server restarts)")
        return job

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _run(job: Job, work: Callable[[Callable[..., None]], dict[str, Any]]) -> None:
        def progress(*args: Any, **kwargs: Any) -> None:
            job.progress.append(_progress_line(args, kwargs))

        try:
            job.result = work(progress)
            job.state = "done"
        except MlopsError as exc:  # the user's to fix: said as the panel can act on it
            job.message, job.hint, job.state = exc.message, exc.panel_hint, "failed"
        except Exception as exc:  # the panel shows it; the server keeps serving
            job.message, job.state = f"{type(exc).__name__}: {exc}", "failed"


def _progress_line(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The engine's progress call as one line, whatever its shape: (i, n), (message,) or keywords."""
    if len(args) >= 2 and all(isinstance(a, int) for a in args[:2]):
        rest = " ".join(str(a) for a in args[2:])
        return f"cell {args[0]} of {args[1]}" + (f": {rest}" if rest else "")
    parts = [str(a) for a in args] + [f"{k}={v}" for k, v in kwargs.items()]
    return " ".join(parts) or "…"


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise RequestError(400, f"{name} must be true or false")
    return value
