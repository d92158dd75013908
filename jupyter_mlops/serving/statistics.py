"""What the window's sample says: MLWatcher's statistics per input and per output, and drift against training.

MLWatcher's statistics, from ``monitor/profile.py`` (the same code that profiles the training tables, so a
live mean and a training mean are computed alike): for a continuous value min, max, mean, std, median, q25,
q75, IQR and nulls; for a discrete value (a category, a predicted class) the count and frequency of each of
its most frequent values, and how many rows hold a value training never had (``unseen``). Drift is the
reference's (``reference.py``), through ``monitor/drift.py``.

The cost is the sample's, never the traffic's: everything here reads the at most ``sample`` rows of the
window. Pure: numpy only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jupyter_mlops.monitor import drift
from jupyter_mlops.monitor.profile import NUMERIC, TOP_K, Column, Sampling, profile_columns, sample_indices
from jupyter_mlops.serving.reference import DIRECT, Reference

NUMERIC_STATS = ("min", "max", "mean", "std", "median", "q25", "q75", "iqr")
INPUTS, OUTPUTS = 0, 1
TRAINING_ROWS = 5_000
"""At most this many training rows are scored at start for the outputs' reference."""


@dataclass
class Snapshot:
    """The window as last computed: what the metrics, ``/monitoring``, the panel and ``drift --live`` show."""

    window_rows: int = 0
    sample_rows: int = 0
    total_rows: int = 0
    inputs: dict[str, Any] = field(default_factory=lambda: {"fields": [], "sample_rows": 0})
    outputs: dict[str, Any] = field(default_factory=lambda: {"fields": [], "sample_rows": 0})
    input_stats: dict[str, dict] = field(default_factory=dict)
    output_stats: dict[str, dict] = field(default_factory=dict)
    drift: drift.InputDrift | None = None
    output_drift: drift.InputDrift | None = None
    quality: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_rows": self.window_rows, "sample_rows": self.sample_rows, "total_rows": self.total_rows,
            "inputs": self.inputs, "outputs": self.outputs,
            "input_stats": self.input_stats, "output_stats": self.output_stats,
            "drift": self.drift.to_dict() if self.drift else None,
            "output_drift": self.output_drift.to_dict() if self.output_drift else None,
            "quality": self.quality,
        }


def columns_of(rows: Sequence[Sequence[Mapping[str, Any]]], part: int) -> dict[str, np.ndarray]:
    """One side (inputs or outputs) of the sampled rows as columns: numbers as float64 with NaN for a
    missing value, anything else as text (None when missing)."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row[part]))
    out = {}
    for name in names:
        values = [row[part].get(name) for row in rows]
        text = str in set(map(type, values))  # "1" stays the text it was sent as
        try:
            if not text:  # numbers, None as NaN, converted in C
                out[name] = np.array(values, dtype=np.float64)
                continue
        except (TypeError, ValueError):
            pass
        out[name] = np.array([None if v is None or v != v else str(v) for v in values], dtype=object)
    return out


def profile_of(columns: Mapping[str, np.ndarray], window_rows: int) -> dict[str, Any]:
    """The sample's columns profiled as the training tables are (``monitor/profile.py``)."""
    sample_rows = len(next(iter(columns.values()))) if columns else 0
    sampling = Sampling(window_rows, True, sample_rows < window_rows, "seeded reservoir of the window")
    cols = [Column(name, values, "float64" if values.dtype.kind == "f" else "object")
            for name, values in columns.items()]
    profile = profile_columns(cols, sampling, source={"kind": "serving window"})
    profile["sample_rows"] = sample_rows
    return profile


def mlwatcher(profile_field: Mapping[str, Any], sample_rows: int) -> dict[str, Any]:
    """MLWatcher's statistics of one column from its profile field."""
    out: dict[str, Any] = {"kind": profile_field["kind"], "nulls": profile_field["nulls"],
                           "null_fraction": profile_field["null_fraction"]}
    if profile_field["kind"] == NUMERIC:
        return out | {k: profile_field.get(k) for k in NUMERIC_STATS}
    counted = max(1, sample_rows)
    out["counts"] = {value: count for value, count in profile_field["top"]}
    out["frequencies"] = {value: count / counted for value, count in profile_field["top"]}
    out["other"] = profile_field["other"]
    return out


