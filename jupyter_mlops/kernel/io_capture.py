"""Which files a cell opened, seen through the PEP 578 ``open`` audit event.

Audit hooks cannot be removed, so one hook is installed per process and gated by a flag: when no cell is
being captured it returns after one comparison. It sees ``open()`` from Python and from C extensions that
go through it (pandas' parsers, numpy, pickle, csv, json); I/O done entirely in C (pyarrow datasets, h5py)
is invisible and is declared with ``%mlops_track --data``.
"""

from __future__ import annotations

import os
import sys
import threading

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class FileCapture:
    """Collects (absolute path → read?, written?) for the opens made by the kernel's main thread."""

    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.writes: set[str] = set()
        self.active = False
        self._thread = threading.main_thread().ident

    def start(self) -> None:
        self.reads = set()
        self.writes = set()
        self.active = True

    def stop(self) -> tuple[set[str], set[str]]:
        self.active = False
        return self.reads, self.writes

    def on_open(self, path: object, mode: object, flags: object) -> None:
        # Our hasher's threads open files too; only what the cell's own thread opens is the cell's I/O.
        if threading.get_ident() != self._thread:
            return
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        elif not isinstance(path, str):
            path = os.fspath(path) if hasattr(path, "__fspath__") else None
            if not isinstance(path, str):  # a file descriptor: nothing to name
                return
        path = os.path.abspath(path)
        if isinstance(mode, str):
            reads = "r" in mode or "+" in mode
            writes = any(c in mode for c in "wax+")
        elif isinstance(flags, int):
            writes = bool(flags & _WRITE_FLAGS)
            reads = not (flags & os.O_WRONLY)
        else:
            reads, writes = True, False
        if reads:
            self.reads.add(path)
        if writes:
            self.writes.add(path)


_capture: FileCapture | None = None


def _audit(event: str, args: tuple) -> None:
    if event != "open":
        return
    capture = _capture
    if capture is None or not capture.active:
        return
    try:
        capture.on_open(*args)
    except Exception:
        pass


def install() -> FileCapture:
    """The process-wide capture, installing the audit hook on first use."""
    global _capture
    if _capture is None:
        _capture = FileCapture()
        sys.addaudithook(_audit)
    return _capture
