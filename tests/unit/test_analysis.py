"""Static def/use analysis of one cell."""

from __future__ import annotations

import re

import pytest

from jupyter_mlops.core.analysis import (
    BIND,
    IDEMPOTENT,
    KEYS,
    NP_RANDOM,
    PY_RANDOM,
    UPDATE,
    analyze,
    is_ipython_internal,
)


def kind(code: str, name: str) -> str:
    return analyze(code).changes[name].kind


def test_plain_assignment_reads_and_binds():
    effects = analyze("y = x + 1")
    assert effects.reads == {"x"}
    assert effects.changes["y"].kind == BIND and effects.changes["y"].deps == {"x"}


def test_names_bound_before_use_are_not_reads():
    effects = analyze("a = 1\nb = a + c")
    assert effects.reads == {"c"}
    assert effects.changes["b"].deps == {"c"}


def test_per_name_dependencies_within_a_cell():
    effects = analyze("x = f(a)\ny = 2\nz = x + y")
    assert effects.changes["y"].deps == frozenset()
    assert effects.changes["z"].deps == {"f", "a"}


def test_builtins_are_not_reads():
    assert analyze("n = len(range(3))\nprint(n)").reads == frozenset()


@pytest.mark.parametrize(
    ("code", "bound"),
    [
        ("for i in range(3):\n    pass", {"i"}),
        ("with open('f') as fh:\n    text = fh.read()", {"fh", "text"}),
        ("import numpy as np\nfrom os import path as p", {"np", "p"}),
        ("import os.path", {"os"}),
        ("def f():\n    pass\nclass K:\n    pass", {"f", "K"}),
        ("if (n := 10) > 5:\n    pass", {"n"}),
        ("a, (b, *c) = 1, (2, 3)", {"a", "b", "c"}),
        ("try:\n    pass\nexcept ValueError as err:\n    pass", {"err"}),
    ],
)
def test_binding_forms(code: str, bound: set[str]):
    assert set(analyze(code).changes) == bound


def test_comprehension_variables_are_local():
    effects = analyze("hits = [v for v in range(10) if v > threshold]\nd = {k: w for k, w in pairs}")
    assert effects.reads == {"threshold", "pairs"}
    assert set(effects.changes) == {"hits", "d"}


def test_lambda_parameters_are_local_and_body_globals_are_read():
    effects = analyze("f = lambda v: v * rate")
    assert effects.reads == {"rate"}
    assert effects.changes["f"].function is not None
    assert effects.changes["f"].function.reads == {"rate"}


def test_function_globals_and_global_statements():
    effects = analyze("def tax(v):\n    global calls\n    calls += 1\n    log.append(v)\n    return v * rate")
    info = effects.changes["tax"].function
    assert info is not None
    assert info.reads == {"calls", "log", "rate"}
    assert info.rebinds == {"calls"}
    assert info.mutates == {"log"}
    assert effects.reads == frozenset()  # the body runs when called, not when defined


def test_calling_a_function_defined_in_the_same_cell_reads_its_globals():
    effects = analyze("def f():\n    return rate\nt = f()")
    assert effects.reads == {"rate"}
    assert "rate" in effects.changes["t"].deps


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("lst.append(4)", UPDATE),
        ("lst.extend([1])", UPDATE),
        ("d.pop('k')", UPDATE),
        ("x += 1", UPDATE),
        ("x = x * 10", UPDATE),
        ("df = df.merge(other)", UPDATE),
        ("d.update(other)", IDEMPOTENT),
        ("s.add(1)", IDEMPOTENT),
        ("lst.sort()", IDEMPOTENT),
        ("model.fit(X, y)", KEYS),  # what it learned: each fit replaces it
        ("df.dropna(inplace=True)", IDEMPOTENT),
        ("df.reset_index(inplace=True)", UPDATE),
        ("df.reset_index(drop=True, inplace=True)", IDEMPOTENT),
        ("df = df.dropna()", IDEMPOTENT),
        ("df = df.dropna().reset_index(drop=True)", IDEMPOTENT),
        ("df = df[df['x'] > 0]", IDEMPOTENT),
        ("arr = arr[1:]", UPDATE),
        ("df['c'] = df['c'].astype(int)", IDEMPOTENT),
        ("df['c'] = pd.to_datetime(df['c'])", IDEMPOTENT),
        ("df['c'] = df['c'].map(m)", UPDATE),
        ("df['c'] = df['c'] * 2", UPDATE),
        ("df['c'] += 1", UPDATE),
        ("df['y'] = df['x'] * 2", KEYS),
        ("df.loc[df.x < 0, 'x'] = 0", KEYS),
        ("obj.attr = 3", KEYS),
        ("del df['c']", IDEMPOTENT),
    ],
)
def test_how_a_name_changes(code: str, expected: str):
    owner = re.match(r"(?:del )?(\w+)", code)[1]
    assert kind(code, owner) == expected


