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
    return execute_with_reply(kernel, code, cell_id)[0]


def execute_with_reply(kernel: Kernel, code: str, cell_id: str | None = None
                       ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run a cell; return its comm messages and its execute_reply's content (where payloads travel)."""
    metadata = {"cellId": cell_id or f"c-{uuid.uuid4().hex[:6]}"}
    msg = kernel.kc.session.msg("execute_request", {"code": code, "silent": False, "store_history": True,
                                                    "user_expressions": {}, "allow_stdin": False},
                                metadata=metadata)
    kernel.kc.shell_channel.send(msg)
    comms = collect(kernel, msg["header"]["msg_id"])
    while True:
        reply = kernel.kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            return comms, reply["content"]


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


def open_comm(kernel: Kernel, comm_id: str) -> list[dict[str, Any]]:
    """What the lab extension does when a reply names our target, or after a reload."""
    return send(kernel, "comm_open", {"comm_id": comm_id, "target_name": "jupyter_mlops", "data": {}})


def start_tracking(kernel: Kernel) -> str:
    """``%mlops_track`` as the lab runs it, then the comm the extension opens; returns the comm id."""
    execute(kernel, "%load_ext jupyter_mlops", "load")
    execute(kernel, "%mlops_track --no-mlflow", "track")
    comm_id = f"frontend-{uuid.uuid4().hex[:6]}"
    open_comm(kernel, comm_id)
    return comm_id


def test_tracking_names_the_target_the_frontend_opens_gets_each_cell_and_sends_the_order(kernel):
    # Given tracking starts in a kernel with a frontend
    execute(kernel, "%load_ext jupyter_mlops", "load")
    comms, reply = execute_with_reply(kernel, "%mlops_track --no-mlflow", "track")
    # Then the kernel opens no comm itself (a headless run has nobody to open it to); the cell's reply
    # tells the frontend that the target is there
    assert comms == []
    assert {"source": "jupyter_mlops", "target": "jupyter_mlops", "protocol": 1} in reply["payload"]
    # When the frontend opens the comm, it gets a hello carrying the status
    opened = open_comm(kernel, "frontend-1")
    assert [(m["type"], m["comm_id"]) for m in opened] == [("comm_msg", "frontend-1")]
    hello = opened[0]["data"]
    assert hello["type"] == "hello" and hello["snapshot"]["tracking"] is True
    comm_id = "frontend-1"

    # When a cell runs, one cell_run event arrives with the fresh status; its reply names no target
    events, reply = execute_with_reply(kernel, "a = 1", "A")
    assert [m["data"]["type"] for m in events] == ["cell_run"]
    assert reply["payload"] == []
    event = events[0]["data"]
    assert event["cell_id"] == "A" and event["status"] == "ok" and event["snapshot"]["cells"] == 1

    # When the frontend sends the notebook's order, the session uses it
    send(kernel, "comm_msg", {"comm_id": comm_id, "data": {"type": "order", "cells": [
        {"id": "A", "source": "a = 1"}, {"id": "B", "source": "b = a + 1"}]}})
    order = kernel.eval("[(c.cell_id, c.source) for c in __import__('jupyter_mlops.kernel.magic', "
                        "fromlist=['x']).current().live_order]")
    assert order == [["A", "a = 1"], ["B", "b = a + 1"]]

    # When it asks for a refresh, it gets the status
    status = send(kernel, "comm_msg", {"comm_id": comm_id, "data": {"type": "refresh"}})
    assert status[0]["data"]["type"] == "status" and status[0]["data"]["snapshot"]["cells"] == 1

    # When tracking is turned off, the frontend is told and the comm closes
    closing = execute(kernel, "%mlops_track --off", "off")
    assert [m["type"] for m in closing] == ["comm_msg", "comm_close"]
    assert closing[0]["data"] == {"type": "stopped"}


def test_a_comm_opened_before_tracking_is_closed_by_the_kernel_and_works_once_tracking_starts(kernel):
    # Given a kernel that has not started tracking (no target registered yet)
    execute(kernel, "%load_ext jupyter_mlops", "load")
    # When a frontend opens a comm to the target, the kernel closes it at once
    early = open_comm(kernel, "too-early")
    assert [(m["type"], m["comm_id"]) for m in early] == [("comm_close", "too-early")]
    # Then once tracking starts, a comm opened then is served
    execute(kernel, "%mlops_track --no-mlflow", "track")
    assert [m["data"]["type"] for m in open_comm(kernel, "in-time")] == ["hello"]


def comm_info(kernel: Kernel) -> dict[str, Any]:
    """The comms of our target the kernel lists, as a view that connects asks."""
    msg = kernel.kc.session.msg("comm_info_request", {"target_name": "jupyter_mlops"})
    kernel.kc.shell_channel.send(msg)
    while True:
        info = kernel.kc.get_shell_msg(timeout=30)
        if info["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            assert info["msg_type"] == "comm_info_reply"
            return info["content"]["comms"]


def test_a_frontend_that_loads_later_finds_the_open_comms_and_gets_its_own_hello(kernel):
    # Given a kernel already tracking, with the comm of a page since reloaded
    start_tracking(kernel)
    # When the reloaded page asks which comms of our target are open, it learns there are some
    assert len(comm_info(kernel)) >= 1
    # And the comm it opens then gets a hello, and later events too
    opened = open_comm(kernel, "frontend-2")
    assert [(m["comm_id"], m["data"]["type"]) for m in opened] == [("frontend-2", "hello")]
    events = execute(kernel, "x = 2", "X")
    assert {m["comm_id"] for m in events if m["data"]["type"] == "cell_run"} >= {"frontend-2"}


def test_a_malformed_order_is_ignored_with_one_warning(kernel):
    comm_id = start_tracking(kernel)
    send(kernel, "comm_msg", {"comm_id": comm_id, "data": {"type": "order", "cells": [{"id": 3}]}})
    assert kernel.eval("__import__('jupyter_mlops.kernel.magic', fromlist=['x']).current().live_order") is None


def test_a_cell_with_no_comm_open_builds_no_event_and_a_comm_opened_again_gets_them(kernel):
    listening = ("any(type(getattr(f, '__self__', None)).__name__ == 'Bridge' for f in "
                 "__import__('jupyter_mlops.kernel.magic', fromlist=['x']).current().listeners)")
    # Given tracking with the frontend's comm open: the panel hears every cell
    comm_id = start_tracking(kernel)
    assert kernel.eval(listening) is True
    # When the frontend closes it (the tab closed), cells run with no listener and send nothing
    send(kernel, "comm_close", {"comm_id": comm_id, "data": {}})
    assert kernel.eval(listening) is False
    assert execute(kernel, "q = 1", "Q") == []
    # Then a comm opened later gets its hello and the next cells' events again
    assert [m["data"]["type"] for m in open_comm(kernel, "again")] == ["hello"]
    assert [m["data"]["type"] for m in execute(kernel, "q = 2", "Q")] == ["cell_run"]


def test_a_view_that_never_saw_the_start_learns_it_from_comm_info_and_follows_a_restart(kernel):
    # Given a kernel that does not track: no comm of our target is listed
    execute(kernel, "%load_ext jupyter_mlops", "load")
    assert comm_info(kernel) == {}
    # When another view starts tracking and opens no comm (a headless client, a console)
    execute(kernel, "%mlops_track --no-mlflow", "track")
    # Then a view that asks learns the kernel tracks, though no view has a comm open
    assert len(comm_info(kernel)) == 1
    first = open_comm(kernel, "second-view")[0]["data"]
    assert first["type"] == "hello" and first["snapshot"]["tracking"] is True

    # When the tracking cell runs again from a view (the same options), the session is joined: the reply
    # names the target again for that view, and the views hear of that cell's run, nothing more
    comms, reply = execute_with_reply(kernel, "%mlops_track --no-mlflow", "track")
    assert {"source": "jupyter_mlops", "target": "jupyter_mlops", "protocol": 1} in reply["payload"]
    assert [(m["data"]["type"], m["data"]["session"]) for m in comms] == [("cell_run", first["snapshot"]["session"])]
    # When the session is replaced with --restart, the open comm is greeted by the new session: no view
    # drops to "not tracking"
    replaced = execute(kernel, "%mlops_track --no-mlflow --strict --restart", "track")
    hellos = [m["data"] for m in replaced if m["type"] == "comm_msg" and m["comm_id"] == "second-view"]
    assert [h["type"] for h in hellos] == ["hello"], replaced
    assert hellos[0]["snapshot"]["session"] != first["snapshot"]["session"]
    assert hellos[0]["snapshot"]["mode"] == "strict"
    assert not any(m["type"] == "comm_close" for m in replaced)
    # And the next cell's event reaches it
    assert [m["data"]["type"] for m in execute(kernel, "w = 1", "W")] == ["cell_run"]
    # When tracking stops, the kernel lists no comm of our target any more
    execute(kernel, "%mlops_track --off", "off")
    assert comm_info(kernel) == {}
