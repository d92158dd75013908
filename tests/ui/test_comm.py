"""The comm "jupyter_mlops" in a real kernel, driven the way the lab extension drives it."""

from __future__ import annotations

import queue
import uuid
from typing import Any

import pytest

from tests.support.kernel import Kernel

pytestmark = pytest.mark.kernel


def execute(kernel: Kernel, code: str, cell_id: str | None = None) -> list[dict[str, Any]]:
    """Run a cell; return the comm messages it caused (open, msg, close), in order."""
    metadata = {"cellId": cell_id or f"c-{uuid.uuid4().hex[:6]}"}
    msg = kernel.kc.session.msg("execute_request", {"code": code, "silent": False, "store_history": True,
                                                    "user_expressions": {}, "allow_stdin": False},
                                metadata=metadata)
    kernel.kc.shell_channel.send(msg)
    return collect(kernel, msg["header"]["msg_id"])


def send(kernel: Kernel, msg_type: str, content: dict[str, Any]) -> list[dict[str, Any]]:
    """Send a comm message from the 'frontend'; return the comm messages of its handling."""
    msg = kernel.kc.session.msg(msg_type, content)
    kernel.kc.shell_channel.send(msg)
    return collect(kernel, msg["header"]["msg_id"])


def collect(kernel: Kernel, msg_id: str, timeout: float = 30) -> list[dict[str, Any]]:
    out = []
    while True:
        try:
            io = kernel.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty as exc:
            raise TimeoutError("no idle from the kernel") from exc
        if io["parent_header"].get("msg_id") != msg_id:
            continue
        if io["msg_type"].startswith("comm_"):
            out.append({"type": io["msg_type"], **io["content"]})
        if io["msg_type"] == "status" and io["content"]["execution_state"] == "idle":
            return out


def test_tracking_opens_the_comm_pushes_each_cell_and_takes_the_notebook_order(kernel):
    # Given tracking starts in a kernel with a frontend
    execute(kernel, "%load_ext jupyter_mlops", "load")
    opened = execute(kernel, "%mlops_track --no-mlflow", "track")
    # Then the kernel opens the comm with a hello carrying the status
    assert [m["type"] for m in opened] == ["comm_open"]
    hello = opened[0]
    assert hello["target_name"] == "jupyter_mlops" and hello["data"]["type"] == "hello"
    assert hello["data"]["snapshot"]["tracking"] is True
    comm_id = hello["comm_id"]

    # When a cell runs, one cell_run event arrives with the fresh status
    events = execute(kernel, "a = 1", "A")
    assert [m["data"]["type"] for m in events] == ["cell_run"]
    event = events[0]["data"]
    assert event["cell_id"] == "A" and event["status"] == "ok" and event["snapshot"]["cells"] == 1

    # When the frontend sends the notebook's order, the session uses it
    send(kernel, "comm_msg", {"comm_id": comm_id, "data": {"type": "order", "cells": [
        {"id": "A", "source": "a = 1"}, {"id": "B", "source": "b = a + 1"}]}})
    order = kernel.eval("[(c.cell_id, c.code) for c in __import__('jupyter_mlops.kernel.magic', "
                        "fromlist=['x']).current().live_order]")
    assert order == [["A", "a = 1"], ["B", "b = a + 1"]]

    # When it asks for a refresh, it gets the status
    status = send(kernel, "comm_msg", {"comm_id": comm_id, "data": {"type": "refresh"}})
    assert status[0]["data"]["type"] == "status" and status[0]["data"]["snapshot"]["cells"] == 1

    # When tracking is turned off, the frontend is told and the comm closes
    closing = execute(kernel, "%mlops_track --off", "off")
    assert [m["type"] for m in closing] == ["comm_msg", "comm_close"]
    assert closing[0]["data"] == {"type": "stopped"}


def test_a_frontend_that_loads_later_opens_its_own_comm_and_gets_the_hello(kernel):
    # Given a kernel already tracking (the page was reloaded since)
    execute(kernel, "%load_ext jupyter_mlops", "load")
    execute(kernel, "%mlops_track --no-mlflow", "track")
    # When the frontend opens a comm to the target
    opened = send(kernel, "comm_open", {"comm_id": "frontend-1", "target_name": "jupyter_mlops", "data": {}})
    # Then it gets a hello on that comm, and later events too
    assert [(m["comm_id"], m["data"]["type"]) for m in opened] == [("frontend-1", "hello")]
    events = execute(kernel, "x = 2", "X")
    assert {m["comm_id"] for m in events if m["data"]["type"] == "cell_run"} >= {"frontend-1"}


def test_a_malformed_order_is_ignored_with_one_warning(kernel):
    execute(kernel, "%load_ext jupyter_mlops", "load")
    comm_id = execute(kernel, "%mlops_track --no-mlflow", "track")[0]["comm_id"]
    send(kernel, "comm_msg", {"comm_id": comm_id, "data": {"type": "order", "cells": [{"id": 3}]}})
    assert kernel.eval("__import__('jupyter_mlops.kernel.magic', fromlist=['x']).current().live_order") is None
