"""Every view of a notebook shows its one tracking session: two JupyterLab pages on one notebook under
real-time collaboration (jupyter-collaboration), Notebook 7 on the same kernel, a page reload, and a
server restart with the same notebook.

One server for the module (JupyterLab and Notebook 7 pages from the same `jupyter lab`, collaboration on),
one browser, pages reused; the story's steps depend on each other, so it is one test, and the restart,
which ends that server, comes last.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.ui.lab import CHROMIUM, CHROMIUM_ARGS, PANEL, Lab, kernel_says, run_command, shot

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.ui,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: scripts/test.sh installs it"),
]

NOTEBOOK = "views.ipynb"
TRACK, A, B, C = "track", "cell-a", "cell-b", "cell-c"
LIVE = ".jp-mlops-pill.jp-mlops-on"
SESSION = ".jp-mlops-session"
# Notebook 7's pages come from the same server; they expose the app to the test as the lab's do.
OPTIONS = ["--JupyterNotebookApp.expose_app_in_browser=True"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("views") / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext jupyter_mlops\n%mlops_track --no-mlflow", id=TRACK),
        nbformat.v4.new_code_cell("x = 1", id=A),
        nbformat.v4.new_code_cell("x = x * 10", id=B),
        nbformat.v4.new_code_cell("y = x + 1", id=C),
    ]
    nbformat.write(notebook, root / NOTEBOOK)
    return root


@pytest.fixture(scope="module")
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The module's server, in a box the restart step can replace."""
    box = {"lab": Lab(project, tmp_path_factory.mktemp("lab"), OPTIONS, collaboration=True)}
    try:
        yield box
    finally:
        box["lab"].stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class View:
    """One browser page on the notebook (its own context: another tab, another collaborator)."""

    def __init__(self, browser: Any, name: str) -> None:
        self.name = name
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # jupyter-collaboration asks after 5 s whether to keep waiting for a document to load (a loaded
        # machine): keep waiting, as a user would
        self.page.add_locator_handler(
            self.page.locator('.jp-Dialog[aria-label^="Loading"]'),
            lambda dialog: dialog.get_by_role("button", name="Continue waiting").click())

    def open_lab(self, lab: Lab) -> Any:
        self.page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
        return self.ready(lab)

    def open_notebook7(self, lab: Lab) -> Any:
        self.page.goto(f"{lab.url}/notebooks/{NOTEBOOK}?token={lab.token}")
        return self.ready(lab)

    def ready(self, lab: Lab) -> Any:
        """The notebook's kernel connected and the panel shown (by its command: the layout another page
        saved may have it open already, where a click on its tab would close it)."""
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        lab.wait_kernel_ready()
        self.page.wait_for_function("() => !!window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel",
                                    timeout=60_000)
        run_command(self.page, "jupyter-mlops:open")
        panel = self.page.locator(PANEL)
        panel.wait_for(state="visible", timeout=30_000)
        return panel

    def run_cell(self, cell_id: str) -> None:
        """Run one cell as the user does and wait for its new execution count."""
        before = self.page.evaluate("""(id) => {
            const nb = window.jupyterapp.shell.currentWidget.content;
            const index = nb.widgets.findIndex(cell => cell.model.id === id);
            nb.activeCellIndex = index;
            return nb.widgets[index].model.executionCount;
        }""", cell_id)
        run_command(self.page, "notebook:run-cell")
        self.page.wait_for_function("""([id, before]) => {
            const cell = window.jupyterapp.shell.currentWidget.content.widgets.find(c => c.model.id === id);
            return cell.model.executionCount !== null && cell.model.executionCount !== before;
        }""", arg=[cell_id, before], timeout=60_000)

    def session(self) -> str:
        return self.page.locator(f"{PANEL} {SESSION}").inner_text()

    def ours(self) -> list[str]:
        """Console errors that are ours, a plugin of ours failing to activate included ("Plugin
        'jupyter-mlops:status' failed to activate … No provider for …"); other extensions' are not."""
        return [e for e in self.errors if "mlops" in e.lower()]


def cells_run(view: View, count: int) -> None:
    """The panel's timeline lists ``count`` runs (live, whichever view ran them)."""
    view.page.locator(f"{PANEL} .jp-mlops-Timeline tbody tr").nth(count - 1).wait_for(timeout=60_000)
    assert view.page.locator(f"{PANEL} .jp-mlops-Timeline tbody tr").count() == count


