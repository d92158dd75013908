"""Issue 6 in a real kernel: the eleven scenarios, each cell sent with its cellId as JupyterLab sends it.

TP scenarios must end not reproducible with the named kind; TN scenarios must stay reproducible with no
issue at all. Strict mode must refuse the TP runs that use bad state and run every TN one.
"""

from __future__ import annotations

import pytest

from tests.support.kernel import Kernel

pytestmark = pytest.mark.kernel


def start(kernel: Kernel, strict: bool = False) -> None:
    kernel.cell("%load_ext jupyter_mlops", "load")
    kernel.cell("%mlops_track --no-mlflow" + (" --strict" if strict else ""), "track")


def run(kernel: Kernel, *steps: tuple[str, str], deleted: list[str] | None = None) -> list:
    replies = []
    for cell_id, code in steps:
        reply = kernel.run(code, cell_id, deleted=deleted)
        replies.append(reply)
    return replies


def verdict(kernel: Kernel) -> dict:
    return kernel.eval("__import__('jupyter_mlops').status()")


def kinds(status: dict) -> set[tuple[str, str]]:
    return {(i["kind"], i["cell_id"]) for i in status["issues"]}


def assert_clean(kernel: Kernel) -> None:
    status = verdict(kernel)
    assert status["reproducible"] is True and status["issues"] == [], status["issues"]


@pytest.fixture
def numpy_kernel(kernel):
    kernel.cell("import numpy as np, pandas as pd", "imports")
    return kernel


def test_1_stale_consumer(kernel):
    start(kernel)
    run(kernel, ("A", "x = 1"), ("B", "y = x + 1"), ("C", "print(y)"))
    assert_clean(kernel)
    replies = run(kernel, ("A", "x = 42"), ("C", "print(y)"))
    status = verdict(kernel)
    assert status["reproducible"] is False
    assert ("stale-input", "B") in kinds(status)
    assert "stale-input" in replies[0].stderr  # warned under the cell that made it stale
    assert any("y" in i["names"] for i in status["issues"])
    assert next(i["run"] for i in status["issues"] if i["kind"] == "stale-input") == ["B"]


def test_2_independent_cells_bottom_up_and_reimport(kernel, project):
    (project / "a.txt").write_text("a")
    (project / "b.txt").write_text("b")
    start(kernel)
    replies = run(kernel, ("B", "b = open('b.txt').read()"), ("A", "a = open('a.txt').read()"),
                  ("M", "import math"), ("M", "import math"))
    assert all("jupyter-mlops:" not in r.stderr for r in replies)
    assert_clean(kernel)


def test_3_mutating_rerun(kernel):
    start(kernel)
    replies = run(kernel, ("A", "lst = [1, 2, 3]"), ("B", "lst.append(4)"), ("B", "lst.append(4)"),
                  ("C", "print(sum(lst))"))
    status = verdict(kernel)
    assert status["reproducible"] is False
    assert ("non-idempotent-rerun", "B") in kinds(status)
    assert "non-idempotent-rerun" in replies[2].stderr


def test_4_subscript_write_stale_then_new_column_is_fine(kernel, project):
    start(kernel)
    cells = [("A", "import pandas as pd\ndf = pd.DataFrame({'x': [1, 2]})"), ("B", "df['y'] = df['x'] * 2"),
             ("C", "m = df['y'].mean()")]
    run(kernel, *cells)
    run(kernel, ("B", "df['y'] = df['x'] * 3"))
    status = verdict(kernel)
    assert status["reproducible"] is False
    assert any(i["cell_id"] == "C" and i["kind"] == "stale-input" for i in status["issues"]), status["issues"]


def test_4_new_column_nobody_read_is_not_flagged(kernel):
    start(kernel)
    run(kernel, ("A", "import pandas as pd\ndf = pd.DataFrame({'x': [1, 2]})"), ("B", "df['y'] = df['x'] * 2"),
        ("C", "m = df['y'].mean()"), ("D", "df['z'] = 0"))
    assert_clean(kernel)


