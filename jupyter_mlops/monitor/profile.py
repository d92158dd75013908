"""The statistical profile of a table: what its columns hold, in a form drift can compare later.

Pure: it takes columns as numpy arrays (whoever read them: pyarrow in the profiler, the user's pandas or
polars in the kernel) and returns plain JSON-able data. numpy only, because every frame library brings it
and the kernel may run this on a user's DataFrame (never importing anything the user has not).

Per table: rows, columns, whether the statistics come from a sample (and its size and seed). Per column:
its dtype, nulls, and by kind

* ``numeric`` (integers, floats, datetimes as seconds since the epoch): min, max, mean, std (``ddof=1``, as
  pandas), median, q25, q75, IQR (numpy's linear quantiles, as pandas), and a histogram whose bin edges are
  stored so that drift can rebin one profile on another's edges. Integer columns spanning at most
  ``UNIT_BINS_MAX`` values get one bin per value (edges at half-integers, so two such histograms always
  align); others ``HISTOGRAM_BINS`` equal-width bins over [min, max];
* ``discrete`` (strings, booleans, anything else): cardinality and the ``TOP_K`` most frequent values with
  their counts, the rest counted as ``other``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from jupyter_mlops.monitor import frame_library

PROFILE_VERSION = 1
HISTOGRAM_BINS = 20
UNIT_BINS_MAX = 40
TOP_K = 20
SAMPLE_ROWS = 200_000
"""At most this many rows are profiled; a larger table is profiled on a seeded sample of this size."""
SAMPLE_SEED = 16
"""The sample's seed: a file profiled twice is sampled the same way, so its profile is the same."""

NUMERIC = "numeric"
DISCRETE = "discrete"


@dataclass(frozen=True)
class Column:
    """One column as a reader hands it over: its values and the dtype its library names."""

    name: str
    values: np.ndarray
    dtype: str


@dataclass(frozen=True)
class Sampling:
    """How the rows profiled relate to the whole table."""

    rows: int            # rows of the whole table
    rows_exact: bool     # False when the count is an estimate
    sampled: bool
    method: str = "all rows"
    seed: int | None = None


def profile_columns(columns: list[Column], sampling: Sampling, *, source: Mapping[str, Any]) -> dict[str, Any]:
    """The profile of the rows in ``columns`` (all of equal length), with how they were chosen."""
    sample_rows = len(columns[0].values) if columns else 0
    return {
        "version": PROFILE_VERSION,
        "source": dict(source),
        "rows": sampling.rows,
        "rows_exact": sampling.rows_exact,
        "columns": len(columns),
        "sampled": sampling.sampled,
        "sample_rows": sample_rows,
        "sample_method": sampling.method,
        "sample_seed": sampling.seed,
        "fields": [profile_column(c) for c in columns],
    }


def profile_column(column: Column) -> dict[str, Any]:
    values = column.values
    numeric = _as_numbers(values)
    if numeric is not None:
        return {"name": column.name, "dtype": column.dtype, **_numeric(numeric)}
    return {"name": column.name, "dtype": column.dtype, **_discrete(values)}


def _as_numbers(values: np.ndarray) -> np.ndarray | None:
    """Float values (NaN for nulls) of a numeric or datetime column; None for a discrete one."""
    kind = values.dtype.kind
    if kind in "iuf":
        return values.astype(np.float64, copy=False)
    if kind == "M":
        seconds = values.astype("datetime64[ns]").astype(np.int64).astype(np.float64) / 1e9
        seconds[np.isnat(values)] = np.nan
        return seconds
    return None


