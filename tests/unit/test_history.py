"""What ran before tracking, matched to the notebook's cells (core/history.py): pure, no kernel."""

from jupyter_mlops.core.history import rebuild, unexplained_names
from jupyter_mlops.core.notebook import Cell


def cells(*specs: tuple[str, str, int | None]) -> list[Cell]:
    return [Cell(cell_id, source, execution_count=count) for cell_id, source, count in specs]


def test_each_execution_is_the_cell_holding_its_code_in_the_order_it_ran():
    notebook = cells(("A", "x = 1", 1), ("B", "x = x + 1", 3), ("C", "y = x", 4))
    rebuilt = rebuild([(1, "x = 1"), (2, "x = x + 1"), (3, "x = x + 1"), (4, "y = x"), (5, "  ")], notebook)
    assert [(count, cell_id) for count, cell_id, _ in rebuilt.runs] == [(1, "A"), (2, "B"), (3, "B"), (4, "C")]
    assert rebuilt.unexplained is None


def test_duplicated_code_is_told_apart_by_the_saved_count_then_by_order():
    notebook = cells(("A", "df.head()", 2), ("B", "df = load()", None), ("C", "df.head()", 5))
    rebuilt = rebuild([(1, "df = load()"), (2, "df.head()"), (5, "df.head()")], notebook)
    assert [cell_id for _, cell_id, _ in rebuilt.runs] == ["B", "A", "C"]


def test_code_no_cell_holds_explains_nothing_when_it_binds_names():
    notebook = cells(("A", "x = 2", None), ("B", "y = x * 10", None))
    rebuilt = rebuild([(1, "x = 1"), (2, "y = x * 10"), (3, "print(y)")], notebook)
    assert [cell_id for _, cell_id, _ in rebuilt.runs] == [None, "B", None]
    assert rebuilt.unexplained is not None and "In[1] (`x = 1`)" in rebuilt.unexplained
    assert "print(y)" not in rebuilt.unexplained  # shows only: it changes no state


def test_without_a_notebook_execution_order_is_the_order():
    rebuilt = rebuild([(1, "x = 1"), (2, "y = x")], None)
    assert [(c, i) for c, i, _ in rebuilt.runs] == [(1, None), (2, None)] and rebuilt.unexplained is None


def test_names_bound_by_no_execution_are_unexplained_unless_the_history_is_dynamic():
    assert unexplained_names(["x = 1", "%load_ext jupyter_mlops"], ["x", "hidden", "_private", "_5"]) == ["hidden"]
    assert unexplained_names(["from m import *", "x = 1"], ["x", "hidden"]) == []


def test_counts_saved_by_another_kernel_are_ignored():
    # The file's count 1 is not this kernel's In[1]: its counts say nothing here, order decides
    notebook = cells(("A", "df.head()", 3), ("B", "df = load()", 1), ("C", "df.head()", None))
    rebuilt = rebuild([(1, "import x"), (2, "df = load()"), (3, "df.head()")], notebook)
    assert [cell_id for _, cell_id, _ in rebuilt.runs] == [None, "B", "C"]


def test_a_function_that_binds_a_global_explains_it():
    assert unexplained_names(["def f():\n    global g\n    g = 1", "f()"], ["f", "g"]) == []
