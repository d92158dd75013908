"""``jupyter mlops diff`` on two sessions a real kernel tracked: a changed parameter, data file and cell."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from jupyter_mlops.commands.main import main
from tests.support.kernel import Kernel

pytestmark = pytest.mark.kernel


def _session(project: Path, threshold: int, rows: str, transform: str) -> None:
    (project / "data.csv").write_text(rows)
    kernel = Kernel(project)
    try:
        kernel.cell("%load_ext jupyter_mlops", "load")
        kernel.cell("%mlops_track --no-mlflow --metrics total --params threshold", "track")
        kernel.cell(f"threshold = {threshold}", "params")
        kernel.cell("values = [int(v) for v in open('data.csv').read().split()]", "load-data")
        kernel.cell(transform, "transform")
        kernel.cell("total = sum(v for v in values if v > threshold)", "total")
    finally:
        kernel.shutdown()


def test_two_tracked_sessions_differ_by_what_changed_between_them(project, capsys):
    _session(project, 1, "1 2 3\n", "values = sorted(values)")
    _session(project, 2, "1 2 3 4\n", "values = sorted(values, reverse=True)")
    assert main(["diff", "latest~1", "latest", "--root", str(project), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    params = {r["name"]: r for r in found["params"]}
    assert (params["threshold"]["a"], params["threshold"]["b"], params["threshold"]["status"]) == (1, 2, "changed")
    (total,) = found["metrics"]
    assert (total["a"], total["b"], total["delta"]) == (5, 7, 2)
    data = {r["name"]: r for r in found["files"]}["data.csv (read)"]
    assert data["status"] == "changed" and data["a"]["size"] == 6 and data["b"]["size"] == 8
    cells = {r["name"]: r["status"] for r in found["cells"]}
    assert cells["transform"] == "changed" and cells["total"] == "same" and cells["params"] == "changed"
    assert found["a"]["reproducible"] is True and found["b"]["reproducible"] is True


def test_a_session_without_the_mirror_is_found_by_the_git_revision_it_ran_at(project, capsys):
    """Issue 26: the commit is the journal's, recorded for every session, MLflow mirrored or not: `diff REV
    latest` and `report --base REV` find a --no-mlflow session by the commit it ran at."""
    notebook = project / "nb.ipynb"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@e"]
    sessions = []
    for threshold in (1, 2):
        cells = [("track", "%mlops_track --no-mlflow --notebook nb.ipynb"), ("params", f"threshold = {threshold}"),
                 ("total", "total = sum(v for v in [1, 2, 3] if v > threshold)")]
        notebook.write_text(json.dumps({"cells": [
            {"cell_type": "code", "id": cid, "metadata": {}, "source": code, "outputs": [], "execution_count": None}
            for cid, code in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
        subprocess.run([*git, "add", "nb.ipynb"], cwd=project, check=True)
        subprocess.run([*git, "commit", "-qm", f"threshold {threshold}"], cwd=project, check=True)
        kernel = Kernel(project)
        try:
            kernel.cell("%load_ext jupyter_mlops", "load")
            for cid, code in cells:
                kernel.cell(code, cid)
            sessions.append(kernel.eval("__import__('jupyter_mlops').kernel.magic.current().id"))
        finally:
            kernel.shutdown()
    assert main(["diff", "HEAD~1", "latest", "--notebook", str(notebook), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["a"]["id"], found["b"]["id"]) == tuple(sessions)
    assert main(["report", str(notebook), "--base", "HEAD~1", "--out", str(project / "pr.md")]) == 0
    assert f"against `{sessions[0]}` (HEAD~1)" in (project / "pr.md").read_text()