def test_5_alias_mutation_makes_reader_stale(kernel):
    start(kernel)
    run(kernel, ("A", "a = [1, 2]"), ("B", "b = a"), ("C", "n = len(a)"), ("D", "b.append(3)"))
    status = verdict(kernel)
    assert status["reproducible"] is False
    assert any(i["cell_id"] == "C" and "n" in i["names"] for i in status["issues"]), status["issues"]


def test_6_global_read_inside_a_function(kernel):
    start(kernel)
    run(kernel, ("A", "rate = 0.1"), ("B", "def tax(v):\n    return v * rate"), ("C", "t = tax(100)"))
    assert_clean(kernel)
    run(kernel, ("A", "rate = 0.2"))
    status = verdict(kernel)
    assert status["reproducible"] is False
    assert any(i["cell_id"] == "C" and i["kind"] == "stale-input" for i in status["issues"]), status["issues"]


def test_7_deleted_definition_is_hidden_state(kernel):
    start(kernel)
    run(kernel, ("A", "threshold = 5"), ("B", "hits = [v for v in range(10) if v > threshold]"))
    assert_clean(kernel)
    reply = kernel.run("hits = [v for v in range(10) if v > threshold]", "B", deleted=["A"])
    status = verdict(kernel)
    assert status["reproducible"] is False
    assert any(i["kind"] == "hidden-state" and "threshold" in i["names"] for i in status["issues"])
    assert "hidden-state" in reply.stderr


def test_8_unseeded_random_rerun(numpy_kernel):
    start(numpy_kernel)
    run(numpy_kernel, ("A", "rng = np.random.default_rng(0)"), ("B", "s = rng.normal(size=3)"),
        ("B", "s = rng.normal(size=3)"))
    status = verdict(numpy_kernel)
    assert status["reproducible"] is False
    assert ("unseeded-random", "B") in kinds(status)


def test_8_seeded_in_one_cell_is_fine(numpy_kernel):
    start(numpy_kernel)
    code = "rng = np.random.default_rng(0); s = rng.normal(size=3)"
    run(numpy_kernel, ("A", code), ("A", code))
    assert_clean(numpy_kernel)


def test_9_figures_compare_by_what_they_draw(kernel):
    kernel.cell("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt", "plt")
    start(kernel)
    a = "fig, ax = plt.subplots(); ax.plot([1])"
    b = "fig, ax = plt.subplots(); ax.hist([1])"
    run(kernel, ("B", b), ("A", a), ("A", a))  # the same picture again
    assert_clean(kernel)
    run(kernel, ("B", b))  # no file: execution order is the notebook's, and top to bottom A's picture is last
    assert kinds(verdict(kernel)) == {("overwritten", "B")}


def test_10_stale_through_a_file(kernel, project):
    start(kernel)
    run(kernel, ("A", "import pandas as pd\ndf = pd.DataFrame({'x': [1, -2, 3]})\ndf[df.x > 0].to_csv('clean.csv')"),
        ("B", "d2 = pd.read_csv('clean.csv')"))
    assert_clean(kernel)
    run(kernel, ("A", "import pandas as pd\ndf = pd.DataFrame({'x': [1, -2, 3]})\ndf[df.x > 1].to_csv('clean.csv')"))
    status = verdict(kernel)
    assert status["reproducible"] is False
    assert any(i["cell_id"] == "B" and i["kind"] == "stale-input" for i in status["issues"]), status["issues"]


def test_11_skipped_cell(kernel):
    start(kernel)
    run(kernel, ("A", "x = 1"), ("C", "y = x + 1"))
    # C ran before B existed in the notebook's order as the kernel knows it; tell the order with a file.
    status = verdict(kernel)
    assert status["reproducible"] is True  # B is not known to the kernel yet: nothing to say


