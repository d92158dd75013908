"""Ground truth by request id: true labels sent after the fact become accuracy, AUC and class rates.

Every answered ``/invocations`` request is kept as *pending* for the last ``limit`` rows: its id, its
predictions as the model returned them and, for a classifier, its input frame, so that the probabilities
are computed when the labels come, not on the request's path (which pays one dict insert).
``POST /feedback`` with ``{"ids": [...], "labels": [...]}`` (one label per id for a one-row request, a
list of labels, one per row, otherwise) moves the rows to the *labelled* window, the last ``limit``
labelled rows, over which

* ``accuracy``: the share of rows whose prediction equals the label;
* ``auc``: the ROC AUC of the positive class's probability (binary classifiers with ``predict_proba``),
  by the rank-sum formula, ties counted half;
* ``class_rate``: the share of each predicted class among the labelled rows (the business rate; the rate
  over all traffic is the prediction's frequency in the window's statistics).

A feedback naming an unknown id (never answered, or older than the pending window), or whose labels do not
match the rows, is refused whole: nothing of it is counted, and the answer says which ids and why.
After a restart the pending predictions are kept, their input rows are not (they are the traffic, not a
sample of it): labels for them count in the accuracy, not in the AUC.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jupyter_mlops.errors import BadInput, NotFound
from jupyter_mlops.serving.window import plain

MAX_IDS = 10_000
"""At most this many ids in one feedback request."""
MAX_REPORTED = 5


@dataclass
class Pending:
    predictions: Sequence[Any]  # as the model returned them (a numpy array): converted only when labelled
    inputs: Any = None   # the model input as scored (the frame, until the monitor keeps it compact)


class Feedback:
    """Pending predictions by request id and the labelled window (see the module doc)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.pending: OrderedDict[str, Pending] = OrderedDict()
        self.pending_rows = 0
        self.labelled: deque[tuple[Any, Any, float | None]] = deque(maxlen=limit)  # (prediction, label, proba)
        self.received_rows = 0

    def remember(self, request_id: str, predictions: Sequence[Any], inputs: Any = None) -> None:
        """A scored request, waiting for its labels; the oldest are forgotten past ``limit`` rows."""
        old = self.pending.pop(request_id, None)
        if old is not None:
            self.pending_rows -= len(old.predictions)
        self.pending[request_id] = Pending(predictions, inputs)
        self.pending_rows += len(predictions)
        while self.pending_rows > self.limit and len(self.pending) > 1:
            _, dropped = self.pending.popitem(last=False)
            self.pending_rows -= len(dropped.predictions)

    def label(self, body: Any, probabilities: Callable[[Any], list[float] | None] | None = None) -> dict:
        """Apply a ``/feedback`` body in one go (``take``, then ``record``)."""
        taken = self.take(body)
        return self.record(taken, scores_of(taken, probabilities))

    def take(self, body: Any) -> list[tuple[Pending, list[Any]]]:
        """The pending requests a ``/feedback`` body labels, removed from the pending ones, each with its
        labels. Raises BadInput / NotFound, taking nothing. (Quick: the server holds its lock for it.)"""
        ids, labels = _parse(body)
        unknown = [i for i in ids if i not in self.pending]
        if unknown:
            shown = ", ".join(unknown[:MAX_REPORTED]) + (f" and {len(unknown) - MAX_REPORTED} more"
                                                         if len(unknown) > MAX_REPORTED else "")
            raise NotFound(f"unknown request id(s): {shown} (never answered here, or older than the last "
                           f"{self.limit} rows kept for feedback)")
        if len(set(ids)) != len(ids):
            raise BadInput("an id appears twice in the feedback; send each request's labels once")
        per_id = []
        for request_id, label in zip(ids, labels, strict=True):
            rows = len(self.pending[request_id].predictions)
            values = label if isinstance(label, list) else [label]
            if len(values) != rows:
                raise BadInput(f"request {request_id} scored {rows} row(s), but {len(values)} label(s) were sent "
                               "(a list of one label per row, or one label for a one-row request)")
            per_id.append(values)
        taken = []
        for request_id, values in zip(ids, per_id, strict=True):
            pending = self.pending.pop(request_id)
            self.pending_rows -= len(pending.predictions)
            taken.append((pending, values))
        return taken

    def record(self, taken: list[tuple[Pending, list[Any]]], scores: list[list[float] | None]) -> dict[str, int]:
        """The taken rows into the labelled window, with the positive class's probability of each when known."""
        added = 0
        for (pending, values), proba in zip(taken, scores, strict=True):
            for i, (prediction, label) in enumerate(zip(pending.predictions, values, strict=True)):
                self.labelled.append((plain(prediction), plain(label), None if proba is None else float(proba[i])))
                added += 1
        self.received_rows += added
        return {"labelled_rows": added, "window_labelled_rows": len(self.labelled)}

    def quality(self, positive: Any = None) -> dict[str, Any]:
        return quality(list(self.labelled), self.received_rows, positive)

    def to_state(self) -> dict[str, Any]:
        return {"limit": self.limit, "received_rows": self.received_rows,
                "pending": [[k, [plain(p) for p in v.predictions]] for k, v in self.pending.items()],
                "labelled": [list(t) for t in self.labelled]}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], limit: int) -> Feedback:
        fb = cls(limit)
        fb.received_rows = int(state.get("received_rows", 0))
        for request_id, predictions in state.get("pending", []):
            fb.remember(str(request_id), predictions)
        fb.labelled.extend(tuple(t) for t in state.get("labelled", [])[-limit:])
        return fb


