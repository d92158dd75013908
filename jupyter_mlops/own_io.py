"""Our own processes' file I/O, announced to the kernels' file watchers so that no cell is given it.

inotify names no process: when git (the provenance capture), the follower, ``verify`` or DVC reads a project
file under its own name while a kernel runs a cell that names that file, the kernel's watcher cannot tell the
read from the cell's. Helpers that can read through another name do (``daemon.ProjectDaemon.unwatched``: a
hard link in an unwatched folder). The others announce what they are about to touch with :func:`announced`:
one empty file per path in ``.mlops/own-io/``, created before the I/O and removed after it. Every tracking
kernel's watcher watches that folder (``kernel/tree_watch.py``); inotify queues the events of one watcher in
the order they happened, so the announcement's creation is seen before the helper's first read and its
removal after the last: the events of an announced path (or of anything under an announced folder) in
between are not a cell's. This is order, not timing: a helper slower or faster than expected changes nothing.
A cell touching that very path at that very moment loses those events, as with the hasher's own reads.

An announcement names its process: one left behind by a killed helper is dropped the first time it would
hide an event (its pid is gone). The path is in the file's name, so a watcher that sees the creation late
(after the helper removed it) still knows what it covered.

Standard library only: the kernel imports this module.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from jupyter_mlops.project import JOURNAL_DIR

FOLDER = "own-io"
WHOLE_TREE = "."
"""The announced path meaning "anything in the project" (a helper whose I/O has no known list, e.g. DVC)."""
MAX_PATHS = 64
"""Paths announced one by one at most; beyond, their common folder is announced instead."""
_MAX_TOKEN = 200  # bytes of an encoded path in a file name (names are at most 255 bytes)
_HASHED = "#"
_serial = itertools.count()


def folder(root: Path | str) -> Path:
    return Path(root) / JOURNAL_DIR / FOLDER


def key(relpath: str) -> str:
    """What an announcement of ``relpath`` (root-relative, ``/``-separated) is filed under: the path itself,
    or ``#<md5>`` when it is too long for a file name."""
    token = _token(relpath)
    return relpath if token[0] != _HASHED else token


def hashed_key(relpath: str) -> str:
    return _HASHED + hashlib.md5(relpath.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()


def parse(name: str) -> tuple[int, str] | None:
    """(pid, key) of an announcement's file name; None for anything else in the folder."""
    pid, sep, rest = name.partition("-")
    _serial_part, sep2, token = rest.partition("-")
    if not (sep and sep2 and pid.isdigit() and token):
        return None
    if token[0] == _HASHED:
        return int(pid), token
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    return int(pid), raw.decode("utf-8", "surrogateescape")


@contextlib.contextmanager
def announced(root: Path | str, paths: Iterable[Path | str]) -> Iterator[None]:
    """While the body runs, the events of ``paths`` (absolute, under ``root``; folders cover what is under
    them; ``root`` itself covers the project) are ours for every tracking kernel of ``root``. Paths outside
    the root are left out. Never fails: a project no kernel watches (no ``.mlops/own-io/``: each tracking kernel's
    watcher makes it) or one we cannot write to gets no announcement, and nothing is left in it."""
    root = os.path.abspath(root)
    relpaths = sorted({r for p in paths if (r := _relative(root, os.path.abspath(p))) is not None})
    if len(relpaths) > MAX_PATHS:
        common = os.path.commonpath(relpaths) if all(r != WHOLE_TREE for r in relpaths) else ""
        relpaths = [common or WHOLE_TREE]
    made: list[Path] = []
    if relpaths:
        where = folder(root)
        try:
            for relpath in relpaths:
                name = where / f"{os.getpid()}-{next(_serial)}-{_token(relpath)}"
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
                made.append(name)
        except OSError:
            pass
    try:
        yield
    finally:
        for name in made:
            with contextlib.suppress(OSError):
                name.unlink()


def _relative(root: str, path: str) -> str | None:
    if path == root:
        return WHOLE_TREE
    if not path.startswith(root + os.sep):
        return None
    return path[len(root) + 1:].replace(os.sep, "/")


def _token(relpath: str) -> str:
    token = base64.urlsafe_b64encode(relpath.encode("utf-8", "surrogateescape")).decode("ascii").rstrip("=")
    return token if len(token) <= _MAX_TOKEN else hashed_key(relpath)
