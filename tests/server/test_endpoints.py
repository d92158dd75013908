"""The /mlops/ REST endpoints against a real Jupyter server (pytest-jupyter's jp_fetch)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops import __version__


def body(response) -> dict:
    return json.loads(response.body)


async def refused(fetch, *parts, **kwargs) -> tuple[int, dict]:
    with pytest.raises(HTTPClientError) as caught:
        await fetch(*parts, **kwargs)
    response = caught.value.response
    return caught.value.code, json.loads(response.body) if response is not None and response.body else {}


# --- history --------------------------------------------------------------------------------------------


async def test_info_says_the_extension_is_there(jp_fetch):
    # When the panel probes the server
    response = await jp_fetch("mlops", "info")
    # Then it gets the installed version
    assert body(response) == {"version": __version__}


async def test_sessions_lists_the_notebooks_sessions_newest_first_with_summaries(jp_fetch, project):
    # Given a journal with two sessions of churn.ipynb
    # When the panel asks for its sessions
    data = body(await jp_fetch("mlops", "sessions", params={"notebook": "churn.ipynb"}))
    # Then both are listed, newest first, with their last verdict, params and latest metrics
    assert [s["id"] for s in data["sessions"]] == ["bbbb00000002", "aaaa00000001"]
    newest = data["sessions"][0]
    assert newest["cells"] == 2 and newest["reproducible"] is False and newest["issues"] == 1
    assert newest["params"] == {"max_depth": 8} and newest["metrics"] == {"auc": 0.83}
    assert newest["mode"] == "warn" and newest["state"] == "ended"


async def test_an_untracked_notebook_has_an_empty_history_with_a_note(jp_fetch, jp_root_dir):
    # Given a notebook in a folder that was never tracked
    (jp_root_dir / "new.ipynb").write_text("{}")
    # When its sessions are asked for
    data = body(await jp_fetch("mlops", "sessions", params={"notebook": "new.ipynb"}))
    # Then the list is empty and says why
    assert data["sessions"] == [] and "not tracked yet" in data["note"]


async def test_one_session_in_full(jp_fetch, project):
    # When the panel asks for one session
    data = body(await jp_fetch("mlops", "sessions", "aaaa00000001", params={"notebook": "churn.ipynb"}))
    # Then it gets its cell runs, files with md5, params and every metric step
    assert [r["cell_id"] for r in data["cell_runs"]] == ["load", "train"]
    assert data["files"][0]["md5"] == "1" * 32
    assert data["files"][0]["cell_id"] == "load"
    assert [(m["step"], m["value"]) for m in data["metrics"]] == [(0, pytest.approx(0.7)), (1, 0.8)]


async def test_an_unknown_session_or_one_of_another_notebook_is_not_found(jp_fetch, project):
    # Given another notebook in the same project
    (project / "other.ipynb").write_text("{}")
    # When a session is asked for that does not exist, or through the wrong notebook
    missing = await refused(jp_fetch, "mlops", "sessions", "cccc", params={"notebook": "churn.ipynb"})
    elsewhere = await refused(jp_fetch, "mlops", "sessions", "aaaa00000001", params={"notebook": "other.ipynb"})
    # Then both are 404 with a JSON message
    assert missing[0] == elsewhere[0] == 404
    assert missing[1]["code"] == 404 and "no session" in missing[1]["message"]
    assert "not a session of other.ipynb" in elsewhere[1]["message"]


async def test_compare_flags_params_metrics_and_data_hashes_that_differ(jp_fetch, project):
    # When two sessions are compared
    data = body(await jp_fetch("mlops", "compare", params={"notebook": "churn.ipynb", "a": "aaaa00000001",
                                                          "b": "bbbb00000002"}))
    # Then every param, metric and file digest is a row, flagged when the two differ
    assert data["a"]["id"] == "aaaa00000001" and data["b"]["id"] == "bbbb00000002"
    assert data["params"] == [{"name": "max_depth", "a": 6, "b": 8, "differs": True}]
    assert data["metrics"] == [{"name": "auc", "a": 0.8, "b": 0.83, "differs": True}]
    assert data["files"] == [{"name": "data/churn.csv (read)", "a": "1" * 32, "b": "2" * 32, "differs": True}]


# --- export and verify ----------------------------------------------------------------------------------


@dataclass
class FakeExport:
    """Stands in for jupyter_mlops.export.api: records the calls, answers like the real one."""

    calls: list = field(default_factory=list)

    def export_notebook(self, notebook, *, out=None, stages="auto", force=False, dry_run=False,
                        allow_dirty=False, lock_wait_s=None):
        self.calls.append(("export", notebook, stages, force, dry_run, allow_dirty))
        return types.SimpleNamespace(written=["dvc.yaml", "params.yaml"], stages=["churn"])

    def verify_notebook(self, notebook, *, tolerance=1e-9, expect=(), progress=None):
        self.calls.append(("verify", notebook, tolerance, tuple(expect)))
        progress(1, 2)
        progress(2, 2)
        return types.SimpleNamespace(ok=True, rows=[{"name": "auc", "tracked": 0.83, "rerun": 0.83, "ok": True}],
                                     message="the re-run agrees")


@pytest.fixture
def fake_engine(monkeypatch) -> FakeExport:
    fake = FakeExport()
    module = types.ModuleType("jupyter_mlops.export.api")
    module.export_notebook, module.verify_notebook = fake.export_notebook, fake.verify_notebook
    monkeypatch.setitem(sys.modules, "jupyter_mlops.export.api", module)
    return fake


async def test_export_runs_the_engine_on_the_validated_notebook(jp_fetch, project, fake_engine):
    # When the panel's Export button posts the notebook and enumerated options
    data = body(await jp_fetch("mlops", "export", method="POST",
                               body=json.dumps({"notebook": "churn.ipynb", "stages": "single"})))
    # Then the engine ran on the resolved notebook path and its result comes back as JSON
    assert data == {"written": ["dvc.yaml", "params.yaml"], "stages": ["churn"]}
    assert fake_engine.calls == [("export", (project / "churn.ipynb").resolve(), "single", False, False, False)]


async def test_export_rejects_options_outside_their_choices(jp_fetch, project, fake_engine):
    # When options are not among the allowed values
    bad_stages = await refused(jp_fetch, "mlops", "export", method="POST",
                               body=json.dumps({"notebook": "churn.ipynb", "stages": "; rm -rf /"}))
    bad_flag = await refused(jp_fetch, "mlops", "export", method="POST",
                             body=json.dumps({"notebook": "churn.ipynb", "force": "yes"}))
    # Then nothing runs
    assert bad_stages[0] == bad_flag[0] == 400 and fake_engine.calls == []


async def test_export_with_the_real_engine_writes_dvc_yaml(jp_fetch, project):
    # Given the example's notebook in the project (the engine reads its cells)
    example = Path(__file__).resolve().parents[2] / "examples" / "churn.ipynb"
    (project / "churn.ipynb").write_text(example.read_text())
    # When it is exported through the endpoint, even though its last session was not reproducible
    data = body(await jp_fetch("mlops", "export", method="POST", request_timeout=120,
                               body=json.dumps({"notebook": "churn.ipynb", "allow_dirty": True})))
    # Then dvc.yaml is written at the project root
    assert "dvc.yaml" in data["written"] and (project / "dvc.yaml").is_file()


# --- the engine's errors, as the panel gets them ---------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn.ipynb"


def write_notebook(path: Path, cells: list[tuple[str, list[str]]]) -> None:
    """A notebook of code cells, each (source, tags)."""
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": f"c{i}", "source": source, "metadata": {"tags": tags}, "outputs": [],
         "execution_count": None} for i, (source, tags) in enumerate(cells)]}))


def logged_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The ERROR records logged so far in the test: a refusal is an answer, not a server fault."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_export_over_a_hand_edited_dvc_yaml_is_a_409_with_what_the_panel_can_do(
        jp_fetch, project, caplog):
    # Given an exported notebook whose stage in dvc.yaml was then edited by hand
    (project / "churn.ipynb").write_text(EXAMPLE.read_text())
    request = json.dumps({"notebook": "churn.ipynb", "stages": "single", "allow_dirty": True})
    await jp_fetch("mlops", "export", method="POST", body=request, request_timeout=120)
    edited = (project / "dvc.yaml").read_text().replace("--no-progress-bar", "--no-progress-bar --log-output")
    (project / "dvc.yaml").write_text(edited)
    # When the panel exports it again
    code, error = await refused(jp_fetch, "mlops", "export", method="POST", body=request, request_timeout=120)
    # Then the writer's refusal is a 409 saying what happened and what to do in the panel, not on a command line
    assert code == 409 and error["code"] == 409
    assert error["message"] == "dvc.yaml stage churn was edited by hand since it was exported"
    assert "dvc.yaml" in error["hint"] and "--force" not in error["hint"] and "--out" not in error["hint"]
    # And the user's edit is kept, and nothing was logged as a server fault
    assert (project / "dvc.yaml").read_text() == edited
    assert logged_errors(caplog) == []


async def test_export_of_stage_tags_that_are_not_contiguous_is_a_400(jp_fetch, project, caplog):
    # Given a notebook whose stage:prep cells have a stage:train cell between them
    write_notebook(project / "tags.ipynb", [("x = 1", ["stage:prep"]), ("y = x + 1", ["stage:train"]),
                                            ("z = y + 1", ["stage:prep"])])
    # When the panel exports it by its tags
    code, error = await refused(jp_fetch, "mlops", "export", method="POST",
                                body=json.dumps({"notebook": "tags.ipynb", "stages": "tags"}))
    # Then it is bad input, with the fix
    assert code == 400 and "stage:prep are not contiguous" in error["message"]
    assert "together" in error["hint"]
    assert not (project / "dvc.yaml").exists() and logged_errors(caplog) == []


async def test_export_of_a_corrupt_notebook_is_a_400(jp_fetch, project, caplog):
    # Given a notebook that is not JSON
    (project / "broken.ipynb").write_text('{"cells": [')
    # When the panel exports it
    code, error = await refused(jp_fetch, "mlops", "export", method="POST",
                                body=json.dumps({"notebook": "broken.ipynb"}))
    # Then it is bad input that says how to recover
    assert code == 400 and "is not a readable notebook (not JSON" in error["message"]
    assert error["hint"] == "restore it from git" and logged_errors(caplog) == []


async def test_export_of_a_missing_notebook_is_a_404(jp_fetch, project, caplog):
    # When the panel exports a notebook that is not there (renamed, deleted)
    code, error = await refused(jp_fetch, "mlops", "export", method="POST",
                                body=json.dumps({"notebook": "gone.ipynb"}))
    # Then it is not found, in the same body as every error
    assert (code, error) == (404, {"code": 404, "message": "no notebook gone.ipynb in this project", "hint": None})
    assert logged_errors(caplog) == []


async def test_a_failed_verify_job_carries_the_panels_hint(jp_fetch, project):
    # Given a notebook no session of which is tracked
    write_notebook(project / "fresh.ipynb", [("x = 1", [])])
    # When the panel verifies it
    job = body(await jp_fetch("mlops", "verify", method="POST", body=json.dumps({"notebook": "fresh.ipynb"})))
    for _ in range(200):
        job = body(await jp_fetch("mlops", "jobs", job["id"]))
        if job["state"] != "running":
            break
        await asyncio.sleep(0.05)
    # Then the job failed with what is missing and what to do, before any kernel was started
    assert job["state"] == "failed", job
    assert job["message"].startswith("nothing to verify fresh.ipynb against: no tracked session")
    assert "%mlops_track" in job["hint"] and job["progress"] == []


async def test_verify_runs_as_a_job_with_progress_and_a_result(jp_fetch, project, fake_engine):
    # When verify is started
    response = await jp_fetch("mlops", "verify", method="POST",
                              body=json.dumps({"notebook": "churn.ipynb", "expect": ["auc>=0.8"]}))
    job = body(response)
    # Then it answers 202 at once with a job to poll, which ends with the engine's comparison
    assert response.code == 202 and job["id"].startswith("verify-")
    for _ in range(100):
        job = body(await jp_fetch("mlops", "jobs", job["id"]))
        if job["state"] != "running":
            break
        await asyncio.sleep(0.05)
    assert job["state"] == "done", job
    assert job["progress"] == ["cell 1 of 2", "cell 2 of 2"]
    assert job["result"]["ok"] is True and job["result"]["rows"][0]["name"] == "auc"
    assert fake_engine.calls[0][2:] == (1e-9, ("auc>=0.8",))


async def test_verify_rejects_gates_that_are_not_metric_comparisons(jp_fetch, project, fake_engine):
    code, error = await refused(jp_fetch, "mlops", "verify", method="POST",
                                body=json.dumps({"notebook": "churn.ipynb", "expect": ["__import__('os')"]}))
    assert code == 400 and "metric gate" in error["message"] and fake_engine.calls == []


async def test_an_unknown_job_is_not_found(jp_fetch):
    code, error = await refused(jp_fetch, "mlops", "jobs", "verify-999")
    assert code == 404 and "no job" in error["message"]


# --- refusals -------------------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", ("mlops", "info"), None),
    ("GET", ("mlops", "sessions"), None),
    ("GET", ("mlops", "sessions", "aaaa00000001"), None),
    ("GET", ("mlops", "compare"), None),
    ("POST", ("mlops", "export"), {"notebook": "churn.ipynb"}),
    ("POST", ("mlops", "verify"), {"notebook": "churn.ipynb"}),
    ("GET", ("mlops", "jobs", "verify-1"), None),
]


@pytest.mark.parametrize(("method", "parts", "payload"), ENDPOINTS, ids=["/".join(e[1]) for e in ENDPOINTS])
async def test_unauthenticated_requests_are_refused(jp_fetch, project, method, parts, payload):
    # Given a request without the server's token
    kwargs = {"method": method, "headers": {"Authorization": ""}, "params": {"notebook": "churn.ipynb"}}
    if payload is not None:
        kwargs["body"] = json.dumps(payload)
    # When it reaches any endpoint
    code, _ = await refused(jp_fetch, *parts, **kwargs)
    # Then it is refused
    assert code == 403


@pytest.fixture
def outside(tmp_path: Path, project: Path) -> Path:
    """A notebook outside the server root, and a symlink to its folder inside the root."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "secret.ipynb").write_text("{}")
    (project / "link").symlink_to(folder, target_is_directory=True)
    return folder


