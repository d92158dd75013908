"""`jupyter mlops check`: saved notebooks judged from their counts, or from the journal when tracked."""

import json

import pytest

from jupyter_mlops.commands.main import main
from jupyter_mlops.journal import CellRunRecord, Journal


def notebook(path, cells):
    """cells: (id, code, execution_count)."""
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "id": "title", "metadata": {}, "source": "# Title"}] + [
        {"cell_type": "code", "id": cid, "metadata": {}, "source": code, "outputs": [], "execution_count": n}
        for cid, code, n in cells]}))
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_clean_run_all_is_reproducible(project, capsys):
    notebook(project / "nb.ipynb", [("a", "x = 1", 1), ("b", "y = x + 1", 2), ("c", "print(y)", 3)])
    assert main(["check", "nb.ipynb"]) == 0
    assert "reproducible (saved execution counts" in capsys.readouterr().out


def test_cell_run_before_the_cell_above_it_that_feeds_it(project, capsys):
    notebook(project / "nb.ipynb", [("a", "x = 1", 3), ("b", "x = x * 10", 2), ("c", "y = x + 1", 4)])
    assert main(["check", "nb.ipynb", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["reproducible"] is False and out["issues"]


def test_shuffled_independent_cells_are_fine(project):
    notebook(project / "nb.ipynb", [("a", "a = 1", 3), ("b", "b = 2", 1), ("c", "print(a + b)", 4)])
    assert main(["check", "nb.ipynb"]) == 0


def test_value_from_a_cell_below(project, capsys):
    notebook(project / "nb.ipynb", [("a", "y = x + 1", 2), ("b", "x = 1", 1)])
    assert main(["check", "nb.ipynb"]) == 1
    assert "NOT reproducible" in capsys.readouterr().out


def test_never_run_cell_whose_value_was_used(project):
    notebook(project / "nb.ipynb", [("a", "x = 1", 1), ("b", "x = x * 10", None), ("c", "y = x + 1", 2)])
    assert main(["check", "nb.ipynb"]) == 1


def test_name_no_cell_defines(project, capsys):
    notebook(project / "nb.ipynb", [("a", "y = threshold + 1", 1)])
    assert main(["check", "nb.ipynb"]) == 1
    assert "threshold" in capsys.readouterr().out


def test_a_notebook_never_run_is_not_called_reproducible(project, capsys):
    # Given a notebook as written, before any run: no execution counts, no tracked session
    notebook(project / "nb.ipynb", [("a", "x = 1", None), ("b", "y = x + 1", None)])
    # Then check says so, with its own exit code, in text and JSON
    assert main(["check", "nb.ipynb"]) == 3
    out = capsys.readouterr().out
    assert "never run" in out and "reproducible" not in out
    assert main(["check", "nb.ipynb", "--json"]) == 3
    answer = json.loads(capsys.readouterr().out)
    assert answer["never_run"] is True and answer["reproducible"] is None
    # When one cell has run, it is judged again
    notebook(project / "nb.ipynb", [("a", "x = 1", 1), ("b", "y = x + 1", None)])
    assert main(["check", "nb.ipynb", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["never_run"] is False


def test_a_tracked_session_counts_as_a_run_even_without_saved_counts(project, capsys):
    path = notebook(project / "nb.ipynb", [("a", "x = 1", None), ("b", "y = x + 1", None)])
    j = Journal(project / ".mlops" / "journal.sqlite")
    j.start_session("s1", experiment="nb", notebook="nb.ipynb", root=str(project), python="3", ipython="9",
                    options={})
    for seq, (cid, code) in enumerate([("a", "x = 1"), ("b", "y = x + 1")], 1):
        j.add_cell_run("s1", CellRunRecord(seq=seq, cell_id=cid, execution_count=seq, code=code, code_hash="h",
                                           started_at=seq, duration=0.0, status="ok"))
    j.close()
    assert main(["check", str(path)]) == 0
    assert "reproducible (journal session s1)" in capsys.readouterr().out


def test_the_journal_is_the_precise_answer(project, capsys):
    # Saved counts look clean (1, 2, 3), but the journal saw cell a re-run with new code after b used it.
    path = notebook(project / "nb.ipynb", [("a", "x = 42", 4), ("b", "y = x + 1", 2), ("c", "print(y)", 3)])
    j = Journal(project / ".mlops" / "journal.sqlite")
    j.start_session("s1", experiment="nb", notebook="nb.ipynb", root=str(project), python="3", ipython="9",
                    options={})
    for seq, (cid, code) in enumerate([("a", "x = 1"), ("b", "y = x + 1"), ("c", "print(y)"), ("a", "x = 42")], 1):
        j.add_cell_run("s1", CellRunRecord(seq=seq, cell_id=cid, execution_count=seq, code=code, code_hash="h",
                                           started_at=seq, duration=0.0, status="ok"))
    j.close()
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "journal session s1" in out and "stale-input" in out


@pytest.mark.parametrize(("content", "says"), [
    ("{not json", "not a readable notebook"),
    ('{"cells": 3}', "no list of cells"),
])
def test_corrupt_notebook_exits_2(project, capsys, content, says):
    (project / "bad.ipynb").write_text(content)
    assert main(["check", "bad.ipynb"]) == 2
    assert says in capsys.readouterr().err


def test_missing_notebook_exits_2(project, capsys):
    assert main(["check", "nope.ipynb"]) == 2
    assert "no such notebook" in capsys.readouterr().err
