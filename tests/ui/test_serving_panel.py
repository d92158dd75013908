"""The panel's Serving section in a real JupyterLab and Chromium: the example, run tracked and registered, is
served by ``jupyter mlops serve``; rows from ``make_data.py --shift monthly_charges=15`` make its section show
the server with its traffic and latency and the drift flag on monthly_charges only, and more traffic shows up
in the section without a reload."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.support.serving import Served, request, split_payload
from tests.support.wait import wait_for
from tests.ui.lab import CHROMIUM, open_notebook_and_panel, shot

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.ui,
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: scripts/test.sh installs it"),
]


def cli(root: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", *args], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def shifted_rows(root: Path, rows: int) -> pd.DataFrame:
    import joblib

    out = root / "shifted.csv"
    subprocess.run([sys.executable, str(root / "make_data.py"), "--seed", "8", "--rows", str(rows), "--shift",
                    "monthly_charges=15", "--out", str(out)], check=True, capture_output=True)
    df = pd.read_csv(out)
    X = pd.get_dummies(df.drop(columns=["customer_id", "churned"]),
                       columns=["contract", "payment_method", "internet_service"], dtype=int)
    return X.reindex(columns=list(joblib.load(root / "model.joblib").feature_names_in_), fill_value=0)


def send(url: str, X: pd.DataFrame, batch: int) -> None:
    for start in range(0, len(X), batch):
        status, _, body = request(url + "/invocations", split_payload(X.iloc[start:start + batch]))
        assert status == 200, body


def record(root: Path) -> dict:
    folder = root / ".mlops" / "serving" / "servers"
    files = list(folder.glob("*.json")) if folder.is_dir() else []
    return json.loads(files[0].read_text()) if files else {}


def test_the_serving_section_shows_the_running_server_its_traffic_and_drift_live(example_project: Path, lab, page):
    page, errors = page
    root = example_project
    # Given the example run tracked under papermill and its model registered
    (root / "out").mkdir()
    cli(root, "papermill", "churn.ipynb", "out/churn.ipynb", "--cwd", str(root), "-k", "python3")
    cli(root, "jupyter_mlops.cli", "register", "--name", "churn", "--alias", "candidate", "--allow-unverified")
    # And served, with drifted traffic
    server = Served(root, "churn@candidate", "--window", "1000", "--sample", "500").start()
    try:
        send(server.url, shifted_rows(root, 1000), 50)
        wait_for(lambda: record(root).get("status", {}).get("verdict") == "drift", timeout=60,
                 what="the server's record to show the drift")

        # When the notebook is open with the panel
        panel = open_notebook_and_panel(page, lab)

        # Then its Serving section shows the server, its traffic and latency, and monthly_charges drifting
        served = panel.locator('.jp-mlops-Serving .jp-mlops-Served[data-model="churn"][data-version="1"]')
        served.wait_for(timeout=60_000)
        assert "churn version 1 (@candidate)" in served.inner_text() and server.url in served.inner_text()
        assert float(served.locator(".jp-mlops-Served-rate b").inner_text()) > 0
        assert served.locator(".jp-mlops-Served-p99 b").inner_text() != "—"
        flagged = served.locator('tr[data-verdict="drift"]')
        assert flagged.count() == 1 and flagged.get_attribute("data-column") == "monthly_charges"
        assert served.locator('tr[data-column="tenure_months"]').get_attribute("data-verdict") == "ok"
        assert served.locator("tr[data-column]").count() == 15
        shot(page, "panel-serving-drift")

        # When more traffic arrives, the section follows it without a reload
        before = int(served.locator(".jp-mlops-Served-figure b").nth(3).inner_text())
        assert before == 1000
        example = pd.read_csv(root / "data" / "churn.csv")
        X = pd.get_dummies(example.drop(columns=["customer_id", "churned"]),
                           columns=["contract", "payment_method", "internet_service"], dtype=int)
        send(server.url, X.head(1000), 100)
        page.wait_for_function(
            "() => !document.querySelector('.jp-mlops-Served tr[data-verdict=\"drift\"]')", timeout=60_000)
        assert served.locator('tr[data-verdict="drift"]').count() == 0

        # And once the server stops, its section goes away
        server.stop()
        panel.locator(".jp-mlops-Serving").wait_for(state="detached", timeout=60_000)
    finally:
        server.stop()
    assert errors == [], errors