def test_11_skipped_cell_in_a_saved_notebook(kernel, project):
    write_notebook(project / "nb.ipynb", [("A", "x = 1"), ("B", "x = x * 10"), ("C", "y = x + 1")])
    start(kernel)
    run(kernel, ("A", "x = 1"), ("C", "y = x + 1"))
    status = verdict(kernel)
    assert status["reproducible"] is False
    assert any(i["kind"] == "skipped-cell" for i in status["issues"]), status["issues"]


def test_11_skipped_display_cell_is_reported_since_its_output_is_missing(kernel, project):
    write_notebook(project / "nb.ipynb", [("A", "x = 1"), ("B", "print(x)"), ("C", "y = x + 1")], tracking=True)
    start(kernel)
    replies = run(kernel, ("A", "x = 1"), ("C", "y = x + 1"))
    status = verdict(kernel)
    assert [(i["kind"], i["cell_id"], i["fix"], i["run"]) for i in status["issues"]] == [
        ("skipped-cell", "B", "run cell 4", ["B"])
    ]
    assert "cell 4 never ran → run cell 4" in replies[1].stderr
    run(kernel, ("B", "print(x)"))
    assert_clean(kernel)


def test_cells_run_before_tracking_started_count_as_run(kernel, project):
    write_notebook(project / "nb.ipynb", [
        ("I", "import math"), ("T", "import jupyter_mlops\njupyter_mlops.track(mlflow=False)"),
        ("A", "r = math.sqrt(4)"),
    ])
    kernel.cell("import math", "I")
    kernel.cell("import jupyter_mlops\njupyter_mlops.track(mlflow=False)", "T")
    replies = run(kernel, ("A", "r = math.sqrt(4)"))
    assert "jupyter-mlops:" not in replies[0].stderr
    assert_clean(kernel)


def test_failed_out_of_order_in_a_real_kernel(kernel, project):
    cells = [("I", "import numpy as np"), ("B", "x = np.arange(3)"), ("C", "z = np.ones(2)")]
    write_notebook(project / "nb.ipynb", cells, tracking=True)
    start(kernel)
    replies = run(kernel, cells[1], cells[0], cells[2])
    assert replies[0].ename == "NameError"
    status = verdict(kernel)
    (issue,) = status["issues"]
    assert (issue["kind"], issue["cell_id"], issue["names"], issue["fix"]) == (
        "failed-out-of-order", "B", ["x"], "run cell 4")
    assert "cell 4 failed with NameError: np is made by cell 3, which ran after it" in issue["message"]
    run(kernel, cells[1])
    assert_clean(kernel)


def test_overwritten_by_an_early_rerun_is_reported_and_refused_in_strict_mode(kernel, project):
    cells = [("I", "import numpy as np"), ("A", "rng = np.random.default_rng(0)"), ("S", "a = rng.normal()"),
             ("B", "rng = np.random.default_rng(1)")]
    write_notebook(project / "nb.ipynb", cells, tracking=True)
    start(kernel)
    run(kernel, *cells, cells[1])
    status = verdict(kernel)
    assert ("overwritten", "A") in kinds(status), status["issues"]
    assert next(i["run"] for i in status["issues"] if i["kind"] == "overwritten") == ["B"]


def test_strict_refuses_overwriting_and_skipping(kernel, project):
    cells = [("A", "x = 1"), ("B", "y = x + 1"), ("C", "x = 2"), ("D", "w = 3"), ("E", "z = x")]
    write_notebook(project / "nb.ipynb", cells, tracking=True, strict=True)
    start(kernel, strict=True)
    assert [r.status for r in run(kernel, *cells[:3])] == ["ok"] * 3
    reply = kernel.run("x = 1", "A")
    assert reply.status == "error" and reply.ename == "InputRejected"
    assert "re-running cell 3 rebinds x, which cell 5 changes after it" in reply.evalue
    assert reply.evalue.endswith("run cell 5")
    assert kernel.eval("x") == 2
    reply = kernel.run("z = x", "E")
    assert reply.status == "error" and reply.ename == "InputRejected"
    assert "leaves cell 6 above it never run" in reply.evalue
    assert [r.status for r in run(kernel, cells[3], cells[4])] == ["ok", "ok"]
    assert_clean(kernel)


