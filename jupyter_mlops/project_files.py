"""The one rule for every file the product reads or writes in a project, and one writer at a time.

Export's inputs and outputs (``dvc.yaml``, ``params.yaml``, the stage notebooks, ``.dvc`` files,
``.gitignore``, ``.dvc/config``), the metrics JSON a stage leaves, the journal, sweep records, the files
the MLflow mirror uploads: each is named relative to a root (the project; for the Jupyter server a
project inside the server root, ``server/paths.py``) and used only if

- with every link resolved it stays inside the root: a link leaving it (a cloned repository can carry
  ``params.yaml -> /home/me/.aws/credentials``) is refused, naming the link and where it goes;
- it is a regular file (or absent, to be created): a FIFO named ``params.yaml`` would block a read forever,
  a device is no one's data;
- both still hold when it is opened: the path is walked from the root one folder at a time with
  ``O_NOFOLLOW`` (a link swapped in after the check fails the open), the file is opened ``O_NONBLOCK``
  and its descriptor ``fstat``-ed, not its name.

Writes go to a temporary file of a unique name beside the target, renamed over it: a reader sees the old
file or the new one, and two writers never share a temporary. :func:`writing` is the project's write
lock (export, sweep apply, certify): a ``flock`` on the project folder, so two exports of one project run
one after the other, in one process or several.

Refusals are :class:`~jupyter_mlops.errors.Conflict` (what is on disk stands in the way: a 409, exit 2).
Files another program opens (DVC writes ``.dvc`` files, SQLite the journal) are checked by
:func:`check` just before it runs. Standard library only: the kernel imports it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from jupyter_mlops.errors import Conflict

LOCK_WAIT_S = 120.0
"""How long a writer waits for another to finish (an export with ``dvc add`` of large data takes a while)."""
REQUEST_LOCK_WAIT_S = 2.0
"""How long a server request waits for it: a click answered 409 "try again" at once beats a spinner for minutes."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_LINK_ERRORS = (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)
_held = threading.local()  # the project locks this thread holds: root → depth (the lock is re-entrant)


def resolve(root: Path, path: str | os.PathLike[str]) -> Path:
    """``path`` (relative to ``root``, or absolute) with every link resolved; Conflict naming the link when
    it leaves the root."""
    real_root = Path(root).resolve()
    given = Path(path)
    candidate = given if given.is_absolute() else Path(root) / given
    real = candidate.resolve()
    if real == real_root or real.is_relative_to(real_root):
        return real
    raise _leaves(Path(root), real_root, candidate)


def check(root: Path, path: str | os.PathLike[str], *, folder: bool = False) -> Path:
    """The resolved path of a file another program will open (DVC, SQLite, MLflow's upload): inside the
    root, and a regular file (or a folder, where ``folder``) or absent."""
    real = resolve(root, path)
    try:
        st = real.lstat()
    except FileNotFoundError:
        return real
    _require_kind(st, _shown(root, real), folder=folder)
    return real


def check_tree(root: Path, path: str | os.PathLike[str]) -> Path:
    """:func:`check` of a file or a folder and of everything in it (data DVC will hash and cache: a link in
    a dataset folder must not bring a file from outside the project into the cache)."""
    real = check(root, path, folder=True)
    if real.is_dir():
        for below, folders, files in os.walk(real):
            for name in folders + files:
                entry = Path(below) / name
                if entry.is_symlink():
                    resolve(root, entry)
                elif name in files:
                    _require_kind(entry.lstat(), _shown(root, entry))
    return real


def read_bytes(root: Path, path: str | os.PathLike[str]) -> bytes | None:
    """The file's bytes, None when it does not exist; Conflict for a link out of the root or a FIFO."""
    real_root, rel = _relative(root, path)
    shown = rel.as_posix()
    try:
        with _folder(real_root, rel.parent.parts, create=False, shown=shown) as folder:
            fd = _open(folder, rel.name, os.O_RDONLY | os.O_NONBLOCK, shown)
    except (FileNotFoundError, NotADirectoryError):
        return None
    with os.fdopen(fd, "rb") as file:
        _require_kind(os.fstat(file.fileno()), shown)
        return file.read()


def read_text(root: Path, path: str | os.PathLike[str]) -> str | None:
    """The file as UTF-8 text, None when it does not exist (see :func:`read_bytes`)."""
    data = read_bytes(root, path)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Conflict(f"{_relative(root, path)[1].as_posix()} is not UTF-8 text ({exc.reason})",
                       hint="restore the file (or move it away), then try again") from exc


def write_text(root: Path, path: str | os.PathLike[str], text: str) -> None:
    write_bytes(root, path, text.encode("utf-8"))