def test_keyed_writes_record_their_keys_and_stay_in_place():
    change = analyze("df['y'] = df['x'] * 2").changes["df"]
    assert change.keys == {"y"} and change.in_place
    assert analyze("df['y'] = df['x'] * 2").key_reads["df"] == {"x"}


def test_keyed_reads_only_when_every_use_is_by_constant_key():
    assert analyze("m = df['y'].mean()").key_reads == {"df": {"y"}}
    assert analyze("m = df.y.mean()").key_reads == {"df": {"y"}}
    assert analyze("X = df[features]").key_reads == {"df": {"@features"}}
    assert analyze("m = df['y'].mean() + len(df)").key_reads == {"df": {"y"}}
    assert "df" not in analyze("m = df['y'].mean() + df.sum()").key_reads
    assert "df" not in analyze("c = df.columns").key_reads


def test_row_count_reads_depend_on_rows_only():
    assert analyze("n = len(df)").key_reads == {"df": frozenset()}
    assert analyze("s = df.shape").key_reads == {"df": frozenset()}
    assert "df" not in analyze("n = len(df) + df.x.sum() + df.sum()").key_reads


def test_rewriting_a_column_from_itself_is_a_keyed_update():
    change = analyze("df['a'] = df['a'] / 10").changes["df"]
    assert change.kind == UPDATE and change.keys == {"a"}
    assert analyze("df['a'] = df['a'] / 10").key_reads == {"df": {"a"}}
    assert analyze("lst.append(1)").changes["lst"].keys == frozenset()


def test_constant_lists_are_remembered():
    assert analyze("features = ['a', 'b']").changes["features"].consts == {"a", "b"}


def test_module_functions_are_not_mutations_of_the_module():
    effects = analyze("arr = np.append(arr, 1)")
    assert "np" not in effects.changes
    assert effects.changes["arr"].kind == UPDATE


def test_alias_assignment():
    assert analyze("b = a").changes["b"].alias_of == "a"
    assert analyze("b = a.copy()").changes["b"].alias_of is None


def test_delete_removes_a_name():
    effects = analyze("x = 1\ndel x")
    assert effects.deletes == {"x"} and "x" not in effects.changes


def test_conditional_bindings_are_marked():
    effects = analyze("y = 1\nif flag:\n    x = 1")
    assert effects.changes["x"].conditional and not effects.changes["y"].conditional
    assert "flag" in effects.changes["x"].deps


def test_statement_index_of_each_change():
    effects = analyze("a = 1\nlst.append(a)\nb = 2")
    assert [effects.changes[n].stmt for n in ("a", "lst", "b")] == [0, 1, 2]


def test_random_generator_constructors():
    seeded = analyze("rng = np.random.default_rng(0)").changes["rng"]
    assert seeded.generator and not seeded.nondet and seeded.content is not None
    unseeded = analyze("rng = np.random.default_rng()").changes["rng"]
    assert unseeded.generator and unseeded.nondet
    assert analyze("r = random.Random(4)").changes["r"].generator