def test_strict_refuses_stale_use_and_says_what_to_run(kernel):
    start(kernel, strict=True)
    run(kernel, ("A", "x = 1"), ("B", "y = x + 1"), ("C", "print(y)"))
    run(kernel, ("A", "x = 42"))
    reply = kernel.run("print(y)\nran = True", "C")
    assert reply.status == "error" and reply.ename == "InputRejected"
    assert "run cell" in reply.evalue
    assert kernel.eval("'ran' in globals()") is False  # nothing of the cell ran


def test_strict_refuses_deleted_definition(kernel):
    start(kernel, strict=True)
    run(kernel, ("A", "threshold = 5"), ("B", "hits = [v for v in range(10) if v > threshold]"))
    reply = kernel.run("hits = [v for v in range(10) if v > threshold]", "B", deleted=["A"])
    assert reply.status == "error" and reply.ename == "InputRejected"
    assert "restart" in reply.evalue.lower() or "run" in reply.evalue.lower()


@pytest.mark.parametrize("cells", [
    [("A", "x = 1"), ("B", "y = x + 1"), ("C", "print(y)")],
    [("A", "lst = [1, 2, 3]"), ("B", "lst.append(4)"), ("C", "print(sum(lst))")],
    [("A", "import pandas as pd\ndf = pd.DataFrame({'x': [1, 2]})"), ("B", "df['y'] = df['x'] * 2"),
     ("C", "m = df['y'].mean()"), ("D", "df['z'] = 0")],
    [("A", "rate = 0.1"), ("B", "def tax(v):\n    return v * rate"), ("C", "t = tax(100)")],
    [("A", "import numpy as np\nrng = np.random.default_rng(0)"), ("B", "s = rng.normal(size=3)")],
])
def test_strict_never_refuses_a_clean_top_to_bottom_run(kernel, cells):
    start(kernel, strict=True)
    replies = run(kernel, *cells)
    assert [r.status for r in replies] == ["ok"] * len(cells)
    assert_clean(kernel)


def write_notebook(path, cells, tracking: bool = False, strict: bool = False) -> None:
    """The saved notebook; ``tracking``: it starts with the two cells ``start`` runs, as a user's would."""
    import json

    if tracking:
        cells = [("load", "%load_ext jupyter_mlops"), ("track", "%mlops_track --no-mlflow" + " --strict" * strict),
                 *cells]
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": cid, "metadata": {}, "source": code, "outputs": [], "execution_count": None}
        for cid, code in cells]}
    path.write_text(json.dumps(nb))


# -- issue 24: the classes the held-out sessions showed --------------------------------------------------


def test_a_seeded_generator_advanced_by_a_rerun_changes_every_later_draw(kernel, project):
    cells = [
        ("I", "import numpy as np\nfrom sklearn.model_selection import train_test_split"),
        ("R", "rng = np.random.default_rng(7)\nrs = np.random.RandomState(0)"),
        ("F", "def noisy(n):\n    return rng.normal(size=n)"),
        ("D", "noise = noisy(5)"),  # draws through a function of the notebook
        ("S", "X = np.arange(20.0).reshape(10, 2)\nX_tr, X_te = train_test_split(X, random_state=rs)"),
        ("L", "later = rng.normal()\nlater_split = rs.randint(10)"),
    ]
    write_notebook(project / "nb.ipynb", cells, tracking=True)
    start(kernel)
    run(kernel, *cells)
    assert_clean(kernel)
    run(kernel, *cells[1:5], cells[3], cells[4], cells[5])  # each draw twice: every later draw differs
    status = verdict(kernel)
    assert {("unseeded-random", "D"), ("unseeded-random", "S")} <= kinds(status), status["issues"]
    assert any("rng" in i["names"] for i in status["issues"]) and any("rs" in i["names"] for i in status["issues"])
    run(kernel, *cells[1:])
    assert_clean(kernel)


