"""The panel's Models section in a real JupyterLab and Chromium: the example's model, logged by the MLflow
mirror after a tracked papermill run, is listed with a Register button (name from the experiment); Register
is refused until Verify passed, then the version and its alias appear."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.wait import followers_done, wait_for
from tests.ui.lab import CHROMIUM, Lab, open_notebook_and_panel, run_command, shot

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.ui,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: scripts/test.sh installs it"),
]


@pytest.fixture
def tracked(example_project: Path) -> Path:
    """The example run once under papermill, tracked, its MLflow mirror done (the model logged)."""
    (example_project / "out").mkdir()
    subprocess.run([sys.executable, "-m", "papermill", "churn.ipynb", "out/churn.ipynb", "--cwd",
                    str(example_project), "-k", "python3"], cwd=example_project, check=True, capture_output=True,
                   timeout=300)
    wait_for(lambda: followers_done(example_project), timeout=120, what="the MLflow mirror of the run")
    return example_project


def test_register_from_the_panel_is_refused_until_verified_then_shows_the_version(tracked: Path, lab: Lab, page):
    page, errors = page
    # Given the tracked run's notebook open with the MLOps panel
    panel = open_notebook_and_panel(page, lab)

    # Then its model is listed as an MLflow model, with the experiment's name prefilled
    model = panel.locator('.jp-mlops-Models .jp-mlops-model[data-path="model.joblib"]')
    model.wait_for(timeout=60_000)
    assert "MLflow model (sklearn)" in model.inner_text()
    assert model.locator(".jp-mlops-register-name").input_value() == "churn"
    assert model.locator(".jp-mlops-register-alias").input_value() == "candidate"

    # When Register is pressed before any verify, it is refused with what to do in the panel
    model.locator(".jp-mlops-register").click()
    refusal = model.locator(".jp-mlops-error")
    refusal.wait_for(timeout=120_000)
    assert "has not passed for session" in refusal.inner_text()
    assert "press Verify in this panel" in refusal.locator(".jp-mlops-hint").inner_text()
    shot(page, "panel-register-refused")

    # When Verify passes and Register is pressed again
    panel.locator(".jp-mlops-verify").click()
    panel.locator(".jp-mlops-Actions .jp-mlops-result.jp-mlops-ok").wait_for(timeout=240_000)
    model.locator(".jp-mlops-register").click()

    # Then the version and its alias are shown, and the registry has them
    version = model.locator(".jp-mlops-version")
    version.wait_for(timeout=120_000)
    assert "churn version 1" in version.inner_text() and "@candidate" in version.inner_text()
    assert model.locator(".jp-mlops-error").count() == 0
    shot(page, "panel-registered")
    from mlflow import MlflowClient

    uri = f"sqlite:///{tracked / 'mlflow.db'}"
    registered = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias("churn", "candidate")
    assert str(registered.version) == "1" and registered.tags["mlops.verify"].startswith("passed")
    assert [e for e in errors if "409" not in e] == [], errors


def test_a_model_written_by_a_live_run_appears_once_the_mirror_logged_it(lab: Lab, page):
    page, errors = page
    # Given the example open with the panel, When the whole notebook runs in the lab (tracked, mirrored)
    panel = open_notebook_and_panel(page, lab)
    run_command(page, "notebook:run-all-cells")
    panel.locator(".jp-mlops-Verdict.jp-mlops-ok").wait_for(timeout=120_000)

    # Then, without a refresh, the section lists the model once the follower has logged it
    model = panel.locator('.jp-mlops-Models .jp-mlops-model[data-path="model.joblib"]')
    model.wait_for(timeout=60_000)
    assert "MLflow model (sklearn)" in model.inner_text()
    assert model.locator(".jp-mlops-register-name").input_value() == "churn"
    assert errors == [], errors
