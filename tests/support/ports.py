"""A free loopback port, for the servers tests start (tests run in parallel: never a fixed port).

Not one the kernel hands out for port 0: every kernel the suite starts binds five ZMQ sockets that way, so a
port found free by binding 0 could be a kernel's by the time the server binds it (seen in CI: the serving
test read a ZMQ greeting as its server's answer). Ports below the ephemeral range are only ever taken by
asking for them, and each pytest-xdist worker takes its own slice of them, so two workers never race either.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from pathlib import Path

_LOWEST = 15000  # above the ports services listen on by default (MLflow 5000, Prometheus 9090, Jupyter 8888)
_SLICES = 16  # more than the suite's workers


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) % _SLICES if worker.isdigit() else 0
    size = (_ephemeral_start() - _LOWEST) // _SLICES
    return range(_LOWEST + index * size, _LOWEST + (index + 1) * size)


_candidates = itertools.cycle(random.sample(_slice(), len(_slice())))


def free_port() -> int:
    """A port of this worker's slice that nothing listens on now."""
    for port in itertools.islice(_candidates, len(_slice())):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_slice()}")