def test_generator_method_calls_are_recorded_for_the_engine():
    assert analyze("s = rng.normal(size=3)").method_calls == {"rng"}


def test_module_level_random_draws_and_seeds():
    draw = analyze("x = np.random.rand(3)")
    assert draw.changes[NP_RANDOM].kind == UPDATE and NP_RANDOM in draw.changes["x"].deps
    seed = analyze("np.random.seed(0)")
    assert seed.changes[NP_RANDOM].kind == BIND and not seed.changes[NP_RANDOM].nondet
    assert NP_RANDOM not in seed.reads
    assert analyze("random.seed()").changes[PY_RANDOM].nondet
    shuffle = analyze("random.shuffle(deck)")
    assert shuffle.changes["deck"].kind == UPDATE and PY_RANDOM in shuffle.changes["deck"].deps


def test_generators_given_to_functions_are_drawn_from_and_kept_by_constructors():
    assert analyze("a, b = train_test_split(X, random_state=rng)").passed == {"X", "rng"}
    assert analyze("s = df.sample(5, random_state=rng)").passed == {"rng"}
    assert analyze("cv = KFold(5, shuffle=True, random_state=rng)").passed == frozenset()  # kept for later
    assert analyze("rng = np.random.default_rng(0)\na = f(rng)").passed == frozenset()  # the cell's own


def test_library_calls_drawing_from_the_global_generator():
    for code in ("s = df.sample(5)", "a, b = train_test_split(X, y)", "X, y = make_blobs(100)",
                 "a, b = train_test_split(X, y, random_state=None)"):
        effects = analyze(code)
        assert effects.changes[NP_RANDOM].kind == UPDATE, code
        assert any(NP_RANDOM in c.deps for n, c in effects.changes.items() if n != NP_RANDOM), code
    for code in ("s = df.sample(5, random_state=0)", "a, b = train_test_split(X, y, random_state=rs)",
                 "a, b = train_test_split(X, y, shuffle=False)", "w = df.resample('W').sum()", "rng.shuffle(a)"):
        assert NP_RANDOM not in analyze(code).changes, code


def test_fits_replace_the_learned_state_which_fitted_attributes_read():
    fit = analyze("model.fit(X, y)").changes["model"]
    assert fit.kind == KEYS and fit.keys == {"<fit>"} and {"X", "y"} <= fit.deps
    assert analyze("Xs = scaler.fit_transform(X)").changes["scaler"].keys == {"<fit>"}
    assert analyze("c = model.coef_").key_reads["model"] == {"coef_", "<fit>"}
    assert analyze("c = model.C").key_reads["model"] == {"C"}
    assert analyze("model.set_params(C=2.0)").changes["model"].keys == {"C"}
    assert analyze("model.set_params(**best)").changes["model"].kind == IDEMPOTENT


def test_functions_remember_what_they_draw_from():
    info = analyze("def noisy(v):\n    return v + rng.normal(size=len(v))").changes["noisy"].function
    assert "rng" in info.draws and "rng" in info.reads
    info = analyze("def split(X):\n    return train_test_split(X, random_state=rs)").changes["split"].function
    assert "rs" in info.draws
    info = analyze("def pick(df):\n    return df.sample(3)").changes["pick"].function
    assert NP_RANDOM in info.reads and NP_RANDOM in info.mutates


def test_likely_opaque_names():
    effects = analyze("import numpy as np\nfig, ax = plt.subplots()\ndef f():\n    pass\nx = 1")
    assert effects.likely_opaque == {"np", "fig", "ax", "f"}


def test_magics_and_shell_lines_are_skipped():
    effects = analyze("%matplotlib inline\nimport numpy as np\n!pip install foo\nfiles = !ls\ndf.head?\nx = np.ones(3)")
    assert effects.parsed
    assert set(effects.changes) == {"np", "files", "x"}
    assert analyze("%time y = f(a)").changes["y"].deps == {"f", "a"}
    assert analyze("%%time\ny = f(a)").reads == {"f", "a"}
    assert analyze("for i in range(2):\n    !echo hi\n").parsed


