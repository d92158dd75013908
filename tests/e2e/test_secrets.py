"""Issue 28, secrets, end to end: a notebook with secret literals, run by papermill with ``-p api_token …``
injected and the MLflow mirror on. Nothing we write holds a secret in clear (the journal and everything
under ``.mlops/``, the CLI's JSON, MLflow's params, tags and notebook copy, ``params.yaml``, ``dvc.yaml``, the
stage notebooks, the report, the certificate), and check, certify and export still agree the notebook is
reproducible, its masked code matching its cells."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from jupyter_mlops.core.redact import REDACTED
from jupyter_mlops.journal import Journal, latest_values
from tests.support.repo import ENV, mlops, run
from tests.support.secret_project import CELLS, ENVIRONMENT, NOTEBOOK, in_clear, secret_project

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return secret_project(tmp_path_factory.mktemp("secrets") / "repo")


def test_the_journal_and_every_file_of_ours_hold_no_secret(project):
    # Then no file under .mlops/ (journal, its WAL, the follower's log and notices) holds a secret in clear
    files = [p for p in (project / ".mlops").rglob("*") if p.is_file()]
    assert files and {str(p): in_clear(p.read_bytes()) for p in files if in_clear(p.read_bytes())} == {}
    # And the session says what it can: secret params redacted, the URL's password masked, the code masked
    journal = Journal(project / ".mlops" / "journal.sqlite", create=False)
    try:
        detail = journal.session_detail(journal.find_session("latest"))
    finally:
        journal.close()
    params = latest_values(detail["params"])
    assert params == {"lr": 0.1, "api_token": REDACTED, "db_password": REDACTED, "salt": REDACTED,
                      "db_url": f"postgresql://bob:{REDACTED}@db/x"}
    codes = {r["cell_id"]: r["code"] for r in detail["cell_runs"]}
    injected = next(code for code in codes.values() if code.startswith("# Parameters"))
    assert f"api_token = {REDACTED!r}" in injected
    assert f'"{REDACTED}" == db_password' in codes["use"] and f'"Authorization": {REDACTED!r}' in codes["use"]
    assert all(r["status"] == "ok" for r in detail["cell_runs"])


def test_the_cli_and_the_report_show_no_secret(project, tmp_path):
    shown = mlops(project, "show", "latest", "--json").stdout
    listed = mlops(project, "runs", "--json").stdout
    report = tmp_path / "report.md"
    mlops(project, "report", NOTEBOOK, "--base", "latest", "--out", str(report))
    assert json.loads(shown)["cell_runs"] and in_clear(shown) == in_clear(listed) == []
    assert in_clear(report.read_text()) == []


def test_mlflow_params_tags_and_the_notebook_copy_hold_no_secret(project, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1
    run_ = runs[0]
    assert run_.data.params["lr"] == "0.1" and run_.data.params["api_token"] == REDACTED
    assert in_clear(json.dumps(run_.data.params)) == in_clear(json.dumps(run_.data.tags)) == []
    copy = Path(client.download_artifacts(run_.info.run_id, f"notebook/{NOTEBOOK}", str(tmp_path)))
    notebook = json.loads(copy.read_text())
    assert [c["id"] for c in notebook["cells"]] == ["track", "params", "load", "use", "save"]
    assert in_clear(copy.read_text()) == []


def test_check_certify_and_export_agree_on_the_notebook_with_secrets(project, tmp_path):
    repo = Path(shutil.copytree(project, tmp_path / "repo", symlinks=True))
    # The masked code still matches its cells: check finds the session reproducible
    checked = mlops(repo, "check", NOTEBOOK, check=False)
    assert checked.returncode == 0 and "reproducible" in checked.stdout, checked.stdout + checked.stderr
    # export agrees (it would refuse a state it found dirty), and writes no secret anywhere
    exported = mlops(repo, "export", NOTEBOOK, "--stages", "single")
    assert "API_TOKEN" in exported.stderr and "DB_URL" in exported.stderr and "SALT" in exported.stderr
    assert yaml.safe_load((repo / "params.yaml").read_text()) == {"lr": 0.1}
    assert not {"api_token", "salt", "db_url", "db_password"} & set(
        yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["secret"].get("params", []))
    for written in ("params.yaml", "dvc.yaml"):
        assert in_clear((repo / written).read_text()) == [], written
    # The stage notebook reads the params' secrets from the environment; the code of other cells is the
    # notebook's own, copied as it is, and a note names the cell that holds a secret in clear
    cells = {c["id"]: "".join(c["source"]) for c in json.loads((repo / "pipeline" / NOTEBOOK).read_text())["cells"]}
    assert "os.environ['API_TOKEN']" in cells["params"] and "os.environ['DB_URL']" in cells["params"]
    assert in_clear(cells["params"]) == [] and cells["use"] == CELLS[3][1]
    assert "cell use holds a secret in clear" in exported.stderr and "cell load holds" not in exported.stderr
    # certify vouches for the same session, and check then verifies the certificate
    mlops(repo, "certify", NOTEBOOK)
    certificate = json.loads((repo / NOTEBOOK).read_text())["metadata"]["jupyter_mlops"]["certificate"]
    assert certificate["reproducible"] and len(certificate["cells"]) == 5
    assert in_clear(json.dumps(certificate)) == [] and certificate["params"]["api_token"] == REDACTED
    assert mlops(repo, "check", NOTEBOOK, check=False).returncode == 0
    # And the pipeline runs with the secrets given as environment variables
    done = run(repo, "dvc", "repro", check=False, timeout=600)
    assert done.returncode != 0 and "API_TOKEN" in done.stdout + done.stderr  # without them: named, not guessed
    given = subprocess.run(["dvc", "repro"], cwd=repo, env={**ENV, **ENVIRONMENT}, capture_output=True, text=True,
                           timeout=600)
    assert given.returncode == 0, given.stdout + given.stderr
    assert (repo / "out.txt").read_text() == "a,b\n1,2\n" * 2
