"""Static def/use of one cell: the names and files export plans stage boundaries with."""

from jupyter_mlops.export.defuse import analyse, literal_assignments


def test_uses_are_names_read_before_the_cell_binds_them():
    flow = analyse("y = x + 1\nz = y * 2\nprint(z)\n")
    assert flow.uses == {"x"}
    assert flow.defines == {"y", "z"}


def test_function_and_comprehension_locals_stay_inside():
    flow = analyse("def f(a):\n    b = a + offset\n    return b\nvals = [f(i) for i in items]\n")
    assert flow.uses == {"offset", "items"}
    assert flow.defines == {"f", "vals"}


def test_in_place_changes_are_mutations():
    flow = analyse("df['a'] = 1\nmodel.fit(X, y)\nrows.append(3)\ncfg.lr = 2\n")
    assert {"df", "model", "rows", "cfg"} <= flow.mutates
    assert flow.defines == set()


def test_imports_and_defs_are_setup_statements_that_can_be_copied():
    flow = analyse("import numpy as np\nfrom a.b import c\n\n@cache\ndef g():\n    return np.ones(3)\n")
    assert flow.is_setup
    assert flow.setup["np"] == "import numpy as np"
    assert flow.setup["g"].startswith("@cache\ndef g():")
    rebound = analyse("import numpy as np\nnp = 3\n")
    assert "np" not in rebound.setup and not rebound.is_setup


def test_file_paths_resolve_through_known_string_names_and_joins():
    flow = analyse(
        "df = pd.read_csv(data_path)\n"
        "out = 'models'\n"
        "joblib.dump(model, Path(out) / 'm.joblib')\n"
        "df.to_parquet(os.path.join(out, 'clean.parquet'))\n"
        "with open('log.txt', 'a') as f: pass\n"
        "text = Path('notes.md').read_text()\n"
        "pd.read_csv(unknown)\n",
        {"data_path": "data/churn.csv"},
    )
    assert flow.reads == ("data/churn.csv", "notes.md")
    assert flow.writes == ("models/m.joblib", "models/clean.parquet", "log.txt")


def test_metric_logging_is_seen():
    assert analyse("jupyter_mlops.log_metric('auc', auc)").logs_metrics
    assert not analyse("auc = 1").logs_metrics


def test_magics_are_blanked_and_cell_magics_are_opaque():
    flow = analyse("%load_ext jupyter_mlops\n!ls\nx = 1\n")
    assert flow.defines == {"x"} and not flow.opaque
    assert analyse("%%bash\necho hi\n").opaque
    assert analyse("def broken(:\n").opaque


def test_literal_assignments_of_a_parameters_cell():
    values, other = literal_assignments("lr = 0.1\nlayers = [64, 32]\nname: str = 'x'\nstart = time.time()\n")
    assert values == {"lr": 0.1, "layers": [64, 32], "name": "x"}
    assert other == ["start"]
