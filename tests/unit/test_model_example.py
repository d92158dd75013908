"""The input example a fitted estimator's session data gives back (model_example.py), with real pandas and
scikit-learn estimators."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from jupyter_mlops.sinks.model_example import EXAMPLE_ROWS, input_example

TABLE = pd.DataFrame({
    "customer_id": [f"C{i}" for i in range(8)],
    "tenure": [1, 5, 9, 12, 30, 2, 7, 40],
    "charges": [10.5, 20.0, 30.25, 5.0, 8.0, 9.5, 11.0, 12.0],
    "contract": ["month", "year", "month", "two-year", "year", "month", "year", "two-year"],
    "churned": [1, 0, 1, 0, 0, 1, 0, 0],
})


def fitted(frame: pd.DataFrame | None = None) -> LogisticRegression:
    X = pd.get_dummies(TABLE.drop(columns=["customer_id", "churned"]), columns=["contract"], dtype=int)
    return LogisticRegression(max_iter=200).fit(X if frame is None else frame, TABLE["churned"])


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    TABLE.to_csv(tmp_path / "train.csv", index=False)
    return tmp_path / "train.csv"


def test_one_hot_features_are_rebuilt_from_the_raw_table_and_predict(csv, tmp_path):
    model = fitted()
    example = input_example(model, [csv], tmp_path)
    assert list(example.frame.columns) == list(model.feature_names_in_)
    assert len(example.frame) == EXAMPLE_ROWS
    expected = pd.get_dummies(TABLE.drop(columns=["customer_id", "churned"]), columns=["contract"], dtype=int)
    assert (example.frame.to_numpy() == expected.head(EXAMPLE_ROWS)[list(model.feature_names_in_)].to_numpy()).all()
    assert model.predict(example.frame).tolist() == model.predict(expected.head(EXAMPLE_ROWS)).tolist()
    assert "train.csv" in example.how and "one-hot from contract" in example.how


def test_plain_columns_come_from_a_parquet_table_among_others(tmp_path):
    TABLE.to_parquet(tmp_path / "t.parquet")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    model = fitted(TABLE[["tenure", "charges"]])
    example = input_example(model, [tmp_path / "other.csv", tmp_path / "t.parquet"], tmp_path)
    assert example.frame.to_dict("list") == TABLE[["tenure", "charges"]].head(EXAMPLE_ROWS).to_dict("list")
    assert example.how.startswith("the first 5 rows of t.parquet")


def test_an_array_fitted_estimator_has_no_example_and_says_why(csv, tmp_path):
    model = fitted(TABLE[["tenure", "charges"]].to_numpy())
    example = input_example(model, [csv], tmp_path)
    assert example.frame is None and "2 unnamed features" in example.how


def test_a_feature_no_table_has_is_named(csv, tmp_path):
    frame = TABLE[["tenure"]].assign(engineered=TABLE["tenure"] * 2)
    example = input_example(fitted(frame), [csv], tmp_path)
    assert example.frame is None and "train.csv lacks engineered" in example.how
    assert input_example(fitted(frame), [], tmp_path).how.startswith("unknown: the session read no CSV")
