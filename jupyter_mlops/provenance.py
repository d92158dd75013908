"""Where a run came from: the git commit it ran at and the Python environment it ran in.

Both are captured once per session, by the MLflow follower process, never in the kernel: importing
gitpython and walking every installed distribution cost tens to hundreds of milliseconds. The result is
stored in the journal so that a later ``jupyter mlops sync`` (another process, maybe another machine)
sends the kernel's provenance, not its own.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from dataclasses import dataclass
from pathlib import Path

from jupyter_mlops.core.redact import Redactor


@dataclass(frozen=True)
class GitState:
    """The work tree's state; ``commit`` is None with a ``note`` saying why (no repository, no commit)."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    remote: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Environment:
    python: str
    packages: str  # ``pip freeze``-like: one ``name==version`` a line, sorted
    packages_hash: str  # md5 of ``packages``: equal hashes, equal environments


def git_state(root: Path) -> GitState:
    """The commit, branch and dirtiness of the repository holding ``root``.

    Dirty means tracked files differ from HEAD: untracked files (the journal itself, outputs) would make
    every project look dirty. Never raises: provenance is a nice-to-have, the run must be logged anyway.
    """
    try:
        import git
    except ImportError as exc:  # gitpython installed but no git executable also lands here
        return GitState(note=f"gitpython unavailable ({exc})")
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return GitState(note=f"{root} is not in a git repository")
    try:
        with repo:
            try:
                commit = repo.head.commit.hexsha
            except ValueError:
                return GitState(note="the git repository has no commit yet")
            branch = None if repo.head.is_detached else repo.active_branch.name
            remote = next((r.url for r in repo.remotes if r.name == "origin"), None)
            return GitState(commit=commit, branch=branch, dirty=repo.is_dirty(untracked_files=False),
                            remote=None if remote is None else Redactor().text(remote))  # a token in the URL
    except (git.GitError, OSError) as exc:
        return GitState(note=f"cannot read the git repository ({type(exc).__name__}: {exc})")


def environment() -> Environment:
    """Python's version and the installed distributions, read from metadata (no ``pip`` subprocess:
    it would cost ~1 s and may not be the kernel's pip)."""
    seen: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={dist.version}"
    packages = "".join(line + "\n" for _, line in sorted(seen.items()))
    return Environment(python=platform.python_version(), packages=packages,
                       packages_hash=hashlib.md5(packages.encode()).hexdigest())
