"""The panel's data profiles: each tabular input of the notebook's latest session, compacted for a sidebar
(per column its kind, nulls, a few statistics, the histogram's counts or the top values), with the drift
of each column against the notebook's previous session (``monitor/drift.py``, as ``jupyter mlops drift``).

Read-only and Tornado-free, like ``history.py``.
"""

from __future__ import annotations

from typing import Any

from jupyter_mlops.server.history import _open
from jupyter_mlops.server.paths import NotebookRef

TOP_SHOWN = 5


def profiles(ref: NotebookRef) -> dict[str, Any]:
    """``{"session", "previous", "inputs": [...]}`` for the notebook's latest session; empty when untracked."""
    journal = _open(ref)
    if journal is None:
        return {"session": None, "previous": None, "inputs": []}
    try:
        sessions = [s["id"] for s in journal.sessions(ref.key)]
        if not sessions:
            return {"session": None, "previous": None, "inputs": []}
        current = journal.session_profiles(sessions[-1])
        previous = journal.session_profiles(sessions[-2]) if len(sessions) > 1 else None
    finally:
        journal.close()
    from jupyter_mlops.monitor import drift  # numpy: imported on the first request, not with the server

    drifts = {d.current: d for d in drift.compare_sessions(previous, current)} if previous else {}
    inputs = []
    for name, entry in drift.inputs_of(current).items():
        compared = drifts.get(name)
        inputs.append(_input(name, entry, compared if compared and compared.note is None else None,
                             drift.missing_reason(entry) if entry["profile"] is None else None))
    return {"session": sessions[-1], "previous": sessions[-2] if previous else None, "inputs": inputs}


def _input(name: str, entry: dict, compared: Any, missing: str | None) -> dict[str, Any]:
    profile = entry["profile"]
    out: dict[str, Any] = {"name": name, "md5": entry.get("md5"), "verdict": compared.verdict if compared else None,
                           "note": missing, "fields": []}
    if profile is None:
        return out
    by_column = {c.name: c for c in compared.columns} if compared else {}
    out |= {"rows": profile["rows"], "columns": profile["columns"], "sampled": profile["sampled"],
            "sample_rows": profile["sample_rows"]}
    out["fields"] = [_field(f, by_column.get(f["name"])) for f in profile["fields"]]
    return out


def _field(field: dict, column: Any) -> dict[str, Any]:
    shown: dict[str, Any] = {"name": field["name"], "kind": field["kind"], "dtype": field["dtype"],
                             "null_fraction": field["null_fraction"],
                             "psi": column.psi if column else None, "verdict": column.verdict if column else None}
    if field["kind"] == "numeric":
        shown |= {k: field.get(k) for k in ("min", "max", "mean", "median")}
        shown["histogram"] = field["histogram"]["counts"] if field.get("histogram") else []
    else:
        shown |= {"cardinality": field["cardinality"], "top": field["top"][:TOP_SHOWN], "other": field["other"]}
    return shown
