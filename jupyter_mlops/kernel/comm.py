"""The kernel's side of the comm "jupyter_mlops": live events to the lab panel, notebook order back.

Protocol (version 1), every message a JSON object with a ``type``:

kernel → frontend
  ``hello``     when the frontend opens the comm: ``{"type": "hello", "protocol": 1, "snapshot": <status_dict>}``
  ``cell_run``  after each recorded cell: the session's event (see ``TrackingSession._publish``; its
                ``status`` is the cell's ok/error/refused) plus ``"snapshot": <status_dict>``, so the
                panel never has to rebuild the verdict itself
  ``status``    the answer to ``refresh``: ``{"type": "status", "snapshot": <status_dict>}``
  ``hello``     again, with the new session, when ``--restart`` replaced the session
  ``stopped``   tracking was turned off (``%mlops_track --off``); the comm then closes
frontend → kernel
  ``order``     ``{"type": "order", "cells": [{"id": str, "source": str}, …]}``: the notebook's code cells
                as the frontend shows them, unsaved edits included; used by the next verdicts
  ``refresh``   ask for a ``status`` (e.g. once background file hashes have completed)

The frontend opens the comm, as JupyterLab's own extensions do: the kernel only registers the target
"jupyter_mlops" when tracking starts, so a kernel run without a frontend (papermill, nbclient, a DVC stage)
never opens a comm nobody listens to. The frontend learns that the target exists from the reply of the
cell that started (or joined) tracking, which carries the payload ``{"source": "jupyter_mlops", "target":
"jupyter_mlops", "protocol": 1}`` (other frontends ignore payloads they do not know). Every other view of
the kernel (a second tab, a collaborator, a reload, Notebook 7) asks ``comm_info`` when it connects and
whenever a cell run from another client ends: while the kernel tracks, the answer lists a comm of our
target (the *beacon*, which never sends anything, so the answer does not depend on another view's comm
being open), and the view opens its own. One bridge per kernel serves every open comm: a session replaced
with ``--restart`` greets them all again with the new session's ``hello``, so no view drops out.
The frontend sends nothing before the ``hello``: ipykernel dispatches a comm message at once while a cell
runs, possibly ahead of the comm_open still queued behind "Run All", and drops it. Messages
arrive on the kernel thread between cells, so an ``order`` sent while "Run All" is queued may be applied
after the queued cells: until then verdicts use the saved notebook, as without a frontend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from comm.base_comm import BaseComm

from jupyter_mlops.core.notebook import Cell
from jupyter_mlops.kernel.status import status_dict

if TYPE_CHECKING:
    from jupyter_mlops.kernel.session import TrackingSession

TARGET = "jupyter_mlops"
PROTOCOL = 1
MAX_CELLS = 10_000

_bridge: Bridge | None = None


def attach(session: TrackingSession) -> Bridge | None:
    """Connect ``session`` to the lab's views (the ones already open follow it); ``None`` (and nothing
    done) outside ipykernel."""
    global _bridge
    kernel = getattr(session.shell, "kernel", None)
    if kernel is None or getattr(kernel, "comm_manager", None) is None:
        return None
    if _bridge is not None:
        _bridge.follow(session)
    else:
        _bridge = Bridge(session, kernel.comm_manager)
    return _bridge


def announce(shell: Any) -> None:
    """Tell the frontend, in the reply of the running cell, that it may open a comm to our target."""
    payloads = getattr(shell, "payload_manager", None)
    if payloads is not None:
        payloads.write_payload({"source": TARGET, "target": TARGET, "protocol": PROTOCOL})


class _Beacon(BaseComm):
    """Listed by ``comm_info`` while the kernel tracks, so a view that connects later opens its own comm.
    Never opened on a frontend (not primary) and never sends anything."""

    def publish_msg(self, *args: Any, **kwargs: Any) -> None:
        pass


class Bridge:
    """All open comms of the kernel's tracking session: pushes its events, applies the order the frontend
    sends."""

    def __init__(self, session: TrackingSession, comm_manager: Any) -> None:
        self.session = session
        self._ended = False  # the session stopped; unless another follows it in this cell, the views are told
        self._comms: list[Any] = []
        self._comm_manager = comm_manager
        comm_manager.register_target(TARGET, self._on_frontend_open)
        self._beacon = _Beacon(target_name=TARGET, primary=False)
        comm_manager.register_comm(self._beacon)
        session.shell.events.register("post_run_cell", self._check_still_tracking)
        announce(session.shell)

    def follow(self, session: TrackingSession) -> None:
        """``--restart`` replaced the session: every open view gets the new one's ``hello``."""
        if self.on_cell_run in self.session.listeners:
            self.session.listeners.remove(self.on_cell_run)
        self.session = session
        self._ended = False
        self._listen()
        self._send(self._hello())
        announce(session.shell)

    def close(self) -> None:
        """The session stopped (its plug-ins are closed): ``--off``, or ``--restart`` before the new session
        attaches, or the kernel's exit. The views hear of it after the cell, once it is known which."""
        self._ended = True

    def on_cell_run(self, event: dict[str, Any]) -> None:
        self._send({**event, "snapshot": status_dict(self.session)})

    def detach(self) -> None:
        """Tracking ended: tell the frontends, close the comms, unhook from the session and the shell."""
        self._send({"type": "stopped"})
        for comm in list(self._comms):
            comm.close()
        self._comms.clear()
        self._listen()
        try:
            self.session.shell.events.unregister("post_run_cell", self._check_still_tracking)
        except ValueError:
            pass
        self._comm_manager.unregister_target(TARGET, self._on_frontend_open)
        self._comm_manager.comms.pop(self._beacon.comm_id, None)

    # --- comm plumbing ------------------------------------------------------------------------------

    def _hello(self) -> dict[str, Any]:
        return {"type": "hello", "protocol": PROTOCOL, "snapshot": status_dict(self.session)}

    def _on_frontend_open(self, comm: Any, msg: dict[str, Any]) -> None:
        self._adopt(comm)
        comm.send(self._hello())

    def _adopt(self, comm: Any) -> None:
        self._comms.append(comm)
        self._listen()
        comm.on_msg(self._on_msg)
        comm.on_close(lambda msg, comm=comm: self._forget(comm))

    def _forget(self, comm: Any) -> None:
        if comm in self._comms:
            self._comms.remove(comm)
        self._listen()

    def _listen(self) -> None:
        """Hear the session's cell runs only while a comm is open: a cell with no panel to tell builds no
        snapshot (headless runs, a closed lab tab)."""
        listening = self.on_cell_run in self.session.listeners
        if self._comms and not listening:
            self.session.listeners.append(self.on_cell_run)
        elif not self._comms and listening:
            self.session.listeners.remove(self.on_cell_run)

    def _send(self, message: dict[str, Any]) -> None:
        for comm in list(self._comms):
            comm.send(message)

    def _on_msg(self, msg: dict[str, Any]) -> None:
        data = (msg.get("content") or {}).get("data") or {}
        kind = data.get("type")
        if kind == "order":
            order = _order(data.get("cells"))
            if order is None:
                self.session.warn_once("comm-order", "the lab sent a malformed cell order; using the saved notebook")
            else:
                self.session.use_live_order(order)
        elif kind == "refresh":
            self._send({"type": "status", "snapshot": status_dict(self.session)})

    def _check_still_tracking(self, result: Any) -> None:
        """After the cell that stopped the session (``%mlops_track --off``), and started none in its place,
        the views are told and the comms closed."""
        if self._ended:
            global _bridge
            if _bridge is self:
                _bridge = None
            self.detach()


def _order(cells: Any) -> list[Cell] | None:
    if not isinstance(cells, list) or len(cells) > MAX_CELLS:
        return None
    order = []
    for cell in cells:
        if not isinstance(cell, dict) or not isinstance(cell.get("id"), str) or not isinstance(cell.get("source"), str):
            return None
        order.append(Cell(cell["id"], cell["source"]))
    return order
