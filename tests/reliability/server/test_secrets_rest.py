"""Issue 28, secrets in the server's answers: a notebook with secret literals, run by papermill with
``-p api_token …``, read through a real Jupyter server: no answer holds a secret in clear; a journal written
before the kernel masked anything is masked on the way out."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from jupyter_mlops.core.redact import REDACTED
from jupyter_mlops.journal import CellRunRecord, Journal, ParamRecord
from tests.support.secret_project import NOTEBOOK, in_clear, secret_project

pytestmark = pytest.mark.e2e  # papermill, a kernel and the MLflow follower


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> Path:
    return secret_project(tmp_path_factory.mktemp("secrets-rest") / "repo")


@pytest.fixture
def root(ran: Path, jp_root_dir: Path) -> Path:
    shutil.copytree(ran, jp_root_dir, symlinks=True, dirs_exist_ok=True)
    return jp_root_dir


async def test_no_answer_of_the_server_holds_a_secret(jp_fetch, root):
    query = {"notebook": NOTEBOOK}
    listed = (await jp_fetch("mlops", "sessions", params=query)).body
    session = json.loads(listed)["sessions"][0]["id"]
    detail = (await jp_fetch("mlops", "sessions", session, params=query)).body
    compared = (await jp_fetch("mlops", "compare", params={**query, "a": session, "b": session})).body
    models = (await jp_fetch("mlops", "models", params={**query, "session": session})).body
    assert [in_clear(answer) for answer in (listed, detail, compared, models)] == [[]] * 4
    runs = json.loads(detail)["cell_runs"]
    assert len(runs) == 5 and json.loads(detail)["params"][0]["value"] != "tok-literal-0001"


async def test_a_journal_written_in_clear_is_masked_on_the_way_out(jp_fetch, project):
    # Given a journal from before the kernel masked code (the secret in clear, in code and in an error)
    journal = Journal(project / ".mlops" / "journal.sqlite")
    journal.start_session("old000000001", experiment="churn", notebook="churn.ipynb", root=str(project),
                          python="3", ipython="9", options={"secrets": ["salt"]})
    journal.add_cell_run("old000000001", CellRunRecord(
        seq=1, cell_id="p", execution_count=1, code='api_token = "tok-literal-0001"\nsalt = "pepper-literal-77"',
        code_hash="h", started_at=time.time(), duration=0.1, status="error", reproducible=True,
        error="ConnectionError: postgresql://bob:url-pass-9@db failed",
        params=[ParamRecord("lr", 0.1, "parameters")]))
    journal.close()
    # When the panel reads it
    body = (await jp_fetch("mlops", "sessions", "old000000001", params={"notebook": "churn.ipynb"})).body
    # Then the answer holds none of it in clear
    run = json.loads(body)["cell_runs"][0]
    assert in_clear(body) == [] and run["code"] == f"api_token = {REDACTED!r}\nsalt = {REDACTED!r}"
    assert run["error"] == f"ConnectionError: postgresql://bob:{REDACTED}@db failed"
