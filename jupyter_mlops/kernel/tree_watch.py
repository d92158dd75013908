"""Linux inotify on the project tree: the file I/O of native libraries and child processes, seen by the kernel.

The audit hook only sees what goes through Python's ``open``; pyarrow, polars, duckdb, h5py, sqlite and
every child process (``!cp``, ``subprocess``) read and write files in C. inotify reports those operations on
the watched directories whoever makes them, needs no privilege, and costs nothing while nothing happens:

* one watch per directory of the tree (not per file), added once on a background thread when tracking
  starts, and for each directory created later as soon as its creation is reported;
* a daemon thread blocks in ``poll`` (the GIL released) and folds events into per-path facts in batches
  every ``BATCH_DELAY_S`` while there are any, so the kernel's queue does not overflow when a cell writes
  10,000 files, and the thread does not fight that cell for the GIL at every write;
* :meth:`TreeWatcher.end` drains what is left synchronously: every operation a cell made returned before
  the cell did, so its events are already queued. An idle cell pays one lock and one empty ``read``.

Which events mean what was measured on this machine for each library (benchmarks/io_coverage.py): a read
is ``IN_ACCESS`` or ``IN_CLOSE_NOWRITE`` (memory-mapped readers never ``read()``, but their close is
"nowrite"); a write is ``IN_MODIFY``, ``IN_CREATE`` or ``IN_MOVED_TO`` (the final name of an atomic save).
``IN_CLOSE_WRITE`` is not a write: sqlite opens a database read-write for a plain ``SELECT``. A directory
listed (``IN_ACCESS`` on it: ``getdents``) or created marks a possible dataset folder.

inotify names no process. The tracker's own hasher announces its opens (:meth:`own_open`): a path's events
are the hasher's until the "nowrite" close that each of its opens ends with. ``IN_OPEN`` is not watched at
all: it would add an event per file to every cell that touches many, and says nothing a close does not.
Deciding that an event from another program is not the cell's is
left to the caller (``lineage.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

IN_ACCESS = 0x001
IN_MODIFY = 0x002
IN_CLOSE_NOWRITE = 0x010
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000
_MASK = (IN_ACCESS | IN_MODIFY | IN_CLOSE_NOWRITE | IN_MOVED_TO | IN_CREATE
         | IN_ONLYDIR | IN_EXCL_UNLINK)
_EVENT = struct.Struct("iIII")
_READ_SIZE = 1 << 16

BATCH_DELAY_S = 0.02
"""How long the thread lets events gather after the first one wakes it. A cell writing many files releases
the GIL on every system call; a thread waking for each event would take it back each time and slow that
cell several-fold. Gathered, they are folded in batches (and the kernel merges repeated events on a file)."""

MAX_WATCHES = 20_000
"""Directories watched per kernel at most. The per-user limit (``fs.inotify.max_user_watches``, 192,530
here) is shared by every kernel and editor of the user; a bigger tree is watched in part, with a warning."""


@dataclass
class Observation:
    """What the watched tree saw during one cell: absolute paths."""

    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    new: set[str] = field(default_factory=set)        # files created: what the cell reads of them is its own
    listed: set[str] = field(default_factory=set)     # directories whose entries were read
    created: set[str] = field(default_factory=set)    # directories that appeared
    overflowed: bool = False

    def empty(self) -> bool:
        return not (self.reads or self.writes or self.listed or self.created)


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        return libc
    except (OSError, AttributeError):
        return None


class TreeWatcher:
    """Watches every directory under ``root`` except those ``skip_dir(path)`` rejects (``.git``, ``.venv``…).

    ``warn`` gets one message when the watcher works only in part (watch limit, queue overflow).
    """

    def __init__(self, root: str, skip_dir: Callable[[str], bool], warn: Callable[[str], None]) -> None:
        libc = _libc()
        if libc is None:
            raise OSError(errno.ENOSYS, "inotify is Linux only")
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1: " + os.strerror(ctypes.get_errno()))
        self._libc, self._fd, self._root = libc, fd, root
        self._skip_dir, self._warn = skip_dir, warn
        self._dirs: dict[int, str] = {}          # watch descriptor -> directory
        self._watched: set[str] = set()
        self._lock = threading.Lock()            # the inotify fd, the maps and the observation
        self._own_lock = threading.Lock()
        self._own_pending: dict[str, int] = {}   # opens our hasher announced, whose close is not seen yet
        self._window: Observation | None = None
        self._spare: Observation | None = None
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._full = False
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlops-watcher", daemon=True)
        self._thread.start()

    # --- the cell window ------------------------------------------------------------------------------

    def begin(self) -> None:
        with self._lock:
            self._drain()  # events from before the cell (the last digests, other programs) are not its own
            self._window = self._spare if self._spare is not None else Observation()
            self._spare = None

    def end(self) -> Observation:
        """What the cell did: its events are all queued by now, whether or not the thread has woken for them."""
        with self._lock:
            self._drain()
            seen, self._window = self._window if self._window is not None else Observation(), None
            if seen.empty() and not seen.overflowed:
                self._spare = seen  # nothing seen: reused by the next cell, no allocation on the idle path
        return seen

    def own_open(self, path: str, delta: int) -> None:
        """Our hasher is about to open ``path`` (+1), or its open failed (-1): those events are not a cell's."""
        if os.path.dirname(path) not in self._watched and path not in self._watched:
            return
        with self._own_lock:
            count = self._own_pending.get(path, 0) + delta
            if count > 0:
                self._own_pending[path] = count
            else:
                self._own_pending.pop(path, None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._wake_r, self._wake_w, self._fd):
            os.close(fd)

    # --- the thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._watch_tree(self._root, None)
        finally:
            self.ready.set()
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while not self._closed:
            try:
                events = poller.poll()
            except InterruptedError:
                continue
            if self._closed or any(fd == self._wake_r for fd, _ in events):
                return
            time.sleep(BATCH_DELAY_S)
            with self._lock:
                self._drain()

    def _watch_tree(self, top: str, created: Observation | None) -> None:
        """Watch ``top`` and the directories under it; with ``created``, their files are new: written."""
        pending = [top]
        while pending and not self._closed:  # a long first walk stops when tracking does
            directory = pending.pop()
            if not self._add_watch(directory):
                continue
            if created is not None:
                created.created.add(directory)
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        try:
                            is_dir = entry.is_dir(follow_symlinks=False)
                        except OSError:
                            continue
                        if is_dir:
                            if not self._skip_dir(entry.path):
                                pending.append(entry.path)
                        elif created is not None:
                            created.writes.add(entry.path)
            except OSError:
                continue

    def _add_watch(self, directory: str) -> bool:
        if directory in self._watched:
            return True
        if len(self._dirs) >= MAX_WATCHES:
            self._partial(f"watching the first {MAX_WATCHES} folders of the project only")
            return False
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), _MASK)
        if wd < 0:
            code = ctypes.get_errno()
            if code == errno.ENOSPC:
                self._partial("the system's inotify watch limit (fs.inotify.max_user_watches) is reached")
            return False
        self._dirs[wd] = directory
        self._watched.add(directory)
        return True

    def _partial(self, why: str) -> None:
        if not self._full:
            self._full = True
            self._warn(f"{why}: files elsewhere that native code or child processes touch need --data")

    # --- events ---------------------------------------------------------------------------------------

    def _drain(self) -> None:
        """Read and fold every queued event; the caller holds ``_lock``."""
        while True:
            try:
                buf = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                return
            offset, size = 0, len(buf)
            while offset < size:
                wd, mask, _cookie, length = _EVENT.unpack_from(buf, offset)
                name = buf[offset + 16:offset + 16 + length].rstrip(b"\0") if length else b""
                offset += 16 + length
                self._event(wd, mask, name)

    def _event(self, wd: int, mask: int, name: bytes) -> None:
        if mask & IN_Q_OVERFLOW:
            if self._window is not None:
                self._window.overflowed = True
            with self._own_lock:  # events were lost: counts of the hasher's opens would hide a cell's reads
                self._own_pending.clear()
            return
        directory = self._dirs.get(wd)
        if directory is None:
            return
        if mask & IN_IGNORED:  # the directory was removed or moved away
            del self._dirs[wd]
            self._watched.discard(directory)
            return
        window = self._window
        if mask & IN_ISDIR:
            if not name:  # the directory's own watch: listed or closed
                self._file_event(directory, mask, window, is_dir=True)
            elif mask & (IN_CREATE | IN_MOVED_TO):
                sub = os.path.join(directory, os.fsdecode(name))
                if not self._skip_dir(sub):
                    self._watch_tree(sub, window)
            return
        self._file_event(os.path.join(directory, os.fsdecode(name)), mask, window, is_dir=False)

    def _file_event(self, path: str, mask: int, window: Observation | None, *, is_dir: bool) -> None:
        if self._own_pending:
            with self._own_lock:
                if path in self._own_pending and not mask & (IN_MODIFY | IN_CREATE | IN_MOVED_TO):
                    if mask & IN_CLOSE_NOWRITE:  # one per open: the hasher's read of it is over
                        _take(self._own_pending, path)
                    return  # our own read (a cell's read of it at that very moment counts as ours)
        if window is None:
            return
        if is_dir:
            if mask & IN_ACCESS:
                window.listed.add(path)
            return
        if mask & (IN_MODIFY | IN_CREATE | IN_MOVED_TO):
            window.writes.add(path)
            if mask & IN_CREATE:
                window.new.add(path)
        elif mask & (IN_ACCESS | IN_CLOSE_NOWRITE):
            window.reads.add(path)


def _take(counts: dict[str, int], path: str) -> None:
    left = counts[path] - 1
    if left:
        counts[path] = left
    else:
        del counts[path]