def _numeric(values: np.ndarray) -> dict[str, Any]:
    nulls = int(np.isnan(values).sum())
    finite = values[np.isfinite(values)]
    out: dict[str, Any] = {"kind": NUMERIC, "nulls": nulls, "null_fraction": _fraction(nulls, len(values)),
                           "infinite": int(len(values) - nulls - len(finite))}
    if not len(finite):
        return out | {"histogram": None}
    q25, median, q75 = (float(q) for q in np.quantile(finite, [0.25, 0.5, 0.75]))
    out |= {
        "min": float(finite.min()), "max": float(finite.max()), "mean": float(finite.mean()),
        "std": float(finite.std(ddof=1)) if len(finite) > 1 else None,
        "median": median, "q25": q25, "q75": q75, "iqr": q75 - q25,
    }
    return out | {"histogram": histogram(finite)}


def histogram(finite: np.ndarray) -> dict[str, list]:
    """Counts on stored edges: unit bins for a small integer range, else equal-width bins."""
    low, high = float(finite.min()), float(finite.max())
    if np.all(finite == np.round(finite)) and high - low < UNIT_BINS_MAX:
        edges = np.arange(low - 0.5, high + 1.0, 1.0)
    elif low == high:
        edges = np.array([low, high])
        return {"edges": edges.tolist(), "counts": [len(finite)]}
    else:
        edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    counts, _ = np.histogram(finite, bins=edges)
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def _discrete(values: np.ndarray) -> dict[str, Any]:
    # Counted in C over the raw values, then the few distinct keys are sorted out: nulls, and values whose
    # text is the same (1 and "1") merged under their text.
    raw = Counter(values.tolist())
    counts: Counter[str] = Counter()
    nulls = 0
    for value, count in raw.items():
        if _is_null(value):
            nulls += count
        else:
            counts[str(value)] += count
    top = counts.most_common(TOP_K)
    return {
        "kind": DISCRETE, "nulls": nulls, "null_fraction": _fraction(nulls, len(values)),
        "cardinality": len(counts), "top": [[value, count] for value, count in top],
        "other": int(len(values) - nulls - sum(count for _, count in top)),
    }


def _is_null(value: Any) -> bool:
    """None, NaN, and pandas' own missing markers (``pd.NA``, ``pd.NaT``), told by type: no pandas import."""
    return (value is None or (isinstance(value, float) and math.isnan(value))
            or type(value).__name__ in _MISSING_TYPES)


_MISSING_TYPES = frozenset({"NAType", "NaTType"})


def _fraction(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def sample_indices(rows: int, size: int = SAMPLE_ROWS, seed: int = SAMPLE_SEED) -> np.ndarray | None:
    """Sorted row positions of a seeded sample of ``size`` rows, or None when every row fits."""
    if rows <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False))


# --- the frames of the user's own libraries (the kernel's --profile) ----------------------------------


def profile_frame(frame: Any) -> dict[str, Any]:
    """The profile of a pandas or polars DataFrame, on a seeded sample of at most ``SAMPLE_ROWS`` rows."""
    library = frame_library(frame)
    rows = int(frame.shape[0])
    picked = sample_indices(rows)
    if library == "pandas":
        part = frame if picked is None else frame.iloc[picked]
        columns = [Column(str(name), _pandas_values(part.iloc[:, i]), str(part.dtypes.iloc[i]))
                   for i, name in enumerate(part.columns)]
    elif library == "polars":
        part = frame if picked is None else frame[picked.tolist()]
        columns = [Column(name, part[name].to_numpy(), str(part[name].dtype)) for name in part.columns]
    else:
        raise TypeError(f"not a pandas or polars DataFrame: {type(frame).__name__}")
    sampling = Sampling(rows, True, picked is not None, "seeded rows" if picked is not None else "all rows",
                        SAMPLE_SEED if picked is not None else None)
    return profile_columns(columns, sampling, source={"kind": "frame", "library": library})


def _pandas_values(series: Any) -> np.ndarray:
    """A pandas column as numpy: nullable numbers (``Int64``, ``Float64``) as floats with NaN for ``NA``."""
    dtype = series.dtype
    if not isinstance(dtype, np.dtype) and getattr(dtype, "kind", "O") in "iuf":
        return series.to_numpy(dtype="float64", na_value=np.nan)
    return series.to_numpy()
