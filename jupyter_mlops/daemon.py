"""A project's background process: one per project root and interpreter, started lazily by its kernels.

The MLflow follower and the profiler are such processes: work a kernel must not do in its own interpreter
(MLflow's client, pyarrow's reads), done beside it for every kernel of the project. Each holds an exclusive
``flock`` on ``.mlops/<folder>/<name>-<key>.lock`` for its lifetime, ``key`` naming the interpreter; a
kernel starts one only when nobody holds that lock (one non-blocking try: no pid file to trust or clean
up), and of processes started together the loser of the race exits at once. Before it exits, a process
releases the lock and looks for work once more, so a kernel that found the lock held a moment earlier is
never left without one. They run niced, in their own session, with their output in ``<name>.log``.

What they read of the project must not look like a cell's read: a kernel's file watcher (inotify, which
names no process) would otherwise count the profiler reading ``data/x.parquet`` during a later cell as
that cell's input. :meth:`ProjectDaemon.unwatched` reads a file through a hard link in the daemon's own
folder under ``.mlops/``, which no watcher watches: inotify reports an access to the directory of the
name used, and the data's directory never sees one. What cannot be hard-linked (a folder, a file on another
file system behind a linked data folder) is read under its own name, announced to the watchers meanwhile
(``own_io.py``).

Standard library only: the kernel imports this module.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from jupyter_mlops import own_io, project_files
from jupyter_mlops.project import JOURNAL_DIR

_links = itertools.count()


@dataclass(frozen=True)
class ProjectDaemon:
    name: str    # "follower": its lock, its log, its log lines
    module: str  # what ``python -m`` runs; its ``main`` calls :meth:`hold`
    folder: str  # under ``.mlops/``: its lock, its log and whatever state it keeps

    def state_dir(self, root: Path) -> Path:
        return root / JOURNAL_DIR / self.folder

    def lock_path(self, root: Path, python: str = sys.executable) -> Path:
        return self.state_dir(root) / f"{self.name}-{hashlib.md5(python.encode()).hexdigest()[:10]}.lock"

    def ensure_running(self, root: Path) -> None:
        """Start this interpreter's process for ``root`` unless one holds the lock. Call after leaving it
        its work (a subscription, a journal row): one about to exit looks again after releasing the lock."""
        folder = self.state_dir(root)
        project_files.check(root, folder, folder=True)  # its lock and its log: inside the project, regular files
        folder.mkdir(parents=True, exist_ok=True)
        for path in (self.lock_path(root), folder / f"{self.name}.log"):
            project_files.check(root, path)
        fd = os.open(self.lock_path(root), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return  # one runs
            raise
        finally:
            os.close(fd)  # closing drops a lock we just took: the process takes it for itself
        with open(folder / f"{self.name}.log", "ab") as log:
            subprocess.Popen(
                [sys.executable, "-m", self.module, str(root)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
                cwd=root,  # not the kernel's: a DVC experiment's copy is deleted when the experiment ends
            )

    def running(self, root: Path) -> bool:
        """Whether such a process, of any interpreter, holds its lock for ``root``."""
        for lock in self.state_dir(root).glob(f"{self.name}-*.lock"):
            fd = os.open(lock, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            finally:
                os.close(fd)
        return False

    def hold(self, root: Path) -> int | None:
        """In the process itself: take the lock (None: another one won the race, exit), then become a
        good neighbour: niced, and a SIGTERM (logout, container stop) unwinds like an exit."""
        fd = os.open(self.lock_path(root), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for a person (or a test) looking
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        try:
            os.nice(19)  # the lowest: its work must not take a core from the kernels it serves (nice 10 left a
            # papermill run of the example 1.16x the untracked one on 2 cores, nice 19 1.10x)
        except OSError:
            pass
        return fd

    @staticmethod
    def may_exit(lock_fd: int, work_left: Callable[[], bool]) -> bool:
        """Release the lock, then look once more: a kernel that left work meanwhile saw the lock held and
        started nobody, so the process stays (unless another one took the lock in between)."""
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        if not work_left():
            return True
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        return False

    def log(self, message: str) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {self.name} {os.getpid()}: {message}", flush=True)

    @contextlib.contextmanager
    def unwatched(self, root: Path, path: Path) -> Iterator[Path]:
        """``path`` under another name, with the same basename, in this daemon's folder, for as long as it is
        read; ``path`` itself, announced, where no hard link can be made (a folder, another file system)."""
        folder = self.state_dir(root) / f"reading-{os.getpid()}-{next(_links)}"
        try:
            folder.mkdir(parents=True)
            link = folder / path.name
            os.link(path, link)  # a linked file: its target
        except OSError:
            with contextlib.suppress(OSError):
                folder.rmdir()
            with own_io.announced(root, [path]):
                yield path
            return
        try:
            yield link
        finally:
            with contextlib.suppress(OSError):
                link.unlink()
                folder.rmdir()

