"""A session named the way people name one: an id, a unique prefix, ``latest``, ``latest~N``, or a git
revision (the latest session of the notebook that ran at that commit, as the journal's provenance says)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from jupyter_mlops.errors import MlopsError, NotFound
from jupyter_mlops.journal import Journal


def resolve_session(journal: Journal, root: Path, notebook: str | None, ref: str) -> str:
    """The session id ``ref`` names; ``notebook`` (root-relative) scopes ``latest`` and revisions."""
    try:
        return journal.find_session(ref, notebook=notebook)
    except MlopsError as not_a_session:
        commit = _commit(root, ref)
        if commit is None:
            raise not_a_session
    at = journal.sessions_at_commit(commit, notebook)
    if not at:
        raise NotFound(f"no tracked session of {notebook or 'the project'} ran at {ref} ({commit[:12]})",
                       hint="run the notebook, tracked, at that commit (as CI does), or give a session id")
    return at[-1]


def _commit(root: Path, ref: str) -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=root,
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None
