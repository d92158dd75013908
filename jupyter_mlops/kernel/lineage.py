"""Every file a cell read or wrote, whoever did the I/O: the cell's Python, native code, its threads, its children.

Three sources, merged per cell into absolute paths read and written:

* the audit hook (``io_capture.py``): Python-level I/O on any of the cell's threads, renames, folders made
  or listed, sqlite databases, child processes started;
* on Linux, the project tree's inotify watcher (``tree_watch.py``): I/O done in C or by child processes;
* elsewhere (macOS, Windows) or when inotify is unavailable, a ``stat`` before and after the cell of the
  paths its code names: a named file that changed or appeared was written. Native reads stay unseen
  there and are declared with ``--data``.

inotify names no process, so a path only the watcher saw is the cell's when the cell ran a child process,
or when something the cell holds names it: a word of its code, of a command line or path it handed to C
code, a string or path in the user's namespace (``DATA = "ds/"`` set in another cell), or what the cells
that made the values it uses named (``origins.py``: a lazy frame collected here, made by a cell that named
its file) — as the path, a folder above it, a glob matching it, or a link to it. Another kernel or an editor
writing elsewhere in the project during the cell is therefore not taken for the cell's output, and neither
are our own processes (``own_io.py``). A memory map an earlier cell made is read without any event: a cell
that uses a value still backed by one reads its file.

A folder is one dataset entry (hashed as DVC's ``.dir``) when the cell touched at least two files under it
and listed it, created it, or touched more than ``DATASET_MIN_FILES`` of its files: a partitioned parquet
dataset, ``pl.scan_parquet("ds/*.parquet")``, ``save_pretrained("model/")``.
"""

from __future__ import annotations

import errno
import fnmatch
import functools
import os
import re
import types
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from jupyter_mlops.kernel import io_capture
from jupyter_mlops.kernel.origins import Maker, Origins
from jupyter_mlops.kernel.tree_watch import Observation, TreeWatcher
from jupyter_mlops.project import is_ignored_dir

DATASET_MIN_FILES = 100
"""Files of one folder a cell touches beyond which the folder is one dataset, listed or not."""

WATCH_ENV = "JUPYTER_MLOPS_WATCH"
"""Set to ``0`` to turn the watcher off (then the portable stat fallback is used)."""

_NAMED_MAX = 64         # paths of one cell's code stat'ed by the fallback
_NAMESPACE_ITEMS = 200  # items looked at inside one container of the user's namespace
_RESOLVED_MAX = 256     # named paths resolved through links, per cell that needs it
_WORD = re.compile(r"[^\s'\"(),;\[\]{}<>|&`]+")
_GLOB = re.compile(r"[*?]")
_FILE_LIKE = re.compile(r"[./\\]")
_ALNUM = re.compile(r"[^\W_]")
# IPython's history (the code of every earlier cell) and module dunders (``%run`` leaves the script's).
_HISTORY_NAMES = re.compile(r"^(_+|_i+|_i?\d+|_oh|_ih|_dh|In|Out|__\w+__)$")