def write_bytes(root: Path, path: str | os.PathLike[str], data: bytes) -> None:
    """Replace (or create) the file atomically, its folders made inside the root as needed."""
    real_root, rel = _relative(root, path)
    shown = rel.as_posix()
    with _folder(real_root, rel.parent.parts, create=True, shown=shown) as folder:
        try:
            _require_kind(os.stat(rel.name, dir_fd=folder, follow_symlinks=False), shown)
        except FileNotFoundError:
            pass
        temporary = f".{rel.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666,
                     dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, rel.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=folder)
            raise


def remove(root: Path, path: str | os.PathLike[str]) -> None:
    """Delete the file if it is there (a link out of the root or a FIFO in its place: Conflict)."""
    real_root, rel = _relative(root, path)
    shown = rel.as_posix()
    try:
        with _folder(real_root, rel.parent.parts, create=False, shown=shown) as folder:
            _require_kind(os.stat(rel.name, dir_fd=folder, follow_symlinks=False), shown)
            os.unlink(rel.name, dir_fd=folder)
    except (FileNotFoundError, NotADirectoryError):
        pass


@contextlib.contextmanager
def writing(root: Path, what: str, *, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold the project's write lock (re-entrant in a thread): another export, sweep apply or certify of
    this project waits for it; one that waits longer than ``wait_s`` is told to try again (Conflict)."""
    key = str(Path(root).resolve())
    held: dict[str, int] = _held.__dict__.setdefault("roots", {})
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    fd = os.open(Path(root).resolve(), _DIR_FLAGS)  # the project folder itself: no lock file to leave behind
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Conflict(f"another export, sweep or certify is writing {key}'s files; {what} did not "
                                   f"start", hint="try again when it has finished") from None
                time.sleep(0.05)  # polled: flock has no timeout of its own
        held[key] = 1
        try:
            yield
        finally:
            held.pop(key, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --- the walk -----------------------------------------------------------------------------------------


def _relative(root: Path, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    real = resolve(root, path)
    real_root = Path(root).resolve()
    if real == real_root:
        raise Conflict(f"{path} names the project folder itself, not a file in it")
    return real_root, real.relative_to(real_root)


@contextlib.contextmanager
def _folder(real_root: Path, parts: tuple[str, ...], *, create: bool, shown: str) -> Iterator[int]:
    """A descriptor of the folder ``parts`` below the root, opened one level at a time without following
    a link (made where ``create``): a folder turned into a link since :func:`resolve` is refused."""
    fd = os.open(real_root, _DIR_FLAGS)
    try:
        for part in parts:
            try:
                below = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
                below = _open(fd, part, _DIR_FLAGS, shown)
            except OSError as exc:
                if exc.errno in _LINK_ERRORS and _is_link(fd, part):
                    raise _changed(shown) from exc
                if exc.errno == errno.ENOTDIR and create:  # a file where a folder must be made
                    raise Conflict(f"{shown}: {part} is a file, not a folder: refused",
                                   hint=f"move {part} away, then try again") from exc
                raise
            os.close(fd)
            fd = below
        yield fd
    finally:
        os.close(fd)


def _open(folder: int, name: str, flags: int, shown: str) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=folder)
    except OSError as exc:
        if exc.errno in _LINK_ERRORS and _is_link(folder, name):
            raise _changed(shown) from exc
        raise


def _is_link(folder: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _require_kind(st: os.stat_result, shown: str, *, folder: bool = False) -> None:
    if stat.S_ISREG(st.st_mode) or (folder and stat.S_ISDIR(st.st_mode)):
        return
    if stat.S_ISLNK(st.st_mode):
        raise _changed(shown)
    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a folder" if stat.S_ISDIR(st.st_mode)
            else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device")
    raise Conflict(f"{shown} is {kind}, not a regular file: refused",
                   hint=f"move {shown} away (or replace it with a regular file), then try again")


def _changed(shown: str) -> Conflict:
    return Conflict(f"{shown}: a link appeared in its path while it was being used: refused",
                    hint="check what replaced it with a link, then try again")


def _leaves(root: Path, real_root: Path, candidate: Path) -> Conflict:
    """The refusal for a path that resolves outside the root, naming the first link on the way out."""
    try:
        parts = candidate.relative_to(root).parts
        base = root
    except ValueError:
        parts, base = candidate.parts[1:], Path(candidate.anchor)
    here = base
    for part in parts:
        here = here / part
        if here.is_symlink():
            target = here.resolve()
            if not target.is_relative_to(real_root):
                shown = here.relative_to(root).as_posix() if here.is_relative_to(root) else str(here)
                return Conflict(f"{shown} is a symlink to {target}, outside the project {real_root}: refused",
                                hint=f"replace the symlink {shown} with the file or folder itself, inside the project")
    return Conflict(f"{candidate} is outside the project {real_root}: refused",
                    hint="name a path inside the project")


def _shown(root: Path, real: Path) -> str:
    real_root = Path(root).resolve()
    return real.relative_to(real_root).as_posix() if real.is_relative_to(real_root) else str(real)
