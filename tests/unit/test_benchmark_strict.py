"""The strict detector benchmark's pure parts: its rule of equality, its notebook conversion, its script facts.

The benchmark judges the detector; these guard the judge. Values compare by digest across kernels, so two
equal values must digest alike and a change that a later cell would see must not.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))  # detector_strict imports its siblings by name
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


values = _load("kernel_values")
public = _load("public_notebooks")
strict = _load("detector_strict")


def _figure(ys: list[float]) -> tuple:
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], ys)
    ax.set_title("sales")
    return fig, ax


def test_figures_compare_by_what_they_draw_not_identity() -> None:
    first, second, other = _figure([1, 2, 3]), _figure([1, 2, 3]), _figure([1, 2, 4])
    try:
        assert values.digest(first[0]) == values.digest(second[0])
        assert values.digest(first[1]) == values.digest(second[1])
        assert values.digest(first[0]) != values.digest(other[0])
    finally:
        plt.close("all")


def test_generators_compare_by_state_estimators_by_params_and_fit() -> None:
    drawn = np.random.default_rng(7)
    drawn.normal()
    assert values.digest(np.random.default_rng(7)) == values.digest(np.random.default_rng(7))
    assert values.digest(drawn) != values.digest(np.random.default_rng(7))
    fitted = LinearRegression().fit([[1], [2]], [1, 2])
    assert values.digest(LinearRegression().fit([[1], [2]], [1, 2])) == values.digest(fitted)
    assert values.digest(LinearRegression()) != values.digest(fitted)
    assert values.digest(LinearRegression().fit([[1], [2]], [1, 3])) != values.digest(fitted)


def test_data_and_code_compare_by_content() -> None:
    frame = pd.DataFrame({"a": [1.0, float("nan")], "b": ["x", None]})
    assert values.digest(frame) == values.digest(frame.copy())
    assert values.digest(frame) != values.digest(frame.assign(a=[1.0, 2.0]))
    assert values.digest(np.array([np.nan, 1.0])) == values.digest(np.array([np.nan, 1.0]))
    assert values.digest([1, {"k": (2, 3)}]) != values.digest([1, {"k": (2, 4)}])
    namespace: dict = {}
    exec("def f(x):\n    return x + 1\n", namespace)
    again: dict = {}
    exec("def f(x):\n    return x + 1\n", again)
    edited: dict = {}
    exec("def f(x):\n    return x + 2\n", edited)
    assert values.digest(namespace["f"]) == values.digest(again["f"])
    assert values.digest(namespace["f"]) != values.digest(edited["f"])
    assert values.digest(object()) is None  # identity only: not comparable


def test_floats_a_rounding_error_apart_are_one_value_and_a_real_change_is_not() -> None:
    # the same sum in another order (what SIMD code does on another memory alignment): one value
    values_ = np.random.default_rng(0).normal(size=1000)
    forward, backward = float(np.sum(values_)), float(sum(values_[::-1].tolist()))
    assert values.digest(forward) == values.digest(backward)
    noisy = values_ * (1 + 2**-52)
    assert noisy.tobytes() != values_.tobytes()  # last bits that do differ
    assert values.digest(values_) == values.digest(noisy)
    assert values.digest(pd.Series(values_)) == values.digest(pd.Series(noisy))
    assert values.digest(np.float64(0.1 + 0.2)) == values.digest(np.float64(0.3))
    # one part in a million is a different value, in every container
    assert values.digest(1.0) != values.digest(1.0 + 1e-6)
    assert values.digest(values_) != values.digest(values_ * (1 + 1e-6))
    assert values.digest(pd.DataFrame({"x": values_})) != values.digest(pd.DataFrame({"x": values_ + 1e-6}))
    assert values.digest([float("nan"), float("inf")]) == values.digest([float("nan"), float("inf")])


def test_user_names_leave_out_ipython_and_private_names() -> None:
    names = values.user_names({"x": 1, "_y": 2, "In": [], "get_ipython": print, "seen": 3}, frozenset({"seen"}))
    assert set(names) == {"x"}


def test_gallery_script_becomes_markdown_and_one_code_cell_per_block() -> None:
    script = '"""\nTitle\n=====\n\nWhat it shows.\n"""\n\n# %%\n# Make data\n# ---------\nimport numpy as np\n' \
             'x = np.arange(3)\n\n# %%\ny = x * 2\n'
    notebook = public._gallery_notebook(script, "demo")
    kinds = [(c["cell_type"], "".join(c["source"])) for c in notebook["cells"]]
    assert kinds == [("markdown", "Title\n=====\n\nWhat it shows."), ("markdown", "Make data\n---------"),
                     ("code", "import numpy as np\nx = np.arange(3)"), ("code", "y = x * 2")]
    assert [c["id"] for c in notebook["cells"]] == ["demo-0", "demo-1", "demo-2", "demo-3"]


def test_script_facts_see_binds_reads_and_mutations() -> None:
    facts = strict.Facts.of("import numpy as np\nrng = np.random.default_rng(0)\nx = rng.normal()\nlst.append(x)")
    assert {"np", "rng", "x"} <= facts.binds
    assert {"rng", "lst"} <= facts.mutates and facts.random
    assert strict.Facts.of("# only a comment\n").empty
    edited = strict.edit_literal("n = 10\nscale = 2.5\n", random.Random(0))
    assert edited is not None and edited != "n = 10\nscale = 2.5\n" and edited.count("\n") == 2
