"""Monitoring: a statistical profile of every tabular input and named DataFrame, and drift between them.

``profile.py`` (the statistics, numpy only), ``tables.py`` (a bounded, seeded sample of a CSV or parquet
file, pyarrow), ``drift.py`` (PSI per column, a verdict per input), ``profiler.py`` (the process that
profiles the files sessions read, cached by md5), ``sink.py`` (the kernel's side: start the profiler,
profile ``--profile`` frames in a background thread), ``mlflow_log.py`` (profiles to MLflow),
``drift_report.py`` (the comparisons ``jupyter mlops drift`` prints: sessions, a file against a model, live traffic).
"""

from __future__ import annotations

import os
from typing import Any

# Stdlib only below: the kernel imports this package when tracking starts (pyarrow and numpy stay out).
CSV_SUFFIXES = frozenset({".csv", ".tsv"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
TABULAR_SUFFIXES = CSV_SUFFIXES | PARQUET_SUFFIXES
FRAME_LIBRARIES = ("pandas", "polars")


def is_tabular(path: str) -> bool:
    """A file the profiler reads as a table, by its name (the only thing the kernel may look at)."""
    return os.path.splitext(path)[1].lower() in TABULAR_SUFFIXES


def frame_library(value: Any) -> str | None:
    """``pandas`` or ``polars`` when ``value`` is one of their DataFrames: read from its type, so asking
    imports nothing (a value of that type means the user imported the library already)."""
    cls = type(value)
    module = cls.__module__.split(".", 1)[0]
    if cls.__name__ == "DataFrame" and module in FRAME_LIBRARIES:
        return module
    return None
