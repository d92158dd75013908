"""Tracked session vs re-run: rows, tolerance, gates, and the one-line verdict."""

import pytest

from jupyter_mlops.errors import BadInput
from jupyter_mlops.export.compare import RerunFacts, compare_runs, parse_expectation, summarize

SESSION = {
    "id": "abc123",
    "params": [{"name": "lr", "value": 0.1, "source": "parameters"}],
    "metrics": [{"name": "auc", "value": 0.80}, {"name": "auc", "value": 0.81}],
    "files": [{"path": "data/x.csv", "mode": "read", "md5": "d1"}, {"path": "m.joblib", "mode": "write", "md5": "m1"}],
}
SAME = RerunFacts(params={"lr": 0.1}, metrics={"auc": 0.81}, files={"m.joblib": "m1"}, inputs={"data/x.csv": "d1"})


def test_agreeing_rerun():
    rows = compare_runs(SESSION, SAME, tolerance=1e-9)
    assert [r["what"] for r in rows] == ["param lr", "input data/x.csv", "file m.joblib", "metric auc"]
    assert all(r["ok"] for r in rows) and rows[-1]["tracked"] == 0.81
    ok, message = summarize("nb.ipynb", SESSION, SAME, rows)
    assert ok and "reproduces tracked session abc123" in message


def test_differences_are_named_and_tolerance_applies():
    now = RerunFacts(params={"lr": 0.1}, metrics={"auc": 0.7}, files={"m.joblib": "m2"}, inputs={"data/x.csv": "d2"})
    rows = compare_runs(SESSION, now, tolerance=0.01)
    ok, message = summarize("nb.ipynb", SESSION, now, rows)
    assert not ok and "differs from tracked session abc123: input data/x.csv, file m.joblib, metric auc" in message
    close = RerunFacts(params={"lr": 0.1}, metrics={"auc": 0.815}, files={"m.joblib": "m1"},
                       inputs={"data/x.csv": "d1"})
    assert compare_runs(SESSION, close, tolerance=0.01)[-1]["ok"]
    assert not compare_runs(SESSION, close, tolerance=1e-9)[-1]["ok"]


def test_gates():
    gates = [parse_expectation(g) for g in ("auc>=0.8", "auc < 0.5", "loss<1")]
    rows = compare_runs(SESSION, SAME, tolerance=1e-9, gates=gates)
    assert [r["ok"] for r in rows[-3:]] == [True, False, False]
    ok, message = summarize("nb.ipynb", SESSION, SAME, rows)
    assert not ok and "expectation failed: auc<0.5 (got 0.81), loss<1 (no such metric)" in message


@pytest.mark.parametrize("bad", ["auc", "auc >= high", ">= 0.8", "auc => 0.8"])
def test_bad_expectations_are_bad_input(bad):
    with pytest.raises(BadInput, match="--expect"):
        parse_expectation(bad)


def test_failed_rerun_is_the_message():
    failed = RerunFacts(error="cell 5: FileNotFoundError: data/x.csv")
    ok, message = summarize("nb.ipynb", SESSION, failed, compare_runs(SESSION, failed, tolerance=0))
    assert not ok and message == "nb.ipynb did not re-run cleanly: cell 5: FileNotFoundError: data/x.csv"