def unseen_counts(columns: Mapping[str, np.ndarray], reference: Reference) -> dict[str, int]:
    """Rows of the sample holding a category training never had, per training column: a direct discrete
    input whose value the (complete) training profile does not list, or a one-hot group whose indicators
    are all 0."""
    out: dict[str, int] = {}
    for m in reference.matches:
        ref = reference.fields.get(m.column)
        values = columns.get(m.column)
        if m.how != DIRECT or ref is None or values is None or ref["kind"] == NUMERIC or ref["other"]:
            continue
        known = {v for v, _ in ref["top"]}
        out[m.column] = int(sum(1 for v in values if v is not None and str(v) not in known))
    for source, indicators in reference.groups.items():
        present = [columns[c] for c in indicators if c in columns and columns[c].dtype.kind == "f"]
        if not present:
            continue
        stacked = np.vstack(present)
        answered = ~np.isnan(stacked).any(axis=0)
        out[source] = int(np.sum(answered & (np.nansum(stacked, axis=0) == 0)))
    return out


def snapshot(rows: Sequence[Sequence[Mapping[str, Any]]], reference: Reference, *, window_rows: int,
             total_rows: int, quality: Mapping[str, Any]) -> Snapshot:
    """The window's statistics and drift from its sample."""
    inputs = columns_of(rows, INPUTS)
    outputs = columns_of(rows, OUTPUTS)
    input_profile, output_profile = profile_of(inputs, window_rows), profile_of(outputs, window_rows)
    n = len(rows)
    input_stats = {f["name"]: mlwatcher(f, n) for f in input_profile["fields"]}
    for column, count in unseen_counts(inputs, reference).items():
        stats = input_stats.setdefault(column, {"kind": "discrete", "derived": True})
        stats |= {"unseen": count, "unseen_fraction": count / n if n else 0.0}
    return Snapshot(
        window_rows=window_rows, sample_rows=n, total_rows=total_rows,
        inputs=input_profile, outputs=output_profile, input_stats=input_stats,
        output_stats={f["name"]: mlwatcher(f, n) for f in output_profile["fields"]},
        drift=reference.compare(input_profile), output_drift=reference.compare_outputs(output_profile),
        quality={**quality, "predicted_class_rate": class_rates(outputs)},
    )


def class_rates(outputs: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The share of each predicted class in the sample (the business rate: for churn, the share of customers
    predicted to leave), when the first output is a class: text, or integers of at most ``TOP_K`` values."""
    name = next((n for n in outputs if not n.startswith("probability")), None)
    if name is None or not len(outputs[name]):
        return {}
    values = outputs[name]
    if values.dtype.kind == "f":
        finite = values[~np.isnan(values)]
        if not len(finite) or np.any(finite != np.round(finite)):
            return {}
        labels = [str(int(v)) for v in finite]
    else:
        labels = [str(v) for v in values if v is not None]
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    if len(counts) > TOP_K:
        return {}
    return {k: v / len(values) for k, v in sorted(counts.items())}


def output_reference(table: Path, md5: str | None, features: Sequence[str],
                     outputs_of: Callable[[Any], Mapping[str, np.ndarray]]) -> tuple[dict[str, dict], str | None]:
    """The version's outputs on its training table (a seeded sample of ``TRAINING_ROWS`` rows), profiled:
    the reference of the predictions' statistics and drift. ``({}, why)`` when the table is not the one the
    session read any more, or its rows cannot be made into the model's inputs."""
    from jupyter_mlops.hashing import md5_file
    from jupyter_mlops.sinks.model_example import rebuild

    if not table.is_file():
        return {}, f"{table.name} is not on disk any more"
    if md5 and md5_file(table) != md5:
        return {}, f"{table.name} changed since the training session read it"
    import pandas as pd

    frame = pd.read_parquet(table) if table.suffix.lower() in (".parquet", ".pq") else pd.read_csv(
        table, sep="\t" if table.suffix.lower() == ".tsv" else ",")
    picked = sample_indices(len(frame), TRAINING_ROWS)
    if picked is not None:
        frame = frame.iloc[picked]
    inputs, missing = rebuild(frame, list(features) or list(frame.columns))
    if inputs is None:
        return {}, f"{table.name} lacks the model inputs {', '.join(missing[:3])}"
    columns = {name: np.asarray(values) for name, values in outputs_of(inputs).items()}
    typed = {name: v.astype(np.float64) if v.dtype.kind in "iufb" else v.astype(object) for name, v in columns.items()}
    return {f["name"]: f for f in profile_of(typed, len(frame))["fields"]}, None