@pytest.mark.parametrize("notebook", ["../elsewhere/secret.ipynb", "sub/../../elsewhere/secret.ipynb",
                                      "/etc/passwd.ipynb", "link/secret.ipynb"])
async def test_paths_out_of_the_root_are_refused(jp_fetch, outside, notebook):
    # When a request names a notebook through '..', an absolute path or a symlink leaving the root
    listed = await refused(jp_fetch, "mlops", "sessions", params={"notebook": notebook})
    exported = await refused(jp_fetch, "mlops", "export", method="POST", body=json.dumps({"notebook": notebook}))
    # Then it is refused before anything is read or written
    assert listed[0] == exported[0] == 403
    assert listed[1]["code"] == 403 and listed[1]["message"]


async def test_a_journal_symlinked_out_of_the_root_is_refused(jp_fetch, jp_root_dir, tmp_path):
    # Given a project whose .mlops folder is a symlink to a folder outside the root
    (jp_root_dir / ".git").mkdir()
    (jp_root_dir / "nb.ipynb").write_text("{}")
    (tmp_path / "store").mkdir()
    (jp_root_dir / ".mlops").symlink_to(tmp_path / "store", target_is_directory=True)
    # When its history is asked for
    code, error = await refused(jp_fetch, "mlops", "sessions", params={"notebook": "nb.ipynb"})
    # Then it is refused
    assert code == 403 and "symlink" in error["message"]


async def test_not_a_notebook_is_refused(jp_fetch, project):
    code, error = await refused(jp_fetch, "mlops", "sessions", params={"notebook": "secrets.txt"})
    assert code == 400 and ".ipynb" in error["message"]


async def test_oversize_requests_are_refused(jp_fetch, project, fake_engine):
    # When a body or a query string is far larger than any real request
    big_body = await refused(jp_fetch, "mlops", "export", method="POST",
                             body=json.dumps({"notebook": "churn.ipynb", "pad": "x" * 100_000}))
    big_query = await refused(jp_fetch, "mlops", "sessions", params={"notebook": "a" * 5000 + ".ipynb"})
    # Then both are refused with 413 and nothing runs
    assert big_body[0] == big_query[0] == 413 and fake_engine.calls == []
