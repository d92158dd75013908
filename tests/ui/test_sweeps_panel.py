"""The panel's Sweeps section in a real JupyterLab and Chromium, on a real sweep (DVC's workers ran the tiny
notebook of ``tests/support/sweep.py`` twice, a=1 and a=3): the table with the best row marked, the chart
of score against a, a row's tracked session, and Apply — DVC's ``exp apply`` into params.yaml, and DVC's
refusal of an experiment it no longer has shown as the error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from tests.support.sweep import NOTEBOOK, run, swept_project
from tests.ui.lab import CHROMIUM, PANEL, open_notebook_and_panel, shot

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.ui,
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: scripts/test.sh installs it"),
]


@pytest.fixture
def table(tmp_path: Path) -> dict:
    return swept_project(tmp_path / "tiny")


@pytest.fixture
def example_project(table: dict, tmp_path: Path) -> Path:
    """The lab's root: the swept project (the `lab` fixture of conftest.py serves this)."""
    return tmp_path / "tiny"


def test_the_sweep_is_a_table_and_a_chart_and_apply_runs_dvc_exp_apply(example_project: Path, table: dict, lab, page):
    page, errors = page
    best, worst = table["rows"]
    assert (best["params"]["a"], worst["params"]["a"]) == (3, 1)  # score = 2 - (a - 3)**2

    panel = open_notebook_and_panel(page, lab, NOTEBOOK)
    sweep = panel.locator(f'.jp-mlops-Sweep[data-sweep="{table["sweep"]}"]')
    sweep.wait_for(timeout=60_000)
    rows = sweep.locator("tbody tr[data-experiment]")
    assert [rows.nth(i).get_attribute("data-experiment") for i in range(rows.count())] == [
        best["experiment"], worst["experiment"]]
    assert "jp-mlops-best" in rows.first.get_attribute("class")
    assert "jp-mlops-best" not in rows.nth(1).get_attribute("class")
    cells = rows.first.locator("td")
    assert [cells.nth(i).inner_text().strip() for i in (2, 3, 4)] == ["3", "2", "done"]

    # The chart: a dot per experiment, a=3 right of a=1 and higher (its score is higher), the best marked.
    chart = sweep.locator('svg.jp-mlops-SweepChart[data-metric="score"][data-param="a"]')
    top = chart.locator(f'circle[data-experiment="{best["experiment"]}"]')
    low = chart.locator(f'circle[data-experiment="{worst["experiment"]}"]')
    assert chart.locator("circle").count() == 2 and "jp-mlops-best" in top.get_attribute("class")
    assert float(top.get_attribute("cx")) > float(low.get_attribute("cx"))
    assert float(top.get_attribute("cy")) < float(low.get_attribute("cy"))

    # A row opens its tracked session.
    rows.nth(1).click()
    details = sweep.locator(".jp-mlops-Sweep-details")
    assert details.get_attribute("data-session") == worst["session"]
    assert "a=1" in details.inner_text() and "score=-2" in details.inner_text()
    shot(page, "sweeps-light", PANEL)

    # Apply the best: DVC writes its params into the workspace's params.yaml.
    assert yaml.safe_load((example_project / "params.yaml").read_text())["a"] == 1
    rows.first.locator(".jp-mlops-Sweep-apply").click()
    applied = sweep.locator(".jp-mlops-Sweep-applied")
    applied.wait_for(timeout=60_000)
    assert f"Applied {best['experiment']}: a=3" in applied.inner_text()
    assert yaml.safe_load((example_project / "params.yaml").read_text())["a"] == 3
    shot(page, "sweeps-applied", PANEL)

    # An experiment DVC no longer has: its refusal is shown, with what to do.
    run(example_project, sys.executable, "-m", "dvc", "exp", "remove", worst["experiment"])
    rows.nth(1).locator(".jp-mlops-Sweep-apply").click()
    problem = sweep.locator(".jp-mlops-error")
    problem.wait_for(timeout=60_000)
    assert f"dvc exp apply {worst['experiment']} failed" in problem.inner_text()
    assert not [e for e in errors if "mlops" in e.lower()], errors