def test_every_view_of_a_notebook_shows_its_one_session(server, browser, project: Path):
    lab = server["lab"]
    first, second = View(browser, "first"), View(browser, "second")
    # Given the notebook open in two JupyterLab pages (collaboration on: one shared document), not tracked
    panel_1 = first.open_lab(lab)
    panel_2 = second.open_lab(lab)
    assert panel_2.locator(".jp-mlops-pill.jp-mlops-off").is_visible()
    assert second.page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.collaborative")

    # When the first view runs the tracking cell
    first.run_cell(TRACK)
    # Then both panels show the session live, the second without a reload
    panel_1.locator(LIVE).wait_for(timeout=60_000)
    panel_2.locator(LIVE).wait_for(timeout=60_000)
    session = first.session()
    assert second.session() == session

    # When cells run from either view, both panels show every run, live
    second.run_cell(A)
    first.run_cell(C)  # cell-b skipped
    for view in (first, second):
        cells_run(view, 2)
        issue = view.page.locator(f'{PANEL} .jp-mlops-Issue[data-kind="skipped-cell"]')
        issue.wait_for(timeout=60_000)
        assert issue.get_attribute("data-cell") == B
    shot(second.page, "views-second-tab-live")

    # When the second view presses Start (warn mode: `%mlops_track`), it joins: same session, and the
    # first view never drops to "not tracking"
    run_command(second.page, "jupyter-mlops:start-tracking", {"mode": "warn"})
    assert kernel_says(second.page, "__import__('jupyter_mlops').status()['session']") == repr(session)
    for view in (first, second):
        assert view.page.locator(f"{PANEL} .jp-mlops-pill.jp-mlops-off").count() == 0
        assert view.session() == session
    cells_run(first, 2)  # the Start is not a cell of the notebook

    # When it asks for other options (strict), the kernel changes nothing and the user is asked
    second.page.evaluate("() => { window.jupyterapp.commands.execute('jupyter-mlops:start-tracking', "
                         "{mode: 'strict'}); }")
    dialog = second.page.locator(".jp-Dialog")
    dialog.wait_for(timeout=60_000)
    assert "already running with other options" in dialog.inner_text()
    assert "--strict (now warn mode)" in dialog.inner_text()
    shot(second.page, "views-restart-asked", ".jp-Dialog-content")
    dialog.locator("button", has_text="Keep that session").click()
    dialog.wait_for(state="detached")
    assert kernel_says(first.page, "__import__('jupyter_mlops').status()['mode']") == "'warn'"
    assert first.session() == session

    # When the second page is reloaded, it attaches to the running session again
    second.page.reload()
    panel_2 = second.ready(lab)
    panel_2.locator(LIVE).wait_for(timeout=60_000)
    assert second.session() == session

    # When the notebook is opened in Notebook 7 on the same server (the same kernel)
    seventh = View(browser, "notebook7")
    panel_7 = seventh.open_notebook7(lab)
    # Then every plugin activated: the status sits in the menu bar, the panel has its title, and it is live
    status = seventh.page.locator(".jp-mlops-MenuStatus .jp-mlops-status")
    status.wait_for(timeout=60_000)
    assert status.inner_text() == "MLOps ✗ 1"
    panel_7.locator(LIVE).wait_for(timeout=60_000)
    assert seventh.session() == session
    assert seventh.page.evaluate(
        "() => window.jupyterapp.shell.widgets('left').find(w => w.id === 'jupyter-mlops-panel').title.label"
    ) == "MLOps"
    # And a cell run there (the skipped one, then the one after it) shows in the lab's views too
    seventh.run_cell(B)
    seventh.run_cell(C)
    for view in (first, second, seventh):
        view.page.locator(f"{PANEL} .jp-mlops-Verdict.jp-mlops-ok").wait_for(timeout=60_000)
        cells_run(view, 4)
    shot(seventh.page, "views-notebook7", "")
    for view in (first, second, seventh):
        assert view.ours() == [], (view.name, view.ours())


def test_a_server_restart_shows_the_journal_and_a_new_start_goes_live(server, browser, project: Path,
                                                                       tmp_path_factory: pytest.TempPathFactory):
    # Given the session of the story above, and the server stopped (its kernels end their sessions)
    before = server["lab"]
    view = View(browser, "after-restart")
    panel = view.open_lab(before)
    if panel.locator(LIVE).count() == 0:  # run alone, without the story above
        view.run_cell(TRACK)
    panel.locator(LIVE).wait_for(timeout=60_000)
    session = view.session()
    before.stop()
    # When a new server starts on the same project and the notebook is opened again
    server["lab"] = lab = Lab(project, tmp_path_factory.mktemp("lab-again"), OPTIONS, collaboration=True)
    panel = view.open_lab(lab)
    # Then nothing is live (the kernel is new), and the panel shows the last session from the journal
    panel.locator(".jp-mlops-pill.jp-mlops-off").wait_for(timeout=60_000)
    panel.locator(f'.jp-mlops-Sessions [data-session="{session}"][data-state="ended"]').wait_for(timeout=60_000)
    shot(view.page, "views-after-server-restart", "")
    # When tracking starts in the new kernel (the panel's Start), a new session is live, and cells run
    # from the page are in it
    panel.locator("button", has_text="Start tracking").click()
    panel.locator(LIVE).wait_for(timeout=60_000)
    assert view.session() != session
    view.run_cell(A)
    cells_run(view, 1)
    assert view.ours() == []