def scores_of(taken: list[tuple[Pending, list[Any]]],
              probabilities: Callable[[Any], list[float] | None] | None) -> list[list[float] | None]:
    """The positive class's probability of each taken request's rows (``probabilities(inputs)``), None
    where the inputs or the probabilities are unknown: the model's work, done outside the server's lock."""
    return [probabilities(p.inputs) if probabilities and p.inputs is not None else None for p, _ in taken]


def quality(labelled: Sequence[tuple[Any, Any, float | None]], received_rows: int, positive: Any = None) -> dict:
    """Accuracy, AUC (with ``positive``, the class whose probability is kept) and class rates of labelled rows."""
    n = len(labelled)
    if not n:
        return {"labelled_rows": 0, "received_rows": received_rows, "accuracy": None, "auc": None,
                "class_rate": {}}
    correct = sum(same(p, y) for p, y, _ in labelled)
    scored = [(s, y) for _, y, s in labelled if s is not None]
    auc = None
    if positive is not None and scored:
        auc = roc_auc([s for s, _ in scored], [same(y, positive) for _, y in scored])
    counts: dict[str, int] = {}
    for p, _, _ in labelled:
        counts[str(p)] = counts.get(str(p), 0) + 1
    return {"labelled_rows": n, "received_rows": received_rows, "accuracy": correct / n, "auc": auc,
            "auc_rows": len(scored), "class_rate": {k: v / n for k, v in sorted(counts.items())}}


def _parse(body: Any) -> tuple[list[str], list[Any]]:
    hint = 'send {"ids": ["<X-Request-Id of a response>", ...], "labels": [<true label>, ...]}'
    if not isinstance(body, Mapping) or set(body) - {"ids", "labels"} or "ids" not in body or "labels" not in body:
        raise BadInput(f"a feedback is a JSON object with exactly the keys 'ids' and 'labels'; {hint}")
    ids, labels = body["ids"], body["labels"]
    if not isinstance(ids, list) or not isinstance(labels, list) or len(ids) != len(labels) or not ids:
        raise BadInput(f"'ids' and 'labels' must be non-empty lists of the same length; {hint}")
    if len(ids) > MAX_IDS:
        raise BadInput(f"at most {MAX_IDS} ids per feedback; send them in several requests")
    if not all(isinstance(i, str) for i in ids):
        raise BadInput(f"every id is a string (a response's X-Request-Id); {hint}")
    for label in labels:
        for value in label if isinstance(label, list) else [label]:
            if not (value is None or isinstance(value, (str, int, float, bool))):
                raise BadInput("a label is a number, a string or a boolean (a list of them for a request of "
                               "several rows)")
    return ids, labels


def same(a: Any, b: Any) -> bool:
    """Equal as labels: numbers by value (1 == 1.0 == True), anything else by text."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return str(a) == str(b)


def roc_auc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """The ROC AUC by the rank-sum (Mann-Whitney) formula, ties averaged; None with one class only."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