def test_non_python_cell_magics_have_no_effects():
    effects = analyze("%%bash\necho $x > out.txt")
    assert effects.parsed and not effects.changes and not effects.reads


def test_syntax_errors_are_unknown():
    effects = analyze("x = (1 +")
    assert not effects.parsed
    assert not effects.changes and not effects.reads


def test_fingerprint_ignores_comments_and_layout():
    assert analyze("x = 1  # one").fingerprint == analyze("x=1\n").fingerprint
    assert analyze("x = 1").fingerprint != analyze("x = 2").fingerprint


def test_dynamic_namespace():
    assert analyze("from math import *").dynamic
    assert analyze("%run helpers.py").dynamic
    assert not analyze("import math").dynamic


def test_results_are_cached_by_code():
    assert analyze("q = 1") is analyze("q = 1")


def test_ipython_internal_names():
    assert all(is_ipython_internal(n) for n in ["_", "__", "_5", "_i5", "_ii", "In", "Out"])
    assert not any(is_ipython_internal(n) for n in ["_private", "x", "df_2"])


def test_seeding_then_drawing_in_one_cell_is_a_fresh_deterministic_state():
    effects = analyze("np.random.seed(100)\ng = np.random.normal(5.0, 1.0, 80)\nrandom.seed(1)\nrandom.shuffle(deck)")
    assert NP_RANDOM not in effects.reads and PY_RANDOM not in effects.reads
    assert effects.changes[NP_RANDOM].kind == BIND and effects.changes[NP_RANDOM].content is None
    assert NP_RANDOM not in effects.changes["g"].deps
    assert effects.changes["deck"].kind == UPDATE


def test_function_changing_its_parameter_in_place():
    code = (
        "def clip(frame, col, limit):\n    frame[col] = frame[col].clip(upper=limit)\n"
        "def flag(frame):\n    frame['hot'] = frame['temp'] > 25\n"
        "def halve(frame):\n    frame['h'] = frame['h'] / 2\n"
        "def copy_first(frame):\n    frame = frame.copy()\n    frame['h'] = 0\n    return frame"
    )
    functions = {name: change.function for name, change in analyze(code).changes.items()}
    assert [(p, c.kind) for p, c in functions["clip"].param_changes] == [("frame", IDEMPOTENT)]
    assert [(p, c.kind, c.keys) for p, c in functions["flag"].param_changes] == [("frame", KEYS, {"hot"})]
    assert [(p, c.kind) for p, c in functions["halve"].param_changes] == [("frame", UPDATE)]
    assert functions["copy_first"].param_changes == ()
    assert functions["clip"].params == ("frame", "col", "limit")


def test_call_sites_with_names_are_kept_for_the_engine():
    effects = analyze("clip(readings, 'temp', limit=cap)\nprint(len(readings))")
    assert effects.calls == (("clip", ("readings", None), (("limit", "cap"),)),)


def test_function_defined_and_called_in_one_cell_changes_the_argument():
    effects = analyze("def halve(frame):\n    frame['h'] = frame['h'] / 2\nhalve(df)")
    assert effects.changes["df"].kind == UPDATE and effects.changes["df"].in_place


def test_each_value_is_fingerprinted_by_the_statements_that_make_it():
    before = analyze("best = max(scores)\nx = best * 2\nprint(best, round(x, 3))")
    display_edit = analyze("best = max(scores)\nx = best * 2\nprint(best, round(x, 4))")
    code_edit = analyze("best = max(scores)\nx = best * 3\nprint(best, round(x, 3))")
    assert before.fingerprint != display_edit.fingerprint
    assert before.changes["x"].code == display_edit.changes["x"].code
    assert before.changes["best"].code == code_edit.changes["best"].code
    assert before.changes["x"].code != code_edit.changes["x"].code
    upstream_edit = analyze("best = min(scores)\nx = best * 2\nprint(best, round(x, 3))")
    assert before.changes["x"].code != upstream_edit.changes["x"].code  # x reads best, made above it
