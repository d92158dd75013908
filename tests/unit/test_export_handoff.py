"""Hand-off files: the format follows the value and every value comes back equal."""

import importlib.util

import joblib
import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.export import handoff


def test_values_round_trip_in_the_format_of_their_type(tmp_path):
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]}, index=[7, 3, 5])
    arr = np.arange(6).reshape(2, 3)
    series = pd.Series([1, 0, 1], name="y", index=[7, 3, 5])
    handoff.save(tmp_path / "h", df=df, arr=arr, series=series, model={"k": [1, 2]})
    assert sorted(p.name for p in (tmp_path / "h").iterdir()) == [
        "arr.npy", "df.parquet", "model.joblib", "series.joblib"]
    df2, arr2, series2, model2 = handoff.load(tmp_path / "h", "df", "arr", "series", "model")
    pd.testing.assert_frame_equal(df2, df)
    np.testing.assert_array_equal(arr2, arr)
    pd.testing.assert_series_equal(series2, series)
    assert model2 == {"k": [1, 2]}
    assert isinstance(handoff.load(tmp_path / "h", "df"), pd.DataFrame)  # one name: the value itself


def test_save_replaces_what_the_folder_held(tmp_path):
    handoff.save(tmp_path, old=1)
    handoff.save(tmp_path, new=2)
    assert [p.name for p in tmp_path.iterdir()] == ["new.joblib"]


def test_dataframes_fall_back_to_pickling_without_pyarrow_or_for_unparquetable_frames(tmp_path, monkeypatch):
    odd = pd.DataFrame({0: [1], 1: [2]})  # integer column names: parquet refuses them
    handoff.save(tmp_path / "a", odd=odd)
    pd.testing.assert_frame_equal(handoff.load(tmp_path / "a", "odd"), odd)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("pyarrow", "joblib")
                        else real(name, *a))
    df = pd.DataFrame({"a": [1]})
    handoff.save(tmp_path / "b", df=df)
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["df.pkl"]
    pd.testing.assert_frame_equal(handoff.load(tmp_path / "b", "df"), df)
    assert joblib  # the joblib path itself is covered above


def test_a_missing_value_says_which_stage_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="dvc repro"):
        handoff.load(tmp_path, "df")
