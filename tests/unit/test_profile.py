"""The profile's statistics against numpy and pandas on known data, for files, frames and samples."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jupyter_mlops.monitor import tables
from jupyter_mlops.monitor.profile import HISTOGRAM_BINS, SAMPLE_ROWS, SAMPLE_SEED, profile_frame


def known_frame(rows: int = 5000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    price = rng.normal(50.0, 10.0, rows)
    price[::50] = np.nan
    return pd.DataFrame({
        "price": price,
        "calls": rng.poisson(2.0, rows),
        "plan": rng.choice(["a", "b", "c", None], size=rows, p=[0.5, 0.3, 0.15, 0.05]),
        "flag": rng.random(rows) < 0.3,
    })


def fields(profile: dict) -> dict[str, dict]:
    return {f["name"]: f for f in profile["fields"]}


def assert_numeric_matches(field: dict, series: pd.Series) -> None:
    s = series.dropna()
    assert field["kind"] == "numeric"
    assert field["nulls"] == int(series.isna().sum())
    assert field["min"] == pytest.approx(s.min()) and field["max"] == pytest.approx(s.max())
    assert field["mean"] == pytest.approx(s.mean()) and field["std"] == pytest.approx(s.std())
    assert field["median"] == pytest.approx(s.median())
    assert field["q25"] == pytest.approx(s.quantile(0.25)) and field["q75"] == pytest.approx(s.quantile(0.75))
    assert field["iqr"] == pytest.approx(s.quantile(0.75) - s.quantile(0.25))
    edges = np.asarray(field["histogram"]["edges"])
    expected, _ = np.histogram(s.to_numpy(), bins=edges)
    assert field["histogram"]["counts"] == expected.tolist()
    assert sum(field["histogram"]["counts"]) == len(s)


def assert_discrete_matches(field: dict, series: pd.Series) -> None:
    counts = series.dropna().astype(str).value_counts()
    assert field["kind"] == "discrete"
    assert field["nulls"] == int(series.isna().sum())
    assert field["cardinality"] == len(counts)
    assert dict(field["top"]) == counts.to_dict()
    assert field["other"] == 0


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_small_file_profile_equals_pandas_statistics(tmp_path, suffix):
    df = known_frame()
    path = tmp_path / f"t{suffix}"
    df.to_csv(path, index=False) if suffix == ".csv" else df.to_parquet(path)
    profile = tables.profile_file(path)
    assert (profile["rows"], profile["columns"], profile["sampled"]) == (5000, 4, False)
    assert profile["sample_rows"] == 5000 and profile["rows_exact"]
    f = fields(profile)
    assert_numeric_matches(f["price"], df["price"])
    assert_numeric_matches(f["calls"], df["calls"])
    assert_discrete_matches(f["plan"], df["plan"])
    assert f["flag"]["kind"] == "discrete" and dict(f["flag"]["top"]) == {
        "True": int(df["flag"].sum()), "False": int((~df["flag"]).sum())}
    json.dumps(profile, allow_nan=False)  # plain JSON: the journal and MLflow take it as it is


def test_histogram_bins_integers_by_value_and_floats_by_equal_width():
    f = fields(profile_frame(known_frame()))
    calls_edges = f["calls"]["histogram"]["edges"]
    assert calls_edges[0] == f["calls"]["min"] - 0.5 and np.allclose(np.diff(calls_edges), 1.0)
    assert len(f["price"]["histogram"]["counts"]) == HISTOGRAM_BINS


def test_pandas_and_polars_frames_are_profiled_like_the_file():
    df = known_frame()
    from_pandas, from_polars = fields(profile_frame(df)), fields(profile_frame(pl.from_pandas(df)))
    for name in ("price", "calls"):
        assert_numeric_matches(from_pandas[name], df[name])
        assert_numeric_matches(from_polars[name], df[name])
    assert_discrete_matches(from_pandas["plan"], df["plan"])
    assert_discrete_matches(from_polars["plan"], df["plan"])


def test_nullable_pandas_integers_are_numbers_with_nulls():
    df = pd.DataFrame({"n": pd.array([1, None, 3, 4], dtype="Int64")})
    f = fields(profile_frame(df))["n"]
    assert (f["kind"], f["nulls"], f["min"], f["max"]) == ("numeric", 1, 1.0, 4.0)


def test_a_large_frame_is_profiled_on_a_bounded_seeded_sample():
    rows = SAMPLE_ROWS * 2
    df = pd.DataFrame({"x": np.arange(rows, dtype=float)})
    first, again = profile_frame(df), profile_frame(df)
    assert first == again  # seeded: the same frame has the same profile
    assert (first["rows"], first["sampled"], first["sample_rows"], first["sample_seed"]) == (
        rows, True, SAMPLE_ROWS, SAMPLE_SEED)
    x = fields(first)["x"]
    assert x["mean"] == pytest.approx(rows / 2, rel=0.01) and x["median"] == pytest.approx(rows / 2, rel=0.01)


def test_a_large_csv_is_sampled_by_blocks_and_its_rows_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "CSV_WHOLE_BYTES", 64 << 10)
    monkeypatch.setattr(tables, "CSV_BLOCK_BYTES", 4 << 10)
    monkeypatch.setattr(tables, "CSV_BLOCKS", 8)
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"v": rng.normal(10.0, 2.0, 20_000).round(3), "k": rng.choice(["x", "y"], 20_000)})
    path = tmp_path / "big.csv"
    df.to_csv(path, index=False)
    profile = tables.profile_file(path)
    assert profile["sampled"] and profile["rows"] == 20_000 and not profile["rows_exact"]
    assert 0 < profile["sample_rows"] < 20_000 and "8 blocks" in profile["sample_method"]
    v = fields(profile)["v"]
    assert v["mean"] == pytest.approx(10.0, abs=0.3) and v["std"] == pytest.approx(2.0, rel=0.1)
    assert tables.profile_file(path) == profile


def test_a_parquet_file_of_many_row_groups_is_sampled_by_whole_groups(tmp_path, monkeypatch):
    monkeypatch.setattr("jupyter_mlops.monitor.tables.SAMPLE_ROWS", 1000)
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.table({"x": np.arange(10_000, dtype=np.int64)}), path, row_group_size=500)
    profile = tables.profile_file(path)
    assert profile["rows"] == 10_000 and profile["sampled"] and profile["sample_rows"] == 1000
    assert "2 of 20 row groups" in profile["sample_method"]


def test_a_file_that_is_no_table_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(tables.NotTabular, match=r"bad\.parquet"):
        tables.profile_file(path)
