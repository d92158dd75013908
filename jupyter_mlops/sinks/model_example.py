"""A fitted model's input example, rebuilt from the data files its session read: pandas only, no MLflow.

The kernel is never asked what frame went into ``fit`` (that would cost the user's cells a hook on every
estimator). What a fitted scikit-learn estimator keeps is enough: ``feature_names_in_`` names the columns
it was fitted on. They are either columns of a table the session read (a CSV or parquet file), or
indicator columns one-hot encoded from one (``pd.get_dummies``' ``<column>_<value>``, as 0/1 integers).
When every feature is found in one table, its first rows, in the model's column order, are the example;
otherwise :func:`input_example` says which features it could not find, and the model has no signature.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class Example:
    """The example frame (None when it cannot be known) and, in one line, where it came from or why not."""

    frame: Any
    how: str


def is_table(path: str) -> bool:
    return path.lower().endswith(TABLE_SUFFIXES)


def input_example(estimator: Any, tables: Sequence[Path], root: Path,
                  reading: Callable[[Path], AbstractContextManager[Path]] = contextlib.nullcontext) -> Example:
    """The first rows of the table the estimator was fitted from, as it saw them (see the module doc).
    ``reading(table)`` gives the name to read it by (the mirror's: one no kernel's watcher sees)."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        count = getattr(estimator, "n_features_in_", None)
        fitted = f"on {count} unnamed features" if count is not None else "without feature names"
        return Example(None, f"unknown: the estimator was fitted {fitted} (an array, not a DataFrame), so no "
                             "column of the data it read can be matched to them")
    features = [str(n) for n in names]
    if not tables:
        return Example(None, "unknown: the session read no CSV or parquet table to take the "
                             f"{len(features)} features from")
    best: tuple[int, str] | None = None
    for table in tables:
        try:
            with reading(table) as readable:
                head = _head(readable)
        except Exception as exc:  # a table pandas cannot read is simply not the training data
            missing = f"cannot be read ({type(exc).__name__})"
            best = best or (len(features), f"{_rel(table, root)} {missing}")
            continue
        frame, missing_names = rebuild(head, features)
        if frame is not None:
            return Example(frame, f"the first {len(frame)} rows of {_rel(table, root)} "
                                  f"({len(features)} features{_encoded_note(head, features)})")
        if best is None or len(missing_names) < best[0]:
            best = (len(missing_names), f"{_rel(table, root)} lacks {_some(missing_names)}")
    assert best is not None
    return Example(None, f"unknown: no table the session read has all {len(features)} features ({best[1]})")


def rebuild(head: Any, features: Sequence[str]) -> tuple[Any, list[str]]:
    """``head`` turned into the model's columns, or (None, the features it cannot make)."""
    import pandas as pd

    columns: dict[str, Any] = {}
    missing = []
    for feature in features:
        if feature in head.columns:
            columns[feature] = head[feature]
            continue
        source = _indicator_source(head, feature)
        if source is None:
            missing.append(feature)
        else:
            value = feature[len(source) + 1:]
            columns[feature] = (head[source].astype(str) == value).astype("int64")
    if missing:
        return None, missing
    return pd.DataFrame(columns, index=head.index)[list(features)].reset_index(drop=True), []


def _indicator_source(head: Any, feature: str) -> str | None:
    """The categorical column ``feature`` is an indicator of (``contract`` for ``contract_one-year``)."""
    candidates = [c for c in head.columns if isinstance(c, str) and feature.startswith(c + "_")
                  and not _is_numeric(head[c])]
    return max(candidates, key=len) if candidates else None


def _is_numeric(column: Any) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return is_numeric_dtype(column) and not is_bool_dtype(column)


def _head(table: Path) -> Any:
    import pandas as pd

    if table.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(table).head(EXAMPLE_ROWS)
    return pd.read_csv(table, nrows=EXAMPLE_ROWS, sep="\t" if table.suffix.lower() == ".tsv" else ",")


def _encoded_note(head: Any, features: Sequence[str]) -> str:
    encoded = sorted({s for f in features if f not in head.columns and (s := _indicator_source(head, f))})
    return f"; one-hot from {', '.join(encoded)}" if encoded else ""


def _some(names: Sequence[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
