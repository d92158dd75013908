"""Content digests of the data files a cell touched, in DVC's own format.

We record md5 because it is what DVC 3 writes to ``dvc.lock`` and ``.dvc`` files (``hash: md5``): a
digest the journal holds can be compared with DVC's without hashing twice. Directories get DVC's
``<md5>.dir`` tree digest, with the same total size and file count DVC records.

The kernel calls :class:`Hasher` on its hot path, so everything here is built so a cell never waits
for a big file and never hangs or crashes on an odd one:

* only regular files and directories are ever opened; FIFOs, sockets and devices (``/dev/stdin``) are
  reported, not read, and the open itself is non-blocking, so a path swapped for a FIFO between our
  ``stat`` and our ``open`` cannot hang us either;
* problems (permission denied, vanished, symlink loops, a file that keeps changing) come back as a
  :class:`FileDigest` with ``md5=None`` and a short ``error``, never as an exception;
* a file that changes while we read it is read again, so a digest is never of a half-written file;
* an unchanged file costs one ``stat``, thanks to a cache keyed on what changes when content does.

Stdlib only, and nothing slow at import time: this module is imported at ``%load_ext``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

CHUNK_SIZE = 1 << 20
"""Bytes read per ``hashlib`` update: big enough that the GIL is released for nearly all the time spent
hashing (threads parallelise), small enough that memory stays bounded per worker."""

INLINE_LIMIT = 4 << 20
"""Uncached bytes the kernel hashes on its own thread (~6 ms here); anything larger goes to a worker."""

DIR_INLINE_ENTRIES = 1000
"""Directory entries the kernel thread walks before handing a directory to a worker."""

MAX_ATTEMPTS = 3
"""Reads of a file that keeps changing before we give up and say so."""

RACY_NS = 2_000_000_000
"""A file modified this recently when we start reading is not cached: a second write in the same
timestamp tick (up to 2 s on FAT, a few ms on ext4) with the same size would leave its stat unchanged,
and the cache would then serve a stale digest. Git calls this the racy-clean problem."""

CACHE_ENTRIES = 100_000
"""Cached digests kept per Hasher (~200 bytes each); the oldest are dropped first."""

# Reasons in FileDigest.error. Directory errors are one of these followed by ": <relpath>" of the member.
NOT_REGULAR = "not a regular file"
PERMISSION_DENIED = "permission denied"
VANISHED = "vanished"
SYMLINK_LOOP = "symlink loop"
KEPT_CHANGING = "kept changing while hashed"
CANCELLED = "cancelled: hasher closed"
NOT_A_DIRECTORY = "not a directory"
INVALID_PATH = "invalid path"

# DVC's default ignores (dvc/ignore.py): ``.git`` of either kind, ``.hg/`` and ``.dvc/`` directories.
_IGNORED_ANY = frozenset({".git"})
_IGNORED_DIRS = frozenset({".hg", ".dvc"})

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO opens at once instead of waiting for a writer
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


@dataclass(frozen=True)
class FileDigest:
    """What we know of one path's content: its md5, or why there is none.

    ``size`` and ``mtime_ns`` are from the ``stat`` the digest belongs to, so a caller can tell whether
    the file it saw is the file that was hashed. For a directory, ``size`` is the sum of its files'
    sizes and ``nfiles`` their count, as DVC records them, and ``md5`` ends in ``.dir``.
    """

    path: str
    size: int | None
    mtime_ns: int | None
    md5: str | None
    nfiles: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.md5 is not None


class HashError(Exception):
    """A path that could not be hashed; ``str()`` is one of the reasons above."""


class _Changed(Exception):
    """The file changed under us; read it again."""


class _Cancelled(Exception):
    """The Hasher was closed while this digest was being computed."""


class _TooManyEntries(Exception):
    """A directory is too large to walk on the caller's thread."""


