"""A tracked session against its re-run, row by row; and ``--expect`` gates on the re-run's metrics. Pure.

Rows name what a user would look for: ``param lr``, ``input data/churn.csv`` (why results moved),
``file model.joblib``, ``metric auc``, ``expect auc>=0.8``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops import inputs
from jupyter_mlops.errors import BadInput
from jupyter_mlops.journal import latest_values

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}


@dataclass(frozen=True)
class Expectation:
    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"

    def holds(self, value: float | None) -> bool:
        """Does a metric's value pass this gate (a missing or NaN value never does)?"""
        return value is not None and not math.isnan(value) and _OPERATORS[self.op](value, self.value)


@dataclass(frozen=True)
class RerunFacts:
    """What the clean re-run produced."""

    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    files: dict[str, str | None] = field(default_factory=dict)    # written by the tracked session → md5 now
    inputs: dict[str, str | None] = field(default_factory=dict)   # read by the tracked session → md5 now
    error: str | None = None                                      # the re-run failed: where and why
    tracked_itself: bool = True                                   # the notebook has a tracking cell


def parse_expectation(text: str) -> Expectation:
    match = inputs.GATE.fullmatch(text)
    if not match:
        raise BadInput(f"--expect {text!r}: write METRIC OP NUMBER, e.g. 'auc>=0.8' (OP: >= <= == != > <)")
    return Expectation(match.group(1), match.group(2), float(match.group(3)))


def tracked_values(session: dict) -> tuple[dict, dict, dict, dict]:
    """params, metrics (last value of each), files written (last md5), inputs (md5 when first read)."""
    params, metrics = latest_values(session["params"]), latest_values(session["metrics"])
    written: dict[str, str | None] = {}
    inputs: dict[str, str | None] = {}
    for f in session["files"]:
        if f["mode"] == "write":
            written[f["path"]] = f["md5"]
        elif f["path"] not in inputs and f["path"] not in written:
            inputs[f["path"]] = f["md5"]
    return params, metrics, written, inputs


def compare_runs(session: dict, rerun: RerunFacts, *, tolerance: float,
                 gates: Sequence[Expectation] = ()) -> list[dict]:
    params, metrics, written, inputs = tracked_values(session)
    rows = [_row(f"param {k}", v, rerun.params.get(k), v == rerun.params.get(k)) for k, v in params.items()]
    rows += [_row(f"input {p}", md5, rerun.inputs.get(p), md5 == rerun.inputs.get(p)) for p, md5 in inputs.items()]
    rows += [_row(f"file {p}", md5, rerun.files.get(p), md5 is not None and md5 == rerun.files.get(p))
             for p, md5 in written.items()]
    rows += [_row(f"metric {k}", v, rerun.metrics.get(k), _close(v, rerun.metrics.get(k), tolerance))
             for k, v in metrics.items()]
    for gate in gates:
        now = rerun.metrics.get(gate.metric)
        rows.append(_row(f"expect {gate}", None, now, gate.holds(now)))
    return rows


def summarize(notebook: str, session: dict, rerun: RerunFacts, rows: list[dict]) -> tuple[bool, str]:
    """The verdict and one line saying it: what differs, which gates failed, or that all agree."""
    if rerun.error:
        return False, f"{notebook} did not re-run cleanly: {rerun.error}"
    failed_gates = [r for r in rows if r["what"].startswith("expect ") and not r["ok"]]
    differs = [r["what"] for r in rows if not r["what"].startswith("expect ") and not r["ok"]]
    parts = []
    if differs:
        parts.append(f"differs from tracked session {session['id']}: {', '.join(differs)}")
    if failed_gates:
        parts.append("expectation failed: " + ", ".join(_gate_failure(r) for r in failed_gates))
    if not rerun.tracked_itself:
        parts.append("the notebook has no %mlops_track cell, so the re-run's metrics and params are unknown")
    if parts:
        return False, f"{notebook}: " + "; ".join(parts)
    return True, (f"{notebook} reproduces tracked session {session['id']} "
                  f"({len(rows)} checks agree)")


def _gate_failure(row: dict) -> str:
    got = "no such metric" if row["now"] is None else f"got {row['now']:g}"
    return f"{row['what'][len('expect '):]} ({got})"


def _row(what: str, tracked: Any, now: Any, ok: bool) -> dict:
    return {"what": what, "tracked": tracked, "now": now, "ok": bool(ok)}


def _close(tracked: float | None, now: float | None, tolerance: float) -> bool:
    if tracked is None or now is None:
        return tracked is None and now is None
    if math.isnan(tracked) or math.isnan(now):
        return math.isnan(tracked) and math.isnan(now)
    return abs(tracked - now) <= tolerance