class CellFiles:
    """The files of one cell run: :meth:`start` before the cell, :meth:`stop` after it."""

    def __init__(self, root: str, namespace: Callable[[], dict[str, Any]], warn: Callable[[str], None]) -> None:
        self.root = root
        self._namespace = namespace
        self._warn = warn
        self.capture = io_capture.install()
        self.watcher: TreeWatcher | None = None
        if os.environ.get(WATCH_ENV, "1") != "0":
            try:
                self.watcher = TreeWatcher(root, is_ignored_dir, warn)
            except OSError as exc:  # not Linux (expected), or out of inotify instances (said once)
                if exc.errno != errno.ENOSYS:
                    warn(f"no file watcher ({exc.strerror or exc}): files that native code reads need --data")
        self._code = ""
        self._before: dict[str, tuple[int, int, int] | None] = {}
        self.origins = Origins()
        self._last: tuple[io_capture.Captured, set[str], set[str]] | None = None  # for :meth:`made`

    @property
    def watching(self) -> bool:
        return self.watcher is not None

    def own_open(self, path: str, delta: int) -> None:
        """The hasher's hook: its own reads are not a cell's."""
        if self.watcher is not None:
            self.watcher.own_open(path, delta)

    def start(self, code: str) -> None:
        self._code = code
        if self.watcher is not None:
            self.watcher.begin()
        else:
            self._before = {p: _stamp(p) for p in _named_paths(code, os.getcwd(), self.root)}
        self.capture.start()

    def stop(self) -> tuple[set[str], set[str]]:
        """Absolute paths the cell read and wrote (folders read or written as one dataset included)."""
        seen = self.capture.stop()  # a fresh one per cell: its sets are ours to extend
        reads, writes, listed, created = seen.reads, seen.writes, seen.listed, seen.created
        if self.watcher is not None:
            observed = self.watcher.end()
            if observed.overflowed:
                self._warn("the file watcher's queue overflowed during this cell; some files it touched "
                           "may be missing from its record")
            if not observed.empty():
                self._add_observed(observed, seen, reads, writes, listed, created)
        elif self._before:
            for path, before in self._before.items():
                if _stamp(path) != before and os.path.lexists(path):
                    writes.add(path)
            self._before = {}
        if self.origins.mapping:
            reads |= self.origins.mapped_reads(self._code, self._namespace())
        self._last = (seen, reads, writes)
        if not (reads or writes):  # an idle cell: nothing to fold into folders, no getcwd
            return reads, writes
        return _datasets(reads, writes, listed, created, self.root, os.getcwd())

    def made(self, rebound: frozenset[str]) -> None:
        """After :meth:`stop`: the cell bound ``rebound``; it is their maker (``origins.py``)."""
        if rebound and self._last is not None:
            seen, reads, writes = self._last
            files = frozenset(reads | writes) if reads or writes else frozenset()
            self.origins.made(self._code, rebound, self._namespace(), seen.mentions, files, seen.mapped)

    def close(self) -> None:
        self.capture.active = False
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None

    def _add_observed(self, observed: Observation, seen: io_capture.Captured, reads: set[str], writes: set[str],
                      listed: set[str], created: set[str]) -> None:
        """Add what only the watcher saw, when it is the cell's (see the module's docstring). Folders too:
        JupyterLab's file browser lists the folder it shows every few seconds, which must not make that
        folder a dataset of whatever cell is running."""
        # Reading back a file the cell created is not reading an input. Notebooks are saved by Jupyter and
        # papermill while cells run: one only the watcher saw is theirs, even in a cell that ran a child.
        candidates = [(p, into) for p, into in
                      [(p, reads) for p in observed.reads - observed.new - reads]
                      + [(p, writes) for p in observed.writes - writes]
                      if not p.endswith(".ipynb")]
        folders = [(f, listed) for f in observed.listed - listed] + [(f, created) for f in observed.created - created]
        if not candidates and not folders:
            return
        if candidates and (reads or writes):  # the cell's Python opened it through a link: one file, one record
            through_links = {real for p in reads | writes if (real := os.path.realpath(p)) != p}
            candidates = [(p, into) for p, into in candidates if p not in through_links]
        if seen.spawned:
            for path, into in candidates + folders:
                into.add(path)
            return
        names = _Names(os.getcwd(), self.root)
        names.add_text(self._code)
        for mention in seen.mentions:
            names.add_text(mention)

        def uncovered() -> bool:
            return (any(not names.covers(p) for p, _ in candidates)
                    or any(not names.covers_folder(f) for f, _ in folders))

        if uncovered():
            names.add_namespace(self._namespace())
            if uncovered():
                names.add_makers(self.origins.makers(self.origins.uses(self._code)))
        for path, into in candidates:
            if names.covers(path):
                into.add(path)
        for folder, into in folders:
            if names.covers_folder(folder):
                into.add(folder)


class _Names:
    """Paths a cell's code, arguments or namespace name: exact paths, folders and globs."""

    def __init__(self, cwd: str, root: str) -> None:
        self.cwd, self.root = cwd, root
        self.exact: set[str] = set()
        self.globs: list[str] = []
        self._resolved: set[str] | None = None  # ``exact`` through links, made when first needed
        # Too wide to name anything: the root, the cwd and the folders above them.
        self._too_wide = {root, cwd, *map(str, PurePath(root).parents), *map(str, PurePath(cwd).parents)}

    def add_text(self, text: str) -> None:
        for word in _words(text):
            path = os.path.normpath(os.path.join(self.cwd, os.path.expanduser(word)))
            if path in self._too_wide:
                continue
            if _GLOB.search(word):
                self.globs.append(path)
            else:
                self.exact.add(path)
        self._resolved = None

    def add_makers(self, makers: list[Maker]) -> None:
        """What the cells that made the values a cell uses named: their code, mentions and files."""
        for maker in makers:
            self.add_text(maker.code)
            for mention in maker.mentions:
                self.add_text(mention)
            self.exact.update(maker.files)

    def add_namespace(self, namespace: dict[str, Any]) -> None:
        """The user's strings and paths, one level into containers, and the string constants of the
        functions the notebook defined (a helper that writes ``"out/x.parquet"``). IPython's history
        variables are left out (they hold the code of every earlier cell), and so are dunders."""
        for name, value in namespace.items():
            if _HISTORY_NAMES.match(name):
                continue
            if isinstance(value, types.FunctionType):
                if getattr(value, "__module__", None) == "__main__":
                    self._add_constants(value.__code__)
            elif isinstance(value, (str, os.PathLike)):
                self._add_value(value)
            elif isinstance(value, (list, tuple, set, frozenset, dict)):
                items = value.values() if isinstance(value, dict) else value
                for n, item in enumerate(items):
                    if n >= _NAMESPACE_ITEMS:
                        break
                    if isinstance(item, (str, os.PathLike)):
                        self._add_value(item)

    def _add_constants(self, code: types.CodeType) -> None:
        for const in code.co_consts:
            if isinstance(const, str):
                self._add_value(const)
            elif isinstance(const, types.CodeType):
                self._add_constants(const)

    def _add_value(self, value: str | os.PathLike) -> None:
        try:
            text = os.fspath(value)
        except TypeError:
            return
        if isinstance(text, str) and len(text) < 4096:
            self.add_text(text)

    def covers(self, path: str) -> bool:
        """``path`` or a folder above it named, matched by a glob, or named through a link to it."""
        if _under_one_of(path, self.exact, self.root) or any(_glob_covers(g, path) for g in self.globs):
            return True
        if self._resolved is None:
            self._resolved = {os.path.realpath(p) for p in list(self.exact)[:_RESOLVED_MAX]} - self.exact
        return bool(self._resolved) and _under_one_of(path, self._resolved, self.root)

    def covers_folder(self, folder: str) -> bool:
        """A folder named, below one named, or one a glob lists (``ds`` for ``ds/*.parquet``)."""
        return self.covers(folder) or any(_glob_covers(os.path.dirname(g), folder) for g in self.globs)


