"""A real IPython kernel driven over ZMQ the way JupyterLab drives it (``cellId`` in the metadata)."""

from __future__ import annotations

import ast
import json
import os
import queue
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec

from tests.support.ports import free_port


class ThisPythonKernelManager(KernelManager):
    """Launch ipykernel from the interpreter running the tests, whatever kernelspecs the machine has, on ports of
    this test worker's own slice.

    jupyter_client finds a kernel's five ports by binding port 0 and letting go, so the kernel binds them later:
    with a few workers each starting kernels, a port found that way was another process's by then (seen in CI:
    ``Address already in use`` and "Kernel died before replying to kernel_info"). Ports below the ephemeral range
    are only ever taken by asking for them (:mod:`tests.support.ports`).
    """

    cache_ports = False

    def write_connection_file(self, **kwargs: Any) -> None:
        for name in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
            if not getattr(self, name):
                setattr(self, name, free_port())
        super().write_connection_file(**kwargs)

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                          display_name="tests", language="python")


@dataclass
class Reply:
    status: str
    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    ename: str | None = None
    evalue: str | None = None
    execution_count: int | None = None
    displays: list[dict] = field(default_factory=list)


class Kernel:
    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.cwd = cwd
        self.km = ThisPythonKernelManager()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env.pop("JPY_SESSION_NAME", None)
        self.km.start_kernel(cwd=str(cwd), env=full_env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, cell_id: str | None = None, *, deleted: list[str] | None = None,
            metadata: dict[str, Any] | None = None, timeout: float = 60) -> Reply:
        """Execute one cell; ``cell_id`` and ``deleted`` go in the metadata as JupyterLab sends them (VS Code
        adds the cell's own ``metadata``)."""
        metadata = dict(metadata or {})
        if cell_id is not None:
            metadata["cellId"] = cell_id
        if deleted:
            metadata["deletedCells"] = deleted
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": False}
        msg = self.kc.session.msg("execute_request", content, metadata=metadata)
        self.kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        reply = Reply(status="?")
        idle = False
        while not idle:
            try:
                io = self.kc.get_iopub_msg(timeout=timeout)
            except queue.Empty as exc:
                raise TimeoutError(f"no idle from the kernel after {timeout}s running {code!r}") from exc
            if io["parent_header"].get("msg_id") != msg_id:
                continue
            kind, c = io["msg_type"], io["content"]
            if kind == "stream":
                if c["name"] == "stdout":
                    reply.stdout += c["text"]
                else:
                    reply.stderr += c["text"]
            elif kind == "execute_result":
                reply.result = c["data"].get("text/plain")
            elif kind == "display_data":
                reply.displays.append(c["data"])
            elif kind == "error":
                reply.ename, reply.evalue = c["ename"], c["evalue"]
            elif kind == "status" and c["execution_state"] == "idle":
                idle = True
        shell = self.kc.get_shell_msg(timeout=timeout)
        while shell["parent_header"].get("msg_id") != msg_id:
            shell = self.kc.get_shell_msg(timeout=timeout)
        reply.status = shell["content"]["status"]
        reply.execution_count = shell["content"].get("execution_count")
        if reply.status == "error" and reply.ename is None:
            reply.ename = shell["content"].get("ename")
            reply.evalue = shell["content"].get("evalue")
        return reply

    def cell(self, code: str, cell_id: str | None = None, **kw: Any) -> Reply:
        """Run a cell that must succeed."""
        reply = self.run(code, cell_id or f"c-{uuid.uuid4().hex[:8]}", **kw)
        assert reply.status == "ok", f"{code!r} failed: {reply.ename}: {reply.evalue}\n{reply.stderr}"
        return reply

    def eval(self, expression: str, timeout: float = 60) -> Any:
        """The value of an expression, through JSON, in a *silent* request: no cell is recorded for it."""
        expr = f"__import__('json').dumps({expression}, default=str)"
        msg_id = self.kc.execute("", silent=True, user_expressions={"v": expr})
        shell = self.kc.get_shell_msg(timeout=timeout)
        while shell["parent_header"].get("msg_id") != msg_id:
            shell = self.kc.get_shell_msg(timeout=timeout)
        value = shell["content"]["user_expressions"]["v"]
        assert value["status"] == "ok", f"{expression}: {value.get('ename')}: {value.get('evalue')}"
        return json.loads(ast.literal_eval(value["data"]["text/plain"]))

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
            if self.km.is_alive():
                self.km.shutdown_kernel(now=True)
        finally:
            self.km.cleanup_resources()


def while_a_cell_waits(kernel: Kernel, gate: Path, prefix: str, action: Callable[[], object], cell_id: str) -> None:
    """Run ``action`` in this process while the cell ``cell_id`` is running: the cell blocks on a FIFO until
    the action is done, and opening the FIFO's other end returns only once the cell has opened it. An action
    that fails still releases the cell, and its exception is raised here."""
    failed: list[BaseException] = []

    def released_after_action() -> None:
        with open(gate, "w") as release:
            try:
                action()
            except BaseException as exc:
                failed.append(exc)
            release.write("go")

    thread = threading.Thread(target=released_after_action)
    thread.start()
    try:
        kernel.cell(f"{prefix}with open({str(gate)!r}) as g:\n    word = g.read()", cell_id)
    finally:
        thread.join(timeout=60)
    if failed:
        raise failed[0]
    assert kernel.eval("word") == "go"
