"""What a cell's Python code does to files, seen through PEP 578 audit events.

Audit hooks cannot be removed, so one hook is installed per process and gated by a flag: when no cell is
being captured it returns after one comparison. Seen on every thread except the tracker's own (named
``mlops-…`` / ``jupyter-mlops-…``: the hasher, the watcher, the MLflow mirror):

* ``open`` — Python's ``open()`` and the C extensions that go through it (pandas' parsers, numpy, pickle,
  csv, json, ``shutil.copy``, ``%%writefile``), with the role its mode or flags say;
* ``os.rename`` (also raised by ``os.replace``) — the destination is written: an atomic save's final name;
* ``os.mkdir``, ``os.listdir``, ``os.scandir`` — folders made or listed, which may be one dataset;
* ``sqlite3.connect`` — the database file, opened by SQLite in C;
* ``subprocess.Popen``, ``os.system``, ``os.posix_spawn``, ``os.fork``/``os.forkpty`` — a child process ran;
  the words of its command line are kept, since they name the files it is likely to touch;
* ``mmap.__new__`` — a file mapped into memory (``np.load(…, mmap_mode="r")``, ``np.memmap``): later cells
  that touch the map read the file without any event (``origins.py``).

I/O done entirely in C (pyarrow, polars, duckdb, h5py) and by child processes raises no event; on Linux
``tree_watch.py`` sees it.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_OWN_THREADS = ("mlops-", "jupyter-mlops")
# Raised in the parent before a child exists (``!cmd`` forks a pty through pexpect: "os.forkpty").
_SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty"})
_EVENTS = frozenset({"open", "os.rename", "os.mkdir", "os.listdir", "os.scandir", "sqlite3.connect",
                     "mmap.__new__"}) | _SPAWN_EVENTS


@dataclass
class Captured:
    """Absolute paths a cell's Python code touched, and the words that name what its children touched."""

    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    created: set[str] = field(default_factory=set)
    mentions: list[str] = field(default_factory=list)   # command lines and paths handed to C code
    spawned: bool = False                               # the cell ran a child process
    mapped: set[str] = field(default_factory=set)       # files mapped into memory with Python's mmap


class FileCapture:
    """The process-wide capture; :meth:`start` and :meth:`stop` bracket one cell."""

    def __init__(self) -> None:
        self.seen = Captured()
        self.active = False

    def start(self) -> None:
        self.seen = Captured()
        self.active = True

    def stop(self) -> Captured:
        self.active = False
        return self.seen

    def on_event(self, event: str, args: tuple) -> None:
        name = threading.current_thread().name
        if name.startswith(_OWN_THREADS):
            return
        seen = self.seen
        if event == "open":
            self._open(seen, *args)
        elif event in _SPAWN_EVENTS:
            seen.spawned = True
            seen.mentions.extend(_words(args))
        elif event == "mmap.__new__":
            path = _mapped_file(args[0] if args else -1)
            if path is not None:
                seen.mapped.add(path)
        elif event == "os.rename":
            src, dst = _path(args[0]), _path(args[1])
            if dst is not None:
                seen.writes.add(dst)
                seen.mentions.append(dst)
            if src is not None:
                seen.mentions.append(src)
        else:
            path = _path(args[0] if args else ".")
            if path is None:
                return
            if event == "os.mkdir":
                if not os.path.isdir(path):  # raised before the call: makedirs(exist_ok=True) creates nothing
                    seen.created.add(path)
            elif event == "sqlite3.connect":
                if os.path.basename(path) != ":memory:":
                    seen.reads.add(path)
                    seen.mentions.append(path)
            else:
                seen.listed.add(path)

    def _open(self, seen: Captured, path: object, mode: object, flags: object) -> None:
        path = _path(path)
        if path is None:  # a file descriptor: nothing to name
            return
        # "w+" and O_TRUNC empty the file first: what the cell reads back is its own output, not an input
        # (zipfile behind np.savez, PIL's save).
        if isinstance(mode, str):
            reads = "r" in mode or ("a" in mode and "+" in mode)
            writes = any(c in mode for c in "wax+")
        elif isinstance(flags, int):
            writes = bool(flags & _WRITE_FLAGS)
            reads = not (flags & (os.O_WRONLY | os.O_TRUNC))
        else:
            reads, writes = True, False
        if reads:
            seen.reads.add(path)
        if writes:
            seen.writes.add(path)


def _path(value: object) -> str | None:
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    elif not isinstance(value, str):
        value = os.fspath(value) if hasattr(value, "__fspath__") else None
        if isinstance(value, bytes):
            value = os.fsdecode(value)
        if not isinstance(value, str):
            return None
    return os.path.abspath(value)


def _mapped_file(fileno: object) -> str | None:
    """The file behind a descriptor being mapped (Linux's ``/proc``); None for an anonymous map."""
    if not isinstance(fileno, int) or fileno < 0:
        return None
    try:
        return os.readlink(f"/proc/self/fd/{fileno}")
    except OSError:
        return None


def _words(args: tuple) -> list[str]:
    """The strings in an event's arguments: the executable, argv, a shell command line."""
    out: list[str] = []
    for arg in args:
        if isinstance(arg, (str, bytes, os.PathLike)):
            out.append(os.fsdecode(os.fspath(arg)))
        elif isinstance(arg, (list, tuple)):
            out.extend(os.fsdecode(os.fspath(a)) for a in arg if isinstance(a, (str, bytes, os.PathLike)))
    return out


_capture: FileCapture | None = None


def _audit(event: str, args: tuple) -> None:
    if event not in _EVENTS:  # first: most events (compile, exec, sys._getframe…) are none of ours
        return
    capture = _capture
    if capture is None or not capture.active:
        return
    try:
        capture.on_event(event, args)
    except Exception:
        pass


def install() -> FileCapture:
    """The process-wide capture, installing the audit hook on first use."""
    global _capture
    if _capture is None:
        _capture = FileCapture()
        sys.addaudithook(_audit)
    return _capture
