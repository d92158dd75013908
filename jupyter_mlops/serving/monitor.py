"""The monitor: one background thread that does every piece of statistics work off the request's path.

A scored request costs the request path three O(1) steps (``submit``): its predictions are remembered for
feedback, its latency noted, and the request handed over on a queue. Every ``DRAIN_S`` seconds (not at each
request, which would make the thread contend for the GIL with every request being answered) the thread
drains the queue into the window (only the rows the reservoir takes are copied), and every ``STATS_S``
seconds, when something changed, recomputes the snapshot from the sample (statistics, drift, the
probabilities of sampled rows that have none yet: one ``predict_proba`` call on at most the sample), so the
statistics' cost is bounded by the sample, not by the traffic. A pass that took more CPU than
``STATS_SHARE`` of the interval (a busy server: the thread waits for the GIL between its numpy calls, and
each of its calls makes a request wait) spaces the next one out so that the statistics never take more than
that share of a core from the requests. It saves the window every ``SAVE_S`` seconds
when it changed (and at a clean stop: a killed server loses at most that much of its window), and rewrites
the server's record (requests/s, p50/p99 over the last minute, drift per input) every ``STATUS_S`` seconds.

If the thread falls behind by more than ``QUEUE_LIMIT`` requests, new requests skip the window (counted in
``mlops_serving_window_dropped_rows``) rather than hold their frames in memory.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jupyter_mlops.errors import MlopsError, one_line
from jupyter_mlops.serving import state
from jupyter_mlops.serving.feedback import Feedback, scores_of
from jupyter_mlops.serving.feedback import quality as feedback_quality
from jupyter_mlops.serving.metrics import ServingMetrics
from jupyter_mlops.serving.reference import Reference
from jupyter_mlops.serving.statistics import Snapshot, snapshot
from jupyter_mlops.serving.window import Deferred, Window, as_columns

log = logging.getLogger("jupyter_mlops.serving")

DRAIN_S = 0.25
STATS_S = 2.0
STATS_SHARE = 0.01  # of one core, at most, for the recomputed statistics (they share the requests' GIL)
SAVE_S = 15.0
STATUS_S = 2.0
QUEUE_LIMIT = 10_000
LATENCY_WINDOW_S = 60.0
PROBABILITY = "probability"


def next_refresh(now: float, cpu_spent: float) -> float:
    """When the next statistics pass may start, one having just taken ``cpu_spent`` CPU seconds: ``STATS_S``
    later, or later still so that the passes take at most ``STATS_SHARE`` of a core (module doc)."""
    return now + max(STATS_S, cpu_spent / STATS_SHARE)


@dataclass
class Scored:
    """One answered ``/invocations`` request, as the monitor receives it."""

    request_id: str
    inputs: Any       # the model input MLflow parsed (a DataFrame, usually)
    outputs: Any      # what the model returned
    rows: int


class Probabilities:
    """The class probabilities of a classifier behind the pyfunc (scikit-learn's ``predict_proba``), for
    sampled rows and labelled ones; absent for models without them."""

    def __init__(self, raw_model: Any) -> None:
        self.model = raw_model
        classes = getattr(raw_model, "classes_", None)
        self.classes = [c.item() if isinstance(c, np.generic) else c for c in classes] if classes is not None else []
        self.features = [str(f) for f in getattr(raw_model, "feature_names_in_", [])] or None
        self.positive = self.classes[-1] if len(self.classes) == 2 else None
        self.failed: str | None = None

    @classmethod
    def of(cls, pyfunc_model: Any) -> Probabilities | None:
        try:
            raw = pyfunc_model.get_raw_model()
        except Exception:
            return None
        return cls(raw) if callable(getattr(raw, "predict_proba", None)) and hasattr(raw, "classes_") else None

    def columns(self) -> list[str]:
        if self.positive is not None:
            return [PROBABILITY]
        return [f"{PROBABILITY}_{c}" for c in self.classes[:20]]

    def of_frame(self, frame: Any) -> np.ndarray | None:
        """The probabilities (rows × classes) of a frame of model inputs; None once they failed."""
        if self.failed:
            return None
        try:
            if self.features is not None and hasattr(frame, "columns"):
                frame = frame[self.features]
            return np.asarray(self.model.predict_proba(frame), dtype=float)
        except Exception as exc:
            self.failed = one_line(exc)
            log.warning("class probabilities are not available: %s", self.failed)
            return None

    def positive_of(self, inputs: Any) -> list[float] | None:
        """The positive class's probability of each row of a frame, or of a ``Compact`` copy of one."""
        if isinstance(inputs, Compact):
            import pandas as pd

            inputs = pd.DataFrame(inputs.values, columns=inputs.names)
        proba = self.of_frame(inputs)
        return None if proba is None or self.positive is None else proba[:, -1].tolist()


@dataclass(frozen=True)
class Compact:
    """A request's input rows kept for its feedback as one array, not the frame MLflow parsed: thousands of
    pending DataFrames (each dozens of objects) would make every full garbage collection of the server
    slower, and stall the requests it interrupts."""

    names: list[str]
    values: np.ndarray

    @classmethod
    def of(cls, columns: Mapping[str, Any]) -> Compact | None:
        """The rows of a request's input columns (``as_columns``), already checked to be its rows."""
        if not columns:
            return None
        return cls(list(columns), np.column_stack([np.asarray(v) for v in columns.values()]))


class Monitor:
    """The window, the feedback and the snapshot of one served version, kept by one thread."""

    def __init__(self, *, reference: Reference, window: Window, feedback: Feedback, metrics_of: Callable[
                 [Callable[[], tuple[Snapshot | None, Any]]], ServingMetrics], root: Path, name: str,
                 record: Mapping[str, Any], probabilities: Probabilities | None = None,
                 training_outputs: Callable[[], None] | None = None) -> None:
        self.reference, self.window, self.feedback = reference, window, feedback
        self.probabilities = probabilities
        self.root, self.name, self.record = root, name, dict(record)
        self.metrics = metrics_of(self.current)
        self._training_outputs = training_outputs
        self._queue: queue.SimpleQueue[Scored | None] = queue.SimpleQueue()
        self._lock = threading.Lock()       # the feedback, shared with /feedback's thread
        self._snapshot: Snapshot | None = None
        self._latencies: deque[tuple[float, float]] = deque(maxlen=100_000)
        self._changed = self._unsaved = True
        self._state_refused = False  # the path rule refused .mlops/serving: said once
        self._stop = threading.Event()
        self.cpu_s = 0.0  # the monitor thread's own CPU time: what the statistics cost, whatever the traffic
        self._thread = threading.Thread(target=self._run, name="jupyter-mlops-monitor", daemon=True)
        self.started_at = time.time()

    # --- the request path ------------------------------------------------------------------------------

    def submit(self, scored: Scored, seconds: float) -> None:
        """A scored request (called by the app on the request's path: constant time)."""
        self._latencies.append((time.monotonic(), seconds))
        outputs = as_columns(scored.outputs, "prediction")
        if outputs is not None and outputs[0]:
            primary = next(iter(outputs[0].values()))
            with self._lock:
                self.feedback.remember(scored.request_id, primary,
                                       scored.inputs if self.probabilities is not None else None)
        if self._queue.qsize() >= QUEUE_LIMIT:
            self.metrics.dropped_rows.inc(scored.rows)
            return
        self._queue.put(scored)

    def current(self) -> tuple[Snapshot | None, Reference]:
        return self._snapshot, self.reference

    def label(self, body: Any) -> dict[str, Any]:
        """A ``/feedback`` body applied (on the feedback request's thread; MlopsError when refused)."""
        probabilities = self.probabilities.positive_of if self.probabilities is not None else None
        with self._lock:  # the request path waits on this lock: only the bookkeeping is done under it
            taken = self.feedback.take(body)
        scores = scores_of(taken, probabilities)
        with self._lock:
            result = self.feedback.record(taken, scores)
        self.metrics.feedback_rows.inc(result["labelled_rows"])
        self._changed = self._unsaved = True
        return result

    # --- the thread ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the thread after it has taken in what was queued, save the window, remove the record (once)."""
        if self._stop.is_set():
            return
        self._queue.put(None)
        self._stop.set()
        self._thread.join(timeout=30)
        self._keeping(self._save)
        self._keeping(lambda: state.remove(self.root, state.server_path(self.root, self.name)))

    def _run(self) -> None:
        if self._training_outputs is not None:
            try:
                self._training_outputs()
            except Exception as exc:
                self.reference.outputs_note = one_line(exc)
        next_stats = next_save = next_status = 0.0
        while True:
            # Woken every DRAIN_S, not by each request: the requests queued meanwhile are taken in one burst,
            # so the thread does not contend for the GIL with every request being answered.
            self._stop.wait(DRAIN_S)
            item = self._next()
            while item:
                self._take(item)
                item = self._next()
            self.cpu_s = time.thread_time()
            if item is None:  # close()
                break
            now = time.monotonic()
            try:
                if now >= next_stats and self._changed:
                    spent = time.thread_time()
                    self._refresh()
                    next_stats = next_refresh(now, time.thread_time() - spent)
                if now >= next_save and self._unsaved:
                    self._keeping(self._save)
                    next_save = now + SAVE_S
                if now >= next_status:
                    self._keeping(self._publish)
                    next_status = now + STATUS_S
            except Exception:  # a bug of ours must not stop the monitoring of later traffic
                log.exception("the serving monitor failed a pass; it goes on")
        self._refresh()

    def _next(self) -> Scored | bool | None:
        """The next queued request, None when closing, False when the queue is empty."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return False

    def _take(self, scored: Scored) -> None:
        """A request into the window (its rows are looked at only when the reservoir takes some), and its
        pending feedback's inputs made compact."""
        inputs = as_columns(scored.inputs, "input")  # once: it is most of what a one-row request costs here
        columns_in = inputs[0] if inputs is not None and inputs[1] == scored.rows else {}
        if self.probabilities is not None:
            compact = Compact.of(columns_in)
            with self._lock:
                pending = self.feedback.pending.get(scored.request_id)
                if pending is not None and pending.inputs is scored.inputs:
                    pending.inputs = compact

        def row_at(positions: list[int]) -> list[Deferred]:
            outputs = as_columns(scored.outputs, "prediction")
            columns_out = outputs[0] if outputs is not None and outputs[1] == scored.rows else {}
            return [Deferred(columns_in, columns_out, p) for p in positions]

        self.window.add(scored.rows, row_at)
        self._changed = self._unsaved = True

    def _refresh(self) -> None:
        rows = self.window.sample()
        self._fill_probabilities(rows)
        with self._lock:
            labelled, received = list(self.feedback.labelled), self.feedback.received_rows
        quality = feedback_quality(labelled, received, self.probabilities.positive if self.probabilities else None)
        snap = snapshot(rows, self.reference, window_rows=self.window.window_rows,
                        total_rows=self.window.total_rows, quality=quality)
        self._snapshot = snap
        self._changed = False

    def _fill_probabilities(self, rows: list[list[dict]]) -> None:
        """Class probabilities for the sampled rows that have none yet: one call for all of them."""
        if self.probabilities is None or self.probabilities.failed:
            return
        missing = [r for r in rows if not any(k.startswith(PROBABILITY) for k in r[1])]
        if not missing:
            return
        import pandas as pd

        proba = self.probabilities.of_frame(pd.DataFrame([r[0] for r in missing]))
        if proba is None:
            return
        names = self.probabilities.columns()
        for row, p in zip(missing, proba, strict=True):
            if self.probabilities.positive is not None:
                row[1][PROBABILITY] = float(p[-1])
            else:
                row[1].update({name: float(v) for name, v in zip(names, p, strict=False)})

    def _keeping(self, write: Callable[[], None]) -> None:
        """``write`` the state under ``.mlops/serving/``; a refusal of the path rule (a link out of the
        project, a FIFO) is one warning in the log, and the traffic is still served and monitored."""
        try:
            write()
        except MlopsError as exc:
            if not self._state_refused:
                self._state_refused = True
                log.warning("the serving state is not kept: %s", exc.message)

    def _save(self) -> None:
        with self._lock:
            feedback = self.feedback.to_state()
        state.write_json(self.root, state.window_path(self.root, self.name), {
            "model": self.record["model"], "version": self.record["version"], "saved_at": time.time(),
            "window": self.window.to_state(), "feedback": feedback})
        self._unsaved = False

    def _publish(self) -> None:
        state.write_json(self.root, state.server_path(self.root, self.name), {
            **self.record, "pid": os.getpid(), "host_name": socket.gethostname(), "started_at": self.started_at,
            "updated_at": time.time(), "status": self.status()})

    def status(self) -> dict[str, Any]:
        """What the panel shows live: traffic and latency over the last minute, and drift per input."""
        now = time.monotonic()
        recent = [s for t, s in list(self._latencies) if now - t <= LATENCY_WINDOW_S]
        span = min(LATENCY_WINDOW_S, max(1.0, time.time() - self.started_at))
        p50, p99 = (np.quantile(recent, [0.5, 0.99]) * 1000).tolist() if recent else (None, None)
        snap = self._snapshot
        columns = [{"name": c.name, "psi": c.psi, "verdict": c.verdict, "note": c.note}
                   for c in (snap.drift.columns if snap and snap.drift else [])]
        return {"requests_per_s": len(recent) / span, "p50_ms": p50, "p99_ms": p99,
                "window_rows": snap.window_rows if snap else 0, "total_rows": snap.total_rows if snap else 0,
                "verdict": snap.drift.verdict if snap and snap.drift else None,
                "drift_note": snap.drift.note if snap and snap.drift else None, "columns": columns,
                "accuracy": snap.quality.get("accuracy") if snap else None, "monitor_cpu_s": self.cpu_s}
