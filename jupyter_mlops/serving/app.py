"""MLflow's scoring app, wrapped: the same routes, payloads, predictions and error bodies, plus monitoring.

MLflow 3's scoring server is a FastAPI app (``mlflow.pyfunc.scoring_server.init(model)``). It is not
rewritten; two thin layers sit around it:

* ``ObservedModel``, the model handed to ``init``: it forwards ``predict`` to the loaded ``PyFuncModel`` and
  notes, in the request's context, what went in and came out, or how it failed: a schema violation (MLflow's
  "Failed to enforce schema", raised by the pyfunc's signature check) or the model's own exception.
  Anything refused before ``predict`` is a bad payload.
* ``MonitoredApp``, an ASGI layer in front of the app: a request id on every response (``X-Request-Id``; a
  client's own id is kept when it sends a sane one), the body size limit (413, before MLflow reads it),
  counters and latency, and three routes of its own: ``GET /metrics`` (Prometheus), ``POST /feedback``
  (true labels by request id) and ``GET /monitoring`` (the window as JSON, for ``drift --live``).

The request id is also a field of a successful JSON prediction: ``{"predictions": [...], "request_id":
"…"}``. Clients read the ``predictions`` key (MLflow's own ``PredictionsResponse`` does, and MLflow itself
adds top-level keys beside it for models that return metadata), so an extra key breaks none of them; error
bodies, CSV answers and unwrapped (LLM-style) answers are left byte for byte as MLflow wrote them, with the
header only. ``--no-request-id-field`` keeps even successful bodies byte-identical.

Refusals of our own use MLflow's error body (``{"error_code": …, "message": …}``), so a client parses one
shape whatever refused it.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from jupyter_mlops import strict_json
from jupyter_mlops.errors import MlopsError
from jupyter_mlops.serving import metrics as m
from jupyter_mlops.serving.monitor import Monitor, Scored

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_PREDICTIONS_OBJECT = b'{"predictions"'
_SIGNATURE_MISMATCH = b"not compatible with model signature"
DRAIN_FACTOR = 4


@dataclass
class Exchange:
    """One request as the layers see it: its id, and what the model was given and gave back."""

    request_id: str
    inputs: Any = None
    outputs: Any = None
    failure: str | None = None


CURRENT: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar("jupyter_mlops_exchange", default=None)


class ObservedModel:
    """The loaded ``PyFuncModel`` as MLflow's app sees it: the same ``predict``, observed (module doc)."""

    def __init__(self, model: Any) -> None:
        self._model = model

    @property
    def metadata(self) -> Any:
        return self._model.metadata

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        exchange = CURRENT.get()
        try:
            outputs = self._model.predict(data, params=params)
        except Exception as exc:
            if exchange is not None:
                message = getattr(exc, "message", "")
                exchange.failure = (m.SCHEMA_VIOLATION if "Failed to enforce schema" in str(message)
                                    else m.MODEL_EXCEPTION)
            raise
        if exchange is not None:
            exchange.inputs, exchange.outputs = data, outputs
        return outputs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def mlflow_error(message: str, error_code: str) -> bytes:
    """MLflow's error body (what ``MlflowException.serialize_as_json`` writes)."""
    return json.dumps({"error_code": error_code, "message": message}).encode()


