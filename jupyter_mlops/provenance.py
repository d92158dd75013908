"""Where a run came from: the git commit it ran at and the Python environment it ran in.

Captured once per session by the kernel, while the cell that starts tracking runs (``%mlops_track``), and
stored in the journal (``session_provenance``) whatever is mirrored: ``diff``, ``report`` and ``certify`` find a
session by its commit, and the MLflow follower sends what the journal holds. That cell is the one no record
is opened for, so nothing git reads then can be taken for a cell of this kernel; and no cell of this kernel
runs meanwhile.

git has to read some tracked files to say whether the work tree is dirty: those whose ``stat`` differs from
the index's, and the *racily clean* ones (modified in the same second the index was written: every file of a
fresh clone). Another kernel of the project may be running a cell that names one of them, and its file
watcher cannot tell git's read from its cell's. So the files git will read are worked out first without
reading any (``git diff-files`` on a copy of the index that no entry is racy against, and a ``stat`` of each
tracked file), and announced to every watcher of the project (``own_io.py``) while ``git status`` runs.
``git`` is run with ``--no-optional-locks``: we never rewrite the user's index, and never hold its lock.

The environment is the distributions on the kernel's ``sys.path``, read from their metadata folders' names
(``pandas-2.2.3.dist-info``): one listing per folder, ~2 ms, where reading every ``METADATA`` file costs
seconds. Only the standard library and ``git`` itself: the kernel imports this module.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from jupyter_mlops import own_io
from jupyter_mlops.core.redact import Redactor
from jupyter_mlops.journal import Environment, GitState, Provenance

GIT_TIMEOUT_S = 60.0
"""A ``git status`` that takes longer (it hashes every racily clean file of a huge fresh clone) leaves the
dirty state unknown rather than the tracking cell waiting."""
_RACY_SLACK_NS = 1_000_000_000  # git compares in seconds where its build keeps no nanoseconds
_NORMALIZE = re.compile(r"[-_.]+")


class _GitFailed(Exception):
    pass


def capture(root: Path) -> Provenance:
    """The provenance of a session of the project at ``root``. Never raises: what git cannot tell is a note."""
    return Provenance(git_state(root), environment())


def git_state(root: Path) -> GitState:
    """The commit, branch and dirtiness of the repository holding ``root``.

    Dirty means tracked files differ from HEAD: untracked files (the journal itself, outputs) would make
    every project look dirty. Never raises: provenance is a nice-to-have, the run must be recorded anyway.
    """
    try:
        top, gitdir = _git(root, "rev-parse", "--show-toplevel", "--absolute-git-dir").splitlines()[:2]
    except FileNotFoundError:
        return GitState(note="git is not installed")
    except _GitFailed as exc:
        if "not a git repository" in str(exc):
            return GitState(note=f"{root} is not in a git repository")
        return GitState(note=f"cannot read the git repository ({exc})")
    except (ValueError, OSError, subprocess.TimeoutExpired) as exc:
        return GitState(note=f"cannot read the git repository ({type(exc).__name__}: {exc})")
    try:
        origin = _git(top, "config", "--get", "remote.origin.url").strip()
        remote: str | None = Redactor().text(origin) if origin else None  # a token in the URL
    except (_GitFailed, OSError, subprocess.TimeoutExpired):
        remote = None
    try:
        with own_io.announced(root, [os.path.join(top, p) for p in _files_status_reads(top, gitdir)]):
            report = _git(top, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=no",
                          "--ignore-submodules=dirty", timeout=GIT_TIMEOUT_S)
    except (_GitFailed, OSError, subprocess.TimeoutExpired) as exc:
        why = "took too long" if isinstance(exc, subprocess.TimeoutExpired) else str(exc)
        return GitState(remote=remote, note=f"git status failed ({why})")
    commit = branch = None
    dirty = False
    for entry in report.split("\0"):
        if entry.startswith("# branch.oid "):
            commit = entry.split()[-1]
        elif entry.startswith("# branch.head "):
            branch = entry.split(" ", 2)[-1]
        elif entry and not entry.startswith("#"):
            dirty = True
    if commit is None or commit == "(initial)":
        return GitState(remote=remote, note="the git repository has no commit yet")
    return GitState(commit=commit, branch=None if branch == "(detached)" else branch, dirty=dirty, remote=remote)


def _files_status_reads(top: str, gitdir: str) -> list[str]:
    """The tracked files (relative to ``top``) whose content ``git status`` will read, found without reading
    any: those whose ``stat`` no longer matches the index (``git diff-files`` on a copy of the index dated
    1970, so that no entry is racily clean against it and none is read), and those modified no earlier than
    the index was written (racily clean: git re-reads them to be sure)."""
    index = os.path.join(gitdir, "index")
    try:
        written_ns = os.stat(index).st_mtime_ns
    except OSError:
        return []  # no index: nothing to compare the work tree with
    scratch = tempfile.mkdtemp(prefix="mlops-git-")
    try:
        copy = os.path.join(scratch, "index")
        shutil.copyfile(index, copy)
        os.utime(copy, ns=(0, 0))
        changed = _git(top, "diff-files", "--name-only", "-z", "--ignore-submodules", env={"GIT_INDEX_FILE": copy})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    reads = {p for p in changed.split("\0") if p}
    for path in _git(top, "ls-files", "-z").split("\0"):
        if not path or path in reads:
            continue
        try:
            st = os.lstat(os.path.join(top, path))
        except OSError:
            continue  # deleted: git says so without reading
        if stat.S_ISREG(st.st_mode) and st.st_mtime_ns >= written_ns - _RACY_SLACK_NS:
            reads.add(path)
    return sorted(reads)


def _git(cwd: str | Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30.0) -> str:
    """``git ARGS``'s output; _GitFailed with git's own message when it exits non-zero."""
    environ = {k: v for k, v in os.environ.items() if k != "GIT_INDEX_FILE"}
    environ.update({"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})})
    done = subprocess.run(["git", *args], cwd=cwd, env=environ, capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _GitFailed(message[-1] if message else f"git {args[0]} exited {done.returncode}")
    return done.stdout.decode("utf-8", "surrogateescape")


def environment() -> Environment:
    """Python's version and the distributions importable from ``sys.path``, named as their metadata folders
    name them (``scikit_learn-1.5.2.dist-info``: ``scikit-learn==1.5.2``); the first of a name on the path wins,
    as for ``import``. No ``pip`` subprocess (~1 s, and maybe not the kernel's pip), no ``METADATA`` read."""
    seen: dict[str, str] = {}
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as found:
                names = [e.name for e in found]
        except OSError:  # a zip file on the path, a folder gone
            continue
        for name in names:
            if name.endswith(".dist-info"):
                project, _, version = name[: -len(".dist-info")].partition("-")
            elif name.endswith(".egg-info"):
                project, _, version = name[: -len(".egg-info")].partition("-")
                version = version.split("-py")[0]
            else:
                continue
            if project and version:
                key = _NORMALIZE.sub("-", project).lower()
                seen.setdefault(key, f"{key}=={version}")
    packages = "".join(line + "\n" for _, line in sorted(seen.items()))
    return Environment(python=platform.python_version(), packages=packages,
                       packages_hash=hashlib.md5(packages.encode(), usedforsecurity=False).hexdigest())
