"""`jupyter mlops verify` end to end: a clean papermill re-run of the tracked example, compared with its session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlops.journal import Journal

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENV = {k: v for k, v in os.environ.items() if k not in ("JPY_SESSION_NAME", "JUPYTER_MLOPS_METRICS_FILE")}


def mlops(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", *args], cwd=repo, env=ENV,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """The example in a git project, run once with papermill: its own %mlops_track tracks it."""
    repo = tmp_path_factory.mktemp("verify")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    shutil.copy(EXAMPLES / "churn.ipynb", repo / "churn.ipynb")
    shutil.copytree(EXAMPLES / "data", repo / "data")
    executed = tmp_path_factory.mktemp("executed") / "churn.ipynb"
    subprocess.run([sys.executable, "-m", "papermill", "churn.ipynb", str(executed), "--cwd", str(repo),
                    "-k", "python3"], cwd=repo, env=ENV, check=True, capture_output=True, timeout=600)
    return repo


def sessions(repo: Path) -> int:
    j = Journal(repo / ".mlops" / "journal.sqlite", create=False)
    try:
        return len(j.sessions())
    finally:
        j.close()


def test_verify_agrees_then_names_the_metric_when_the_data_changed(repo):
    model = repo / "model.joblib"
    before = (model.stat().st_mtime_ns, sessions(repo))

    ok = mlops(repo, "verify", "churn.ipynb", "--expect", "auc>=0.7")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "cell 1 of " in ok.stderr and "cell 7 of 7" in ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[0].split() == ["what", "tracked", "now"]
    assert any(line.startswith("metric auc") and line.endswith("ok") for line in lines)
    assert any(line.startswith("file model.joblib") and line.endswith("ok") for line in lines)
    assert "churn.ipynb reproduces tracked session" in lines[-1]
    # the re-run wrote its model and journal in a scratch copy, not over the user's
    assert (model.stat().st_mtime_ns, sessions(repo)) == before

    csv = repo / "data/churn.csv"
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:-600]))
    bad = mlops(repo, "verify", "churn.ipynb", "--tolerance", "1e-6", "--expect", "auc>=0.99")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    message = bad.stdout.splitlines()[-1]
    assert "differs from tracked session" in message and "metric auc" in message and "input data/churn.csv" in message
    assert "expectation failed: auc>=0.99 (got 0." in message
    assert any(line.startswith("metric auc") and line.endswith("DIFFERS") for line in bad.stdout.splitlines())
