"""Issue 7, the server: hostile requests to /mlops/ against a real Jupyter server (pytest-jupyter)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import shlex
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import yaml
from tornado.httpclient import HTTPClientError

from jupyter_mlops.journal import CellRunRecord, Journal, MetricRecord


async def refused(fetch, *parts, **kwargs) -> tuple[int, dict]:
    with pytest.raises(HTTPClientError) as caught:
        await fetch(*parts, **kwargs)
    response = caught.value.response
    return caught.value.code, json.loads(response.body) if response is not None and response.body else {}


def strict_json(body: bytes) -> dict:
    """Parse as a browser does: NaN and Infinity are not JSON."""
    def reject(name: str) -> None:
        raise ValueError(f"{name} is not JSON")
    return json.loads(body, parse_constant=reject)


@pytest.fixture
def calls(monkeypatch) -> list:
    """A stand-in export engine that records whether it was ever reached."""
    seen: list = []
    module = types.ModuleType("jupyter_mlops.export.api")
    module.export_notebook = lambda *a, **k: seen.append(("export", a, k))
    module.verify_notebook = lambda *a, **k: seen.append(("verify", a, k))
    monkeypatch.setitem(sys.modules, "jupyter_mlops.export.api", module)
    return seen


async def raw_request(port: int, head: str, body: bytes, *, timeout: float = 5.0) -> bytes:
    """Send ``head`` and ``body`` on a bare connection; whatever the server answers before ``timeout``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode() + body)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), timeout)
    except asyncio.TimeoutError:
        return b""
    finally:
        writer.close()


async def test_an_oversize_body_is_refused_on_its_headers_before_it_is_read(
        http_server_client, jp_http_port, jp_base_url, jp_auth_header, project, calls):
    # Given a POST that declares 50 MB but sends only its first KiB
    head = (f"POST {jp_base_url}mlops/export HTTP/1.1\r\nHost: 127.0.0.1:{jp_http_port}\r\n"
            f"Authorization: {jp_auth_header['Authorization']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {50_000_000}\r\n\r\n")
    started = time.monotonic()
    answer = await raw_request(jp_http_port, head, b"{" + b" " * 1023)
    # Then the server answers 413 at once, without waiting for (or reading) the rest
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 5 and calls == []


async def test_an_oversize_chunked_body_is_cut_off_and_never_handled(
        http_server_client, jp_http_port, jp_base_url, jp_auth_header, project, calls):
    # Given a chunked POST (no length declared) that goes past 64 KiB
    head = (f"POST {jp_base_url}mlops/export HTTP/1.1\r\nHost: 127.0.0.1:{jp_http_port}\r\n"
            f"Authorization: {jp_auth_header['Authorization']}\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b" " * 16384
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8))
    answer = await raw_request(jp_http_port, head, b"1\r\n{\r\n" + body)
    # Then the engine never runs (Tornado drops the connection at the limit)
    assert not answer.startswith(b"HTTP/1.1 2") and calls == []


@pytest.mark.parametrize("notebook", [
    "../../etc/passwd.ipynb", "..\\..\\x.ipynb", "a/../../x.ipynb", "x.ipynb\0.txt", "~root/x.ipynb",
    "C:/x.ipynb", "/proc/self/environ.ipynb", "churn.ipynb/../../../x.ipynb", "." * 2000 + ".ipynb",
])
async def test_traversal_in_every_spelling_is_refused(jp_fetch, project, notebook, calls):
    listed = await refused(jp_fetch, "mlops", "sessions", params={"notebook": notebook})
    exported = await refused(jp_fetch, "mlops", "export", method="POST", body=json.dumps({"notebook": notebook}))
    assert listed[0] in (400, 403, 404) and exported[0] in (400, 403, 404), (listed, exported)
    assert calls == []


@pytest.mark.parametrize("value", [["churn.ipynb"], {"path": "churn.ipynb"}, 3, None, True])
async def test_a_notebook_that_is_not_a_string_is_refused(jp_fetch, project, calls, value):
    code, error = await refused(jp_fetch, "mlops", "export", method="POST", body=json.dumps({"notebook": value}))
    assert code == 400 and "relative to the Jupyter root" in error["message"] and calls == []


async def test_session_and_job_ids_cannot_walk_the_tree(jp_fetch, project):
    Journal(project / ".mlops" / "journal.sqlite").close()
    bad_session = await refused(jp_fetch, "mlops", "sessions", "..%2F..%2Fetc", params={"notebook": "churn.ipynb"})
    bad_job = await refused(jp_fetch, "mlops", "jobs", "..%2Fverify-1")
    assert bad_session[0] == 400 and bad_job[0] == 404


SHELLY = ["$(touch PWNED-1).ipynb", "a;touch PWNED-2;b.ipynb", "`touch PWNED-3`.ipynb", "x' && touch PWNED-4 '.ipynb"]


