"""REST endpoints under ``/mlops/``: thin Tornado handlers, one per endpoint, all behind Jupyter's auth.

The work lives in :mod:`history`, :mod:`actions`, :mod:`profiles` and :mod:`sweeps`; here requests are
size-checked, their notebook path validated against the server root, their other fields parsed by
``inputs`` (the parsing the command line shares), and every error answered as JSON
``{"code", "message", "hint"}``: :func:`refusal` is the one place a domain error (``errors.MlopsError``)
becomes an HTTP status.

Bodies are streamed (``stream_request_body``) so the size check runs on the headers, before any of the
body is read: Tornado otherwise buffers a whole body — up to the server's 512 MB limit — before
``prepare()`` sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop

from jupyter_mlops import __version__, inputs, strict_json
from jupyter_mlops.errors import MlopsError
from jupyter_mlops.server import actions, history, profiles, serving, sweeps
from jupyter_mlops.server.paths import NotebookRef, RequestError, notebook_ref

NAMESPACE = "mlops"
MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_BYTES = 4 * 1024
MAX_RUNS_PAGE = 1000
DEFAULT_RUNS_PAGE = 500


@tornado.web.stream_request_body
class MlopsHandler(APIHandler):
    """Shared checks: request size, the notebook path, and JSON errors that say what to do."""

    async def prepare(self) -> None:
        await super().prepare()  # authentication first: a stranger learns nothing, not even a size limit
        self._body = bytearray()
        if len(self.request.query) > MAX_QUERY_BYTES:
            raise RequestError(413, "the request is too large")
        declared = self.request.headers.get("Content-Length", "0")
        if not (declared.isascii() and declared.isdigit()) or int(declared) > MAX_BODY_BYTES:
            raise RequestError(413, f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB")
        # A chunked body declares no length: Tornado drops the connection once it passes the limit.
        self.request.connection.set_max_body_size(MAX_BODY_BYTES)

    def data_received(self, chunk: bytes) -> None:
        self._body += chunk

    @property
    def root(self) -> Path:
        return Path(self.settings["server_root_dir"]).expanduser()

    @property
    def jobs(self) -> actions.Jobs:
        return self.settings["jupyter_mlops_jobs"]

    def query(self, name: str) -> str | None:
        """A query argument as sent (Tornado would strip it: ``id%0A`` must not pass for ``id``)."""
        return self.get_query_argument(name, None, strip=False)

    def notebook(self, requested: object | None = None) -> NotebookRef:
        return notebook_ref(self.root, self.query("notebook") if requested is None else requested)

    def existing_notebook(self, requested: object) -> NotebookRef:
        """For export and verify, which read the notebook: a missing one is refused before any work."""
        ref = self.notebook(requested)
        if not ref.path.is_file():
            raise RequestError(404, f"no notebook {ref.key} in this project")
        return ref

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(bytes(self._body) or b"{}")
        except ValueError as exc:
            raise RequestError(400, f"the request body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise RequestError(400, "the request body must be a JSON object")
        return data

    async def respond(self, work: Callable[[], Any], status: int = 200) -> None:
        """Run ``work`` off the event loop (SQLite, file writes) and send its result as JSON."""
        result = await IOLoop.current().run_in_executor(None, work)
        self.set_status(status)
        self.finish(_json(result))

    def page(self) -> tuple[int, int | None]:
        """``limit`` and ``offset`` of a list of cell runs: a 10,000-cell session is read a page at a time
        (``offset`` 0 is the first cell run)."""
        limit, offset = self.query("limit"), self.query("offset")
        return (DEFAULT_RUNS_PAGE if limit is None else inputs.whole_number(limit, "limit", low=1, high=MAX_RUNS_PAGE),
                None if offset is None else inputs.whole_number(offset, "offset"))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        answer = refusal(kwargs.get("exc_info", (None, None, None))[1])
        if answer is not None:
            self.set_status(answer[0])
        else:  # our bug (a 500) or Tornado's own error (403 unauthenticated, 405 …): its status stands
            answer = status_code, {"code": status_code, "message": self._reason, "hint": None}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(answer[1]))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if refusal(value) is None:  # refusals are answers, not server faults
            super().log_exception(typ, value, tb)


def refusal(exc: BaseException | None) -> tuple[int, dict[str, Any]] | None:
    """The HTTP answer to a domain error: its class's status (400 bad input, 404 not found, 409 conflict,
    or a :class:`RequestError`'s own) and the body the panel shows, with the hint that applies there.
    None for anything else: a bug of ours, answered 500 and logged."""
    if not isinstance(exc, MlopsError):
        return None
    return exc.status, {"code": exc.status, "message": exc.message, "hint": exc.panel_hint}


class InfoHandler(MlopsHandler):
    """``GET /mlops/info``: the panel's probe that the server extension is installed."""

    @tornado.web.authenticated
    async def get(self) -> None:
        self.finish(json.dumps({"version": __version__}))


