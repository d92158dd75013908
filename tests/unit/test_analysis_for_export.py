"""The one code analysis seen from the export: the names and files it plans stage boundaries with.

The detector and the planner ask the same ``analyze``; ``test_export_stages.py`` pins the disagreements
the two analyses used to have (``%time x = …``, ``%%time`` cells, functions called from another cell).
"""

from jupyter_mlops.core.analysis import analyze, file_paths, literal_assignments


def test_needs_are_names_read_before_the_cell_binds_them():
    effects = analyze("y = x + 1\nz = y * 2\nprint(z)\n")
    assert effects.needs == {"x"}
    assert effects.binds == {"y", "z"}


def test_function_and_comprehension_locals_stay_inside_but_a_functions_globals_are_needed():
    effects = analyze("def f(a):\n    b = a + offset\n    return b\nvals = [f(i) for i in items]\n")
    assert effects.needs == {"offset", "items"}
    assert effects.binds == {"f", "vals"}


def test_in_place_changes_may_change_their_object_without_binding_it():
    effects = analyze("df['a'] = 1\nmodel.fit(X, y)\nrows.append(3)\ncfg.lr = 2\nscaler.custom_step()\n")
    assert {"df", "model", "rows", "cfg", "scaler"} <= effects.may_change
    assert effects.binds == set()


def test_imports_and_defs_are_definitions_another_stage_can_copy():
    effects = analyze("import numpy as np\nfrom a.b import c\n\n@cache\ndef g():\n    return np.ones(3)\n")
    assert effects.setup_only
    assert effects.definitions["np"] == "import numpy as np"
    assert effects.definitions["g"].startswith("@cache\ndef g():")
    rebound = analyze("import numpy as np\nnp = 3\n")
    assert "np" not in rebound.definitions and not rebound.setup_only


def test_file_paths_resolve_through_known_string_names_and_joins():
    reads, writes = file_paths(
        "df = pd.read_csv(data_path)\n"
        "out = 'models'\n"
        "joblib.dump(model, Path(out) / 'm.joblib')\n"
        "df.to_parquet(os.path.join(out, 'clean.parquet'))\n"
        "with open('log.txt', 'a') as f: pass\n"
        "text = Path('notes.md').read_text()\n"
        "pl.read_parquet(source='in.parquet')\n"
        "pd.read_csv(unknown)\n",
        {"data_path": "data/churn.csv"},
    )
    assert reads == ["data/churn.csv", "notes.md", "in.parquet"]
    assert writes == ["models/m.joblib", "models/clean.parquet", "log.txt"]


def test_metric_logging_is_seen():
    assert analyze("jupyter_mlops.log_metric('auc', auc)").logs_metrics
    assert not analyze("auc = 1").logs_metrics


def test_magics_are_python_to_the_analysis_and_foreign_cell_magics_are_not_known():
    effects = analyze("%load_ext jupyter_mlops\n!ls\nx = 1\n")
    assert effects.binds == {"x"} and effects.known
    assert not analyze("%%bash\necho hi\n").known
    assert not analyze("def broken(:\n").known


def test_literal_assignments_of_a_parameters_cell():
    values, other = literal_assignments("lr = 0.1\nlayers = [64, 32]\nname: str = 'x'\nstart = time.time()\n")
    assert values == {"lr": 0.1, "layers": [64, 32], "name": "x"}
    assert other == ["start"]
