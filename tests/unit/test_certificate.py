"""The provenance certificate: written from a journal session, checked against the file and the data."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from jupyter_mlops.commands.main import main
from jupyter_mlops.journal import CellRunRecord, FileRecord, Journal, ParamRecord

CELLS = (("params", "threshold = 2"), ("load", "rows = open('data.csv').read()"),
         ("save", "open('out.txt', 'w').write(rows)"))


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_notebook(path: Path, cells=CELLS) -> None:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3"}}, "cells": [
        {"cell_type": "code", "id": cid, "metadata": {}, "outputs": [], "execution_count": i + 1, "source": src}
        for i, (cid, src) in enumerate(cells)] + [{"cell_type": "markdown", "id": "note", "metadata": {},
                                                   "source": "# done"}]}
    path.write_text(json.dumps(nb, indent=1))


def track(project: Path, order=("params", "load", "save")) -> None:
    journal = Journal(project / ".mlops" / "journal.sqlite")
    journal.start_session("sess1", experiment=None, notebook="nb.ipynb", root=str(project), python="3",
                          ipython="9", options={})
    code = dict(CELLS)
    files = {"load": [FileRecord("data.csv", "read", 4, 1, md5(project / "data.csv"))],
             "save": [FileRecord("out.txt", "write", 4, 1, md5(project / "out.txt"))]}
    for seq, cell_id in enumerate(order, 1):
        journal.add_cell_run("sess1", CellRunRecord(
            seq=seq, cell_id=cell_id, execution_count=seq, code=code[cell_id], code_hash="h", started_at=time.time(),
            duration=0.01, status="ok", reproducible=True, files=files.get(cell_id, []),
            params=[ParamRecord("threshold", 2, "parameters")] if cell_id == "params" else []))
    journal.end_session("sess1")
    journal.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data.csv").write_text("a,b\n")
    (tmp_path / "out.txt").write_text("a,b\n")
    write_notebook(tmp_path / "nb.ipynb")
    return tmp_path


def test_a_certified_notebook_checks_without_a_journal_and_names_what_changed(project, capsys):
    track(project)
    assert main(["certify", str(project / "nb.ipynb")]) == 0
    certificate = json.loads((project / "nb.ipynb").read_text())["metadata"]["jupyter_mlops"]["certificate"]
    assert [c["id"] for c in certificate["cells"]] == ["params", "load", "save"]
    assert certificate["cells"][1]["reads"] == {"data.csv": md5(project / "data.csv")}
    assert certificate["params"] == {"threshold": 2} and certificate["session"] == "sess1"
    (project / ".mlops" / "journal.sqlite").unlink()  # checked from the file alone
    capsys.readouterr()
    assert main(["check", str(project / "nb.ipynb")]) == 0
    assert "3 cells and 2 data files match" in capsys.readouterr().out

    (project / "data.csv").write_text("a,b\n1,2\n")
    assert main(["check", str(project / "nb.ipynb")]) == 1
    assert "data.csv (read by load) has md5" in capsys.readouterr().out
    (project / "data.csv").write_text("a,b\n")

    document = json.loads((project / "nb.ipynb").read_text())
    document["cells"][1]["source"] = "rows = open('data.csv').read().upper()"
    (project / "nb.ipynb").write_text(json.dumps(document))
    assert main(["check", str(project / "nb.ipynb"), "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert found["problems"][0] == "cell 2 (load) was edited after certification" and found["certified"]


def test_a_session_that_does_not_vouch_for_the_notebook_is_not_certified(project, capsys):
    track(project, order=("params", "save"))  # load never ran: save used rows from nowhere
    assert main(["certify", str(project / "nb.ipynb")]) == 1
    err = capsys.readouterr().err
    assert "not reproducible" in err and "hint:" in err
    assert "certificate" not in json.loads((project / "nb.ipynb").read_text())["metadata"].get("jupyter_mlops", {})


def test_certify_without_a_tracked_session_says_what_to_do(project, capsys):
    assert main(["certify", str(project / "nb.ipynb")]) == 2
    assert "%mlops_track" in capsys.readouterr().err
