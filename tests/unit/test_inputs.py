"""Every user value parsed once, strictly (inputs.py, pure): what passes, and what is a BadInput."""

from __future__ import annotations

import pytest

from jupyter_mlops import inputs
from jupyter_mlops.errors import BadInput
from jupyter_mlops.export.compare import parse_expectation


@pytest.mark.parametrize(("value", "number"), [("0", 0), ("42", 42), (7, 7), (str(2**31 - 1), 2**31 - 1)])
def test_whole_numbers(value, number):
    assert inputs.whole_number(value, "n") == number


@pytest.mark.parametrize("value", ["²", "٣", "1_000", " 5", "5 ", "+5", "-1", "0x10", "1e3", "", str(2**63),
                                   "9" * 40, 2**63, True, None, 1.0, "５"])
def test_not_whole_numbers(value):
    with pytest.raises(BadInput, match="n must be a whole number"):
        inputs.whole_number(value, "n")


@pytest.mark.parametrize(("value", "number"), [(0.5, 0.5), (1, 1.0), ("1e-9", 1e-9), (".5", 0.5), ("0", 0.0)])
def test_numbers(value, number):
    assert inputs.number(value, "x", low=0, high=1) == number


@pytest.mark.parametrize("value", ["nan", "inf", float("nan"), float("inf"), 10**400, "1e400", True, "0.5\n",
                                   " 0.5", "½", "2", -0.1, None, [0.5]])
def test_not_numbers(value):
    with pytest.raises(BadInput, match="x must be a number from 0 to 1"):
        inputs.number(value, "x", low=0, high=1)


@pytest.mark.parametrize(("value", "said"), [
    ("a\ud800.ipynb", "lone surrogate"), ("a\udcff.ipynb", "lone surrogate"), ("a\0b", "NUL"), ("x" * 5000, "longer"),
    ("", "non-empty"), (3, "non-empty string"), (None, "non-empty string"),
])
def test_text_that_is_not(value, said):
    with pytest.raises(BadInput, match=said):
        inputs.text(value, "path")


def test_text():
    assert inputs.text("données/é.ipynb", "path") == "données/é.ipynb" and inputs.text("", "x", empty=True) == ""


@pytest.mark.parametrize(("parse", "good", "bad"), [
    (inputs.session_id, ["aaaa00000001", "a-b_c"], ["aaaa00000001\n", "a/b", "x" * 65, "", "é", 12]),
    (inputs.model_name, ["churn", "churn model.v2"], ["churn\n", "../x", " churn", "", "x" * 129]),
    (inputs.alias, ["candidate", "champion-2"], ["cand\n", "no spaces", "2x", "", "a" * 65]),
    (inputs.metric_gate, ["auc>=0.8", "val/loss < 1e-3", " auc == 1 "],
     ["auc>=0.8\n", "auc>=0.8; rm", "auc", "auc>=x"]),
])
def test_identifiers_match_as_a_whole(parse, good, bad):
    assert [parse(v) for v in good] == good
    for value in bad:
        with pytest.raises(BadInput):
            parse(value)


def test_the_cli_and_the_server_parse_gates_alike():
    assert parse_expectation("auc>=0.8").value == 0.8
    with pytest.raises(BadInput):
        parse_expectation("auc>=0.8\n")
