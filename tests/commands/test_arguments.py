"""Issue 28 on the command line: each bad argument is exit 2 with a message saying what is expected, parsed
by ``inputs`` as the server parses a request (never a traceback)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest

from jupyter_mlops import inputs
from jupyter_mlops.commands.arguments import argument
from jupyter_mlops.commands.main import main
from jupyter_mlops.journal import CellRunRecord, Journal


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "nb.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}))
    journal = Journal(tmp_path / ".mlops" / "journal.sqlite")
    journal.start_session("s1", experiment="e", notebook="nb.ipynb", root=str(tmp_path), python="3", ipython="9",
                          options={})
    journal.add_cell_run("s1", CellRunRecord(seq=1, cell_id="a", execution_count=1, code="x = 1", code_hash="h",
                                             started_at=time.time(), duration=0.1, status="ok", reproducible=True))
    journal.close()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit:  # argparse's refusal of a bad argument
        code = exit.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("argv", "said"), [
    (("sweep", "nb.ipynb", "-S", "a=1,2", "-j", "²"), "-j must be a whole number from 1 to 64 (digits 0-9)"),
    (("sweep", "nb.ipynb", "-S", "a=1,2", "-j", "٣"), "-j must be a whole number"),
    (("sweep", "nb.ipynb", "-S", "a=1,2", "--random", str(2**63)), "--random must be a whole number"),
    (("sweep", "nb.ipynb", "-S", "a=1,2", "--seed", "-1"), "--seed must be a whole number"),
    (("sweep", "nb.ipynb", "-S", "a=1,2", "--stuck-after", "nan"), "--stuck-after must be a number"),
    (("verify", "nb.ipynb", "--tolerance", "1e400"), "--tolerance must be a number from 0 to 1"),
    (("verify", "nb.ipynb", "--expect", "auc>=0.8\n"), "write METRIC OP NUMBER"),
    (("diff", "latest~²"), "N of latest~N"),
    (("diff", "latest~" + "9" * 30), "N of latest~N"),
    (("runs", "\udcff.ipynb"), "notebook is not valid text"),
    (("show", "s1\udcff"), "run is not valid text"),
    (("register", "--name", "churn\n"), "name must be a model name"),
    (("register", "--name", "churn", "--alias", "cand\n"), "alias must be letters, digits"),
])
def test_bad_arguments_are_exit_2_with_what_is_expected(project, capsys, argv, said):
    code, err = cli(capsys, *argv)
    assert code == 2 and said in err and "Traceback" not in err, err


def test_an_argparse_type_turns_bad_input_into_a_usage_error():
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("-j", type=argument(lambda v: inputs.whole_number(v, "-j", low=1, high=4)))
    assert parser.parse_args(["-j", "2"]).j == 2
    with pytest.raises(argparse.ArgumentError, match="-j must be a whole number from 1 to 4"):
        parser.parse_args(["-j", "²"])
