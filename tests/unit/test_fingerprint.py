"""Value digests: equal values digest equally whichever way they were made; anything costly or unknown has none."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from jupyter_mlops.kernel.fingerprint import fingerprints


def digest(value: object) -> str | None:
    return fingerprints({"v": value}, ["v"]).get("v")


def test_equal_values_made_differently_digest_equally():
    frame = pd.DataFrame({"store": ["north", "south", "east"], "units": [3, 4, 5]})
    pivot = frame.pivot_table(columns="store", values="units")
    assert digest(pd.Index(sorted(frame["store"].unique()), name="store")) == digest(pivot.columns)
    assert digest(frame.columns) == digest(frame.copy().columns)
    assert digest(np.arange(4.0)) == digest(np.linspace(0, 3, 4))
    assert digest(frame[["units"]]) == digest(frame.drop(columns="store"))
    assert digest([1, "a", (2.5, None)]) == digest([1, "a", (2.5, None)])
    assert digest(np.random.default_rng(3)) == digest(np.random.default_rng(3))


def test_different_values_digest_differently():
    assert digest(pd.Index(["a", "b"], name="x")) != digest(pd.Index(["a", "b"], name="y"))
    assert digest(pd.Index([1, 2])) != digest(pd.Index([1.0, 2.0]))
    assert digest(np.arange(4)) != digest(np.arange(4).reshape(2, 2))
    assert digest(pd.Series([1, 2], name="a")) != digest(pd.Series([1, 2], name="b"))
    assert digest(pd.Series([1, 2], index=[0, 1])) != digest(pd.Series([1, 2], index=[1, 2]))
    assert digest(pd.Series(["a", "b"], dtype="category")) != digest(pd.Series(["a", "b"]))
    generator = np.random.default_rng(3)
    before = digest(generator)
    generator.normal()
    assert digest(generator) != before  # a generator is its state: what the next draw gives
    seeded = random.Random(1)
    assert digest(seeded) == digest(random.Random(1)) != digest(random.Random(2))
    assert digest(1) != digest(1.0) != digest("1")


def test_what_is_costly_or_unknown_has_no_digest():
    class Model:
        def __repr__(self) -> str:
            raise AssertionError("user code must not run")

        def __eq__(self, other: object) -> bool:
            raise AssertionError("user code must not run")

    for value in (Model(), [Model()], np.zeros(10**6), pd.DataFrame(np.zeros((10**5, 3))), "x" * 10**5,
                  pd.MultiIndex.from_tuples([(1, 2)]), np.array([Model()], dtype=object), {1: Model()}):
        assert digest(value) is None


def test_absent_names_are_left_out():
    assert fingerprints({"a": 1}, ["a", "gone"]).keys() == {"a"}