class SessionsHandler(MlopsHandler):
    """``GET /mlops/sessions?notebook=PATH``: the notebook's sessions, newest first."""

    @tornado.web.authenticated
    async def get(self) -> None:
        ref = self.notebook()
        await self.respond(lambda: history.sessions(ref))


class SessionHandler(MlopsHandler):
    """``GET /mlops/sessions/ID?notebook=PATH[&limit=N&offset=K]``: one session with its files, params,
    metrics and a page of its cell runs (the latest ``limit``, default 500, unless ``offset`` is given);
    ``cells`` is how many there are and ``runs_offset`` where the page starts."""

    @tornado.web.authenticated
    async def get(self, session_id: str) -> None:
        ref, (limit, offset) = self.notebook(), self.page()
        session_id = inputs.session_id(session_id)
        await self.respond(lambda: history.session(ref, session_id, limit=limit, offset=offset))


class CompareHandler(MlopsHandler):
    """``GET /mlops/compare?notebook=PATH&a=ID&b=ID``: two sessions side by side."""

    @tornado.web.authenticated
    async def get(self) -> None:
        ref = self.notebook()
        a, b = inputs.session_id(self.query("a"), "a"), inputs.session_id(self.query("b"), "b")
        await self.respond(lambda: history.compare(ref, a, b))


class ProfilesHandler(MlopsHandler):
    """``GET /mlops/profiles?notebook=PATH``: the latest session's data profiles, with drift against the one
    before (``server/profiles.py``)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        ref = self.notebook()
        await self.respond(lambda: profiles.profiles(ref))


class ServingHandler(MlopsHandler):
    """``GET /mlops/serving?notebook=PATH``: the running model servers of the notebook's registered models,
    with their live traffic, latency and drift (``server/serving.py``)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        ref = self.notebook()
        await self.respond(lambda: serving.servers(ref, self.root))


class SweepsHandler(MlopsHandler):
    """``GET /mlops/sweeps?notebook=PATH``: the project's sweeps, newest first, each its table
    (``server/sweeps.py``)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        ref = self.notebook()
        await self.respond(lambda: sweeps.sweeps(ref))


class SweepApplyHandler(MlopsHandler):
    """``POST /mlops/sweeps/apply {notebook, experiment}``: ``dvc exp apply`` of one sweep experiment."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.body()
        ref = self.existing_notebook(body.get("notebook"))
        await self.respond(lambda: sweeps.apply(ref, body.get("experiment")))


class ExportHandler(MlopsHandler):
    """``POST /mlops/export {notebook, stages?, force?, dry_run?, allow_dirty?}``: dvc.yaml, params.yaml."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.body()
        ref, options = self.existing_notebook(body.get("notebook")), actions.export_options(body)
        await self.respond(lambda: actions.export(ref, options))


class VerifyHandler(MlopsHandler):
    """``POST /mlops/verify {notebook, tolerance?, expect?}``: starts a verify job (202 with the job)."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.body()
        ref, options = self.existing_notebook(body.get("notebook")), actions.verify_options(body)
        job = self.jobs.start("verify", ref.key, lambda progress: actions.verify(ref, options, progress))
        self.set_status(202)
        self.finish(json.dumps(job.to_dict()))


class ModelsHandler(MlopsHandler):
    """``GET /mlops/models?notebook=PATH&session=ID``: the models the session wrote, with registry versions."""

    @tornado.web.authenticated
    async def get(self) -> None:
        ref, session = self.notebook(), inputs.session_id(self.query("session"))
        await self.respond(lambda: actions.models(ref, session))


class RegisterHandler(MlopsHandler):
    """``POST /mlops/register {notebook, session, name, model, alias?}``: a registry version of the model,
    refused (409 with what to do) unless the session is reproducible and verified."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.body()
        ref, options = self.existing_notebook(body.get("notebook")), actions.register_options(body)
        await self.respond(lambda: actions.register(ref, options))


class JobHandler(MlopsHandler):
    """``GET /mlops/jobs/ID``: a job's state, progress lines and, when done, its result."""

    @tornado.web.authenticated
    async def get(self, job_id: str) -> None:
        self.finish(_json(self.jobs.get(job_id).to_dict()))


def _json(result: Any) -> str:
    return strict_json.dumps(result)


def setup_handlers(web_app: Any) -> None:
    base = web_app.settings["base_url"]
    web_app.settings.setdefault("jupyter_mlops_jobs", actions.Jobs())
    routes: list[tuple[str, type[MlopsHandler]]] = [
        ("info", InfoHandler),
        ("sessions", SessionsHandler),
        (r"sessions/([^/]+)", SessionHandler),
        ("compare", CompareHandler),
        ("profiles", ProfilesHandler),
        ("serving", ServingHandler),
        ("sweeps", SweepsHandler),
        ("sweeps/apply", SweepApplyHandler),
        ("export", ExportHandler),
        ("verify", VerifyHandler),
        ("models", ModelsHandler),
        ("register", RegisterHandler),
        (r"jobs/([^/]+)", JobHandler),
    ]
    web_app.add_handlers(".*$", [(url_path_join(base, NAMESPACE, path), handler) for path, handler in routes])
