"""Drift between two profiles of the same input: a PSI per column and a verdict per input. Pure.

PSI (population stability index, ``Σ (c − r) · ln(c / r)`` over buckets, shares floored at ``EPSILON``) was
chosen over a KS statistic because it works on what the profile keeps — histograms and top-k counts, not
raw values — for numbers and categories alike, and because its thresholds are the customary ones in
credit-risk and model monitoring: below ``PSI_WARN`` (0.1) the distributions are the same for practical
purposes, from 0.1 to ``PSI_DRIFT`` (0.2) they moved somewhat (``warn``), from 0.2 on they differ
(``drift``). Missing values are one bucket of their own, so a column that starts arriving empty drifts.

* Numbers: the buckets are the reference's histogram bins plus one below and one above its range. The
  current profile's share of each is read off its own histogram's cumulative counts, interpolated linearly
  within its bins (the rebinning the stored edges exist for); integer columns of small range have
  half-integer edges on both sides, so their rebinning is exact.
* Categories: the reference's top-k values plus ``other``. A value the current profile's top-k does not
  list counts as 0 if that profile is complete (its ``other`` is 0), else it falls into ``other``.
* The schema: a column the current data lacks, or whose kind changed (numbers became text), is drift; a
  new column is a warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from jupyter_mlops.monitor import is_tabular

PSI_WARN = 0.1
PSI_DRIFT = 0.2
EPSILON = 1e-4
OK, WARN, DRIFT = "ok", "warn", "drift"
UNKNOWN = "unknown"
"""An input without a profile on one side (not made yet, not a table, changed before it could be made)."""
_RANK = {OK: 0, UNKNOWN: 0, WARN: 1, DRIFT: 2}


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    kind: str
    psi: float | None
    verdict: str
    note: str | None = None


@dataclass
class InputDrift:
    """One input (a file, a frame) compared: the reference's name for it and the current one's."""

    reference: str
    current: str
    verdict: str
    columns: list[ColumnDrift] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict_of(psi: float) -> str:
    return DRIFT if psi >= PSI_DRIFT else WARN if psi >= PSI_WARN else OK


def worst(verdicts: Sequence[str]) -> str:
    return max(verdicts, key=_RANK.__getitem__, default=OK)


def compare(reference: Mapping[str, Any], current: Mapping[str, Any], *, reference_name: str,
            current_name: str) -> InputDrift:
    """Each column of ``reference`` against the same column of ``current``."""
    ref_fields = {f["name"]: f for f in reference["fields"]}
    cur_fields = {f["name"]: f for f in current["fields"]}
    columns = []
    for name, ref in ref_fields.items():
        cur = cur_fields.get(name)
        if cur is None:
            columns.append(ColumnDrift(name, ref["kind"], None, DRIFT, "missing from the current data"))
        elif cur["kind"] != ref["kind"]:
            columns.append(ColumnDrift(name, cur["kind"], None, DRIFT, f"was {ref['kind']} ({ref['dtype']}), "
                                       f"now {cur['kind']} ({cur['dtype']})"))
        else:
            psi = column_psi(ref, cur)
            columns.append(ColumnDrift(name, ref["kind"], psi, verdict_of(psi)))
    columns += [ColumnDrift(name, cur["kind"], None, WARN, "new column") for name, cur in cur_fields.items()
                if name not in ref_fields]
    return InputDrift(reference_name, current_name, worst([c.verdict for c in columns]), columns)


def column_psi(reference: Mapping[str, Any], current: Mapping[str, Any]) -> float:
    if reference["kind"] == "numeric":
        ref, cur = _numeric_shares(reference, current)
    else:
        ref, cur = _discrete_shares(reference, current)
    return psi(ref, cur)


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    ref = np.maximum(reference, EPSILON)
    cur = np.maximum(current, EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _with_nulls(shares: np.ndarray, null_fraction: float) -> np.ndarray:
    """Shares of the non-null values, scaled to the whole column, with the nulls' bucket appended."""
    return np.append(shares * (1.0 - null_fraction), null_fraction)


