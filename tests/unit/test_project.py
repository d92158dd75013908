import os

from jupyter_mlops.project import DataPaths, find_root


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
