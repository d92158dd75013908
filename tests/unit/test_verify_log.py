"""verify's verdicts in the journal file and which one speaks for a session (export/verify_log.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from jupyter_mlops.export.verify_log import latest_for, record, results
from jupyter_mlops.journal import Journal
from jupyter_mlops.project import journal_path


def commit(root: Path) -> str:
    (root / "a.txt").write_text("a")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def test_a_verdict_is_kept_with_the_commit_and_speaks_only_for_its_session_at_that_commit(project):
    Journal(journal_path(project)).close()
    head = commit(project)
    record(project, "nb.ipynb", "s1", False, "differs", ["auc>=0.8"])
    record(project, "nb.ipynb", "s1", True, "reproduces", ["auc>=0.8"])
    record(project, "other.ipynb", "s9", True, "reproduces", [])
    kept = results(project, "nb.ipynb")
    assert [(r.session_id, r.ok, r.git_commit, r.git_dirty, r.expect) for r in kept] == [
        ("s1", False, head, False, ("auc>=0.8",)), ("s1", True, head, False, ("auc>=0.8",))]
    assert latest_for(kept, "s1", head).ok
    assert kept[-1].summary().startswith(f"passed at {head[:12]} with auc>=0.8 against session s1")
    assert latest_for(kept, "s2", head) is None          # another session (other injected params)
    assert latest_for(kept, "s1", "0" * 40) is None      # the session ran other code
    assert results(project, "missing.ipynb") == []
