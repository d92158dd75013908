"""The lab extension in a real JupyterLab and Chromium: the example notebook, tracked, from ✓ to ✗ and back.

One test walks the user's story end to end (each step needs the state the previous one left), saving
screenshots of the panel to ``test-output/`` for a human to look at.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from jupyter_mlops.journal import CellRunRecord, FileRecord, Journal, MetricRecord
from tests.ui.lab import CHROMIUM, Lab, kernel_says, open_notebook_and_panel, run_command, shot

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.ui,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: scripts/test.sh installs it"),
]

PARAMETERS_CELL = 2  # index in the notebook: the cell tagged "parameters"


def test_panel_badges_fix_and_export_in_a_real_lab(lab: Lab, page, example_project: Path):
    page, errors = page
    # Given the example notebook open in JupyterLab with its kernel connected, and the MLOps panel shown
    panel = open_notebook_and_panel(page, lab)

    # When the whole notebook runs
    run_command(page, "notebook:run-all-cells")

    # Then the panel shows it reproducible, with the data file's md5, the params and the metric
    panel.locator(".jp-mlops-Verdict.jp-mlops-ok").wait_for(timeout=120_000)
    md5 = hashlib.md5((example_project / "data" / "churn.csv").read_bytes()).hexdigest()
    data_row = panel.locator('tr[data-path="data/churn.csv"]')
    data_row.locator(f'.jp-mlops-md5:has-text("{md5[:8]}")').wait_for(timeout=30_000)
    assert data_row.locator(".jp-mlops-md5").get_attribute("title") == md5
    assert "6" in panel.locator('tr[data-param="max_depth"]').inner_text()
    panel.locator('tr[data-metric="auc"]').wait_for()
    assert page.locator(".jp-mlops-status").inner_text() == "MLOps ✓"
    assert page.locator(".jp-mlops-CellBadge").count() == 0
    # And the lab opened the comm to the kernel's target, which took the notebook's live order through it
    # (sent once the kernel's hello came back, after Run All was queued)
    assert kernel_says(page, "(lambda c, m: c._bridge is not None and len(c._bridge._comms) == 1"
                             " and m.current().live_order is not None)(*[__import__('jupyter_mlops.kernel.' + n,"
                             " fromlist=['x']) for n in ('comm', 'magic')])") == "True"
    shot(page, "panel-reproducible")

    # When an upstream cell is edited and run out of order (a new max_depth, nothing below re-run)
    page.evaluate(f"""() => {{
        const nb = window.jupyterapp.shell.currentWidget.content;
        nb.widgets[{PARAMETERS_CELL}].model.sharedModel.setSource(
            nb.widgets[{PARAMETERS_CELL}].model.sharedModel.getSource().replace('max_depth = 6', 'max_depth = 3'));
        nb.activeCellIndex = {PARAMETERS_CELL};
    }}""")
    run_command(page, "notebook:run-cell")

    # Then the panel lists the issue and the affected cell carries a badge with the message as tooltip
    panel.locator(".jp-mlops-Verdict.jp-mlops-bad").wait_for(timeout=60_000)
    issue = panel.locator(".jp-mlops-Issue").first
    badge = page.locator(".jp-mlops-CellBadge").first
    badge.wait_for()
    assert issue.locator(".jp-mlops-Issue-message").inner_text() in badge.get_attribute("title")
    assert page.locator(".jp-mlops-status").inner_text().startswith("MLOps ✗")
    shot(page, "panel-not-reproducible")
    shot(page, "lab-with-badge", selector="")

    # When the issue is clicked, its cell is selected
    flagged = issue.get_attribute("data-cell")
    issue.locator(".jp-mlops-Issue-link").click()
    active = page.evaluate("window.jupyterapp.shell.currentWidget.content.activeCell.model.id")
    assert active == flagged

    # When its fix is clicked
    fix = issue.locator(".jp-mlops-fix")
    fix_label = fix.inner_text()
    fix.click()

    # Then the cells run, the verdict is ✓ again and the badges are gone
    panel.locator(".jp-mlops-Verdict.jp-mlops-ok").wait_for(timeout=120_000)
    page.locator(".jp-mlops-CellBadge").wait_for(state="detached")
    assert page.locator(".jp-mlops-Issue").count() == 0
    shot(page, "panel-fixed")

    # When Export to DVC is clicked
    panel.locator(".jp-mlops-export").click()
    outcome = panel.locator(".jp-mlops-exported, .jp-mlops-Actions .jp-mlops-error")
    outcome.first.wait_for(timeout=120_000)
    shot(page, "panel-exported")

    # Then dvc.yaml is written at the project root
    assert (example_project / "dvc.yaml").is_file(), outcome.first.inner_text()

    # And the panel follows the dark theme; nothing on the way logged a console error
    run_command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    page.wait_for_selector('body[data-jp-theme-name="JupyterLab Dark"]', state="attached")
    page.wait_for_timeout(500)
    shot(page, "panel-dark")
    assert errors == [], errors
    print(f"fix applied: {fix_label}")


@pytest.fixture
def tracked_before(example_project: Path) -> Path:
    """A journal holding one earlier session of churn.ipynb, as if it had been run yesterday."""
    journal = Journal(example_project / ".mlops" / "journal.sqlite")
    journal.start_session("0ld5e55i0n01", experiment="churn", notebook="churn.ipynb", root=str(example_project),
                          python="3.11", ipython="9", options={"strict": True})
    journal.add_cell_run("0ld5e55i0n01", CellRunRecord(
        seq=1, cell_id="load", execution_count=4, code="df = pd.read_csv(data_path)", code_hash="h",
        started_at=time.time(), duration=0.2, status="ok", reproducible=True,
        files=[FileRecord("data/churn.csv", "read", 191018, 1, "0123456789abcdef0123456789abcdef")],
        metrics=[MetricRecord("auc", 0.79, None, time.time(), "api")],
    ))
    journal.end_session("0ld5e55i0n01")
    journal.close()
    return example_project


def test_history_shows_without_a_running_kernel(tracked_before: Path, lab: Lab, page):
    page, errors = page
    # Given a notebook tracked before, open, whose kernel is then shut down
    panel = open_notebook_and_panel(page, lab)
    lab.shutdown_kernels()
    panel.locator(".jp-mlops-note").wait_for(timeout=30_000)
    # Then the panel shows the journal's last session: its verdict, data file, metric and the session list
    panel.locator(".jp-mlops-Verdict.jp-mlops-ok").wait_for()
    assert "01234567" in panel.locator('tr[data-path="data/churn.csv"]').inner_text()
    assert "0.79" in panel.locator('tr[data-metric="auc"]').inner_text()
    assert panel.locator(".jp-mlops-Sessions tbody tr").count() == 1
    assert "not tracking" in panel.locator(".jp-mlops-Header").inner_text()
    shot(page, "panel-history-only")
    # (JupyterLab itself logs the kernel we shut down under it: its debugger's state, "Kernel is dead")
    lab_own = ("debugger state", "Kernel is dead")
    assert [e for e in errors if not any(own in e for own in lab_own)] == [], errors


@pytest.mark.parametrize("lab_options", [["--ServerApp.jpserver_extensions=jupyter_mlops=False"]])
def test_without_the_server_extension_the_panel_says_so(lab: Lab, page):
    page, errors = page
    # Given JupyterLab with the lab extension but not the server extension
    panel = open_notebook_and_panel(page, lab)
    # Then the panel explains what is missing instead of failing
    warning = panel.locator(".jp-mlops-warning")
    warning.wait_for(timeout=30_000)
    assert "server extension not installed" in warning.inner_text()
    assert panel.locator(".jp-mlops-export").count() == 0
    shot(page, "panel-no-server-extension")
    # (the 404 of the probe is the browser's own network log line, not an error of ours)
    assert [e for e in errors if "404" not in e] == [], errors
