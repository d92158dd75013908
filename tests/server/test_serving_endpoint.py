"""``GET /mlops/serving``: the running model servers of a notebook's models, read from .mlops/serving, real server.

The records are the files a ``jupyter mlops serve`` process rewrites (``serving/state.py``), written here as it
writes them, for a live process (this one) and a dead one; the browser test serves a real model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.serving import state
from tests.support.server import notebook_project


def write_record(root, name: str, *, notebook: str, pid: int, updated: float) -> None:
    state.write_json(root, state.server_path(root, name), {
        "model": "churn", "version": name[-1], "aliases": ["candidate"], "session": "s1", "notebook": notebook,
        "commit": "c" * 40, "url": f"http://127.0.0.1:500{name[-1]}", "key": name, "pid": pid,
        "host_name": socket.gethostname(),
        "started_at": updated - 60, "updated_at": updated,
        "status": {"requests_per_s": 12.5, "p50_ms": 3.1, "p99_ms": 9.8, "window_rows": 800, "verdict": "drift",
                   "columns": [{"name": "monthly_charges", "psi": 0.9, "verdict": "drift", "note": None}]}})


async def test_running_servers_of_the_notebooks_models_only(jp_fetch, jp_root_dir):
    notebook_project(jp_root_dir)
    dead = subprocess.Popen(["true"])
    dead.wait()
    now = time.time()
    write_record(jp_root_dir, "churn-v1", notebook="churn.ipynb", pid=os.getpid(), updated=now)
    write_record(jp_root_dir, "churn-v2", notebook="other.ipynb", pid=os.getpid(), updated=now)
    write_record(jp_root_dir, "churn-v3", notebook="churn.ipynb", pid=dead.pid, updated=now)
    write_record(jp_root_dir, "churn-v4", notebook="churn.ipynb", pid=os.getpid(), updated=now - 3600)
    (state.serving_dir(jp_root_dir) / state.SERVERS / "half.json").write_text('{"pid": ')

    response = await jp_fetch("mlops", "serving", params={"notebook": "churn.ipynb"})
    servers = json.loads(response.body)["servers"]
    assert [(s["model"], s["version"]) for s in servers] == [("churn", "1")]
    assert servers[0]["status"]["columns"][0] == {"name": "monthly_charges", "psi": 0.9, "verdict": "drift",
                                                  "note": None}
    assert "pid" not in servers[0] and servers[0]["url"] == "http://127.0.0.1:5001"


async def test_a_serving_folder_leading_out_of_the_root_is_refused(jp_fetch, jp_root_dir, tmp_path_factory):
    notebook_project(jp_root_dir)
    outside = tmp_path_factory.mktemp("outside")
    (jp_root_dir / ".mlops").mkdir(exist_ok=True)
    (jp_root_dir / ".mlops" / "serving").symlink_to(outside)
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("mlops", "serving", params={"notebook": "churn.ipynb"})
    assert refused.value.code == 403
    assert "symlink out of the Jupyter root" in json.loads(refused.value.response.body)["message"]