class MonitoredApp:
    """The ASGI layer in front of MLflow's scoring app (see the module doc)."""

    def __init__(self, scoring_app: Any, monitor: Monitor, *, max_body_bytes: int, request_id_field: bool = True,
                 describe: Callable[[], dict[str, Any]] | None = None) -> None:
        self.scoring_app = scoring_app
        self.monitor = monitor
        self.metrics = monitor.metrics
        self.max_body_bytes = max_body_bytes
        self.request_id_field = request_id_field
        self.describe = describe or (lambda: {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: MLflow's app has nothing of ours to do there
            await self.scoring_app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        incoming = next((v for k, v in scope["headers"] if k == REQUEST_ID_HEADER), None)
        request_id = incoming.decode() if incoming and _SANE_ID.match(incoming) else uuid.uuid4().hex
        sent = _Response(send, request_id.encode(), splice=self.request_id_field and path == "/invocations")
        self.metrics.in_flight.inc()
        try:
            if path == "/metrics":
                await self._metrics(scope, sent)
            elif path == "/feedback":
                await self._feedback(scope, receive, sent, request_id)
            elif path == "/monitoring":
                await self._monitoring(scope, sent)
            elif path == "/invocations" and scope["method"] == "POST":
                await self._score(scope, receive, sent, request_id, started)
            else:
                await self.scoring_app(scope, receive, sent)
        finally:
            self.metrics.in_flight.dec()
            self.metrics.request(m.endpoint_label(path), sent.status, time.perf_counter() - started)

    async def _score(self, scope: Scope, receive: Receive, send: _Response, request_id: str, started: float) -> None:
        body = await _read_body(scope, receive, self.max_body_bytes)
        if body is None:
            self.metrics.error(m.PAYLOAD_TOO_LARGE)
            await send.whole(413, mlflow_error(
                f"the request body is larger than {self.max_body_bytes} bytes (serve --max-body-mb); "
                "send the rows in several requests", "BAD_REQUEST"))
            return
        exchange = Exchange(request_id)
        token = CURRENT.set(exchange)
        try:
            await self.scoring_app(scope, _replay(body, receive), send)
        finally:
            CURRENT.reset(token)
        if send.status < 400 and exchange.outputs is not None:
            scored = Scored(request_id, exchange.inputs, exchange.outputs, _rows(exchange))
            self.metrics.rows.inc(scored.rows)
            self.monitor.submit(scored, time.perf_counter() - started)
        elif send.status >= 400:
            self.metrics.error(_failure(send.status, exchange.failure, send.body))

    async def _metrics(self, scope: Scope, send: _Response) -> None:
        if scope["method"] != "GET":
            await send.whole(405, mlflow_error("GET /metrics", "BAD_REQUEST"))
            return
        from prometheus_client.exposition import choose_encoder

        accept = next((v.decode() for k, v in scope["headers"] if k == b"accept"), "")
        encoder, content_type = choose_encoder(accept)
        output = await asyncio.to_thread(encoder, self.metrics.registry)
        await send.whole(200, output, content_type)

    async def _monitoring(self, scope: Scope, send: _Response) -> None:
        if scope["method"] != "GET":
            await send.whole(405, mlflow_error("GET /monitoring", "BAD_REQUEST"))
            return
        snap, reference = self.monitor.current()
        body = {**self.describe(), "window": self.monitor.window.settings,
                "reference": {"training_input": reference.training_input, "session": reference.session,
                              "note": reference.note, "outputs": sorted(reference.outputs),
                              "outputs_note": reference.outputs_note},
                "snapshot": snap.to_dict() if snap else None, "status": self.monitor.status()}
        await send.whole(200, strict_json.dumps(body).encode(), "application/json")

    async def _feedback(self, scope: Scope, receive: Receive, send: _Response, request_id: str) -> None:
        if scope["method"] != "POST":
            await send.whole(405, mlflow_error("POST /feedback with {\"ids\": [...], \"labels\": [...]}",
                                               "BAD_REQUEST"))
            return
        body = await _read_body(scope, receive, self.max_body_bytes)
        if body is None:
            self.metrics.error(m.PAYLOAD_TOO_LARGE)
            await send.whole(413, mlflow_error(f"the feedback is larger than {self.max_body_bytes} bytes; send it "
                                               "in several requests", "BAD_REQUEST"))
            return
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            self.metrics.error(m.BAD_FEEDBACK)
            await send.whole(400, mlflow_error(f"the feedback is not JSON ({exc})", "BAD_REQUEST"))
            return
        try:
            result = await asyncio.to_thread(self.monitor.label, parsed)
        except MlopsError as exc:
            self.metrics.error(m.UNKNOWN_FEEDBACK_ID if exc.status == 404 else m.BAD_FEEDBACK)
            code = "RESOURCE_DOES_NOT_EXIST" if exc.status == 404 else "BAD_REQUEST"
            await send.whole(exc.status, mlflow_error(exc.message, code))
            return
        await send.whole(200, json.dumps({**result, "request_id": request_id}).encode(), "application/json")


def _failure(status: int, failure: str | None, body: bytes) -> str:
    """The kind of a refused or failed scoring request. MLflow converts a JSON payload to the signature's
    types while parsing it, before ``predict``: its "not compatible with model signature" is a schema
    violation too."""
    if status == 504:
        return m.TIMEOUT
    if failure:
        return failure
    return m.SCHEMA_VIOLATION if _SIGNATURE_MISMATCH in body else m.BAD_PAYLOAD


def _rows(exchange: Exchange) -> int:
    for value in (exchange.inputs, exchange.outputs):
        try:
            return len(value)
        except TypeError:
            continue
    return 1


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it exceeds ``limit`` bytes. An oversized body is still read to
    its end (and dropped), up to ``DRAIN_FACTOR`` times the limit, so that a client still sending it reads
    the 413 instead of a reset connection; beyond that the connection is closed after the answer."""
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
    too_large = declared is not None and declared.isdigit() and int(declared) > limit * DRAIN_FACTOR
    chunks: list[bytes] = []
    size = 0
    while not too_large:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > limit * DRAIN_FACTOR:
            too_large = True
        if not message.get("more_body", False):
            break
    return None if too_large or size > limit else b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over the body already read, then waits on the real one (a disconnect)."""
    delivered = False

    async def replay() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _Response:
    """The ``send`` MLflow's app (and ours) writes to: adds the request id, and for a successful JSON
    prediction its field (the start message is held until the body is known, to fix Content-Length)."""

    def __init__(self, send: Send, request_id: bytes, *, splice: bool) -> None:
        self._send, self._id, self._splice = send, request_id, splice
        self.status = 500
        self.body = b""
        self._start: dict[str, Any] | None = None
        self._chunks: list[bytes] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = [*message.get("headers", []), (REQUEST_ID_HEADER, self._id)]
            self._start = {**message, "headers": headers}
            return
        if message["type"] != "http.response.body" or self._start is None:
            await self._send(message)
            return
        self._chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self._chunks)
        if self._splice and self.status == 200 and body.startswith(_PREDICTIONS_OBJECT) and body.endswith(b"}"):
            body = body[:-1] + b', "request_id": "' + self._id + b'"}'
        headers = [(k, str(len(body)).encode() if k.lower() == b"content-length" else v)
                   for k, v in self._start["headers"]]
        await self._send({**self._start, "headers": headers})
        self._start = None
        await self._send({"type": "http.response.body", "body": body, "more_body": False})
        self.body = body

    async def whole(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        await self({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await self({"type": "http.response.body", "body": body, "more_body": False})