@pytest.mark.parametrize("name", SHELLY)
async def test_export_from_the_ui_runs_no_command_from_request_fields(jp_fetch, project, tmp_path, name):
    # Given a notebook whose name is a shell injection, and extra fields a crafted request might add
    example = Path(__file__).resolve().parents[3] / "examples" / "churn.ipynb"
    (project / name).write_text(example.read_text())
    body = {"notebook": name, "stages": "single", "allow_dirty": True, "cmd": "touch PWNED-5",
            "out": "/tmp", "kernel": "$(touch PWNED-6)", "force": False}
    # When it is exported through the endpoint
    response = await jp_fetch("mlops", "export", method="POST", body=json.dumps(body), request_timeout=120)
    assert "dvc.yaml" in json.loads(response.body)["written"]
    # Then every stage command in dvc.yaml, run by a shell as `dvc repro` would, touches nothing
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "papermill").write_text("#!/bin/sh\nexit 0\n")
    (fake / "papermill").chmod(0o755)
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    for stage in stages.values():
        assert name in shlex.split(stage["cmd"]) or all("PWNED" not in w for w in shlex.split(stage["cmd"]))
        subprocess.run(["sh", "-c", stage["cmd"]], cwd=project, env={**os.environ, "PATH": f"{fake}:/usr/bin:/bin"},
                       capture_output=True, timeout=30)
    assert not [p for p in project.rglob("PWNED*")] and not list(Path("/tmp").glob("PWNED*"))


async def test_verify_from_the_ui_runs_no_command_from_request_fields(jp_fetch, project, calls):
    # When verify is asked with a shell injection in every field it has
    for body in ({"notebook": "$(touch PWNED).ipynb"}, {"notebook": "churn.ipynb", "tolerance": "0; touch PWNED"},
                 {"notebook": "churn.ipynb", "expect": ["auc>=0.8; touch PWNED"]},
                 {"notebook": "churn.ipynb", "expect": "auc>=0.8"}):
        code, _ = await refused(jp_fetch, "mlops", "verify", method="POST", body=json.dumps(body))
        # Then each is refused before the engine is reached (a missing notebook is a 404, a bad field a 400)
        assert code in (400, 404), body
    assert calls == [] and not list(project.rglob("PWNED*"))


# --- big sessions and odd values ------------------------------------------------------------------------


@pytest.fixture
def big_session(project: Path) -> str:
    j = Journal(project / ".mlops" / "journal.sqlite")
    j.start_session("big", experiment="churn", notebook="churn.ipynb", root=str(project), python="3",
                    ipython="9", options={})
    for seq in range(1, 1201):
        j.add_cell_run("big", CellRunRecord(
            seq=seq, cell_id=f"c{seq}", execution_count=seq, code="x = 1", code_hash="h", started_at=time.time(),
            duration=0.001, status="ok" if seq % 100 else "error", reproducible=True,
            metrics=[MetricRecord("loss", [math.nan, math.inf, 0.5][seq % 3], seq, time.time(), "api")]
            if seq > 1197 else []))
    j.close()
    return "big"


async def test_a_big_session_is_read_a_page_at_a_time(jp_fetch, project, big_session):
    params = {"notebook": "churn.ipynb"}
    default = strict_json((await jp_fetch("mlops", "sessions", big_session, params=params)).body)
    page = strict_json((await jp_fetch("mlops", "sessions", big_session,
                                       params={**params, "limit": "10", "offset": "0"})).body)
    assert (default["cells"], default["errors"], len(default["cell_runs"])) == (1200, 12, 500)
    assert default["runs_offset"] == 700 and default["cell_runs"][-1]["seq"] == 1200
    assert [r["seq"] for r in page["cell_runs"]] == list(range(1, 11)) and page["runs_offset"] == 0
    for bad in ({"limit": "0"}, {"limit": "5000"}, {"limit": "x"}, {"offset": "-1"}):
        code, error = await refused(jp_fetch, "mlops", "sessions", big_session, params={**params, **bad})
        assert code == 400 and error["message"]
    listed = strict_json((await jp_fetch("mlops", "sessions", params=params)).body)
    assert listed["sessions"][0]["cells"] == 1200 and listed["sessions"][0]["errors"] == 12


async def test_nan_and_inf_metrics_are_sent_as_json_a_browser_parses(jp_fetch, project, big_session):
    detail = strict_json((await jp_fetch("mlops", "sessions", big_session, params={"notebook": "churn.ipynb"})).body)
    assert [m["value"] for m in detail["metrics"]] == ["inf", 0.5, None]  # NaN is null, as the journal stores it


async def test_a_damaged_journal_is_a_409_that_says_what_to_do(jp_fetch, project):
    (project / ".mlops").mkdir()
    (project / ".mlops" / "journal.sqlite").write_bytes(b"not sqlite" * 500)
    code, error = await refused(jp_fetch, "mlops", "sessions", params={"notebook": "churn.ipynb"})
    assert code == 409 and "damaged" in error["message"] and "mv " in error["message"]
