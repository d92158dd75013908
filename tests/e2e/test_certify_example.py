"""``certify`` and ``check`` on the user's path: the example run by papermill (its own ``%mlops_track`` cell
starts the session), certified, then checked against edits and changed data; and after a ``-p`` run, whose
injected parameters the certificate and ``check`` name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.repo import mlops, run, tracked_example

pytestmark = pytest.mark.e2e


def certificate(repo: Path) -> dict:
    return json.loads((repo / "churn.ipynb").read_text())["metadata"]["jupyter_mlops"]["certificate"]


def check(repo: Path) -> subprocess.CompletedProcess:
    return mlops(repo, "check", "churn.ipynb", check=False)


def test_the_example_certified_after_papermill_checks_and_names_what_changed(tmp_path: Path):
    (tmp_path / "churn").mkdir()
    repo = tracked_example(tmp_path / "churn", tmp_path / "out.ipynb")

    done = mlops(repo, "certify", "churn.ipynb")
    cells = certificate(repo)["cells"]
    # the tracking cell counts as run with its code, though the session started inside it
    assert [c["id"] for c in cells] == ["track", "parameters", "imports", "load", "features", "train", "evaluate"]
    assert "7 cells, 2 data files" in done.stdout and "papermill's parameters" not in done.stdout
    assert cells[3]["reads"].keys() == {"data/churn.csv"} and cells[5]["writes"].keys() == {"model.joblib"}
    checked = check(repo)
    assert checked.returncode == 0 and "7 cells and 2 data files match" in checked.stdout, checked.stdout

    saved = (repo / "churn.ipynb").read_text()
    document = json.loads(saved)
    train = next(c for c in document["cells"] if c.get("id") == "train")
    train["source"] = "".join(train["source"]).replace("max_depth=max_depth", "max_depth=3")
    (repo / "churn.ipynb").write_text(json.dumps(document))
    edited = check(repo)
    assert edited.returncode == 1 and "cell 6 (train) was edited after certification" in edited.stdout
    (repo / "churn.ipynb").write_text(saved)

    data = (repo / "data" / "churn.csv").read_bytes()
    (repo / "data" / "churn.csv").write_bytes(data + data.splitlines(keepends=True)[-1])
    changed = check(repo)
    assert changed.returncode == 1 and "data/churn.csv (read by load) has md5" in changed.stdout, changed.stdout
    (repo / "data" / "churn.csv").write_bytes(data)

    # a -p run: certified with the values papermill injected, which check names
    run(repo, sys.executable, "-m", "papermill", "churn.ipynb", str(tmp_path / "deeper.ipynb"), "-p", "max_depth", "8",
        "-k", "python3")
    done = mlops(repo, "certify", "churn.ipynb")
    assert "7 cells, 2 data files" in done.stdout and "run with papermill's parameters max_depth=8" in done.stdout
    assert certificate(repo)["injected_parameters"]["params"] == {"max_depth": 8}
    assert certificate(repo)["params"]["max_depth"] == 8
    checked = check(repo)
    assert checked.returncode == 0 and "match; run with papermill's parameters max_depth=8" in checked.stdout
