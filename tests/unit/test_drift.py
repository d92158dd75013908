"""Drift verdicts on shifted and unshifted data, and PSI against a direct computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.monitor import drift
from jupyter_mlops.monitor.profile import profile_frame


def churn_like(seed: int, rows: int = 3000, *, shift: float = 0.0, plans=(0.5, 0.3, 0.2)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "monthly": rng.normal(65.0, 15.0, rows) + shift,
        "tenure": np.clip(rng.gamma(2.0, 10.0, rows), 1, 72).round().astype(int),
        "calls": rng.poisson(1.5, rows),
        "plan": rng.choice(["month", "year", "two-year"], size=rows, p=plans),
        "senior": (rng.random(rows) < 0.16).astype(int),
    })


def compare(a: pd.DataFrame, b: pd.DataFrame) -> drift.InputDrift:
    return drift.compare(profile_frame(a), profile_frame(b), reference_name="a", current_name="b")


def by_name(result: drift.InputDrift) -> dict[str, drift.ColumnDrift]:
    return {c.name: c for c in result.columns}


def test_another_sample_of_the_same_distribution_shows_no_drift():
    result = compare(churn_like(1), churn_like(2))
    assert result.verdict == drift.OK, result
    assert all(c.psi < drift.PSI_WARN for c in result.columns)


def test_a_shifted_column_drifts_and_the_others_do_not():
    result = compare(churn_like(1), churn_like(2, shift=15.0))
    columns = by_name(result)
    assert result.verdict == drift.DRIFT
    assert columns["monthly"].verdict == drift.DRIFT and columns["monthly"].psi > 0.5
    assert {n for n, c in columns.items() if c.verdict != drift.OK} == {"monthly"}


def test_a_changed_category_mix_drifts():
    columns = by_name(compare(churn_like(1), churn_like(2, plans=(0.2, 0.3, 0.5))))
    assert columns["plan"].verdict == drift.DRIFT
    assert columns["monthly"].verdict == drift.OK


def test_identical_data_has_zero_psi():
    df = churn_like(1)
    assert all(c.psi == pytest.approx(0.0, abs=1e-9) for c in compare(df, df).columns)


def test_integer_histograms_of_different_ranges_rebin_exactly():
    a = pd.DataFrame({"k": [0, 1, 1, 2, 2, 2, 3] * 100})
    b = pd.DataFrame({"k": [1, 1, 2, 2, 2, 3] * 100 + [0] * 100})  # same shares, different order
    c = pd.DataFrame({"k": [0, 1, 1, 2, 2, 2, 3, 9] * 100})        # a wider range
    assert by_name(compare(a, b))["k"].psi == pytest.approx(0.0, abs=1e-9)
    wider = by_name(compare(a, c))["k"]
    shares_a = np.array([1, 2, 3, 1, 0]) / 7
    shares_c = np.array([1, 2, 3, 1, 1]) / 8
    assert wider.psi == pytest.approx(drift.psi(shares_a, shares_c))


def test_psi_is_the_textbook_formula():
    ref, cur = np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.4, 0.2])
    expected = (0.4 - 0.5) * np.log(0.4 / 0.5) + (0.4 - 0.3) * np.log(0.4 / 0.3)
    assert drift.psi(ref, cur) == pytest.approx(expected)


def test_nulls_appearing_drift():
    a = churn_like(1)
    b = churn_like(2)
    b.loc[b.index[:900], "monthly"] = np.nan
    assert by_name(compare(a, b))["monthly"].verdict == drift.DRIFT


def test_schema_changes_are_drift_or_warnings():
    a = churn_like(1)
    b = churn_like(2).drop(columns=["calls"]).assign(extra=1, senior=lambda d: d["senior"].map({0: "n", 1: "y"}))
    columns = by_name(compare(a, b))
    assert columns["calls"].verdict == drift.DRIFT and "missing" in columns["calls"].note
    assert columns["senior"].verdict == drift.DRIFT and "was numeric" in columns["senior"].note
    assert columns["extra"].verdict == drift.WARN