def _reason(exc: OSError | ValueError) -> str:
    if isinstance(exc, ValueError):  # a path os.stat rejects outright, e.g. with a NUL byte
        return INVALID_PATH
    if isinstance(exc, FileNotFoundError):
        return VANISHED
    if isinstance(exc, PermissionError):
        return PERMISSION_DENIED
    if exc.errno == errno.ELOOP:
        return SYMLINK_LOOP
    return f"unreadable: {(exc.strerror or str(exc)).lower()}"


_Key = tuple[int, int, int, int, int]


def _key(st: os.stat_result) -> _Key:
    """What changes when a file's content may have changed.

    ctime is in because it cannot be set back by ``touch -d``/``os.utime`` (mtime can, e.g. by
    ``cp -p`` or ``tar``); the path is not, because (st_dev, st_ino) already names the file and
    resolving a realpath would cost an ``lstat`` per path component.
    """
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class _Cache:
    """md5 by stat key; shared by the kernel thread and the workers."""

    def __init__(self, max_entries: int = CACHE_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._digests: dict[_Key, str] = {}
        self._max_entries = max_entries

    def get(self, key: _Key) -> str | None:
        with self._lock:
            return self._digests.get(key)

    def put(self, key: _Key, md5: str) -> None:
        with self._lock:
            if len(self._digests) >= self._max_entries:
                del self._digests[next(iter(self._digests))]
            self._digests[key] = md5


OwnOpen = Callable[[str, int], None]
"""Told ``(path, +1)`` before the hasher opens a file or lists a folder and ``(path, -1)`` if that failed,
so that a watcher of the project tree can tell the hasher's reads from a cell's."""


def _announced_open(path: str, own: OwnOpen | None) -> int:
    if own is None:
        return os.open(path, _OPEN_FLAGS)
    own(path, 1)
    try:
        return os.open(path, _OPEN_FLAGS)
    except BaseException:
        own(path, -1)
        raise


def _read_md5(path: str, before: os.stat_result, chunk_size: int, cancel: threading.Event | None,
              own: OwnOpen | None = None) -> str:
    """md5 of the bytes of ``path``, which ``before`` says is a regular file.

    The open is non-blocking and ``fstat`` checks the opened file is that same regular file: between our
    ``stat`` and our ``open`` the path may have been replaced by something else.
    """
    fd = _announced_open(path, own)
    with open(fd, "rb", buffering=0) as f:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise HashError(NOT_REGULAR)
        if (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino):
            raise _Changed
        digest = hashlib.md5(usedforsecurity=False)  # not for security: allowed on FIPS systems
        buf = bytearray(chunk_size)
        view = memoryview(buf)
        while n := f.readinto(buf):
            if cancel is not None and cancel.is_set():
                raise _Cancelled
            digest.update(view[:n])
        return digest.hexdigest()


def _file_digest(path: str, cache: _Cache | None, chunk_size: int, cancel: threading.Event | None,
                 own: OwnOpen | None = None) -> FileDigest:
    """Digest of the regular file at absolute ``path``, re-read while it changes under us."""
    size = mtime_ns = None
    for _ in range(MAX_ATTEMPTS):
        try:
            before = os.stat(path)
        except (OSError, ValueError) as exc:
            return FileDigest(path, None, None, None, error=_reason(exc))
        if not stat.S_ISREG(before.st_mode):
            return FileDigest(path, None, None, None, error=NOT_REGULAR)
        size, mtime_ns, key = before.st_size, before.st_mtime_ns, _key(before)
        md5 = cache.get(key) if cache is not None else None
        if md5 is not None:
            return FileDigest(path, size, mtime_ns, md5)
        started_ns = time.time_ns()
        try:
            md5 = _read_md5(path, before, chunk_size, cancel, own)
            after = os.stat(path)
        except _Changed:
            continue
        except HashError as exc:
            return FileDigest(path, None, None, None, error=str(exc))
        except (OSError, ValueError) as exc:
            return FileDigest(path, size, mtime_ns, None, error=_reason(exc))
        if _key(after) != key:
            continue
        if cache is not None and started_ns - before.st_mtime_ns >= RACY_NS:
            cache.put(key, md5)
        return FileDigest(path, size, mtime_ns, md5)
    return FileDigest(path, size, mtime_ns, None, error=KEPT_CHANGING)


def _walk(root: str, max_entries: int | None, own: OwnOpen | None = None) -> list[tuple[str, str]]:
    """(relpath, path) of the files DVC would put in ``root``'s tree.

    Like DVC (os.walk without following links, plus its default ignores): symlinks to files are
    followed, symlinks to directories are not, empty directories leave no trace, and a subdirectory
    holding a ``.dvc`` is a DVC sub-repository and is skipped whole. Unlike os.walk, an unreadable
    subdirectory is an error rather than silently missing files.
    """
    files: list[tuple[str, str]] = []
    pending = [("", root)]
    seen = 0
    while pending:
        prefix, directory = pending.pop()
        if own is not None:
            own(directory, 1)
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except BaseException:
            if own is not None:
                own(directory, -1)
            raise
        seen += len(entries)
        if max_entries is not None and seen > max_entries:
            raise _TooManyEntries
        if prefix and any(entry.name == ".dvc" for entry in entries):
            continue
        for entry in entries:
            if entry.name in _IGNORED_ANY:
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:  # e.g. a symlink loop: os.walk lists it as a file, and so does DVC
                is_dir = False
            relpath = prefix + entry.name
            if not is_dir:
                files.append((relpath, entry.path))
            elif entry.name not in _IGNORED_DIRS and not entry.is_symlink():
                pending.append((relpath + "/", entry.path))
    return files


def _tree_md5(entries: list[tuple[str, str]]) -> str:
    """DVC's directory digest from sorted (relpath, md5) pairs.

    dvc_data's ``Tree.as_bytes``: ``json.dumps`` of ``[{"md5": …, "relpath": …}, …]`` sorted by relpath
    with ``sort_keys=True`` and default separators and ASCII escaping, encoded as UTF-8, md5'd, ``.dir``
    appended.
    """
    import json  # here, not at the top: only directories need it, and import time matters

    listing = [{"md5": md5, "relpath": relpath} for relpath, md5 in entries]
    blob = json.dumps(listing, sort_keys=True).encode("utf-8")
    return hashlib.md5(blob, usedforsecurity=False).hexdigest() + ".dir"


def _dir_digest(
    path: str,
    cache: _Cache | None,
    chunk_size: int,
    cancel: threading.Event | None,
    listing: list[tuple[str, str]] | None = None,
    own: OwnOpen | None = None,
) -> FileDigest:
    """Tree digest of the directory at absolute ``path``; ``listing`` is a walk already done."""
    for _ in range(MAX_ATTEMPTS):
        try:
            mtime_ns = os.stat(path).st_mtime_ns
            files = listing if listing is not None else _walk(path, None, own)
        except (OSError, ValueError) as exc:
            return FileDigest(path, None, None, None, error=_reason(exc))
        listing = None
        entries: list[tuple[str, str]] = []
        size = 0
        vanished = False
        for relpath, member in files:
            result = _file_digest(member, cache, chunk_size, cancel, own)
            if result.error == VANISHED:  # the directory changed since we listed it: list it again
                vanished = True
                break
            if result.md5 is None:
                return FileDigest(path, None, mtime_ns, None, error=f"{result.error}: {relpath}")
            entries.append((relpath, result.md5))
            size += result.size or 0
        if not vanished:
            entries.sort()
            return FileDigest(path, size, mtime_ns, _tree_md5(entries), nfiles=len(entries))
    return FileDigest(path, None, None, None, error=KEPT_CHANGING)


def _digest(path: str, cache: _Cache | None, chunk_size: int, cancel: threading.Event | None,
            own: OwnOpen | None = None) -> FileDigest:
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            return _dir_digest(path, cache, chunk_size, cancel, own=own)
    except (OSError, ValueError) as exc:
        return FileDigest(path, None, None, None, error=_reason(exc))
    return _file_digest(path, cache, chunk_size, cancel, own)


def md5_file(path: str | os.PathLike[str], chunk_size: int = CHUNK_SIZE) -> str:
    """md5 hex digest of a regular file, streamed; raises :class:`HashError` with the reason otherwise."""
    result = _file_digest(os.path.abspath(path), None, chunk_size, None)
    if result.md5 is None:
        raise HashError(result.error)
    return result.md5


def dir_digest(path: str | os.PathLike[str]) -> FileDigest:
    """DVC's ``<md5>.dir`` digest, total size and file count for a directory (uncached, blocking)."""
    path = os.path.abspath(path)
    try:
        if not stat.S_ISDIR(os.stat(path).st_mode):
            return FileDigest(path, None, None, None, error=NOT_A_DIRECTORY)
    except (OSError, ValueError) as exc:
        return FileDigest(path, None, None, None, error=_reason(exc))
    return _dir_digest(path, None, CHUNK_SIZE, None)


def file_digest(path: str | os.PathLike[str]) -> FileDigest:
    """Digest of a file or directory, uncached and blocking: for scripts and the CLI, not the kernel."""
    return _digest(os.path.abspath(path), None, CHUNK_SIZE, None)


OnDone = Callable[[FileDigest], None]
WORKER_NICE = 10
"""How much lower than the kernel a worker runs: a 10 GB digest uses the cores the kernel leaves idle, not
the one its next cell needs (``benchmarks/scale.py`` (a) measures a cell beside busy workers)."""


def _yield_cpu() -> None:
    """Lower this worker thread's priority. Linux only: there ``PRIO_PROCESS`` of a thread id is that
    thread; elsewhere the same call would name a process, so nothing is done."""
    if sys.platform == "linux":
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        except OSError:
            pass


@dataclass
class _Job:
    """One background digest and everyone waiting for it."""

    key: _Key | None
    callbacks: list[OnDone]
    started: bool = False


class Hasher:
    """The kernel's hasher: answers at once when it can, otherwise later from a worker thread.

    Small or cached files are answered on the caller's thread; big files and big directories go to a
    small pool (hashlib releases the GIL, so independent files hash in parallel) and ``on_done`` is
    called from the worker. Requests for a path already queued share one read, and so do requests for an
    unchanged file already being read: a loop of cells each reading a 10 GB file starts one read of it,
    not one per cell. Thread-safe.
    """

    def __init__(
        self,
        inline_limit: int = INLINE_LIMIT,
        workers: int | None = None,
        *,
        chunk_size: int = CHUNK_SIZE,
        dir_inline_entries: int = DIR_INLINE_ENTRIES,
        own_open: OwnOpen | None = None,
    ) -> None:
        self.inline_limit = inline_limit
        self._own = own_open
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self.chunk_size = chunk_size
        self.dir_inline_entries = dir_inline_entries
        self._cache = _Cache()
        self._cancel = threading.Event()
        self._lock = threading.Condition()
        self._jobs: dict[str, _Job] = {}  # path -> its latest job, until that job ends
        self._outstanding = 0
        self._pool: ThreadPoolExecutor | None = None  # started on first use: most sessions never need it

    def digest(self, path: str | os.PathLike[str], on_done: OnDone) -> FileDigest | None:
        """The digest now if cached or small; else None, and ``on_done(result)`` is called later from a
        worker. ``on_done`` is never called when a result is returned. Never raises for a bad path
        (the result says what is wrong); raises RuntimeError after :meth:`close`.
        """
        if self._cancel.is_set():
            raise RuntimeError("Hasher is closed")
        path = os.path.abspath(path)
        try:
            st = os.stat(path)
        except (OSError, ValueError) as exc:
            return FileDigest(path, None, None, None, error=_reason(exc))
        if stat.S_ISREG(st.st_mode):
            md5 = self._cache.get(_key(st))
            if md5 is not None:
                return FileDigest(path, st.st_size, st.st_mtime_ns, md5)
            if st.st_size <= self.inline_limit:
                return _file_digest(path, self._cache, self.chunk_size, None, self._own)
            self._submit(path, on_done, None, _key(st))
            return None
        if stat.S_ISDIR(st.st_mode):
            return self._directory(path, on_done)
        return FileDigest(path, None, None, None, error=NOT_REGULAR)

    def _directory(self, path: str, on_done: OnDone) -> FileDigest | None:
        """Hash a directory inline if it is small once its cached files are discounted."""
        try:
            listing = _walk(path, self.dir_inline_entries, self._own)
        except _TooManyEntries:
            self._submit(path, on_done, None)
            return None
        except (OSError, ValueError) as exc:
            return FileDigest(path, None, None, None, error=_reason(exc))
        uncached = 0
        for _, member in listing:
            try:
                st = os.stat(member)
            except OSError:
                continue  # _dir_digest will report it
            if self._cache.get(_key(st)) is None:
                uncached += st.st_size
        if uncached > self.inline_limit:
            self._submit(path, on_done, listing)
            return None
        return _dir_digest(path, self._cache, self.chunk_size, None, listing, self._own)

    def _submit(self, path: str, on_done: OnDone, listing: list[tuple[str, str]] | None,
                key: _Key | None = None) -> None:
        """Queue a job, or join the path's job: one not started yet, or a running read of a file whose
        stat is the one the caller saw (its digest is then the caller's too; a file changed since gets
        a new job). A directory joins only a job not started: its walk may be out of date."""
        with self._lock:
            if self._cancel.is_set():  # checked under the lock, so close() cannot miss this job
                raise RuntimeError("Hasher is closed")
            job = self._jobs.get(path)
            if job is not None and (not job.started or (key is not None and job.key == key)):
                job.callbacks.append(on_done)
                return
            job = self._jobs[path] = _Job(key, [on_done])
            self._outstanding += 1
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="mlops-hasher",
                                                initializer=_yield_cpu)
            self._pool.submit(self._run, path, listing, job)

    def _run(self, path: str, listing: list[tuple[str, str]] | None, job: _Job) -> None:
        with self._lock:
            job.started = True
        try:
            try:
                result = self._compute(path, listing)
            finally:
                with self._lock:  # from here on, a new request starts a new job
                    if self._jobs.get(path) is job:
                        del self._jobs[path]
                    callbacks = list(job.callbacks)
            for on_done in callbacks:
                try:
                    on_done(result)
                except Exception:  # one broken callback must not stop the others or the pool
                    import logging

                    logging.getLogger(__name__).exception("on_done failed for %s", path)
        finally:
            with self._lock:
                self._outstanding -= 1
                self._lock.notify_all()

    def _compute(self, path: str, listing: list[tuple[str, str]] | None) -> FileDigest:
        try:
            if self._cancel.is_set():
                raise _Cancelled
            if listing is not None:
                return _dir_digest(path, self._cache, self.chunk_size, self._cancel, listing, self._own)
            return _digest(path, self._cache, self.chunk_size, self._cancel, self._own)
        except _Cancelled:
            return FileDigest(path, None, None, None, error=CANCELLED)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no background work is pending (True) or ``timeout`` seconds pass (False)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._outstanding == 0, timeout)

    def close(self) -> None:
        """Stop: pending work ends within one chunk and gets ``on_done`` with error CANCELLED.

        Returns when the workers are gone, so no ``on_done`` runs after it. Call :meth:`wait` first
        to let pending digests finish.
        """
        with self._lock:
            self._cancel.set()
            pool = self._pool
        if pool is not None:
            pool.shutdown(wait=True)
