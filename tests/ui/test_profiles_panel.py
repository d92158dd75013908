"""The panel's data profiles in a real JupyterLab and Chromium: the example's latest session read a shifted
churn.csv (the example's data script), so its monthly_charges row carries the drift flag and the others none;
the histograms take the theme's colours, light and dark."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlops.journal import FileRecord, Journal
from jupyter_mlops.monitor.profiler import profile_pending
from tests.ui.lab import CHROMIUM, PANEL, open_notebook_and_panel, run_command, shot

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.ui,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: scripts/test.sh installs it"),
]


def tracked_read(root: Path, sid: str, started: float) -> None:
    """A session of churn.ipynb that read data/churn.csv as it is now, profiled as the profiler does."""
    path = root / "data" / "churn.csv"
    st = path.stat()
    journal = Journal(root / ".mlops" / "journal.sqlite")
    journal.start_session(sid, experiment="churn", notebook="churn.ipynb", root=str(root), python="3",
                          ipython="9", options={})
    journal._db.execute("UPDATE sessions SET started_at=?, state='ended' WHERE id=?", (started, sid))
    journal.add_session_records(sid, files=[FileRecord("data/churn.csv", "read", st.st_size, st.st_mtime_ns,
                                                       hashlib.md5(path.read_bytes()).hexdigest())])
    profile_pending(journal, log=lambda _: None)
    journal.close()


def test_the_panel_flags_the_shifted_column_of_the_latest_session(example_project: Path, lab, page):
    page, errors = page
    tracked_read(example_project, "aaaa00000001", 1.0)
    subprocess.run([sys.executable, str(example_project / "make_data.py"), "--seed", "8", "--shift",
                    "monthly_charges=15", "--out", str(example_project / "data" / "churn.csv")], check=True,
                   capture_output=True)
    tracked_read(example_project, "bbbb00000002", 2.0)

    panel = open_notebook_and_panel(page, lab)
    churn = panel.locator('.jp-mlops-Profile[data-input="data/churn.csv"]')
    churn.wait_for(timeout=60_000)
    assert churn.get_attribute("data-verdict") == "drift"
    assert "3,000 rows × 10 columns" in churn.locator(".jp-mlops-Profile-meta").first.inner_text()
    rows = churn.locator("tr[data-column]")
    assert rows.count() == 10
    flagged = {rows.nth(i).get_attribute("data-column"): rows.nth(i).get_attribute("data-verdict")
               for i in range(rows.count())}
    assert {name for name, verdict in flagged.items() if verdict != "ok"} == {"monthly_charges"}
    drifted = churn.locator('tr[data-column="monthly_charges"]')
    assert "drift" in drifted.locator(".jp-mlops-Flag").inner_text()
    assert drifted.locator(".jp-mlops-Histogram rect").count() > 5
    shot(page, "profiles-light", PANEL)

    def bar_colours() -> tuple[str, str]:
        return page.evaluate("""() => {
            const fill = sel => getComputedStyle(document.querySelector(sel)).fill;
            return [fill('tr[data-column="monthly_charges"] .jp-mlops-Histogram rect'),
                    fill('tr[data-column="tenure_months"] .jp-mlops-Histogram rect')];
        }""")

    light_drift, light_ok = bar_colours()
    assert light_drift != light_ok  # a drifted column's bars are coloured as an error, the others as the brand
    run_command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    page.wait_for_function("""(before) => getComputedStyle(document.querySelector(
        'tr[data-column="tenure_months"] .jp-mlops-Histogram rect')).fill !== before""", arg=light_ok,
        timeout=30_000)
    shot(page, "profiles-dark", PANEL)
    assert not [e for e in errors if "mlops" in e.lower()], errors
