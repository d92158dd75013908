"""check_saved_notebook: the verdict for a saved .ipynb from its execution counts."""

from __future__ import annotations

from jupyter_mlops.check import check_saved_notebook
from jupyter_mlops.core.notebook import Cell


def saved(*cells: tuple[str, str, int | None]) -> list[Cell]:
    return [Cell(cell_id, code, execution_count=count) for cell_id, code, count in cells]


NOTEBOOK = [
    ("imp", "import pandas as pd\nimport numpy as np"),
    ("load", "df = pd.DataFrame({'x': [1, 2, 3]})"),
    ("feat", "df['y'] = df['x'] * 2"),
    ("show", "df.describe()"),
    ("mean", "m = df['y'].mean()"),
]


def counts(*numbers: int | None) -> list[Cell]:
    return saved(*[(cid, code, n) for (cid, code), n in zip(NOTEBOOK, numbers, strict=True)])


def test_clean_run_all_is_reproducible():
    verdict = check_saved_notebook(counts(1, 2, 3, 4, 5))
    assert verdict.reproducible and verdict.issues == ()


def test_display_cell_rerun_later_is_fine():
    assert check_saved_notebook(counts(1, 2, 3, 9, 5)).reproducible


def test_markdown_cells_are_ignored():
    cells = [Cell("md", "# Title with `code`", "markdown"), *counts(1, 2, 3, 4, 5)]
    assert check_saved_notebook(cells).reproducible


def test_gaps_in_counts_alone_are_fine():
    assert check_saved_notebook(counts(3, 7, 8, 12, 20)).reproducible


def test_shuffled_counts_reader_ran_before_its_producer():
    verdict = check_saved_notebook(counts(1, 2, 5, 3, 4))
    assert not verdict.reproducible
    assert {(i.kind, i.cell_id) for i in verdict.issues} == {("stale-input", "mean")}


def test_cell_that_used_a_value_from_below():
    cells = saved(("a", "y = x + 1", 2), ("b", "x = 1", 1))
    verdict = check_saved_notebook(cells)
    assert [(i.kind, i.cell_id) for i in verdict.issues] == [("read-from-below", "a")]


def test_never_run_cell_whose_effect_later_cells_used():
    cells = saved(("a", "x = 1", 1), ("b", "x = x * 10", None), ("c", "y = x + 1", 2))
    verdict = check_saved_notebook(cells)
    assert [(i.kind, i.cell_id) for i in verdict.issues] == [("skipped-cell", "b")]


def test_never_run_display_cell_is_reported_and_unrun_tail_is_fine():
    cells = saved(("a", "x = 1", 1), ("b", "print(x)", None), ("c", "y = x + 1", 2), ("d", "z = y * 2", None))
    verdict = check_saved_notebook(cells)
    assert [(i.kind, i.cell_id) for i in verdict.issues] == [("skipped-cell", "b")]
    tail = saved(("a", "x = 1", 1), ("c", "y = x + 1", 2), ("d", "z = y * 2", None))
    assert check_saved_notebook(tail).reproducible


def test_name_no_cell_defines():
    cells = saved(("a", "import math", 1), ("b", "r = math.sqrt(threshold)", 2))
    verdict = check_saved_notebook(cells)
    assert [(i.kind, i.cell_id, i.names) for i in verdict.issues] == [("hidden-state", "b", ("threshold",))]


def test_builtins_and_ipython_names_are_defined():
    cells = saved(("a", "x = len(range(3))\ndisplay(x)\nprint(In[0], Out)", 1))
    assert check_saved_notebook(cells).reproducible


def test_star_import_silences_undefined_names():
    cells = saved(("a", "from math import *", 1), ("b", "r = sqrt(2)", 2))
    assert check_saved_notebook(cells).reproducible


def test_magics_in_saved_notebook():
    cells = saved(("a", "%matplotlib inline\nimport numpy as np", 1), ("b", "!ls\nx = np.zeros(3)", 2))
    assert check_saved_notebook(cells).reproducible


def test_nothing_ran():
    assert check_saved_notebook(counts(None, None, None, None, None)).reproducible