def _under_one_of(path: str, paths: set[str], root: str) -> bool:
    folder = path
    while folder.startswith(root) and folder != root:
        if folder in paths:
            return True
        folder = os.path.dirname(folder)
    return False


def _glob_covers(pattern: str, path: str) -> bool:
    """``path`` or a folder above it matches ``pattern``, ``*`` staying within one path component."""
    wanted = pattern.split(os.sep)
    parts = path.split(os.sep)
    if len(parts) < len(wanted):
        return False
    return all(fnmatch.fnmatchcase(part, want) for part, want in zip(parts, wanted, strict=False))


def _words(text: str) -> list[str]:
    """Path-like words of a text (with a letter or digit: ``*`` alone is an operator); ``of=out.bin`` also
    gives ``out.bin``."""
    words = [w for w in _WORD.findall(text) if _ALNUM.search(w)]
    return words + [w.rsplit("=", 1)[1] for w in words if "=" in w and not w.endswith("=")]


@functools.lru_cache(maxsize=1024)
def _named_paths(code: str, cwd: str, root: str) -> tuple[str, ...]:
    """Paths under the root that the cell's code names and that exist or could be created (the fallback).

    Only words that look like a file (with a dot or a slash): ``x = 1`` costs no ``stat``."""
    prefix = root + os.sep
    out: dict[str, None] = {}
    for word in _words(code):
        if _GLOB.search(word) or len(out) >= _NAMED_MAX or not _FILE_LIKE.search(word):
            continue
        path = os.path.normpath(os.path.join(cwd, os.path.expanduser(word)))
        if path.startswith(prefix) and os.path.isdir(os.path.dirname(path)):
            out[path] = None
    return tuple(out)


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _datasets(reads: set[str], writes: set[str], listed: set[str], created: set[str],
              root: str, workdir: str) -> tuple[set[str], set[str]]:
    """Replace the files of each dataset folder by the folder. The working directory and the folders above
    it are never one: they hold the notebook, whose every save would change the folder's digest."""
    touched = reads | writes
    if len(touched) < 2:
        return reads, writes
    prefix = root + os.sep
    per_folder: dict[str, int] = {}
    for path in touched:
        parent = os.path.dirname(path)
        per_folder[parent] = per_folder.get(parent, 0) + 1
    marked = {f for f in listed | created if f.startswith(prefix)}
    marked |= {f for f, n in per_folder.items() if n > DATASET_MIN_FILES and f.startswith(prefix)}
    marked.difference_update((workdir, *map(str, PurePath(workdir).parents)))
    if not marked:
        return reads, writes
    folder_of = {path: _top_folder(path, marked, root) for path in touched}
    members: dict[str, int] = {}
    for folder in folder_of.values():
        if folder is not None:
            members[folder] = members.get(folder, 0) + 1

    def fold(paths: set[str]) -> set[str]:
        out = set()
        for path in paths:
            folder = folder_of[path]
            out.add(folder if folder is not None and members[folder] >= 2 else path)
        return out

    return fold(reads), fold(writes)


def _top_folder(path: str, marked: set[str], root: str) -> str | None:
    top = None
    folder = os.path.dirname(path)
    while folder != root and folder.startswith(root):
        if folder in marked:
            top = folder
        folder = os.path.dirname(folder)
    return top

