"""The panel's controls in a real JupyterLab and Chromium: a fix carried out from its cell ids, the status
item from the keyboard, the palette command, and a server error shown with its message.

Each test uses a small notebook of its own (``steps.ipynb``) so that it needs only the cells it runs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import nbformat
import pytest

from jupyter_mlops.journal import SCHEMA_VERSION, Journal
from tests.support.wait import wait_for
from tests.ui.lab import CHROMIUM, PANEL, Lab, open_notebook, open_notebook_and_panel, run_command, shot

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


def panel_shown(page) -> bool:
    return page.locator(PANEL).is_visible()


def show_file_browser(page) -> None:
    page.click('.jp-SideBar [data-id="filebrowser"]')
    page.locator(PANEL).wait_for(state="hidden")


def test_the_panel_opens_from_the_keyboard_by_the_status_item_and_the_palette(steps: Path, lab: Lab, page):
    page, errors = page
    # Given the notebook tracked, the file browser in the sidebar
    open_notebook(page, lab, NOTEBOOK)
    run_cell(page, TRACK)
    status = page.locator(".jp-StatusBar-Widget .jp-mlops-status")
    status.wait_for(timeout=60_000)
    assert not panel_shown(page)

    # Then the status item is a button with a name, reached with Tab from the status bar item before it
    assert status.evaluate("el => el.tagName") == "BUTTON"
    assert "MLOps panel" in status.get_attribute("aria-label")
    # (the bar's "Simple" mode switch comes before it, on the left)
    before = page.evaluate("""() => {
        const all = [...document.querySelectorAll('.jp-StatusBar-Widget button, .jp-StatusBar-Widget input,'
            + ' .jp-StatusBar-Widget [tabindex]')].filter(el => el.tabIndex >= 0 && el.offsetParent !== null);
        const at = all.findIndex(el => el.classList.contains('jp-mlops-status'));
        if (at > 0) { all[at - 1].focus(); }
        return at;
    }""")
    assert before > 0, "no focusable status-bar control before the MLOps item"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('jp-mlops-status')")

    # When Enter is pressed on it, the MLOps panel opens
    page.keyboard.press("Enter")
    page.locator(PANEL).wait_for(state="visible")

    # When the panel is put away and Space is pressed on the item, it opens again
    show_file_browser(page)
    status.focus()
    page.keyboard.press("Space")
    page.locator(PANEL).wait_for(state="visible")

    # When the panel is put away and the palette's "Show the MLOps panel" is chosen, it opens again
    show_file_browser(page)
    run_command(page, "apputils:activate-command-palette")
    palette_input = page.locator(".lm-CommandPalette-input")
    palette_input.wait_for()
    palette_input.fill("Show the MLOps panel")
    item = page.locator('.lm-CommandPalette-item[data-command="jupyter-mlops:open"]')
    item.wait_for()
    assert "MLOps" in page.locator(".lm-CommandPalette-header").first.inner_text()
    page.keyboard.press("Enter")
    page.locator(PANEL).wait_for(state="visible")

    # When the page is reloaded once the workspace has saved the layout, the panel is restored with it
    wait_for(lambda: left_sidebar_current(lab) == "jupyter-mlops-panel", timeout=30, what="the saved layout")
    page.reload()
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.locator(PANEL).wait_for(state="visible")
    assert errors == [], errors


def left_sidebar_current(lab: Lab) -> str | None:
    """The widget the saved workspaces show in the left sidebar (what a reload restores)."""
    for workspace in lab.api("lab/api/workspaces")["workspaces"]["values"]:
        left = workspace["data"].get("layout-restorer:data", {}).get("left", {})
        if left.get("current"):
            return left["current"]
    return None


@pytest.fixture
def newer_journal(steps: Path) -> Path:
    """The project's journal as a newer jupyter-mlops wrote it: the server refuses to read it (409)."""
    journal = Journal(steps / ".mlops" / "journal.sqlite")
    journal.close()
    with sqlite3.connect(steps / ".mlops" / "journal.sqlite") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    db.close()
    return steps


def test_a_refusal_from_the_server_shows_its_message_in_the_panel(newer_journal: Path, lab: Lab, page):
    page, errors = page
    # Given a project whose journal this server cannot read
    # When the notebook is opened with the MLOps panel
    panel = open_notebook_and_panel(page, lab, NOTEBOOK)

    # Then the panel shows the server's message where the history would be, as an alert, not a bare status
    error = panel.locator(".jp-mlops-Sessions .jp-mlops-error")
    error.wait_for(timeout=60_000)
    assert error.get_attribute("role") == "alert"
    message = error.locator(".jp-mlops-problem-message").inner_text()
    assert f"schema {SCHEMA_VERSION + 1}" in message and "Conflict" not in message, message
    shot(page, "panel-server-error")
    # (the refused request is the browser's own network log line, not an error of ours)
    assert [e for e in errors if "409" not in e] == [], errors


def test_verify_from_the_palette_follows_its_job_to_the_verdict(steps: Path, lab: Lab, page):
    page, errors = page
    # Given the notebook tracked and run top to bottom
    open_notebook(page, lab, NOTEBOOK)
    for cell in (TRACK, A, B, C):
        run_cell(page, cell)

    # When "Verify this notebook in a clean kernel" is run (from the palette's command)
    assert page.evaluate("window.jupyterapp.commands.isEnabled('jupyter-mlops:verify')")
    page.evaluate("() => { void window.jupyterapp.commands.execute('jupyter-mlops:verify'); }")

    # Then the panel opens, follows the job while it runs, and shows the verdict of the clean run
    panel = page.locator(PANEL)
    panel.wait_for(state="visible")
    result = panel.locator(".jp-mlops-Actions .jp-mlops-result, .jp-mlops-Actions .jp-mlops-error")
    result.first.wait_for(timeout=180_000)
    shot(page, "panel-verified")
    assert panel.locator(".jp-mlops-Actions .jp-mlops-result.jp-mlops-ok").count() == 1, result.first.inner_text()
    assert panel.locator(".jp-mlops-verify").is_enabled()
    assert errors == [], errors
