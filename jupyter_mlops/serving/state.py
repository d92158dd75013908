"""``.mlops/serving/``: what a serving process keeps on disk, for itself after a restart and for others.

* ``windows/<model>-v<version>-<host>-<port>.json``: the window (its reservoir sample, see ``window.py``)
  and the feedback (pending predictions, labelled rows), saved by the monitor thread every few seconds when
  they changed and once more at shutdown, so a server restarted on the same address for the same version
  carries on with the same window. Keyed by address too, because two replicas of one version would
  otherwise overwrite each other's window.
* ``servers/<same key>.json``: the running server (pid, URL, version, lineage) and its live status
  (requests/s, p50/p99 over the last minute, each input's drift), rewritten every few seconds and removed
  at a clean stop; the panel's Serving section and ``drift --live DIR`` read these.

Every read and write goes through ``project_files``, the one rule for the project's files: inside the
project with no link out, regular files only, and a write is a uniquely named temporary renamed over the
old file, so a reader, or a server killed mid-write, never sees half a file. Standard library only.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jupyter_mlops import project_files
from jupyter_mlops.errors import MlopsError
from jupyter_mlops.journal import pid_alive

SERVING_DIR = "serving"
WINDOWS, SERVERS = "windows", "servers"
STALE_S = 30.0
"""A server record not rewritten for this long belongs to a server that hangs or was killed."""


def serving_dir(root: Path) -> Path:
    return root / ".mlops" / SERVING_DIR


def key(model: str, version: str, host: str, port: int) -> str:
    """A file name for one served address: the model name with anything but ``[\\w.-]`` replaced."""
    def safe(text: str) -> str:
        return re.sub(r"[^\w.-]", "_", text)

    return f"{safe(model)}-v{safe(version)}-{safe(host)}-{port}"


def write_json(root: Path, path: Path, value: Any) -> None:
    """``value`` as JSON at ``path`` (in the project at ``root``), atomically; Conflict for a link out of
    the project or a FIFO in its place."""
    # dumps, not dump: json.dump encodes in pure Python, 10 times slower, holding the GIL the server's
    # requests need
    project_files.write_text(root, path, json.dumps(value, separators=(",", ":")))


def read_json(root: Path, path: Path) -> Any:
    """The JSON at ``path`` (in the project at ``root``); ``ValueError`` when it is missing, not a regular
    file inside the project, or not JSON."""
    try:
        text = project_files.read_text(root, path)
    except MlopsError as exc:
        raise ValueError(exc.message) from None
    if text is None:
        raise ValueError(f"{path.name} is gone")
    return json.loads(text)


def remove(root: Path, path: Path) -> None:
    project_files.remove(root, path)


def window_path(root: Path, name: str) -> Path:
    return serving_dir(root) / WINDOWS / f"{name}.json"


def server_path(root: Path, name: str) -> Path:
    return serving_dir(root) / SERVERS / f"{name}.json"


def running_servers(root: Path) -> Iterator[dict[str, Any]]:
    """The records of servers of this project that run now (their process alive, their record fresh)."""
    folder = serving_dir(root) / SERVERS
    if not folder.is_dir():
        return
    now = time.time()
    for path in sorted(folder.glob("*.json")):
        try:
            record = read_json(root, path)
        except (OSError, ValueError):
            continue  # being replaced, or not ours
        if not isinstance(record, Mapping) or not isinstance(record.get("pid"), int):
            continue
        here = record.get("host_name") == socket.gethostname()  # else its pid means nothing on this machine
        if (not here or pid_alive(record["pid"])) and now - float(record.get("updated_at", 0)) < STALE_S:
            yield dict(record)
