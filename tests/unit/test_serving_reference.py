"""The drift reference of a served model: its inputs matched to the training profile, one-hot honestly."""

from __future__ import annotations

import numpy as np

from jupyter_mlops.monitor import drift
from jupyter_mlops.monitor.profile import Column, Sampling, profile_columns
from jupyter_mlops.serving import reference
from jupyter_mlops.serving.statistics import columns_of, profile_of, snapshot, unseen_counts

rng = np.random.default_rng(0)
CONTRACTS = np.array(["monthly", "yearly", "two-year"])


def training_profile(n: int = 3000) -> dict:
    contract = rng.choice(CONTRACTS, size=n, p=[0.6, 0.3, 0.1])
    columns = [Column("tenure", rng.integers(1, 70, n), "int64"), Column("contract", contract.astype(object), "str"),
               Column("note", np.array(["a"] * n, dtype=object), "str")]
    return profile_columns(columns, Sampling(n, True, False), source={"kind": "file"})


def live_rows(n: int, shares=(0.6, 0.3, 0.1), tenure_shift: int = 0, unseen: int = 0) -> list:
    contract = rng.choice(CONTRACTS, size=n, p=shares)
    rows = []
    for i in range(n):
        inputs = {"tenure": int(rng.integers(1, 70)) + tenure_shift,
                  **{f"contract_{c}": int(contract[i] == c and i >= unseen) for c in CONTRACTS},
                  "contract_weekly": 0, "extra": 1.0}
        rows.append([inputs, {"prediction": int(i % 3 == 0)}])
    return rows


INPUTS = ["tenure", "contract_monthly", "contract_yearly", "contract_two-year", "contract_weekly", "extra"]


def test_inputs_are_matched_directly_or_as_indicators_of_a_category():
    ref = reference.build(INPUTS, {"data.csv": {"profile": training_profile()}}, "s1")
    how = {m.column: (m.how, m.source, m.value) for m in ref.matches}
    assert how["tenure"] == ("direct", "tenure", None)
    assert how["contract_yearly"] == ("indicator", "contract", "yearly")
    assert how["contract_weekly"] == ("indicator", "contract", "weekly")  # complete profile: its share was 0
    assert how["extra"][0] == "none"
    field = ref.fields["contract_yearly"]
    assert field["histogram"]["edges"] == [-0.5, 0.5, 1.5] and abs(field["mean"] - 0.3) < 0.03
    assert "4 one-hot from contract" in ref.describe() and "1 without a reference (extra)" in ref.describe()


def test_drift_through_the_one_engine_flags_only_what_moved():
    ref = reference.build(INPUTS, {"data.csv": {"profile": training_profile()}}, "s1")
    same = ref.compare(profile_of(columns_of(live_rows(2000), 0), 2000))
    assert same.verdict == drift.OK
    assert {c.name: c.verdict for c in same.columns}["extra"] == drift.UNKNOWN
    moved = ref.compare(profile_of(columns_of(live_rows(2000, shares=(0.2, 0.3, 0.5)), 0), 2000))
    verdicts = {c.name: c.verdict for c in moved.columns}
    assert verdicts["contract_monthly"] == verdicts["contract_two-year"] == drift.DRIFT
    assert verdicts["tenure"] == drift.OK
    note = {c.name: c.note for c in moved.columns}["contract_monthly"]
    assert note == "the share of contract = monthly in training"
    empty = ref.compare(profile_of({}, 0))
    assert empty.verdict == drift.UNKNOWN and empty.note == "no row scored in the window yet"


def test_rows_with_no_indicator_set_count_as_an_unseen_category():
    ref = reference.build(INPUTS, {"data.csv": {"profile": training_profile()}}, "s1")
    assert unseen_counts(columns_of(live_rows(500, unseen=40), 0), ref)["contract"] == 40


def test_a_snapshot_has_mlwatcher_statistics_and_class_rates():
    ref = reference.build(INPUTS, {"data.csv": {"profile": training_profile()}}, "s1")
    rows = live_rows(600)
    snap = snapshot(rows, ref, window_rows=6000, total_rows=9000, quality={})
    tenure = snap.input_stats["tenure"]
    values = np.array([r[0]["tenure"] for r in rows], dtype=float)
    assert tenure["mean"] == values.mean() and tenure["q25"] == np.quantile(values, 0.25)
    assert tenure["iqr"] == np.quantile(values, 0.75) - np.quantile(values, 0.25) and tenure["nulls"] == 0
    assert snap.quality["predicted_class_rate"] == {"0": 400 / 600, "1": 200 / 600}
    assert snap.sample_rows == 600 and snap.window_rows == 6000


def test_no_reference_says_why():
    assert reference.build(INPUTS, {}, None).note.startswith("the version names no tracked session")
    missing = reference.build(INPUTS, {"data.csv": {"profile": None, "error": "unreadable"}}, "s1")
    assert "data.csv: unreadable" in missing.note
    unrelated = reference.build(["zzz"], {"data.csv": {"profile": training_profile()}}, "s1")
    assert unrelated.note.startswith("no model input is a column of the training tables")