def _numeric_shares(reference: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    ref_hist, cur_hist = reference["histogram"], current["histogram"]
    if ref_hist is None or cur_hist is None:  # a column with no finite value on one side
        ref = np.array([1.0 if ref_hist else 0.0])
        cur = np.array([1.0 if cur_hist else 0.0])
        return _with_nulls(ref, reference["null_fraction"]), _with_nulls(cur, current["null_fraction"])
    edges = np.asarray(ref_hist["edges"], dtype=float)
    counts = np.asarray(ref_hist["counts"], dtype=float)
    if edges[0] == edges[-1]:  # a constant: one bin around it
        spread = max(abs(edges[0]) * 1e-9, 1e-12)
        edges = np.array([edges[0] - spread, edges[0] + spread])
    ref = np.concatenate([[0.0], counts / counts.sum(), [0.0]])
    cdf = _cdf(cur_hist, edges)
    cur = np.concatenate([[cdf[0]], np.diff(cdf), [1.0 - cdf[-1]]])
    return _with_nulls(ref, reference["null_fraction"]), _with_nulls(cur, current["null_fraction"])


def _cdf(hist: Mapping[str, Any], at: np.ndarray) -> np.ndarray:
    """The share of a histogram's values below each of ``at``, linear within its bins."""
    edges = np.asarray(hist["edges"], dtype=float)
    cumulative = np.concatenate([[0.0], np.cumsum(hist["counts"])]) / max(1, sum(hist["counts"]))
    if edges[0] == edges[-1]:
        return (at >= edges[0]).astype(float)
    return np.interp(at, edges, cumulative, left=0.0, right=1.0)


def _discrete_shares(reference: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    ref_top = dict(reference["top"])
    cur_top = dict(current["top"])
    ref_total = sum(ref_top.values()) + reference["other"]
    cur_total = sum(cur_top.values()) + current["other"]
    cur_counts = [cur_top.get(value, 0) for value in ref_top]
    ref = np.array([*ref_top.values(), reference["other"]], dtype=float) / max(1, ref_total)
    cur = np.array([*cur_counts, cur_total - sum(cur_counts)], dtype=float) / max(1, cur_total)
    return _with_nulls(ref, reference["null_fraction"]), _with_nulls(cur, current["null_fraction"])


# --- sessions: their inputs matched by path (files) and by name (frames) ---------------------------------


def inputs_of(profiles: Mapping[str, list[dict]]) -> dict[str, dict]:
    """A session's profiled inputs (``Journal.session_profiles``) by the name drift matches them on: the
    path of a tabular file (its last content read), ``frame:NAME`` of a ``--profile`` frame."""
    inputs = {f["path"]: f for f in profiles["files"] if is_tabular(f["path"])}
    inputs |= {f"frame:{f['name']}": f for f in profiles["frames"]}
    return inputs


def missing_profiles(profiles: Mapping[str, list[dict]]) -> list[dict]:
    """The tabular files read whose profile is neither made nor refused yet (the profiler's pending work)."""
    return [f for f in profiles["files"] if is_tabular(f["path"]) and not (f["profile"] or f["error"] or f["note"])]


def missing_reason(entry: Mapping[str, Any]) -> str:
    """Why an input has no profile to compare."""
    return entry.get("note") or entry.get("error") or "not profiled yet (the profiler is at work, or was stopped)"


def compare_inputs(reference: Mapping[str, Any], current: Mapping[str, Any], *, reference_name: str,
                   current_name: str) -> InputDrift:
    """Two inputs' entries (``inputs_of``), each with its profile or the reason it has none."""
    for side in (reference, current):
        if side.get("profile") is None:
            return InputDrift(reference_name, current_name, UNKNOWN, note=missing_reason(side))
    return compare(reference["profile"], current["profile"], reference_name=reference_name,
                   current_name=current_name)


def compare_sessions(reference: Mapping[str, list[dict]], current: Mapping[str, list[dict]]) -> list[InputDrift]:
    """Every input of either session: the ones both read compared, the others said to be new or gone."""
    ref, cur = inputs_of(reference), inputs_of(current)
    out = []
    for name in [*ref, *(n for n in cur if n not in ref)]:
        if name not in cur:
            out.append(InputDrift(name, name, WARN, note="not read by the current session"))
        elif name not in ref:
            out.append(InputDrift(name, name, WARN, note="not read by the reference session"))
        else:
            out.append(compare_inputs(ref[name], cur[name], reference_name=name, current_name=name))
    return out
