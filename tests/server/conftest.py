"""A real Jupyter server with the jupyter_mlops extension, its root a git project with a journal."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

# pytest-jupyter's fixtures (jp_fetch, jp_serverapp …) and its async-test hooks, for this folder only.
from pytest_jupyter.jupyter_server import *  # noqa: F403

from jupyter_mlops.journal import CellRunRecord, FileRecord, Journal, MetricRecord, ParamRecord
from tests.support.server import jp_server_config, notebook_project  # noqa: F401 - a fixture


@pytest.fixture
def project(jp_root_dir: Path) -> Path:
    """The server root is a git project holding ``churn.ipynb`` and a journal with two of its sessions."""
    notebook_project(jp_root_dir)
    journal = Journal(jp_root_dir / ".mlops" / "journal.sqlite")
    _session(journal, "aaaa00000001", md5="1" * 32, auc=0.80, max_depth=6, reproducible=True)
    time.sleep(0.01)
    _session(journal, "bbbb00000002", md5="2" * 32, auc=0.83, max_depth=8, reproducible=False)
    journal.close()
    return jp_root_dir


def _session(journal: Journal, sid: str, *, md5: str, auc: float, max_depth: int, reproducible: bool) -> None:
    journal.start_session(sid, experiment="churn", notebook="churn.ipynb", root="/r", python="3.11",
                          ipython="9", options={"strict": False})
    issues = [] if reproducible else [{"kind": "stale-input", "cell_id": "train", "names": ["X"],
                                       "message": "train used X made before features was re-run",
                                       "fix": "run cells 2–3"}]
    journal.add_cell_run(sid, CellRunRecord(
        seq=1, cell_id="load", execution_count=3, code="df = load()", code_hash="h1", started_at=time.time(),
        duration=0.1, status="ok", reproducible=True,
        files=[FileRecord("data/churn.csv", "read", 191018, 1, md5)],
        params=[ParamRecord("max_depth", max_depth, "parameters")],
    ))
    journal.add_cell_run(sid, CellRunRecord(
        seq=2, cell_id="train", execution_count=4, code="fit()", code_hash="h2", started_at=time.time(),
        duration=1.5, status="ok", reproducible=reproducible, issues=issues,
        metrics=[MetricRecord("auc", auc - 0.1, 0, time.time(), "api"),
                 MetricRecord("auc", auc, 1, time.time(), "api")],
    ))
    journal.end_session(sid)
