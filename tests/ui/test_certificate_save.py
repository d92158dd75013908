"""A certified notebook saved by JupyterLab 4 keeps its certificate: the lab keeps the notebook metadata it
does not know, through its own model (a plain save) and through jupyter-collaboration's shared document,
which also takes in a certificate written while the notebook is open. ``check`` passes on what it saved.

(Without collaboration, a notebook certified while open makes the lab's next save ask about the file changed
on disk: Revert keeps the certificate, Overwrite drops it; the README says so.)
"""

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
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: scripts/test.sh installs it"),
]


def certificate_of(notebook: Path) -> dict | None:
    return (json.loads(notebook.read_text())["metadata"].get("jupyter_mlops") or {}).get("certificate")


def language_info(notebook: Path) -> dict | None:
    """The notebook's language_info on disk; None while the lab is writing the file (it saves in place)."""
    try:
        return json.loads(notebook.read_text())["metadata"].get("language_info")
    except ValueError:
        return None


def save_in_lab(page, notebook: Path) -> None:
    before = notebook.stat().st_mtime_ns
    run_command(page, "docmanager:save")
    wait_for(lambda: notebook.stat().st_mtime_ns != before and language_info(notebook) is not None, timeout=30,
             what="JupyterLab to save the notebook")


def test_a_notebook_saved_by_jupyterlab_after_certifying_keeps_its_certificate(lab: Lab, page, example_project,
                                                                                 tmp_path: Path):
    page, errors = page
    notebook = example_project / "churn.ipynb"
    # Given the example run by papermill (tracked by its own cell) and certified
    run(example_project, sys.executable, "-m", "papermill", "churn.ipynb", str(tmp_path / "out.ipynb"),
        "-k", "python3")
    uncertified = notebook.read_text()
    mlops(example_project, "certify", "churn.ipynb")
    certified = certificate_of(notebook)

    # When it is opened in JupyterLab and saved there
    open_notebook(page, lab)
    save_in_lab(page, notebook)

    # Then the file JupyterLab wrote holds the same certificate, and check passes on it
    assert certificate_of(notebook) == certified
    checked = mlops(example_project, "check", "churn.ipynb", check=False)
    assert checked.returncode == 0 and "certificate of session" in checked.stdout, checked.stdout

    # Given the same notebook, not certified, open under jupyter-collaboration
    notebook.write_text(uncertified)
    shared = Lab(example_project, tmp_path / "shared", collaboration=True)
    try:
        open_notebook(page, shared)
        # (once the room has saved what the kernel's info added: a certificate written during that save is
        # overwritten by it, jupyter-collaboration's own race between its check of the file and its write)
        wait_for(lambda: "version" in (language_info(notebook) or {})
                 and not page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty"),
                 timeout=30, what="the shared document to save the kernel's language_info")
        # When it is certified while open, then saved in the lab
        mlops(example_project, "certify", "churn.ipynb")
        wait_for(lambda: page.evaluate("() => 'jupyter_mlops' in window.jupyterapp.shell.currentWidget"
                                       ".context.model.sharedModel.getMetadata()"),
                 timeout=30, what="the shared document to take in the certificate written on disk")
        save_in_lab(page, notebook)
    finally:
        shared.stop()
    # Then the saved file keeps it, and check passes
    assert certificate_of(notebook) == certified
    assert mlops(example_project, "check", "churn.ipynb", check=False).returncode == 0
    assert not [e for e in errors if "mlops" in e.lower()]
