"""The verdict engine on replayed histories: true positives get the right kind, true negatives stay quiet.

Each scenario builds a notebook (cell id -> code, in notebook order), replays executions into a
Detector and asks for the verdict. ``clean_run`` also asserts that preflight refuses nothing along a
top-to-bottom run, which strict mode relies on.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from jupyter_mlops.core.analysis import analyze
from jupyter_mlops.core.notebook import Cell
from jupyter_mlops.core.verdict.detector import Detector
from jupyter_mlops.core.verdict.model import Execution, Verdict

OPAQUE = frozenset({"pd", "np", "plt", "sns", "fig", "ax", "math", "model", "rng", "clf"})


def notebook(*cells: tuple[str, str]) -> list[Cell]:
    return [Cell(cell_id, code) for cell_id, code in cells]


def code_of(cells: list[Cell], cell_id: str) -> str:
    return next(c.source for c in cells if c.cell_id == cell_id)


def replay(cells: list[Cell], order: Iterable[str], detector: Detector | None = None, **runs) -> Detector:
    """Run cells by id; ``runs[cell_id]`` may give Execution fields (files_read, ok, rebound …)."""
    detector = detector or Detector()
    for cell_id in order:
        detector.record(Execution(cell_id, code_of(cells, cell_id), **runs.get(cell_id, {})))
    return detector


def clean_run(cells: list[Cell], **runs) -> Detector:
    """Top to bottom with preflight before every cell: strict mode must let all of it through."""
    detector = Detector()
    for cell in cells:
        assert detector.preflight(cells, cell.cell_id, cell.source) == (), f"preflight refused {cell.cell_id}"
        detector.record(Execution(cell.cell_id, cell.source, **runs.get(cell.cell_id, {})))
    return detector


def kinds(verdict: Verdict) -> set[tuple[str, str]]:
    return {(issue.kind, issue.cell_id) for issue in verdict.issues}


def assert_clean(verdict: Verdict) -> None:
    assert verdict.reproducible, [i.message for i in verdict.issues]
    assert verdict.issues == ()


# -- the brief's scenarios ---------------------------------------------------------------------------


def test_stale_input_after_upstream_edit_and_rerun():
    cells = notebook(("A", "x=1"), ("B", "y=x+1"), ("C", "print(y)"))
    detector = clean_run(cells)
    assert_clean(detector.verdict(cells))
    edited = notebook(("A", "x=42"), ("B", "y=x+1"), ("C", "print(y)"))
    replay(edited, ["A"], detector)
    refused = detector.preflight(edited, "C", "print(y)")
    assert [(i.kind, i.cell_id) for i in refused] == [("stale-input", "B")]
    replay(edited, ["C"], detector)
    verdict = detector.verdict(edited)
    assert not verdict.reproducible
    assert kinds(verdict) == {("stale-input", "B")}
    (issue,) = verdict.issues
    assert issue.names == ("y",)
    assert issue.fix == "run cell 2"
    assert "cell 2" in issue.message and "cell 1" in issue.message


def test_independent_file_readers_in_any_order_and_reimports():
    cells = notebook(
        ("A", "a = open('a.txt').read()"), ("B", "b = open('b.txt').read()"), ("M", "import math"),
    )
    runs = {"A": {"files_read": {"a.txt": "m-a"}}, "B": {"files_read": {"b.txt": "m-b"}}}
    detector = replay(cells, ["B", "A", "M", "M"], **runs)
    assert_clean(detector.verdict(cells, OPAQUE))
    clean_run(cells, **runs)


def test_non_idempotent_rerun_of_append():
    cells = notebook(("A", "lst=[1,2,3]"), ("B", "lst.append(4)"), ("C", "print(sum(lst))"))
    detector = replay(cells, "ABBC")
    verdict = detector.verdict(cells)
    assert kinds(verdict) == {("non-idempotent-rerun", "B")}
    assert verdict.issues[0].names == ("lst",)
    assert verdict.issues[0].fix == "run cells 1–2"
    assert_clean(clean_run(cells).verdict(cells))


def test_preflight_refuses_second_append():
    cells = notebook(("A", "lst=[1,2,3]"), ("B", "lst.append(4)"))
    detector = replay(cells, "AB")
    assert [i.kind for i in detector.preflight(cells, "B", "lst.append(4)")] == ["non-idempotent-rerun"]


DF_CELLS = (
    ("A", "df=pd.DataFrame({'x':[1,2]})"),
    ("B", "df['y']=df['x']*2"),
    ("C", "m=df['y'].mean()"),
    ("D", "df['z']=0"),
)


def test_edited_column_makes_its_reader_stale():
    cells = notebook(*DF_CELLS)
    detector = replay(cells, "ABC")
    edited = notebook(DF_CELLS[0], ("B", "df['y']=df['x']*3"), *DF_CELLS[2:])
    replay(edited, "B", detector)
    verdict = detector.verdict(edited, OPAQUE)
    assert kinds(verdict) == {("stale-input", "C")}
    assert verdict.issues[0].names == ("m",)
    assert verdict.issues[0].fix == "run cell 3"


def test_new_column_nobody_read_is_fine():
    cells = notebook(*DF_CELLS)
    assert_clean(clean_run(cells).verdict(cells, OPAQUE))
    assert_clean(replay(cells, "ABCD").verdict(cells, OPAQUE))


def test_rerunning_the_column_cell_unchanged_is_fine():
    cells = notebook(*DF_CELLS)
    assert_clean(replay(cells, "ABCDB").verdict(cells, OPAQUE))
    assert_clean(replay(cells, "ABCDBC").verdict(cells, OPAQUE))


def test_mutation_through_alias_makes_earlier_reader_stale():
    cells = notebook(("A", "a=[1,2]"), ("B", "b=a"), ("C", "n=len(a)"), ("D", "b.append(3)"))
    verdict = replay(cells, "ABCD").verdict(cells)
    assert kinds(verdict) == {("stale-input", "C")}
    assert verdict.issues[0].names == ("n",)
    assert "alias b" in verdict.issues[0].message


def test_function_reading_a_global_makes_its_caller_stale():
    cells = notebook(("A", "rate=0.1"), ("B", "def tax(v): return v*rate"), ("C", "t=tax(100)"))
    detector = replay(cells, "ABC")
    edited = notebook(("A", "rate=0.2"), *[(c.cell_id, c.source) for c in cells[1:]])
    replay(edited, "A", detector)
    verdict = detector.verdict(edited, frozenset({"tax"}))
    assert kinds(verdict) == {("stale-input", "C")}
    assert verdict.issues[0].names == ("t",)
    assert verdict.issues[0].fix == "run cell 3"


def test_function_calling_function_is_followed_transitively():
    cells = notebook(
        ("A", "rate=0.1"), ("B", "def tax(v): return v*rate"), ("C", "def total(v): return v + tax(v)"),
        ("D", "t=total(100)"),
    )
    detector = replay(cells, "ABCD")
    edited = notebook(("A", "rate=0.3"), *[(c.cell_id, c.source) for c in cells[1:]])
    replay(edited, "A", detector)
    assert kinds(detector.verdict(edited)) == {("stale-input", "D")}


HIDDEN = (("A", "threshold=5"), ("B", "hits=[v for v in range(10) if v>threshold]"))


def test_value_from_deleted_cell_reported_by_frontend():
    cells = notebook(*HIDDEN)
    detector = replay(cells, "AB")
    without_a = notebook(HIDDEN[1], ("C", "print(1)"))
    detector.record(Execution("C", "print(1)", deleted_cells=frozenset({"A"})))
    verdict = detector.verdict(without_a)
    assert kinds(verdict) == {("hidden-state", "B")}
    assert set(verdict.issues[0].names) == {"hits", "threshold"}
    assert verdict.issues[0].fix == "restart and run all"
    refused = detector.preflight(without_a, "B", HIDDEN[1][1])
    assert [(i.kind, i.cell_id) for i in refused] == [("hidden-state", "B")]


def test_value_from_cell_missing_from_notebook():
    cells = notebook(*HIDDEN)
    detector = replay(cells, "AB")
    without_a = notebook(HIDDEN[1])
    assert kinds(detector.verdict(without_a)) == {("hidden-state", "B")}
    assert detector.preflight(without_a, "B", HIDDEN[1][1])


def test_edited_but_not_rerun_cell_is_hidden_state():
    cells = notebook(("A", "x = 1"), ("B", "y = x + 1"))
    detector = replay(cells, "AB")
    edited = notebook(("A", "x = 2"), ("B", "y = x + 1"))
    verdict = detector.verdict(edited)
    assert ("hidden-state", "A") in kinds(verdict)


def test_comment_only_edit_is_not_an_edit():
    cells = notebook(("A", "x = 1"), ("B", "y = x + 1"))
    detector = replay(cells, "AB")
    assert_clean(detector.verdict(notebook(("A", "x = 1  # the answer"), ("B", "y = x + 1"))))


def test_random_generator_consumed_twice():
    cells = notebook(("A", "rng=np.random.default_rng(0)"), ("B", "s=rng.normal(size=3)"))
    verdict = replay(cells, "ABB").verdict(cells, OPAQUE)
    assert kinds(verdict) == {("unseeded-random", "B")}
    assert "s" in verdict.issues[0].names
    assert verdict.issues[0].fix == "run cells 1–2"


def test_seeded_generator_in_one_cell_rerun_is_fine():
    cells = notebook(("A", "rng=np.random.default_rng(0); s=rng.normal(size=3)"))
    assert_clean(replay(cells, "AA").verdict(cells, OPAQUE))


def test_global_random_after_seed_in_another_cell():
    cells = notebook(("A", "np.random.seed(0)"), ("B", "x = np.random.rand(3)"))
    verdict = replay(cells, "ABB").verdict(cells, OPAQUE)
    assert kinds(verdict) == {("unseeded-random", "B")}
    assert replay(cells, "AB").verdict(cells, OPAQUE).reproducible
    assert replay(cells, "ABAB").verdict(cells, OPAQUE).reproducible


@pytest.mark.parametrize("draw", [
    "s = noisy(3)",  # a function of the notebook draws from the generator
    "a, b = train_test_split(X, random_state=rng)",  # a library function is given it
    "idx = rng.permutation(10)",
])
def test_every_way_of_drawing_from_a_seeded_generator_moves_it_on(draw):
    cells = notebook(
        ("R", "rng = np.random.RandomState(0)"), ("F", "def noisy(n):\n    return rng.normal(size=n)"),
        ("D", draw), ("L", "later = rng.normal()"),
    )
    assert_clean(replay(cells, "RFDL").verdict(cells, OPAQUE))
    verdict = replay(cells, "RFDLD").verdict(cells, OPAQUE)  # the draw again: every later draw differs
    assert ("unseeded-random", "D") in kinds(verdict), verdict.issues
    assert "rng" in next(i.names for i in verdict.issues if i.cell_id == "D")


def test_a_constructor_keeps_the_generator_it_is_given_and_draws_nothing():
    cells = notebook(("R", "rng = np.random.RandomState(0)"), ("K", "cv = KFold(5, shuffle=True, random_state=rng)"),
                     ("L", "later = rng.normal()"))
    assert_clean(replay(cells, "RKKL").verdict(cells, OPAQUE))  # made twice: the later draw is the same


def test_library_draws_from_the_seeded_global_generator():
    cells = notebook(("A", "np.random.seed(0)"), ("S", "rows = df.sample(5)"), ("B", "x = np.random.rand(3)"))
    assert_clean(replay(cells, "ASB").verdict(cells, OPAQUE))
    verdict = replay(cells, "ASBS").verdict(cells, OPAQUE)
    assert kinds(verdict) == {("unseeded-random", "S")}
    assert_clean(replay(notebook(("S", "rows = df.sample(5)")), "SS").verdict(notebook(("S", "rows = df.sample(5)"))))


def test_unseeded_randomness_is_nondeterminism_not_an_issue():
    cells = notebook(("A", "x = np.random.rand(3)"), ("B", "rng = np.random.default_rng()"), ("C", "y = rng.random()"))
    assert_clean(replay(cells, "AABCC").verdict(cells, OPAQUE))


def test_figures_compare_by_what_they_draw():
    cells = notebook(
        ("A", "fig, ax = plt.subplots(); ax.plot([1])"), ("B", "fig, ax = plt.subplots(); ax.hist([1])"),
    )
    assert_clean(replay(cells, "BAB").verdict(cells, OPAQUE))  # each cell again: the same pictures
    assert_clean(replay(cells, "ABB").verdict(cells, OPAQUE))
    verdict = replay(cells, "BA").verdict(cells)  # fig holds A's line where top to bottom it holds B's histogram
    assert kinds(verdict) == {("overwritten", "A")} and verdict.issues[0].names == ("ax", "fig")
    assert verdict.issues[0].fix == "run cell 2"


def test_drawing_again_on_an_axes_made_by_another_cell_draws_more():
    cells = notebook(
        ("F", "fig, ax = plt.subplots()\nax.plot(x)"), ("M", "marker = ax.axvline(peak)"), ("T", "t = 1"),
    )
    assert_clean(replay(cells, "FMT").verdict(cells))
    verdict = replay(cells, "FMTM").verdict(cells)  # a second vertical line on the same axes
    assert kinds(verdict) == {("non-idempotent-rerun", "M")}, verdict.issues
    assert "ax" in verdict.issues[0].names
    assert_clean(replay(cells, "FMTFM").verdict(cells))  # a fresh figure, drawn on once
    shown = notebook(("F", "fig, ax = plt.subplots()"), ("S", "series.plot(ax=ax)"))
    assert not replay(shown, "FSS").verdict(shown).reproducible
    assert_clean(replay(shown, "FSFS").verdict(shown))


def test_what_a_plot_cell_draws_is_part_of_its_figure():
    cells = notebook(("X", "x = [1, 2]"), ("P", "fig, ax = plt.subplots()\nax.plot(x)"), ("Y", "x = [3, 4]"))
    verdict = replay(cells, "XPYP").verdict(cells)  # the plot drew the later x
    assert ("read-from-below", "P") in kinds(verdict) and "fig" in verdict.issues[0].names


def test_stale_through_a_written_file():
    cells = notebook(("A", "df[df.x>0].to_csv('clean.csv')"), ("B", "d2=pd.read_csv('clean.csv')"))
    detector = replay(
        cells, "AB", A={"files_written": {"clean.csv": "m1"}}, B={"files_read": {"clean.csv": "m1"}}
    )
    assert_clean(detector.verdict(cells, OPAQUE))
    edited = notebook(("A", "df[df.x>1].to_csv('clean.csv')"), cells[1].cell_id and ("B", cells[1].source))
    replay(edited, "A", detector, A={"files_written": {"clean.csv": "m2"}})
    verdict = detector.verdict(edited, OPAQUE)
    assert kinds(verdict) == {("stale-input", "B")}
    assert "clean.csv" in verdict.issues[0].message


def test_rewriting_a_file_with_the_same_content_is_fine():
    cells = notebook(("A", "df.to_csv('clean.csv')"), ("B", "d2=pd.read_csv('clean.csv')"))
    detector = replay(
        cells, "ABA", A={"files_written": {"clean.csv": "m1"}}, B={"files_read": {"clean.csv": "m1"}}
    )
    assert_clean(detector.verdict(cells, OPAQUE))


def test_data_file_changed_on_disk_between_reads():
    cells = notebook(
        ("A", "raw = pd.read_csv('data.csv')"), ("B", "n = len(raw)"), ("C", "other = pd.read_csv('data.csv')")
    )
    detector = replay(
        cells, "ABC", A={"files_read": {"data.csv": "v1"}}, C={"files_read": {"data.csv": "v2"}}
    )
    verdict = detector.verdict(cells, OPAQUE)
    assert ("stale-input", "A") in kinds(verdict)


def test_skipped_cell_that_changes_a_used_value():
    cells = notebook(("A", "x=1"), ("B", "x=x*10"), ("C", "y=x+1"))
    detector = Detector()
    replay(cells, "A", detector)
    refused = detector.preflight(cells, "C", "y=x+1")
    assert [(i.kind, i.cell_id) for i in refused] == [("skipped-cell", "B")]
    replay(cells, "C", detector)
    verdict = detector.verdict(cells)
    assert kinds(verdict) == {("skipped-cell", "B")}
    assert verdict.issues[0].fix == "run cells 2–3"


def test_skipped_display_cell_is_reported_since_its_output_is_missing():
    cells = notebook(("A", "x=1"), ("B", "print(x)"), ("C", "y=x+1"))
    verdict = replay(cells, "AC").verdict(cells)
    assert [(i.kind, i.cell_id, i.fix, i.fix_cells) for i in verdict.issues] == [
        ("skipped-cell", "B", "run cell 2", ("B",))
    ]


def test_skipped_blank_and_comment_and_setting_cells_are_fine():
    cells = notebook(("A", "x=1"), ("B", "# notes\n\n"), ("M", "%matplotlib inline"), ("C", "y=x+1"))
    assert_clean(replay(cells, "AC").verdict(cells))


def test_cells_below_the_last_run_are_not_skipped():
    cells = notebook(("A", "x=1"), ("B", "y=x+1"), ("C", "x = 5"))
    assert_clean(replay(cells, "AB").verdict(cells))


def test_read_from_below():
    cells = notebook(("A", "y=x+1"), ("B", "x=1"))
    detector = replay(cells, "B")
    refused = detector.preflight(cells, "A", "y=x+1")
    assert [(i.kind, i.cell_id) for i in refused] == [("read-from-below", "A")]
    replay(cells, "A", detector)
    verdict = detector.verdict(cells)
    assert kinds(verdict) == {("read-from-below", "A")}
    assert verdict.issues[0].fix == "restart and run all"


def test_rerun_with_unchanged_inputs_is_fine():
    cells = notebook(("A", "a = 3"), ("B", "x = a * 2"), ("C", "z = x + a"))
    assert_clean(replay(cells, "ABCBBCB").verdict(cells))


def test_redefining_a_function_unchanged_is_fine():
    cells = notebook(("A", "def f(v):\n    return v + 1"), ("B", "r = f(2)"), ("C", "class K:\n    pass"))
    assert_clean(replay(cells, "ABACACB").verdict(cells))


def test_redefined_function_makes_its_callers_stale():
    cells = notebook(("A", "def f(v):\n    return v + 1"), ("B", "r = f(2)"))
    detector = replay(cells, "AB")
    edited = notebook(("A", "def f(v):\n    return v + 2"), ("B", "r = f(2)"))
    replay(edited, "A", detector)
    assert kinds(detector.verdict(edited)) == {("stale-input", "B")}


# -- cells that raised, and runtime truth --------------------------------------------------------------


def test_cell_that_raised_before_binding_changes_nothing():
    cells = notebook(("A", "x = 1"), ("B", "y = x + 1"), ("C", "x = undefined_name + 1"))
    detector = replay(cells, "AB")
    replay(cells, "C", detector, C={"ok": False, "rebound": frozenset()})
    assert_clean(detector.verdict(cells))


def test_cell_that_raised_without_runtime_info_counts_as_no_change():
    cells = notebook(("A", "lst = []"), ("B", "lst.append(1)\nboom()"), ("C", "n = len(lst)"))
    detector = replay(cells, "AB", B={"ok": False})
    replay(cells, "B", detector, B={"ok": False})
    replay(cells, "C", detector)
    assert detector.verdict(cells).reproducible


def test_cell_that_raised_after_a_binding_keeps_it():
    cells = notebook(("A", "x = 1"), ("B", "x = x + 1\nboom()"), ("C", "y = x"))
    detector = replay(cells, "A")
    replay(cells, "BB", detector, B={"ok": False, "rebound": frozenset({"x"})})
    assert ("non-idempotent-rerun", "B") in kinds(detector.verdict(cells))


def test_conditional_binding_that_did_not_happen():
    cells = notebook(("A", "flag = False"), ("B", "if flag:\n    x = 1"), ("C", "y = 2"))
    runs = {"B": {"rebound": frozenset()}}
    assert_clean(clean_run(cells, **runs).verdict(cells))


def test_names_only_the_runtime_saw_change():
    cells = notebook(("A", "%run setup.py"), ("B", "y = cfg + 1"))
    runs = {"A": {"rebound": frozenset({"cfg"})}}
    detector = clean_run(cells, **runs)
    assert_clean(detector.verdict(cells))
    replay(cells, "A", detector, **runs)
    assert_clean(detector.verdict(cells))


def test_augmented_assignment_on_number_reruns_are_non_idempotent():
    cells = notebook(("A", "total = 0"), ("B", "total += 5"))
    verdict = replay(cells, "ABB", B={"rebound": frozenset({"total"})}).verdict(cells)
    assert kinds(verdict) == {("non-idempotent-rerun", "B")}


def test_magics_and_syntax_errors_never_alarm():
    cells = notebook(
        ("A", "%matplotlib inline\nimport numpy as np"), ("B", "!pip install foo"), ("C", "x = (1 +"),
        ("D", "%%bash\necho hi"), ("E", "files = !ls\nn = len(files)"),
    )
    detector = clean_run(cells, C={"ok": False})
    replay(cells, "EDCBA", detector, C={"ok": False})
    assert_clean(detector.verdict(cells, OPAQUE))


# -- realistic notebooks: precision guards -------------------------------------------------------------


DS = notebook(
    ("imp", "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt\n"
            "from sklearn.linear_model import LogisticRegression\n"
            "from sklearn.model_selection import train_test_split"),
    ("load", "df = pd.read_csv('data/churn.csv')"),
    ("peek", "df.head()"),
    ("shape", "print(df.shape)\ndf.describe()"),
    ("clean", "df = df.dropna()\ndf = df[df['tenure'] > 0]"),
    ("types", "df['plan'] = df['plan'].astype('category')\ndf['charges'] = pd.to_numeric(df['charges'])"),
    ("feat", "df['ratio'] = df['charges'] / df['tenure']\ndf['long'] = df['tenure'] > 12"),
    ("cols", "features = ['tenure', 'charges', 'ratio']"),
    ("xy", "X = df[features]\ny = df['churn']"),
    ("split", "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)"),
    ("model", "model = LogisticRegression(max_iter=200)\nmodel.fit(X_train, y_train)"),
    ("score", "auc = model.score(X_test, y_test)\nprint(f'auc={auc:.3f}')"),
    ("plot", "fig, ax = plt.subplots()\nax.hist(df['ratio'], bins=30)\nax.set_title('ratio')"),
    ("plot2", "fig, ax = plt.subplots()\nax.scatter(df['tenure'], df['charges'])"),
    ("save", "df.to_csv('out/clean.csv', index=False)"),
)
DS_RUNS = {
    "load": {"files_read": {"data/churn.csv": "raw1"}},
    "save": {"files_written": {"out/clean.csv": "clean1"}},
}


def ids(*names: str) -> list[str]:
    return list(names)


def test_data_science_notebook_top_to_bottom():
    assert_clean(clean_run(DS, **DS_RUNS).verdict(DS, OPAQUE))


@pytest.mark.parametrize(
    "extra",
    [
        ["peek", "shape", "peek"],  # display cells again
        ["plot", "plot2", "plot", "plot2"],  # plots again
        ["clean", "types"],  # idempotent cleaning again
        ["model", "score"],  # refit on the same data
        ["split", "model", "score"],  # re-split with a fixed seed
        ["imp", "imp"],  # imports again
        ["cols", "xy"],  # constant list and selection again
        ["save", "save"],  # same file written again
        ["feat", "score", "peek"],  # derived columns again (overwritten with the same values)
    ],
)
def test_data_science_notebook_with_harmless_reruns(extra: list[str]):
    detector = clean_run(DS, **DS_RUNS)
    replay(DS, extra, detector, **DS_RUNS)
    assert_clean(detector.verdict(DS, OPAQUE))


def test_data_science_notebook_independent_cells_reordered():
    order = ["imp", "load", "shape", "peek", "clean", "types", "feat", "cols", "plot", "xy", "plot2", "split",
             "model", "save", "score"]
    assert_clean(replay(DS, order, **DS_RUNS).verdict(DS, OPAQUE))
    # fig and ax end with the histogram, where top to bottom they hold the scatter plot
    plots_swapped = ["imp", "load", "peek", "shape", "clean", "types", "feat", "cols", "xy", "split", "model",
                     "score", "plot2", "plot", "save"]
    assert kinds(replay(DS, plots_swapped, **DS_RUNS).verdict(DS, OPAQUE)) == {("overwritten", "plot")}


def test_data_science_notebook_display_cells_rerun_after_later_cells_pass_preflight():
    detector = clean_run(DS, **DS_RUNS)
    for cell_id in ["peek", "shape", "plot2", "score"]:
        assert detector.preflight(DS, cell_id, code_of(DS, cell_id)) == (), cell_id


def test_data_science_notebook_rerun_of_load_after_features_needs_the_features_again():
    detector = clean_run(DS, **DS_RUNS)
    replay(DS, ["load"], detector, **DS_RUNS)
    verdict = detector.verdict(DS, OPAQUE)
    assert not verdict.reproducible
    assert ("overwritten", "load") in kinds(verdict)


def test_data_science_notebook_features_edited_then_model_not_retrained():
    detector = clean_run(DS, **DS_RUNS)
    edited = [c if c.cell_id != "cols" else Cell("cols", "features = ['tenure', 'ratio']") for c in DS]
    replay(edited, ["cols", "xy"], detector, **DS_RUNS)
    verdict = detector.verdict(edited, OPAQUE)
    assert not verdict.reproducible
    assert {kind for kind, _ in kinds(verdict)} == {"stale-input"}
    refused = detector.preflight(edited, "score", code_of(edited, "score"))
    assert refused and refused[0].kind == "stale-input"


def test_data_science_notebook_raw_data_changed_on_disk():
    runs = dict(DS_RUNS, load={"files_read": {"data/churn.csv": "raw2"}})
    detector = clean_run(DS, **DS_RUNS)
    replay(DS, ["load"], detector, **runs)
    assert not detector.verdict(DS, OPAQUE).reproducible


def test_data_science_notebook_non_idempotent_scaling_rerun():
    cells = notebook(
        ("load", "df = pd.read_csv('d.csv')"), ("scale", "df['x'] = df['x'] / df['x'].max() * 100"),
        ("use", "m = df['x'].mean()"),
    )
    verdict = replay(cells, ["load", "scale", "scale", "use"]).verdict(cells, OPAQUE)
    assert kinds(verdict) == {("non-idempotent-rerun", "scale")}


def test_map_rerun_is_non_idempotent_but_astype_is_not():
    cells = notebook(("A", "df = load()"), ("B", "df['c'] = df['c'].map({'a': 1, 'b': 2})"), ("C", "k = df['c'].sum()"))
    assert kinds(replay(cells, "ABBC").verdict(cells)) == {("non-idempotent-rerun", "B")}
    cells = notebook(("A", "df = load()"), ("B", "df['c'] = df['c'].astype(int)"), ("C", "k = df['c'].sum()"))
    assert_clean(replay(cells, "ABBC").verdict(cells))


def test_inplace_cleaning_rerun_is_fine_but_reset_index_is_not():
    cells = notebook(("A", "df = load()"), ("B", "df.dropna(inplace=True)\ndf.sort_values('t', inplace=True)"),
                     ("C", "n = len(df)"))
    assert_clean(replay(cells, "ABBC").verdict(cells))
    cells = notebook(("A", "df = load()"), ("B", "df.reset_index(inplace=True)"), ("C", "n = len(df)"))
    assert kinds(replay(cells, "ABBC").verdict(cells)) == {("non-idempotent-rerun", "B")}


def test_cleaning_cells_run_in_the_wrong_order():
    cells = notebook(("A", "df = load()"), ("B", "df = df.dropna()"), ("C", "df = df.fillna(0)"), ("D", "n = len(df)"))
    verdict = replay(cells, "ACBD").verdict(cells)
    assert not verdict.reproducible


def test_upstream_rebind_after_downstream_rebind():
    cells = notebook(("A", "df = load()"), ("B", "df = df.merge(other)"), ("C", "n = len(df)"))
    detector = replay(cells, "ABC")
    replay(cells, "A", detector)
    verdict = detector.verdict(cells)
    assert not verdict.reproducible
    assert kinds(verdict) == {("overwritten", "A")}
    assert verdict.issues[0].fix == "run cell 2"  # n was computed from the merged frame: still right


def test_loop_temporaries_and_comprehensions_do_not_leak():
    cells = notebook(
        ("A", "cols = ['a', 'b']"), ("B", "for c in cols:\n    s = c.upper()\n    print(s)"),
        ("C", "squares = [i * i for i in range(3)]"), ("D", "out = {k: v for k, v in zip(cols, squares)}"),
    )
    assert_clean(replay(cells, "ABCDBDC").verdict(cells))


def test_dict_of_results_filled_by_key_is_idempotent():
    cells = notebook(
        ("A", "results = {}"), ("B", "results['lr'] = 0.81"), ("C", "results['rf'] = 0.85"),
        ("D", "best = max(results.values())"),
    )
    assert_clean(replay(cells, "ABCBD").verdict(cells))
    assert_clean(replay(cells, "ACBD").verdict(cells))


def test_function_mutating_a_global_is_non_idempotent_per_call():
    cells = notebook(
        ("A", "log = []"), ("B", "def note(v):\n    log.append(v)"), ("C", "note(1)"), ("D", "n = len(log)")
    )
    assert_clean(replay(cells, "ABCD").verdict(cells))
    assert ("non-idempotent-rerun", "C") in kinds(replay(cells, "ABCCD").verdict(cells))


def test_verdict_on_empty_history_and_unknown_cells():
    detector = Detector()
    assert_clean(detector.verdict(notebook(("A", "x = 1"))))
    assert detector.preflight(notebook(("A", "x = 1")), "A", "x = 1") == ()


def test_issue_to_dict_roundtrip():
    cells = notebook(("A", "lst=[1]"), ("B", "lst.append(2)"))
    verdict = replay(cells, "ABB").verdict(cells)
    data = verdict.issues[0].to_dict()
    assert data["kind"] == "non-idempotent-rerun" and data["names"] == ["lst"] and data["cell_id"] == "B"
    assert verdict.to_dict()["reproducible"] is False


def test_editing_one_parameter_blames_only_the_cells_that_use_it():
    params = 'data_path = "data/churn.csv"\nmax_depth = 6\nseed = 42'
    cells = notebook(
        ("params", params),
        ("load", "df = pd.read_csv(data_path)"),
        ("train", "model = RandomForestClassifier(max_depth=max_depth, random_state=seed)\nmodel.fit(df, df.y)"),
        ("eval", "auc = score(model, df)"),
    )
    detector = clean_run(cells)
    edited = [Cell(c.cell_id, c.source.replace("max_depth = 6", "max_depth = 3")) for c in cells]
    replay(edited, ["params"], detector, params={"rebound": frozenset({"data_path", "max_depth", "seed"})})
    verdict = detector.verdict(edited)
    assert kinds(verdict) == {("stale-input", "train")}
    (issue,) = verdict.issues
    assert "max_depth" in issue.message and "data_path" not in issue.message
    assert issue.fix == "run cells 3–4"
    assert detector.preflight(edited, "load", code_of(edited, "load")) == ()


# -- the incremental engine: cached results must equal a from-scratch computation ----------------------


def fresh_verdict(history: list[Execution], cells: list[Cell]) -> Verdict:
    """The verdict of a detector that never cached anything for this history."""
    detector = Detector()
    for execution in history:
        detector.record(execution)
    return detector.verdict(cells, OPAQUE)


class Tracked:
    """A detector fed like the session feeds it (preflight, record, verdict), keeping its history."""

    def __init__(self) -> None:
        self.detector = Detector()
        self.history: list[Execution] = []

    def run(self, cells: list[Cell], cell_id: str, **facts) -> Verdict:
        self.detector.preflight(cells, cell_id, code_of(cells, cell_id))
        self.history.append(Execution(cell_id, code_of(cells, cell_id), **facts))
        self.detector.record(self.history[-1])
        verdict = self.detector.verdict(cells, OPAQUE)
        assert verdict == fresh_verdict(self.history, cells)
        return verdict


CACHE_CELLS = (("A", "x = 1"), ("B", "y = x + 1"), ("C", "z = y * 2"), ("D", "print(z)"))


def test_cache_follows_edits():
    cells = notebook(*CACHE_CELLS)
    tracked = Tracked()
    for cell in "ABCD":
        assert_clean(tracked.run(cells, cell))
    edited = notebook(("A", "x = 5"), *CACHE_CELLS[1:])
    assert tracked.detector.verdict(edited, OPAQUE) == fresh_verdict(tracked.history, edited)
    assert kinds(tracked.run(edited, "A")) == {("stale-input", "B")}
    assert_clean(tracked.run(edited, "B") and tracked.run(edited, "C"))


def test_cache_follows_reorders_and_deletions():
    cells = notebook(*CACHE_CELLS)
    tracked = Tracked()
    for cell in "ABCD":
        tracked.run(cells, cell)
    swapped = notebook(CACHE_CELLS[1], CACHE_CELLS[0], *CACHE_CELLS[2:])
    assert kinds(tracked.run(swapped, "D")) == {("read-from-below", "B")}
    without_a = notebook(*CACHE_CELLS[1:])
    assert kinds(tracked.run(without_a, "D")) == {("hidden-state", "B")}
    assert_clean(tracked.run(cells, "D"))


def test_cache_follows_new_runs_with_other_files_or_bindings():
    cells = notebook(("A", "df = pd.read_csv('data.csv')"), ("B", "if flag:\n    n = len(df)"), ("C", "print(n)"))
    tracked = Tracked()
    tracked.run(cells, "A", files_read={"data.csv": "m1"})
    tracked.run(cells, "B", rebound=frozenset({"n"}))
    assert_clean(tracked.run(cells, "C"))
    assert kinds(tracked.run(cells, "A", files_read={"data.csv": "m2"})) == {("stale-input", "B")}
    tracked.run(cells, "B", rebound=frozenset())  # this time the branch did not run: n is the old one
    tracked.run(cells, "C")
    assert_clean(tracked.run(cells, "B", rebound=frozenset({"n"})))


def test_cache_follows_a_written_file_that_changes():
    cells = notebook(("A", "df.to_csv('clean.csv')"), ("B", "d2 = pd.read_csv('clean.csv')"))
    tracked = Tracked()
    tracked.run(cells, "A", files_written={"clean.csv": "w1"})
    assert_clean(tracked.run(cells, "B", files_read={"clean.csv": "w1"}))
    assert not tracked.run(cells, "A", files_written={"clean.csv": "w2"}).reproducible
    assert_clean(tracked.run(cells, "B", files_read={"clean.csv": "w2"}))


def test_idle_rerun_replays_nothing():
    cells = notebook(*CACHE_CELLS)
    tracked = Tracked()
    for cell in "ABCD":  # going down the notebook: the first verdict's symbolic step, then none (``_still_agrees``)
        tracked.run(cells, cell)
    assert len(tracked.detector._prefix) == 1
    tracked.run(cells, "D")  # a re-run: the cached run is made, once
    cached = [p.step for p in tracked.detector._prefix]
    assert len(cached) == 4
    tracked.run(cells, "D")
    tracked.run(cells, "B")
    assert [p.step for p in tracked.detector._prefix] == cached


def test_going_down_the_notebook_is_judged_without_a_symbolic_run_only_when_that_is_sound():
    cells = notebook(("A", "a = []"), ("B", "b = a"), ("C", "b.append(1)"), ("D", "n = len(a)"))
    tracked = Tracked()  # each verdict is also checked against one computed from scratch
    for cell in "ABA":  # A again: a is a new list, b still the old one (the versions cannot tell)
        tracked.run(cells, cell)
    assert not tracked.run(cells, "C").reproducible  # in place: judged in full, a is not what top to bottom gives
    tracked = Tracked()
    for cell in "ABCD":
        assert_clean(tracked.run(cells, cell))


# -- mutation through functions ---------------------------------------------------------------------


MUTATING = (
    ("A", "df = make_frame()"),
    ("F", "def clip(frame, col):\n    frame[col] = frame[col].clip(upper=35)\n"
          "def halve(frame):\n    frame['h'] = frame['h'] / 2"),
    ("C", "clip(df, 'temp')"),
    ("H", "halve(df)"),
    ("M", "m = df['h'].mean()"),
)


def test_function_that_changes_its_argument_twice_is_a_non_idempotent_rerun():
    cells = notebook(*MUTATING)
    detector = clean_run(cells)
    assert_clean(detector.verdict(cells, OPAQUE))
    assert [i.kind for i in detector.preflight(cells, "H", "halve(df)")] == ["non-idempotent-rerun"]
    replay(cells, "HM", detector)
    assert kinds(detector.verdict(cells, OPAQUE)) == {("non-idempotent-rerun", "H")}


def test_function_with_an_idempotent_change_can_run_again():
    cells = notebook(*MUTATING)
    detector = clean_run(cells)
    replay(cells, "CM", detector)
    assert_clean(detector.verdict(cells, OPAQUE))


def test_function_change_after_a_reader_below_it_makes_the_reader_stale():
    cells = notebook(*MUTATING)
    detector = replay(cells, "AFCMH")
    assert ("stale-input", "M") in kinds(detector.verdict(cells, OPAQUE))


def test_seeding_and_drawing_in_one_cell_twice_is_fine():
    cells = notebook(("I", "import numpy as np"), ("S", "np.random.seed(0)\nx = np.random.normal(size=3)"),
                     ("T", "t = x.sum()"))
    detector = replay(cells, "ISTSST")
    assert_clean(detector.verdict(cells, OPAQUE))


def test_editing_only_what_a_cell_prints_keeps_its_values_but_not_its_output():
    scores, final = ("S", "scores = {2: 0.8, 4: 0.9}"), ("F", "final = best + 1")
    cells = notebook(scores, ("B", "best = max(scores, key=scores.get)\nprint(best)"), final)
    detector = clean_run(cells)
    shown = notebook(scores, ("B", "best = max(scores, key=scores.get)\nprint('best depth', best)"), final)
    (issue,) = detector.verdict(shown, OPAQUE).issues
    assert (issue.kind, issue.cell_id, issue.names) == ("hidden-state", "B", ())
    assert issue.message == "cell 2 was edited and not re-run"
    replay(shown, "B", detector)
    assert_clean(detector.verdict(shown, OPAQUE))  # the same values: cell 3 need not run again
    changed = notebook(scores, ("B", "best = min(scores, key=scores.get)\nprint(best)"), final)
    (issue,) = detector.verdict(changed, OPAQUE).issues
    assert (issue.kind, issue.cell_id, issue.names) == ("hidden-state", "B", ("best", "final"))
    assert issue.fix == "run cells 2–3"


# -- the strict definition: nothing missing, same outcomes, last writers in order -------------------


def test_cell_that_failed_out_of_order_is_reported_with_its_cause():
    cells = notebook(("A", "import numpy as np"), ("B", "x = np.arange(3)"), ("C", "z = np.ones(2)"))
    failed = {"B": {"ok": False, "rebound": frozenset(), "error": "NameError: name 'np' is not defined"}}
    verdict = replay(cells, "BAC", **failed).verdict(cells, OPAQUE)
    (issue,) = verdict.issues
    assert (issue.kind, issue.cell_id, issue.names) == ("failed-out-of-order", "B", ("x",))
    assert "cell 2 failed with NameError: np is made by cell 1, which ran after it" in issue.message
    assert (issue.fix, issue.fix_cells) == ("run cell 2", ("B",))


def test_cell_that_fails_top_to_bottom_too_is_the_same_outcome():
    cells = notebook(("A", "x = 1"), ("B", "y = x / 0"), ("C", "z = x"))
    failed = {"B": {"ok": False, "rebound": frozenset(), "error": "ZeroDivisionError: division by zero"}}
    assert_clean(replay(cells, "ABC", **failed).verdict(cells))


def test_early_rerun_overwriting_a_later_binding_even_unread_and_opaque():
    cells = notebook(
        ("I", "from sklearn.linear_model import LogisticRegression"), ("A", "model = LogisticRegression()"),
        ("B", "model = LogisticRegression(C=2.0)"),
    )
    detector = clean_run(cells)
    (refused,) = detector.preflight(cells, "A", code_of(cells, "A"))
    assert (refused.kind, refused.cell_id, refused.names, refused.fix) == ("overwritten", "B", ("model",), "run cell 3")
    replay(cells, "A", detector)
    (issue,) = detector.verdict(cells, OPAQUE).issues
    assert (issue.kind, issue.names, issue.fix, issue.fix_cells) == ("overwritten", ("model",), "run cell 3", ("B",))
    assert "model holds what cell 2 made" in issue.message


def test_rerunning_a_cell_that_rebinds_the_same_value_creates_nothing():
    cells = notebook(("A", "import math"), ("B", "r = math.pi"), ("C", "import math\nk = 2"))
    detector = clean_run(cells)
    assert detector.preflight(cells, "A", "import math") == ()
    replay(cells, "A", detector)
    assert_clean(detector.verdict(cells, OPAQUE))


def test_rerun_plot_cell_above_a_later_plot_leaves_its_picture_in_the_later_names():
    cells = notebook(
        ("I", "import matplotlib.pyplot as plt"), ("P", "fig, ax = plt.subplots()\nax.plot([1, 2])"),
        ("Q", "fig, ax = plt.subplots()\nax.plot([3, 4])"),
    )
    detector = clean_run(cells)
    assert detector.preflight(cells, "Q", code_of(cells, "Q")) == ()  # the last plot again: the same state
    (refused,) = detector.preflight(cells, "P", code_of(cells, "P"))  # strict mode: it would create one
    assert (refused.kind, refused.cell_id, refused.fix) == ("overwritten", "Q", "run cell 3")
    replay(cells, "P", detector)
    assert kinds(detector.verdict(cells, OPAQUE)) == {("overwritten", "P")}


def test_running_a_cell_below_one_never_run_is_refused_in_strict_mode():
    cells = notebook(("A", "x = 1"), ("B", "y = 2"), ("E", ""), ("C", "z = x"))
    detector = replay(cells, "A")
    (refused,) = detector.preflight(cells, "C", "z = x")
    assert (refused.kind, refused.cell_id, refused.fix) == ("skipped-cell", "B", "run cell 2")
    assert "leaves cell 2 above it never run" in refused.message


def test_consecutive_cells_never_run_are_one_issue_naming_what_they_make():
    cells = notebook(("A", "x = 1"), ("B", "y = 2"), ("C", "w = 3"), ("D", "z = x"))
    (issue,) = replay(cells, "AD").verdict(cells).issues
    assert (issue.kind, issue.cell_id, issue.names) == ("skipped-cell", "B", ("w", "y"))
    assert (issue.message, issue.fix, issue.fix_cells) == ("cells 2–3 never ran", "run cells 2–3", ("B", "C"))


def test_leftover_of_a_deleted_cell_is_reported_even_unread():
    cells = notebook(("A", "x = 1"), ("B", "tmp = 5"))
    detector = replay(cells, "AB")
    remaining = notebook(("A", "x = 1"))
    (issue,) = detector.verdict(remaining).issues
    assert (issue.kind, issue.names, issue.fix) == ("hidden-state", ("tmp",), "restart and run all")


def test_issue_dict_carries_a_structured_fix():
    cells = notebook(("A", "x = 1"), ("B", "print(x)"), ("C", "y = x"))
    (issue,) = replay(cells, "AC").verdict(cells).issues
    assert issue.to_dict() == {
        "kind": "skipped-cell", "cell_id": "B", "names": [], "message": "cell 2 never ran",
        "fix": "run cell 2", "restart": False, "run": ["B"],
    }
    detector = replay(notebook(("A", "x = 1"), ("B", "tmp = 5")), "AB")
    (restart,) = detector.verdict(notebook(("A", "x = 1"))).issues
    assert restart.to_dict()["restart"] is True and restart.to_dict()["run"] == []


def test_cell_that_failed_after_a_later_cell_changed_its_input_needs_a_restart():
    cells = notebook(
        ("A", "d = {'a': 1, 'b': 2}"), ("B", "v = d['b']"), ("C", "del d['b']"),
    )
    failed = {"B": {"ok": False, "rebound": frozenset(), "error": "KeyError: 'b'"}}
    detector = replay(cells, "ABC")
    replay(cells, "B", detector, **failed)
    issue = next(i for i in detector.verdict(cells).issues if i.kind == "failed-out-of-order")
    assert "cell 2 failed with KeyError: d had been changed by cell 3, below it" in issue.message
    assert issue.fix == "run cells 1–3"


FITS = (
    ("I", "from sklearn.linear_model import Ridge"), ("M", "model = Ridge()"), ("F", "model.fit(X, y)"),
    ("S", "score = model.score(X, y)"), ("N", "X_noisy = X + 1"), ("G", "model.fit(X_noisy, y)"),
    ("C", "coef = model.coef_"),
)


def test_an_estimator_refitted_out_of_order_holds_the_earlier_fit():
    cells = notebook(*FITS)
    assert_clean(replay(cells, "IMFSNGC").verdict(cells, OPAQUE))
    verdict = replay(cells, "IMFSNGCF").verdict(cells, OPAQUE)  # the first fit again, after the second
    assert not verdict.reproducible
    issue = next(i for i in verdict.issues if "model" in i.names)
    assert (issue.kind, issue.cell_id) == ("overwritten", "F")
    assert issue.fix == "run cell 6"


def test_refitting_with_the_same_data_is_idempotent_and_fitted_attributes_follow_the_last_fit():
    cells = notebook(*FITS)
    assert_clean(replay(cells, "IMFSNGCGG").verdict(cells, OPAQUE))
    assert_clean(replay(cells, "IMFFSNGC").verdict(cells, OPAQUE))
    detector = replay(cells, "IMFSNGC")
    replay(cells, "NG", detector)  # X_noisy made again (same value), refit: coef still what top to bottom gives
    assert_clean(detector.verdict(cells, OPAQUE))
    verdict = replay(cells, "IMFSNCG").verdict(notebook(*FITS[:5], FITS[6], FITS[5]), OPAQUE)
    assert_clean(verdict)


def test_an_edited_fit_cell_that_was_rerun_is_not_hidden_state():
    cells = notebook(*FITS[:3])
    detector = replay(cells, "IMF")
    edited = notebook(*FITS[:2], ("F", "model.fit(X * 2, y)"))
    replay(edited, "F", detector)
    assert_clean(detector.verdict(edited, OPAQUE))


def test_a_rerun_that_raises_on_its_own_earlier_change_would_run_top_to_bottom():
    cells = notebook(("A", "df = load()"), ("D", "df = df.drop(columns=['tmp'])"), ("E", "m = df.x.mean()"))
    detector = replay(cells, "ADE")
    replay(cells, "D", detector, D={"ok": False, "rebound": frozenset(), "error": "KeyError: \"['tmp'] not found\""})
    verdict = detector.verdict(cells)
    assert kinds(verdict) == {("failed-out-of-order", "D")}, verdict.issues
    replay(cells, "AD", detector)
    assert_clean(detector.verdict(cells))


def test_a_cell_that_failed_for_a_file_written_since_would_run_top_to_bottom():
    cells = notebook(("R", "clean = pd.read_csv('out/clean.csv')"), ("W", "df.to_csv('out/clean.csv')"))
    runs = {"R": {"ok": False, "rebound": frozenset(),
                  "error": "FileNotFoundError: [Errno 2] No such file or directory: 'out/clean.csv'"},
            "W": {"files_written": {"out/clean.csv": "m1"}}}
    (issue,) = replay(cells, "RW", **runs).verdict(cells).issues
    assert (issue.kind, issue.cell_id) == ("failed-out-of-order", "R")


def test_a_cell_that_showed_a_value_made_below_it_fails_top_to_bottom():
    cells = notebook(("A", "x = 1"), ("S", "summary.head()"), ("B", "summary = make(x)"))
    (issue,) = replay(cells, "ABS").verdict(cells).issues
    assert (issue.kind, issue.cell_id, issue.fix) == ("read-from-below", "S", "restart and run all")
    assert "cell 2 used summary from cell 3, which is below it; top to bottom it fails" in issue.message
    moved = [cells[0], cells[2], cells[1]]  # the cell moved below the one making what it shows
    assert_clean(replay(moved, "ABS").verdict(moved))


def test_the_readme_explains_every_issue_kind():
    from pathlib import Path

    from jupyter_mlops.core.verdict.model import KINDS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert [kind for kind in KINDS if f"| `{kind}` |" not in readme] == []


def test_cell_that_failed_for_want_of_a_file_a_cell_above_writes():
    cells = notebook(("W", "df.to_csv('clean.csv')"), ("R", "clean = pd.read_csv('clean.csv')"), ("D", "df = 1"))
    runs = {
        "R": {"ok": False, "rebound": frozenset(),
              "error": "FileNotFoundError: [Errno 2] No such file or directory: 'clean.csv'"},
        "W": {"files_written": {"clean.csv": "m1"}},
    }
    verdict = replay(cells, "DRW", **runs).verdict(cells, OPAQUE)
    (issue,) = [i for i in verdict.issues if i.kind == "failed-out-of-order"]
    assert issue.cell_id == "R" and issue.fix == "run cell 2"
    assert "cell 2 failed with FileNotFoundError" in issue.message


def test_one_book_follows_a_session_through_skips_fills_and_failures():
    """The notebook unchanged between verdicts: what ran, what never did and what failed is kept up to
    date incrementally as cells run."""
    cells = notebook(("A", "import math"), ("B", "x = math.pi"), ("C", "# note"), ("D", "y = x * 2"), ("E", "z = 1"))
    detector = Detector()
    steps = [("A", {}), ("D", {"ok": False, "rebound": frozenset(), "error": "NameError: name 'x' is not defined"}),
             ("E", {}), ("B", {}), ("D", {})]
    seen = []
    for cell_id, run in steps:
        detector.record(Execution(cell_id, code_of(cells, cell_id), **run))
        seen.append(sorted((i.kind, i.cell_id) for i in detector.verdict(cells).issues))
    failed, skipped = ("failed-out-of-order", "D"), ("skipped-cell", "B")
    assert seen == [[], [failed, skipped], [failed, skipped], [failed], []]


# -- the verdict is incremental: judging only what changed gives what judging everything gives ----------


def _fully_judged(detector: Detector, cells: list[Cell]) -> Verdict:
    detector._differences.forget()  # compare every name, as if no earlier verdict were known
    detector._book_cache = None  # and read the notebook afresh, as if never seen
    detector._prefix = []  # and run it top to bottom from scratch, every position its own namespace
    return detector.verdict(cells)


@pytest.mark.parametrize("checkpoints", [16, 3, 1])
@pytest.mark.parametrize("seed", range(12))
def test_incremental_verdicts_equal_full_ones_on_random_sessions(seed, checkpoints, monkeypatch):
    """Every 16th position keeps its namespace (3 and 1 here: namespaces handed on and rebuilt often)."""
    import random

    from jupyter_mlops.core.verdict import detector as engine

    monkeypatch.setattr(engine, "_CHECKPOINT_EVERY", checkpoints)

    draw = random.Random(seed)
    base = [
        ("A", "import numpy as np\nrows = []"), ("B", "x = 1"), ("C", "y = x + 1"), ("D", "rows.append(y)"),
        ("E", "alias = rows"), ("F", "alias.append(x)"), ("G", "z = len(rows) + y"), ("H", "del x"),
        ("I", "w = np.ones(3) * z"), ("J", "y = y * 2"),
    ]
    edits = {"B": "x = 5", "C": "y = x - 1", "G": "z = y"}
    incremental, full = Detector(), Detector()
    cells = notebook(*base)
    appended = iter(["v = x * 2", "rows.append(v)", "import math\nu = math.sqrt(z)", "y = v + 1", "w2 = w"] * 8)
    for step in range(40):
        if draw.random() < 0.12:  # a cell added below (an unsaved notebook grows), run or not
            cells = [*cells, Cell(f"N{step}", next(appended))]
            if draw.random() < 0.7:
                for detector in (incremental, full):
                    detector.record(Execution(cells[-1].cell_id, cells[-1].source))
        elif draw.random() < 0.15:  # edit a cell, or delete one
            cell_id = draw.choice(list(edits))
            cells = [Cell(c.cell_id, edits[cell_id] if c.cell_id == cell_id else c.source) for c in cells]
        elif draw.random() < 0.05 and len(cells) > 4:
            cells = [c for c in cells if c.cell_id != draw.choice([c.cell_id for c in cells])]
        else:
            cell = draw.choice(cells)
            ok = draw.random() > 0.1
            # Digests from a few values: some runs make a value another provenance made (unified).
            values = {n: f"d{(len(cell.source) + step) % 3}" for n in analyze(cell.source).changes}
            for detector in (incremental, full):
                detector.record(Execution(cell.cell_id, cell.source, ok=ok, error=None if ok else "ValueError: x",
                                          values=values))
        checked = draw.choice(cells)  # strict mode's check before a cell reads the cached run too
        full._prefix, full._agrees = [], None  # the whole check, never the shortcut of a clean state
        assert incremental.preflight(cells, checked.cell_id, checked.source) == full.preflight(
            cells, checked.cell_id, checked.source)
        assert incremental.verdict(cells) == _fully_judged(full, cells)


def test_an_in_place_change_through_an_alias_is_judged_on_both_names_incrementally():
    cells = notebook(("A", "rows = []"), ("B", "alias = rows"), ("C", "alias.append(1)"))
    incremental = replay(cells, "ABC")
    assert_clean(incremental.verdict(cells))
    replay(cells, "C", incremental)
    full = replay(cells, "ABCC")
    assert incremental.verdict(cells) == _fully_judged(full, cells)
    assert {"alias", "rows"} <= {n for issue in incremental.verdict(cells).issues for n in issue.names}


# -- objects by value: equal values from different cells are one value ---------------------------------


def test_an_equal_value_made_by_another_cell_is_the_same_value():
    cells = notebook(
        ("A", "stores = pd.Index(sorted(sales.store.unique()))"), ("B", "by_store = totals.reindex(stores)"),
        ("C", "stores = pivot.columns"), ("D", "share = pivot.loc[:, stores]"),
    )
    equal = {"A": {"values": {"stores": "d1"}}, "C": {"values": {"stores": "d1"}}}
    verdict = replay(cells, "ABCDA", **equal).verdict(cells)
    assert_clean(verdict)
    different = {"A": {"values": {"stores": "d1"}}, "C": {"values": {"stores": "d2"}}}
    verdict = replay(cells, "ABCDA", **different).verdict(cells)
    assert ("overwritten", "A") in kinds(verdict)


def test_unified_values_keep_their_readers_equal_and_edits_that_change_nothing_are_quiet():
    cells = notebook(("P", "n_iter = 500"), ("M", "coef = fit(X, n_iter)"), ("S", "score = evaluate(coef)"))
    detector = replay(cells, "PMS", M={"values": {"coef": "c1"}})
    edited = [Cell("P", "n_iter = 501"), *cells[1:]]
    replay(edited, "PM", detector, M={"values": {"coef": "c1"}})  # the edit changed no result
    assert_clean(detector.verdict(edited))
    edited = [Cell("P", "n_iter = 5"), *cells[1:]]
    replay(edited, "PM", detector, M={"values": {"coef": "c2"}})  # this one did: score is stale
    assert kinds(detector.verdict(edited)) == {("stale-input", "S")}
