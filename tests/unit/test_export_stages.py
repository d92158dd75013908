"""Stage cutting and what flows between stages, on notebooks built in memory (no I/O)."""

from pathlib import Path

import pytest

from jupyter_mlops.core.analysis import analyze
from jupyter_mlops.core.notebook import Cell, Notebook, read_notebook
from jupyter_mlops.errors import BadInput
from jupyter_mlops.export.layout import Layout
from jupyter_mlops.export.stages import Observed, plan_pipeline

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn.ipynb"
TRACK = "%load_ext jupyter_mlops\n%mlops_track --metrics acc"


def notebook(*cells: tuple) -> Notebook:
    """Cells as (kind, source) or (kind, source, tags)."""
    return Notebook(tuple(
        Cell(f"c{i}", c[1], c[0], frozenset(c[2] if len(c) > 2 else ()), index=i) for i, c in enumerate(cells)
    ))


def plan(nb: Notebook, mode: str = "auto", **kw):
    return plan_pipeline(nb, notebook="nb.ipynb", layout=Layout("."), mode=mode, **kw)


def by_name(p):
    return {s.name: s for s in p.stages}


def test_example_sections_become_four_stages_with_in_memory_values_handed_over():
    nb = read_notebook(EXAMPLE)
    p = plan_pipeline(nb, notebook="churn.ipynb", layout=Layout("."), mode="auto")
    stages = by_name(p)
    assert list(stages) == ["churn-load", "churn-features", "churn-train", "churn-evaluate"]
    assert stages["churn-load"].deps == ("data/churn.csv",) and stages["churn-load"].saves == ("df",)
    assert stages["churn-features"].saves == ("X_test", "X_train", "y_test", "y_train")
    evaluate = stages["churn-evaluate"]
    assert {(h.producer, h.names) for h in evaluate.loads} == {
        ("churn-features", ("X_test", "y_test")), ("churn-train", ("model",))}
    assert set(evaluate.deps) == {"pipeline/handoff/churn-features", "pipeline/handoff/churn-train"}
    assert evaluate.logs_metrics and not stages["churn-train"].logs_metrics
    assert stages["churn-train"].outs == ("model.joblib",)
    assert stages["churn-train"].params == ("n_estimators", "max_depth", "seed", "model_path")
    # tracking, parameters and the imports cell run in every stage
    assert [nb.cells[i].cell_id for i in p.shared] == ["track", "parameters", "imports"]


def test_single_keeps_one_stage_with_all_params_files_and_metrics():
    nb = read_notebook(EXAMPLE)
    (stage,) = plan_pipeline(nb, notebook="churn.ipynb", layout=Layout("."), mode="single").stages
    assert stage.name == "churn" and not stage.loads and not stage.saves
    assert stage.deps == ("data/churn.csv",) and stage.outs == ("model.joblib",)
    assert stage.logs_metrics and len(stage.params) == 6


def test_stage_tags_define_stages_and_untagged_cells_follow_the_previous_one():
    nb = notebook(
        ("code", TRACK), ("code", "rows = 10", ["parameters"]), ("code", "import pandas as pd"),
        ("code", "df = pd.DataFrame({'a': range(rows)})", ["stage:prepare"]),
        ("code", "df['b'] = df.a * 2"),
        ("code", "acc = float(df.b.mean())", ["stage:train"]),
    )
    stages = by_name(plan(nb))
    assert list(stages) == ["nb-prepare", "nb-train"]
    assert stages["nb-prepare"].cells == (3, 4) and stages["nb-prepare"].saves == ("df",)
    assert stages["nb-train"].loads[0].names == ("df",)
    assert stages["nb-train"].logs_metrics  # acc is watched by --metrics
    assert stages["nb-prepare"].params == ("rows",) and stages["nb-train"].params == ()


def test_non_contiguous_stage_tags_are_refused():
    nb = notebook(("code", "a = 1", ["stage:x"]), ("code", "b = 2", ["stage:y"]), ("code", "c = a", ["stage:x"]))
    with pytest.raises(BadInput, match="not contiguous"):
        plan(nb, "tags")


def test_skipped_cells_are_left_out_and_names_only_they_define_are_reported():
    nb = notebook(("code", "a = 1", ["stage:x"]), ("code", "tmp = 5", ["skip"]),
                  ("code", "b = a + tmp", ["stage:y"]), ("code", "df.plot()", ["exploratory"]))
    p = plan(nb)
    assert all(1 not in s.cells and 3 not in s.cells for s in p.stages)
    assert any("tmp only defined in cells tagged skip" in n for n in p.notes)


def test_the_last_stage_that_changes_a_value_hands_it_over():
    nb = notebook(("markdown", "## A"), ("code", "items = []"), ("markdown", "## B"), ("code", "items.append(1)"),
                  ("markdown", "## C"), ("code", "n = len(items)"))
    stages = by_name(plan(nb))
    assert stages["nb-c"].loads[0].producer == "nb-b"
    assert stages["nb-b"].loads[0].producer == "nb-a"


