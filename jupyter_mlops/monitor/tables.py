"""Read a bounded, seeded sample of a tabular file (CSV, parquet) for the profile, with pyarrow.

Never imported in the kernel: the profiler process (``profiler.py``) and the CLI use it. Why pyarrow: read
whole, none of pyarrow, polars and pandas was the fastest on both 1 GiB files here (``benchmarks/profile.py``:
CSV pandas-C 13.5 s, pyarrow 16.0 s, polars 19.1 s; parquet polars 9.5 s, pyarrow 10.1 s, pandas 12.2 s; all
2-4× the md5, on 2 busy cores), so the profile never reads a large file whole, and what it does read needs
pyarrow's parts: a CSV parser over an in-memory buffer of sampled blocks, and parquet's footer and single row
groups. pyarrow comes with MLflow already (no new dependency) and hands columns to numpy without copies.

The profile must cost no more than the file's md5, so a large file is never read whole:

* CSV: the rows are counted as lines (one pass of ``bytes.count`` over the file, cheaper than md5; a quoted
  field holding a newline makes it an overcount, said by ``rows_exact``), and the profile reads
  ``CSV_BLOCKS`` blocks of ``CSV_BLOCK_BYTES`` at seeded offsets, each trimmed to whole lines, parsed with
  the header; a file up to ``CSV_WHOLE_BYTES`` is parsed whole;
* parquet: the row count is in the footer; whole row groups are read in a seeded order until the sample
  has ``SAMPLE_ROWS`` rows (a file written as one row group is read whole: parquet cannot be sampled
  below a row group).

Either way at most ``SAMPLE_ROWS`` rows (a seeded choice) are profiled.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from jupyter_mlops.monitor import CSV_SUFFIXES, PARQUET_SUFFIXES
from jupyter_mlops.monitor.profile import SAMPLE_ROWS, SAMPLE_SEED, Column, Sampling, profile_columns, sample_indices

CSV_WHOLE_BYTES = 32 << 20
CSV_BLOCKS = 64
CSV_BLOCK_BYTES = 512 << 10
_COUNT_CHUNK = 8 << 20


class NotTabular(ValueError):
    """The file cannot be read as the table its name says (the message says why)."""


def profile_file(path: Path) -> dict[str, Any]:
    """The profile of a CSV or parquet file; NotTabular when it cannot be read as one."""
    suffix = path.suffix.lower()
    try:
        if suffix in CSV_SUFFIXES:
            table, sampling = _csv_sample(path, "\t" if suffix == ".tsv" else ",")
        elif suffix in PARQUET_SUFFIXES:
            table, sampling = _parquet_sample(path)
        else:
            raise NotTabular(f"{path.name}: not a CSV or parquet file")
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        if isinstance(exc, NotTabular):
            raise
        raise NotTabular(f"{path.name}: {' '.join(str(exc).split())[:300]}") from exc
    picked = sample_indices(table.num_rows)
    if picked is not None:
        table = table.take(picked)
        sampling = Sampling(sampling.rows, sampling.rows_exact, True, f"{sampling.method}, seeded rows", SAMPLE_SEED)
    columns = [Column(name, _numpy(table.column(name)), str(table.schema.field(name).type))
               for name in table.column_names]
    return profile_columns(columns, sampling, source={"kind": "file", "format": suffix.lstrip("."),
                                                      "bytes": path.stat().st_size})


def _numpy(column: Any) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.to_numpy()


def _csv_sample(path: Path, delimiter: str) -> tuple[Any, Sampling]:
    from pyarrow import csv

    size = path.stat().st_size
    options = csv.ParseOptions(delimiter=delimiter)
    convert = csv.ConvertOptions(strings_can_be_null=True)  # an empty field is missing, as pandas reads it
    if size <= CSV_WHOLE_BYTES:
        table = csv.read_csv(path, parse_options=options, convert_options=convert)
        return table, Sampling(table.num_rows, True, False)
    with open(path, "rb") as f:
        header = f.readline()
        lines = _count_lines(f) + (0 if _ends_with_newline(f, size) else 1)
        body_start = len(header)
        slots = (size - body_start) // CSV_BLOCK_BYTES  # at least CSV_BLOCKS: the file is over CSV_WHOLE_BYTES
        starts = np.random.default_rng(SAMPLE_SEED).choice(slots, size=CSV_BLOCKS, replace=False)
        blocks = [header]
        for start in np.sort(starts).tolist():
            f.seek(body_start + start * CSV_BLOCK_BYTES)
            block = f.read(CSV_BLOCK_BYTES)
            if start:
                block = block[block.find(b"\n") + 1:]  # the first line may have begun before the block
            blocks.append(block[: block.rfind(b"\n") + 1])
    table = csv.read_csv(io.BytesIO(b"".join(blocks)), parse_options=options, convert_options=convert)
    return table, Sampling(lines, False, True, f"{len(starts)} blocks of {CSV_BLOCK_BYTES >> 10} KiB at seeded offsets",
                           SAMPLE_SEED)


def _count_lines(f: io.BufferedReader) -> int:
    lines = 0
    while chunk := f.read(_COUNT_CHUNK):
        lines += chunk.count(b"\n")
    return lines


def _ends_with_newline(f: io.BufferedReader, size: int) -> bool:
    f.seek(size - 1)
    return f.read(1) == b"\n"


def _parquet_sample(path: Path) -> tuple[Any, Sampling]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    meta = pf.metadata
    if meta.num_rows <= SAMPLE_ROWS or meta.num_row_groups == 1:
        return pf.read(), Sampling(meta.num_rows, True, False)
    chosen, rows = [], 0
    for group in np.random.default_rng(SAMPLE_SEED).permutation(meta.num_row_groups).tolist():
        chosen.append(group)
        rows += meta.row_group(group).num_rows
        if rows >= SAMPLE_ROWS:
            break
    table = pa.concat_tables([pf.read_row_group(g) for g in sorted(chosen)])
    sampled = len(chosen) < meta.num_row_groups
    return table, Sampling(meta.num_rows, True, sampled,
                           f"{len(chosen)} of {meta.num_row_groups} row groups, seeded" if sampled else "all rows",
                           SAMPLE_SEED if sampled else None)
