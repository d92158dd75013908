"""A certified notebook saved by JupyterLab 4 keeps its certificate: the lab keeps notebook metadata it does
not know through its model and the server's contents API, so ``check`` still passes after a save."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.repo import mlops, run
from tests.support.wait import wait_for
from tests.ui.lab import CHROMIUM, Lab, open_notebook, run_command

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.ui,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: scripts/test.sh installs it"),
]


def test_a_notebook_saved_by_jupyterlab_after_certifying_keeps_its_certificate(lab: Lab, page, example_project):
    page, errors = page
    notebook = example_project / "churn.ipynb"
    # Given the example run by papermill (tracked by its own cell) and certified
    run(example_project, sys.executable, "-m", "papermill", "churn.ipynb", str(example_project / "out.ipynb"),
        "-k", "python3")
    mlops(example_project, "certify", "churn.ipynb")
    certified = json.loads(notebook.read_text())["metadata"]["jupyter_mlops"]["certificate"]

    # When it is opened in JupyterLab and saved there
    open_notebook(page, lab)
    before = notebook.stat().st_mtime_ns
    run_command(page, "docmanager:save")
    wait_for(lambda: notebook.stat().st_mtime_ns != before, timeout=30, what="JupyterLab to save the notebook")

    # Then the file JupyterLab wrote holds the same certificate, and check passes on it
    saved = json.loads(notebook.read_text())
    assert saved["metadata"]["jupyter_mlops"]["certificate"] == certified
    assert saved["metadata"]["language_info"].get("version")  # written by the lab, not the file we certified
    checked = mlops(example_project, "check", "churn.ipynb", check=False)
    assert checked.returncode == 0 and "certificate of session" in checked.stdout, checked.stdout
    assert not [e for e in errors if "mlops" in e.lower()]
