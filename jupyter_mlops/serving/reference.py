"""The drift reference of a served version: what each model input looked like in the data it was trained on.

The journal holds a profile of every table the registered session read (``monitor/profile.py``). The model,
though, may not take that table's columns as they are: the example one-hot encodes its categories with
``pd.get_dummies``, so it is served ``contract_one-year`` (0/1), while the profile knows ``contract`` (its
values and their counts). Each model input is matched honestly, and says how:

* a column the profile has (``tenure_months``) is compared with that column, as ``jupyter mlops drift``
  compares two files;
* an indicator column ``<column>_<value>`` of a discrete profiled column (``contract_one-year``) is compared
  with the share of rows holding that value in training: its reference is a 0/1 histogram with unit bins,
  built from the category's count (``indicator_field``), so PSI compares the live share of 1s with the
  training frequency of the category. A value the training profile's top values do not list, while the
  profile is not complete, has no honest reference: its verdict is ``unknown``, with the reason;
* anything else (a feature made in the notebook) has no reference, and says so.

The training input is the profiled table (or ``--profile`` frame) that covers most model inputs. Rows of the
live window whose indicators of one column are all 0 carry a category training never had (get_dummies' way
of encoding an unseen value): they are counted as unseen for that column (``statistics.py``).

Comparing is ``monitor/drift.py``'s ``compare`` on the reference fields renamed to the model's inputs: one
drift engine, the same thresholds and PSI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from jupyter_mlops.monitor import drift
from jupyter_mlops.monitor.profile import DISCRETE, NUMERIC

DIRECT = "direct"
INDICATOR = "indicator"


@dataclass(frozen=True)
class Match:
    """How one model input is compared: with which training column, and how."""

    column: str                   # the model input
    how: str                      # DIRECT, INDICATOR, or "none"
    source: str | None = None     # the training column
    value: str | None = None      # for an indicator: the category it stands for
    note: str | None = None       # why there is no reference


@dataclass
class Reference:
    """The training side of drift for a served version: per model input its reference field, or why none."""

    training_input: str | None                 # e.g. data/churn.csv, or frame:X_train
    session: str | None
    matches: list[Match] = field(default_factory=list)
    fields: dict[str, dict] = field(default_factory=dict)   # model input -> reference profile field
    note: str | None = None                                  # why there is no reference at all
    outputs: dict[str, dict] = field(default_factory=dict)  # prediction output -> field on training data
    outputs_note: str | None = None

    @property
    def groups(self) -> dict[str, list[str]]:
        """Training column -> its indicator inputs (for counting rows with a category training never had)."""
        out: dict[str, list[str]] = {}
        for m in self.matches:
            if m.how == INDICATOR and m.source:
                out.setdefault(m.source, []).append(m.column)
        return out

    def describe(self) -> str:
        """One line for the serve command's banner."""
        if self.note:
            return f"no drift reference: {self.note}"
        direct = sum(m.how == DIRECT for m in self.matches)
        encoded = sorted({m.source for m in self.matches if m.how == INDICATOR and m.source})
        none = [m.column for m in self.matches if m.how not in (DIRECT, INDICATOR)]
        parts = [f"{direct} as they are"]
        if encoded:
            parts.append(f"{sum(m.how == INDICATOR for m in self.matches)} one-hot from {', '.join(encoded)}")
        if none:
            parts.append(f"{len(none)} without a reference ({', '.join(none[:3])}{'…' if len(none) > 3 else ''})")
        return f"drift reference: {self.training_input} of session {str(self.session)[:12]} ({'; '.join(parts)})"

    def compare(self, live: Mapping[str, Any], current_name: str = "live") -> drift.InputDrift:
        """The live window's input profile against training, per model input (``drift.compare``)."""
        if self.note:
            return drift.InputDrift(self.training_input or "training data", current_name, drift.UNKNOWN,
                                    note=self.note)
        if not live.get("sample_rows"):
            return drift.InputDrift(self.training_input or "training data", current_name, drift.UNKNOWN,
                                    note="no row scored in the window yet")
        live_fields = {f["name"]: f for f in live["fields"]}
        result = drift.compare({"fields": list(self.fields.values())},
                               {"fields": [live_fields[n] for n in self.fields if n in live_fields]},
                               reference_name=self.training_input or "training data", current_name=current_name)
        explained = {m.column: f"the share of {m.source} = {m.value} in training" for m in self.matches
                     if m.how == INDICATOR}
        result.columns = [replace(c, note=c.note or explained.get(c.name)) for c in result.columns]
        result.columns += [drift.ColumnDrift(m.column, "?", None, drift.UNKNOWN, m.note) for m in self.matches
                           if m.column not in self.fields]
        return result

    def compare_outputs(self, live: Mapping[str, Any]) -> drift.InputDrift | None:
        """The predictions' profile against the version's predictions on its training data, when known."""
        if not self.outputs or not live.get("sample_rows"):
            return None
        live_fields = {f["name"]: f for f in live["fields"]}
        return drift.compare({"fields": list(self.outputs.values())},
                             {"fields": [live_fields[n] for n in self.outputs if n in live_fields]},
                             reference_name="predictions on the training data", current_name="live predictions")


