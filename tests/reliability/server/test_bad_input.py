"""Issue 28, a user's bad input through a real Jupyter server: each bad query and body is a 4xx with a
message (never a 500 with a traceback), parsed by ``inputs`` as the command line parses it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.journal import CellRunRecord, Journal

SESSION = "aaaa00000001"


@pytest.fixture
def tracked(project: Path) -> Path:
    """``churn.ipynb`` with one tracked session."""
    journal = Journal(project / ".mlops" / "journal.sqlite")
    journal.start_session(SESSION, experiment="churn", notebook="churn.ipynb", root=str(project), python="3",
                          ipython="9", options={})
    journal.add_cell_run(SESSION, CellRunRecord(seq=1, cell_id="a", execution_count=1, code="x = 1", code_hash="h",
                                                started_at=time.time(), duration=0.1, status="ok", reproducible=True))
    journal.close()
    return project


async def answer(fetch, *parts, **kwargs) -> tuple[int, dict]:
    try:
        response = await fetch(*parts, **kwargs)
    except HTTPClientError as exc:
        return exc.code, json.loads(exc.response.body) if exc.response is not None and exc.response.body else {}
    return response.code, json.loads(response.body)


@pytest.mark.parametrize(("params", "said"), [
    ({"offset": str(2**63)}, "offset must be a whole number from 0 to"),
    ({"offset": "9" * 40}, "offset must be a whole number"),
    ({"offset": "٣"}, "offset must be a whole number"),
    ({"limit": "²"}, "limit must be a whole number from 1 to 1000"),
    ({"limit": "1_0"}, "limit must be a whole number"),
    ({"limit": "-1"}, "limit must be a whole number"),
])
async def test_bad_pages_are_400s(jp_fetch, tracked, params, said):
    code, body = await answer(jp_fetch, "mlops", "sessions", SESSION, params={"notebook": "churn.ipynb", **params})
    assert code == 400 and said in body["message"], body


@pytest.mark.parametrize(("parts", "params"), [
    (("sessions", f"{SESSION}\n"), {}),
    (("compare",), {"a": f"{SESSION}\n", "b": SESSION}),
    (("compare",), {"a": SESSION, "b": "x" * 65}),
    (("compare",), {"a": SESSION}),
    (("models",), {"session": f"{SESSION}\n"}),
    (("models",), {"session": "a/b"}),
])
async def test_session_ids_must_match_as_a_whole(jp_fetch, tracked, parts, params):
    code, body = await answer(jp_fetch, "mlops", *parts, params={"notebook": "churn.ipynb", **params})
    assert code == 400 and "session id" in body["message"], body


REGISTER = {"notebook": "churn.ipynb", "session": SESSION, "name": "churn", "model": "model.joblib"}


@pytest.mark.parametrize(("endpoint", "body", "said"), [
    ("export", '{"notebook": "\\ud800.ipynb"}', "lone surrogate"),
    ("export", '{"notebook": "a\\u0000.ipynb"}', "NUL"),
    ("verify", '{"notebook": "churn.ipynb", "tolerance": 1' + "0" * 400 + "}", "tolerance must be a number"),
    ("verify", '{"notebook": "churn.ipynb", "tolerance": "nan"}', "tolerance must be a number"),
    ("verify", '{"notebook": "churn.ipynb", "tolerance": true}', "tolerance must be a number"),
    ("verify", '{"notebook": "churn.ipynb", "expect": ["auc>=0.8\\n"]}', "is not a metric gate"),
    ("verify", '{"notebook": "churn.ipynb", "expect": ["auc>=0.8; rm"]}', "is not a metric gate"),
    ("register", json.dumps({**REGISTER, "model": "\ud800.joblib"}), "lone surrogate"),
    ("register", json.dumps({**REGISTER, "model": "model\0.joblib"}), "NUL"),
    ("register", json.dumps({**REGISTER, "alias": "cand\n"}), "alias must be"),
    ("register", json.dumps({**REGISTER, "name": "churn\n"}), "name must be a model name"),
    ("register", json.dumps({**REGISTER, "session": f"{SESSION}\n"}), "session must be a session id"),
    ("register", json.dumps({**REGISTER, "session": 12}), "session must be a session id"),
])
async def test_bad_bodies_are_400s(jp_fetch, tracked, endpoint, body, said):
    code, answer_ = await answer(jp_fetch, "mlops", endpoint, method="POST", body=body)
    assert code == 400 and said in answer_["message"], answer_


# --- sweep records ---------------------------------------------------------------------------------------


@pytest.fixture
def swept(project: Path) -> Path:
    """A committed DVC project with a sweep record of ``churn.ipynb`` (no experiment ran)."""
    for argv in (["dvc", "init", "-q"], ["git", "add", "-A"],
                 ["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "x"]):
        subprocess.run(argv, cwd=project, check=True, capture_output=True)
    baseline = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True).stdout.strip()
    record = {"sweep": "sweep-abcdef", "notebook": "churn.ipynb", "baseline": baseline, "params": ["lr"],
              "experiments": {"sweep-abcdef-1": {"lr": "0.1"}}, "jobs": 1, "created_at": time.time()}
    (project / ".mlops" / "sweeps").mkdir(parents=True)
    (project / ".mlops" / "sweeps" / "sweep-abcdef.json").write_text(json.dumps(record))
    return project


@pytest.mark.parametrize(("field", "value"), [("created_at", "yesterday"), ("created_at", None),
                                              ("jobs", "2"), ("experiments", []), ("params", "lr"),
                                              ("experiments", {"other-1": {"lr": "1"}})])
async def test_a_damaged_sweep_record_is_a_409_naming_it(jp_fetch, swept, field, value):
    path = swept / ".mlops" / "sweeps" / "sweep-abcdef.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), field: value}))
    code, body = await answer(jp_fetch, "mlops", "sweeps", params={"notebook": "churn.ipynb"})
    assert code == 409 and "sweep-abcdef.json is not a sweep record" in body["message"], body
    assert field in body["message"] and body["hint"]


async def test_a_damaged_params_yaml_is_a_4xx_for_the_sweeps_section(jp_fetch, swept):
    (swept / "params.yaml").write_text("lr: [1,\n")
    listed = await answer(jp_fetch, "mlops", "sweeps", params={"notebook": "churn.ipynb"})
    applied = await answer(jp_fetch, "mlops", "sweeps", "apply", method="POST",
                           body=json.dumps({"notebook": "churn.ipynb", "experiment": "sweep-abcdef-1"}))
    assert listed[0] == 200 and listed[1]["sweeps"][0]["sweep"] == "sweep-abcdef"
    assert applied[0] == 400 and "params.yaml is not valid YAML" in applied[1]["message"], applied


# --- the project's write lock ----------------------------------------------------------------------------


async def test_an_export_while_another_writer_holds_the_project_is_a_409_at_once(jp_fetch, tracked):
    """The command line waits minutes for the project's write lock; a click is told to try again."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from jupyter_mlops import project_files\n"
                               "with project_files.writing(Path(sys.argv[1]), 'a test'):\n"
                               "    print('held', flush=True); sys.stdin.read()", str(tracked)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, body = await answer(jp_fetch, "mlops", "export", method="POST", request_timeout=60,
                                  body=json.dumps({"notebook": "churn.ipynb"}))
        assert code == 409 and "is writing" in body["message"] and "try again" in body["hint"], body
    finally:
        holder.communicate("", timeout=30)
    # released: the same request gets past the lock (to what the empty notebook's export says)
    code, body = await answer(jp_fetch, "mlops", "export", method="POST", request_timeout=60,
                              body=json.dumps({"notebook": "churn.ipynb"}))
    assert "is writing" not in body.get("message", ""), body
