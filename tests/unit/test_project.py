import os

from jupyter_mlops.project import DataPaths, find_root, home_root


def test_root_is_the_git_work_tree_else_the_folder(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "nb" / "deep").mkdir(parents=True)
    assert find_root(tmp_path / "repo" / "nb" / "deep") == (tmp_path / "repo").resolve()
    (tmp_path / "plain").mkdir()
    assert find_root(tmp_path / "plain") == (tmp_path / "plain").resolve()


def test_only_project_data_counts(tmp_path):
    nb = tmp_path / "analysis.ipynb"
    paths = DataPaths(tmp_path, nb)
    root = str(tmp_path.resolve())
    assert paths.relative(os.path.join(root, "data", "train.csv")) == "data/train.csv"
    for ignored in (".mlops/journal.sqlite", ".git/HEAD", "nb/.ipynb_checkpoints/a-checkpoint.ipynb",
                    "pkg/__pycache__/m.cpython-311.pyc", "helpers.py", "analysis.ipynb", ".dvc/config"):
        assert paths.relative(os.path.join(root, ignored)) is None, ignored
    assert paths.relative("/usr/lib/python3/site.py") is None
    assert paths.relative(root + "-sibling/data.csv") is None


def test_a_dvc_experiment_copy_belongs_to_the_project_dvc_copied(tmp_path):
    home = tmp_path / "repo"
    copy = home / ".dvc" / "tmp" / "exps" / "tmpab12"
    (copy / ".git").mkdir(parents=True)
    (home / ".git").mkdir()
    env = {"DVC_ROOT": str(home)}
    assert home_root(copy.resolve(), env) == home.resolve()
    assert home_root(home.resolve(), env) == home.resolve()  # `dvc repro`, `dvc exp run` in the workspace
    assert home_root(copy.resolve(), {}) == copy.resolve()   # not run by DVC
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    assert home_root(elsewhere.resolve(), env) == elsewhere.resolve()  # DVC_ROOT of an unrelated repo