def indicator_field(name: str, categorical: Mapping[str, Any], value: str) -> dict[str, Any] | None:
    """The profile field of ``name``, a 0/1 indicator of ``categorical == value``, as training had it.

    Missing values of the category are 0 in every indicator (get_dummies' rule). None when the value's count
    is unknown: not among the profile's top values while others were left out."""
    counts = dict(categorical["top"])
    total = sum(counts.values()) + categorical["other"]
    rows = total + categorical.get("nulls", 0)
    if value in counts:
        ones = counts[value]
    elif categorical["other"] == 0:
        ones = 0  # the profile lists every value: this one never occurred
    else:
        return None
    zeros = rows - ones
    present = [v for v, c in ((0, zeros), (1, ones)) if c]
    return {
        "name": name, "dtype": "int64", "kind": NUMERIC, "nulls": 0, "null_fraction": 0.0, "infinite": 0,
        "min": float(min(present, default=0)), "max": float(max(present, default=0)),
        "mean": ones / rows if rows else 0.0,
        "histogram": {"edges": [-0.5, 0.5, 1.5], "counts": [zeros, ones]},
        "derived_from": {"column": categorical["name"], "value": value},
    }


def match_inputs(inputs: Sequence[str], profile: Mapping[str, Any]) -> tuple[list[Match], dict[str, dict]]:
    """Each model input matched to the training profile (see the module doc), with its reference field."""
    by_name = {f["name"]: f for f in profile["fields"]}
    discrete = [name for name, f in by_name.items() if f["kind"] == DISCRETE]
    matches: list[Match] = []
    fields: dict[str, dict] = {}
    for column in inputs:
        if column in by_name:
            matches.append(Match(column, DIRECT, column))
            fields[column] = {**by_name[column], "name": column}
            continue
        sources = [s for s in discrete if column.startswith(s + "_")]
        if not sources:
            matches.append(Match(column, "none", note="not a column of the training data, nor an indicator of one"))
            continue
        source = max(sources, key=len)
        value = column[len(source) + 1:]
        ref = indicator_field(column, by_name[source], value)
        if ref is None:
            matches.append(Match(column, "none", source, value,
                                 f"{source}={value!r} is not among the training profile's most frequent values"))
            continue
        matches.append(Match(column, INDICATOR, source, value))
        fields[column] = ref
    return matches, fields


def coverage(inputs: Sequence[str], profile: Mapping[str, Any] | None) -> int:
    """How many model inputs a training profile can be a reference for."""
    if not profile:
        return 0
    matches, _ = match_inputs(inputs, profile)
    return sum(m.how in (DIRECT, INDICATOR) for m in matches)


def build(inputs: Sequence[str], training: Mapping[str, Mapping[str, Any]], session: str | None) -> Reference:
    """The reference for ``inputs`` from a session's profiled inputs (``drift.inputs_of``)."""
    if session is None:
        return Reference(None, None, note="the version names no tracked session (registered outside jupyter-mlops)")
    profiled = {name: e["profile"] for name, e in training.items() if e.get("profile")}
    if not profiled:
        reasons = {name: drift.missing_reason(e) for name, e in training.items()}
        why = "; ".join(f"{n}: {r}" for n, r in reasons.items()) or "it read no CSV or parquet table"
        return Reference(None, session, note=f"the training session has no profiled table ({why})")
    if not inputs:  # a model without a signature: the first table's columns are its inputs
        name = next(iter(profiled))
        inputs = [f["name"] for f in profiled[name]["fields"]]
    best = max(profiled, key=lambda n: coverage(inputs, profiled[n]))
    if coverage(inputs, profiled[best]) == 0:
        return Reference(None, session, note=f"no model input is a column of the training tables "
                                             f"({', '.join(profiled)})")
    matches, fields = match_inputs(inputs, profiled[best])
    return Reference(best, session, matches, fields)
