"""The strict verdict under papermill, which sends no cell ids: cells are matched by code, in order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlops.journal import Journal

pytestmark = pytest.mark.e2e


def notebook(path: Path, cells: list[tuple[str, str, list[str]]]) -> None:
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}, "cells": [
        {"cell_type": "code", "id": cid, "metadata": {"tags": tags}, "source": code, "outputs": [],
         "execution_count": None} for cid, code, tags in cells]}))


def test_papermill_run_with_repeated_code_and_injected_params_is_reproducible(tmp_path):
    """Two cells show ``print(x)``: each run is its own cell, so neither looks never run."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    notebook(tmp_path / "nb.ipynb", [
        ("track", "%load_ext jupyter_mlops\n%mlops_track --no-mlflow", []),
        ("params", "step = 1", ["parameters"]),
        ("a", "x = 1", []), ("show1", "print(x)", []), ("b", "x = x + step", []), ("show2", "print(x)", []),
    ])
    subprocess.run([sys.executable, "-m", "papermill", "nb.ipynb", "out.ipynb", "-p", "step", "5", "-k", "python3"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=300)
    journal = Journal(tmp_path / ".mlops" / "journal.sqlite", create=False)
    runs = journal.session_detail(journal.find_session("latest"))["cell_runs"]
    assert [r["cell_id"] for r in runs][-4:] == ["a", "show1", "b", "show2"]
    assert runs[-1]["reproducible"] is True, runs[-1]["issues"]
    check = subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "check", "nb.ipynb"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
