"""The provenance certificate: written from a journal session, checked against the file and the data."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from jupyter_mlops.commands.main import main
from jupyter_mlops.core.redact import Redactor, code_digest
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


# A tracking cell with a secret: the journal keeps its code masked, and the digest of the code as it ran.
TRACK = 'hf_token = "hf_abcdefgh12345"\n%load_ext jupyter_mlops\n%mlops_track --data data.csv'


def tracked_itself(project: Path, *, started_in: str = TRACK, injected: str | None = None) -> None:
    """A session started by the notebook's own tracking cell (never a cell run: the journal names it), then
    papermill's injected cell when given, then the other cells."""
    write_notebook(project / "nb.ipynb", cells=(("track", TRACK), *CELLS))
    journal = Journal(project / ".mlops" / "journal.sqlite")
    journal.start_session("sess2", experiment=None, notebook="nb.ipynb", root=str(project), python="3",
                          ipython="9", options={})
    journal.set_tracking_cell("sess2", "code-0123", Redactor().code(started_in), code_digest(started_in))
    journal.rename_cells("sess2", {"code-0123": "track"})  # the notebook found after tracking started
    journal.add_session_records("sess2", files=[FileRecord("data.csv", "declared", 4, 1, md5(project / "data.csv"))])
    runs = [("params", CELLS[0][1], [], [ParamRecord("threshold", 2, "parameters")])]
    if injected:
        runs.append(("papermill-cell", injected, [], [ParamRecord("threshold", 3, "injected")]))
    runs += [("load", CELLS[1][1], [FileRecord("data.csv", "read", 4, 1, md5(project / "data.csv"))], []),
             ("save", CELLS[2][1], [FileRecord("out.txt", "write", 4, 1, md5(project / "out.txt"))], [])]
    for seq, (cell_id, code, files, params) in enumerate(runs, 1):
        journal.add_cell_run("sess2", CellRunRecord(
            seq=seq, cell_id=cell_id, execution_count=seq, code=code, code_hash="h", started_at=time.time(),
            duration=0.01, status="ok", reproducible=True, files=files, params=params))
    journal.end_session("sess2")
    journal.close()


def test_the_cell_the_session_started_in_counts_as_run_with_its_code(project, capsys):
    tracked_itself(project)
    assert main(["certify", str(project / "nb.ipynb")]) == 0
    certificate = json.loads((project / "nb.ipynb").read_text())["metadata"]["jupyter_mlops"]["certificate"]
    assert [c["id"] for c in certificate["cells"]] == ["track", "params", "load", "save"]
    assert certificate["cells"][0]["reads"] == {"data.csv": md5(project / "data.csv")}  # its --data
    assert "injected_parameters" not in certificate
    assert main(["check", str(project / "nb.ipynb")]) == 0
    assert "4 cells and 3 data files match" in capsys.readouterr().out

    document = json.loads((project / "nb.ipynb").read_text())
    document["cells"][0]["source"] = TRACK + " --strict"
    (project / "nb.ipynb").write_text(json.dumps(document))
    assert main(["check", str(project / "nb.ipynb")]) == 1
    assert "cell 1 (track) was edited after certification" in capsys.readouterr().out


def test_a_tracking_cell_edited_since_it_started_the_session_is_not_certified(project, capsys):
    tracked_itself(project, started_in=TRACK.replace("data.csv", "other.csv"))
    assert main(["certify", str(project / "nb.ipynb")]) == 1
    err = capsys.readouterr().err  # the replay itself sees it: the session started in other code
    assert "not reproducible (hidden-state: cell 1 was edited and not re-run)" in err and "hint: run cell 1" in err


def test_papermill_s_injected_parameters_are_certified_apart_and_named_by_check(project, capsys):
    tracked_itself(project, injected="# Parameters\nthreshold = 3\n")
    assert main(["certify", str(project / "nb.ipynb")]) == 0
    assert "run with papermill's parameters threshold=3" in capsys.readouterr().out
    certificate = json.loads((project / "nb.ipynb").read_text())["metadata"]["jupyter_mlops"]["certificate"]
    assert [c["id"] for c in certificate["cells"]] == ["track", "params", "load", "save"]  # the file's cells
    assert certificate["injected_parameters"]["params"] == {"threshold": 3} and certificate["params"]["threshold"] == 3
    assert main(["check", str(project / "nb.ipynb")]) == 0
    assert "match; run with papermill's parameters threshold=3)" in capsys.readouterr().out
    assert main(["check", str(project / "nb.ipynb"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["injected_parameters"]["params"] == {"threshold": 3}