def test_imports_and_defs_from_an_earlier_stage_are_copied_not_handed_over():
    nb = notebook(("markdown", "## A"), ("code", "import math\ndef area(r):\n    return math.pi * r * r\nx = 2"),
                  ("markdown", "## B"), ("code", "y = area(x)"))
    b = by_name(plan(nb))["nb-b"]
    assert [h.names for h in b.loads] == [("x",)]
    assert b.setup_code[0] == "import math" and b.setup_code[1].startswith("def area")  # in notebook order


def test_a_lone_title_does_not_cut_and_no_headings_means_one_stage():
    nb = notebook(("markdown", "# Title"), ("code", "a = 1"), ("code", "b = a"))
    (stage,) = plan(nb).stages
    assert stage.name == "nb" and stage.cells == (0, 1, 2)


def test_auto_cuts_where_a_cell_reads_back_a_file_its_section_wrote():
    nb = notebook(("code", "df = make()\ndf.to_csv('clean.csv')"), ("code", "df2 = pd.read_csv('clean.csv')"))
    first, second = plan(nb).stages
    assert first.outs == ("clean.csv",) and second.deps == ("clean.csv",)


def test_journal_facts_add_files_the_code_does_not_name():
    nb = notebook(("code", "df = load(path_from_env())"), ("code", "save(df)"))
    observed = {"c0": Observed(reads=("data/raw.csv",)), "c1": Observed(writes=("out/result.csv",), logs_metrics=True)}
    (stage,) = plan(nb, observed=observed, declared=("data/extra.bin",)).stages
    assert stage.deps == ("data/raw.csv", "data/extra.bin")
    assert stage.outs == ("out/result.csv",) and stage.logs_metrics


def test_static_reads_of_missing_files_are_guesses_not_deps():
    nb = notebook(("code", "df = pd.read_csv('nowhere.csv')"))
    assert plan(nb, exists=lambda p: False).stages[0].deps == ()
    assert plan(nb, exists=lambda p: True).stages[0].deps == ("nowhere.csv",)


def test_a_file_an_earlier_stage_writes_is_a_dep_of_the_stage_reading_it_before_it_exists():
    """Exported before it ever ran: the file is not there yet, but the stage above makes it."""
    nb = notebook(
        ("code", "import pandas as pd"),
        ("code", "pd.DataFrame({'a': [1]}).to_csv('prepared.csv')", ["stage:prepare"]),
        ("code", "df = pd.read_csv('prepared.csv')\nunused = pd.read_csv('never_written.csv')", ["stage:train"]),
    )
    stages = by_name(plan(nb, "tags", exists=lambda p: False))
    assert stages["nb-prepare"].outs == ("prepared.csv",)
    assert stages["nb-train"].deps == ("prepared.csv",)


def test_paths_are_made_root_relative_from_the_notebooks_folder():
    nb = notebook(("code", "df = pd.read_csv('data/x.csv')\ndf.to_csv('../shared/y.csv')"))
    p = plan_pipeline(nb, notebook="sub/nb.ipynb", layout=Layout("."), mode="single")
    assert p.stages[0].deps == ("sub/data/x.csv",) and p.stages[0].outs == ("shared/y.csv",)


def test_non_literal_parameters_stay_in_the_notebook():
    nb = notebook(("code", "lr = 0.1\nstart = now()", ["parameters"]), ("code", "x = lr"))
    p = plan(nb)
    assert dict(p.params) == {"lr": 0.1}
    assert any("start" in n and "not plain values" in n for n in p.notes)


def test_unknown_mode_is_bad_input():
    with pytest.raises(BadInput, match="--stages"):
        plan(notebook(("code", "a = 1")), "sections")


# -- the detector and the planner ask one analysis: what it says about a cell, both act on ------------


def test_a_timed_line_binds_its_name_for_the_detector_and_the_planner():
    assert "df" in analyze("%time df = load()\n").changes
    p = plan(notebook(("code", "def load():\n    return 1"), ("code", "%time df = load()", ["stage:load"]),
                      ("code", "print(df)", ["stage:use"])), mode="tags")
    load, use = p.stages
    assert load.saves == ("df",) and use.loads[0].names == ("df",)


def test_a_timed_cell_is_python_for_the_detector_and_the_planner():
    assert "df" in analyze("%%time\ndf = load()\n").changes
    p = plan(notebook(("code", "def load():\n    return 1"), ("code", "%%time\ndf = load()", ["stage:load"]),
                      ("code", "print(df)", ["stage:use"])), mode="tags")
    assert p.stages[0].saves == ("df",) and p.stages[1].loads[0].names == ("df",)


def test_a_function_defined_earlier_changes_what_it_touches_in_the_stage_that_calls_it():
    p = plan(notebook(
        ("code", "results = []", ["stage:make"]),
        ("code", "def record(value):\n    results.append(value)", ["stage:make"]),
        ("code", "record(3)", ["stage:change"]),
        ("code", "print(results)", ["stage:use"]),
    ), mode="tags")
    _, change, use = p.stages
    assert {(h.producer, h.names) for h in use.loads} == {(change.name, ("results",))}