def test_an_estimator_refitted_out_of_order_and_an_edited_fit_rerun(kernel, project):
    cells = [
        ("I", "import numpy as np\nfrom sklearn.linear_model import Ridge\nX = np.arange(12.0).reshape(6, 2)\n"
              "y = X @ [1.0, 2.0]"),
        ("M", "model = Ridge(alpha=1.0)"),
        ("F", "model.fit(X, y)"),
        ("N", "X_noisy = X + 0.5"),
        ("G", "model.fit(X_noisy, y)\ncoef = model.coef_"),
    ]
    write_notebook(project / "nb.ipynb", cells, tracking=True)
    start(kernel)
    run(kernel, *cells, cells[4])  # the last fit again: the same model
    assert_clean(kernel)
    run(kernel, cells[2])  # the first fit again, after the second: the model learned the clean data
    status = verdict(kernel)
    assert ("overwritten", "F") in kinds(status), status["issues"]
    assert next(i["run"] for i in status["issues"] if i["kind"] == "overwritten") == ["G"]
    edited = [*cells[:4], ("G", "model.fit(X_noisy * 2, y)\ncoef = model.coef_")]
    write_notebook(project / "nb.ipynb", edited, tracking=True)
    run(kernel, edited[4])  # edited and re-run: the model is the edited cell's fit, nothing hidden is left
    assert_clean(kernel)


def test_outcomes_that_differ_top_to_bottom(kernel, project):
    cells = [
        ("P", "import pandas as pd\ndf = pd.DataFrame({'x': [1, 2], 'tmp': [0, 0]})"),
        ("D", "df = df.drop(columns=['tmp'])"),
        ("S", "summary.describe()"),
        ("B", "summary = df.x * 2"),
    ]
    write_notebook(project / "nb.ipynb", cells, tracking=True)
    start(kernel)
    replies = run(kernel, cells[0], cells[1], cells[1])
    assert replies[2].ename == "KeyError"  # the second run of the drop raises: top to bottom it runs once
    assert kinds(verdict(kernel)) == {("failed-out-of-order", "D")}
    run(kernel, cells[0], cells[1], cells[3], cells[2])  # shows a value made below it: fails top to bottom
    status = verdict(kernel)
    assert kinds(status) == {("read-from-below", "S")}, status["issues"]
    assert "top to bottom it fails" in status["issues"][0]["message"]


def test_equal_index_objects_from_two_cells_and_figures_by_what_they_draw(kernel, project):
    cells = [
        ("I", "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nimport pandas as pd\n"
              "sales = pd.DataFrame({'store': ['n', 's', 'e', 'n'], 'units': [1, 2, 3, 4]})"),
        ("A", "stores = pd.Index(sorted(sales['store'].unique()), name='store')\n"
              "totals = sales.groupby('store')['units'].sum().reindex(stores)"),
        ("P", "fig, ax = plt.subplots()\nbars = ax.bar(totals.index, totals.to_numpy())"),
        ("C", "pivot = sales.pivot_table(columns='store', values='units', aggfunc='sum')\nstores = pivot.columns"),
        ("Q", "fig, ax = plt.subplots()\nax.plot(sales['units'])"),
    ]
    write_notebook(project / "nb.ipynb", cells, tracking=True)
    start(kernel)
    run(kernel, *cells, cells[1])  # A again: `stores` is C's value anyway (the same index)
    assert_clean(kernel)
    run(kernel, cells[2])  # P again: fig and ax hold the bar chart where top to bottom they hold Q's line
    status = verdict(kernel)
    assert kinds(status) == {("overwritten", "P")} and {"ax", "fig"} <= set(status["issues"][0]["names"])
    run(kernel, cells[4])
    assert_clean(kernel)
    kernel.run("ax.axvline(1)", "V")
    write_notebook(project / "nb.ipynb", [*cells, ("V", "ax.axvline(1)")], tracking=True)
    run(kernel, ("V", "ax.axvline(1)"))  # a second line on the same axes
    assert ("non-idempotent-rerun", "V") in kinds(verdict(kernel))
