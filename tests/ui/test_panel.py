"""The panel's controls in a real JupyterLab and Chromium: a fix carried out from its cell ids, the status
item from the keyboard, the palette command, and a server error shown with its message.

Each test uses a small notebook of its own (``steps.ipynb``) so that it needs only the cells it runs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.ui.lab import CHROMIUM, Lab, open_notebook_and_panel, run_command, shot

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.ui,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: scripts/test.sh installs it"),
]

NOTEBOOK = "steps.ipynb"
TRACK, A, B, C = "track", "cell-a", "cell-b", "cell-c"


@pytest.fixture
def steps(example_project: Path) -> Path:
    """A notebook whose third code cell changes what the fourth reads: skipping it is a skipped-cell issue."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext jupyter_mlops\n%mlops_track --no-mlflow", id=TRACK),
        nbformat.v4.new_code_cell("x = 1", id=A),
        nbformat.v4.new_code_cell("x = x * 10", id=B),
        nbformat.v4.new_code_cell("y = x + 1", id=C),
    ]
    nbformat.write(notebook, example_project / NOTEBOOK)
    return example_project


def run_cell(page, cell_id: str) -> int:
    """Run one cell as the user does (select it, Ctrl+Enter's command) and wait for its execution count."""
    index = page.evaluate("""(id) => {
        const nb = window.jupyterapp.shell.currentWidget.content;
        const index = nb.widgets.findIndex(cell => cell.model.id === id);
        nb.activeCellIndex = index;
        return index;
    }""", cell_id)
    before = execution_count(page, cell_id)
    run_command(page, "notebook:run-cell")
    page.wait_for_function("""([index, before]) => {
        const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
        return cell.model.executionCount !== null && cell.model.executionCount !== before;
    }""", arg=[index, before], timeout=60_000)
    return execution_count(page, cell_id)


def execution_count(page, cell_id: str) -> int | None:
    return page.evaluate("""(id) => window.jupyterapp.shell.currentWidget.content.widgets
        .find(cell => cell.model.id === id).model.executionCount""", cell_id)


def test_the_fix_button_runs_the_cells_named_by_their_ids(steps: Path, lab: Lab, page):
    page, errors = page
    # Given the notebook tracked, its first cell run, the cell below it skipped and the next one run
    panel = open_notebook_and_panel(page, lab, NOTEBOOK)
    run_cell(page, TRACK)
    panel.locator(".jp-mlops-pill.jp-mlops-on").wait_for(timeout=60_000)
    counted_a = run_cell(page, A)
    run_cell(page, C)

    # Then the panel names the skipped cell, and its fix (the ids B then C) is a button numbered from the
    # notebook; the cells to run carry the "▶" badge
    issue = panel.locator('.jp-mlops-Issue[data-kind="skipped-cell"]')
    issue.wait_for(timeout=60_000)
    assert issue.get_attribute("data-cell") == B
    fix = issue.locator(".jp-mlops-fix")
    assert fix.inner_text() == "Run cells 3–4"
    to_run = page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
        .filter(cell => cell.node.querySelector(':scope > .jp-mlops-RunBadge')).map(cell => cell.model.id)""")
    assert to_run == [B, C]
    shot(page, "panel-skipped-cell")

    # When the fix is clicked
    counted_c = execution_count(page, C)
    fix.click()

    # Then exactly the cells it names ran, in their order: B got an execution count, C a later one, A none
    panel.locator(".jp-mlops-Verdict.jp-mlops-ok").wait_for(timeout=60_000)
    counted_b = execution_count(page, B)
    assert counted_b is not None and counted_b > counted_c
    assert execution_count(page, C) > counted_b
    assert execution_count(page, A) == counted_a
    page.locator(".jp-mlops-CellBadge, .jp-mlops-RunBadge").first.wait_for(state="detached")
    assert errors == [], errors
