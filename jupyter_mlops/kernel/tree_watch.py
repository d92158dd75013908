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
are the hasher's until the "nowrite" close that each of its opens ends with. Our other processes (git for
provenance, ``verify``, DVC, the follower's fallbacks) announce theirs in ``.mlops/own-io/``
(``own_io.py``), a folder watched here too: between an announcement's creation and its removal, the events of
its path (or of the folder's contents) are theirs. ``IN_OPEN`` is not watched at all: it would add an event
per file to every cell that touches many, and says nothing a close does not. Deciding that an event from
another program is not the cell's is left to the caller (``lineage.py``).

Links: a linked folder (or file) under the root whose target lies outside the project is watched where it
points (one watch per folder there too, within ``MAX_WATCHES``), and its events are named by the path under the
root, so ``ext/s.parquet`` read through ``ext -> /big/disk`` is recorded as ``ext/s.parquet``. A link pointing
inside the project needs nothing: its target's folder is watched under its own name.
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

from jupyter_mlops import own_io

IN_ACCESS = 0x001
IN_MODIFY = 0x002
IN_CLOSE_NOWRITE = 0x010
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000
_MASK = (IN_ACCESS | IN_MODIFY | IN_CLOSE_NOWRITE | IN_MOVED_TO | IN_CREATE
         | IN_ONLYDIR | IN_EXCL_UNLINK)
_ANNOUNCEMENTS_MASK = IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR
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
    """Watches every directory under ``root`` except those ``skip_dir(path)`` rejects (``.git``, ``.venv``…),
    and where the links under it point outside it.

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
        self._root_prefix = root + os.sep
        self._skip_dir, self._warn = skip_dir, warn
        self._wds: set[int] = set()              # every watch, for the budget
        self._dirs: dict[int, str] = {}          # watch descriptor -> directory (under the root, as named there)
        self._watched: set[str] = set()
        self._linked_targets: set[str] = set()   # real folders outside the root watched through a link
        self._file_links: dict[int, dict[str, list[str]]] = {}  # a linked file's folder: its name -> the links
        self._lock = threading.Lock()            # the inotify fd, the maps and the observation
        self._own_lock = threading.Lock()
        self._own_pending: dict[str, int] = {}   # opens our hasher announced, whose close is not seen yet
        self._announcements_wd = -1
        self._announced: dict[str, dict[str, int]] = {}  # own_io key -> {announcement name: pid}
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
        """Our hasher is about to open ``path`` (+1), or its open failed (-1): those events are not a cell's.
        A path through a link that points inside the project is reported under its target's name."""
        if os.path.dirname(path) not in self._watched and path not in self._watched:
            path = os.path.realpath(path)
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
            self._watch_announcements()
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

    def _watch_tree(self, top: str, created: Observation | None, target: str | None = None) -> None:
        """Watch ``top`` and the directories under it; with ``created``, their files are new: written.
        ``target``: the real folder ``top`` stands for when it was reached through a link."""
        pending = [(top, target)]
        while pending and not self._closed:  # a long first walk stops when tracking does
            directory, real = pending.pop()
            if not self._add_watch(directory):
                continue
            if real is not None:
                self._linked_targets.add(real)
            if created is not None:
                created.created.add(directory)
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        try:
                            if entry.is_symlink():
                                self._follow_link(entry.path, pending)
                                continue
                            is_dir = entry.is_dir(follow_symlinks=False)
                        except OSError:
                            continue
                        if is_dir:
                            if not self._skip_dir(entry.path):
                                pending.append((entry.path, None if real is None else os.path.join(real, entry.name)))
                        elif created is not None:
                            created.writes.add(entry.path)
            except OSError:
                continue

    def _follow_link(self, link: str, pending: list[tuple[str, str | None]]) -> None:
        """A link whose target is outside the project: a folder is watched through the link (its events carry
        the link's name), a file by a watch on its folder that reports that file only."""
        try:
            target = os.path.realpath(link, strict=True)
        except (OSError, RuntimeError):  # dangling, a loop
            return
        if target == self._root or target.startswith(self._root_prefix):
            return  # watched under its own name already (or a folder that is never data)
        if os.path.isdir(target):
            if target not in self._linked_targets and not self._skip_dir(link) and not self._skip_dir(target):
                pending.append((link, target))
            return
        if not os.path.isfile(target):  # a device, a FIFO: not data, and its folder (/dev) is busy
            return
        wd = self._inotify_watch(os.path.dirname(target))
        if wd >= 0:
            links = self._file_links.setdefault(wd, {}).setdefault(os.path.basename(target), [])
            if link not in links:
                links.append(link)

    def _add_watch(self, directory: str) -> bool:
        if directory in self._watched:
            return True
        wd = self._inotify_watch(directory)
        if wd < 0:
            return False
        self._dirs.setdefault(wd, directory)  # one folder reached twice (two links) keeps its first name
        self._watched.add(directory)
        return True

    def _inotify_watch(self, directory: str, mask: int = _MASK) -> int:
        if len(self._wds) >= MAX_WATCHES:
            self._partial(f"watching the first {MAX_WATCHES} folders of the project only")
            return -1
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), mask)
        if wd < 0:
            code = ctypes.get_errno()
            if code == errno.ENOSPC:
                self._partial("the system's inotify watch limit (fs.inotify.max_user_watches) is reached")
            return -1
        self._wds.add(wd)
        return wd

    def _partial(self, why: str) -> None:
        if not self._full:
            self._full = True
            self._warn(f"{why}: files elsewhere that native code or child processes touch need --data")

    # --- our processes' announcements (own_io.py) -----------------------------------------------------

    def _watch_announcements(self) -> None:
        """Watch ``.mlops/own-io/`` first, then read what is announced already: an announcement made in
        between is both seen and read, which is the same announcement."""
        folder = own_io.folder(self._root)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return  # a read-only project: nothing of ours can announce there either
        self._announcements_wd = self._inotify_watch(str(folder), _ANNOUNCEMENTS_MASK)
        self._reread_announcements()

    def _reread_announcements(self) -> None:
        announced: dict[str, dict[str, int]] = {}
        try:
            names = os.listdir(own_io.folder(self._root))
        except OSError:
            names = []
        for name in names:
            if (parsed := own_io.parse(name)) is not None:
                announced.setdefault(parsed[1], {})[name] = parsed[0]
        with self._own_lock:
            self._announced = announced

    def _announcement(self, mask: int, name: bytes) -> None:
        text = os.fsdecode(name)
        parsed = own_io.parse(text)
        if parsed is None:
            return
        pid, key = parsed
        with self._own_lock:
            if mask & (IN_CREATE | IN_MOVED_TO):
                self._announced.setdefault(key, {})[text] = pid
            elif (names := self._announced.get(key)) is not None:
                names.pop(text, None)
                if not names:
                    del self._announced[key]

    def _is_announced(self, path: str) -> bool:
        """Whether one of our processes announced ``path`` or a folder above it; announcements whose process
        is gone are dropped here, the first time they would hide an event."""
        if not path.startswith(self._root_prefix):
            return False
        relpath = path[len(self._root_prefix):].replace(os.sep, "/")
        with self._own_lock:
            for key in _covering_keys(relpath):
                names = self._announced.get(key)
                if names and self._alive(key, names):
                    return True
        return False

    def _alive(self, key: str, names: dict[str, int]) -> bool:
        for name, pid in list(names.items()):
            if _pid_alive(pid):
                return True
            del names[name]
            try:
                os.unlink(os.path.join(own_io.folder(self._root), name))
            except OSError:
                pass
        del self._announced[key]
        return False

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
            self._reread_announcements()
            return
        if wd == self._announcements_wd:
            if mask & IN_IGNORED:
                self._announcements_wd = -1
            elif name:
                self._announcement(mask, name)
            return
        directory = self._dirs.get(wd)
        links = self._file_links.get(wd) if self._file_links else None
        if directory is None and links is None:
            return
        if mask & IN_IGNORED:  # the directory was removed or moved away
            self._dirs.pop(wd, None)
            self._file_links.pop(wd, None)
            self._wds.discard(wd)
            self._watched.discard(directory)
            return
        window = self._window
        if mask & IN_ISDIR:
            if directory is None:
                return
            if not name:  # the directory's own watch: listed or closed
                self._file_event(directory, mask, window, is_dir=True)
            elif mask & (IN_CREATE | IN_MOVED_TO):
                sub = os.path.join(directory, os.fsdecode(name))
                if not self._skip_dir(sub):
                    self._watch_tree(sub, window)
            return
        text = os.fsdecode(name)
        if directory is not None:
            self._file_event(os.path.join(directory, text), mask, window, is_dir=False)
        if links is not None:
            for link in links.get(text, ()):
                self._file_event(link, mask, window, is_dir=False)

    def _file_event(self, path: str, mask: int, window: Observation | None, *, is_dir: bool) -> None:
        if self._own_pending:
            with self._own_lock:
                if path in self._own_pending and not mask & (IN_MODIFY | IN_CREATE | IN_MOVED_TO):
                    if mask & IN_CLOSE_NOWRITE:  # one per open: the hasher's read of it is over
                        _take(self._own_pending, path)
                    return  # our own read (a cell's read of it at that very moment counts as ours)
        if window is None:
            return
        if self._announced and self._is_announced(path):
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


def _covering_keys(relpath: str) -> list[str]:
    """The announcement keys that cover ``relpath``: itself, each folder above it, the whole tree."""
    keys = [own_io.WHOLE_TREE]
    while relpath:
        keys.append(own_io.key(relpath))
        relpath = relpath.rpartition("/")[0]
    return keys


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _take(counts: dict[str, int], path: str) -> None:
    left = counts[path] - 1
    if left:
        counts[path] = left
    else:
        del counts[path]
