"""Where a session ran, as the journal keeps it: git's state read with real git, the environment, the table
(schema 4) and its migration, and what git will read announced to the watchers (``own_io``)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from jupyter_mlops import own_io
from jupyter_mlops.journal import SCHEMA_VERSION, Environment, GitState, Journal, Provenance
from jupyter_mlops.provenance import _files_status_reads, capture, environment, git_state
from jupyter_mlops.sinks.bookkeeping import Bookkeeping


def git(repo: Path, *argv: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *argv], cwd=repo, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def test_git_state_names_commit_branch_and_dirtiness(tmp_path):
    git(tmp_path, "init", "-q", "-b", "trunk")
    assert "no commit" in git_state(tmp_path).note
    (tmp_path / "f.txt").write_text("1")
    git(tmp_path, "add", "f.txt")
    git(tmp_path, "commit", "-qm", "one")
    head = git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "untracked.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    assert git_state(tmp_path / "sub") == git_state(tmp_path)  # a notebook in a subfolder of the repo
    state = git_state(tmp_path)
    assert (state.commit, state.branch, state.dirty) == (head, "trunk", False)
    (tmp_path / "f.txt").write_text("2")
    assert git_state(tmp_path).dirty is True
    git(tmp_path, "checkout", "-q", "--detach")
    assert git_state(tmp_path).branch is None


def test_outside_a_repository_the_note_says_so(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    state = subprocess.run(  # the ceiling keeps git from finding a repository above the temporary folder
        [sys.executable, "-c", f"from jupyter_mlops.provenance import git_state; from pathlib import Path; "
                         f"print(git_state(Path({str(folder)!r})).note)"], env=env, capture_output=True, text=True)
    assert "not in a git repository" in state.stdout, state.stderr


def test_what_git_status_will_read_is_found_without_reading_anything(tmp_path):
    """A fresh clone is racily clean: git re-reads every tracked file written in the index's second. Those,
    and files whose stat changed, are the ones announced while git runs; an old clean file is not."""
    src = tmp_path / "src"
    src.mkdir()
    git(src, "init", "-q")
    (src / "data").mkdir()
    (src / "data" / "big.csv").write_text("a\n" * 1000)
    (src / "old.txt").write_text("old")
    git(src, "add", ".")
    git(src, "commit", "-qm", "x")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(src), str(clone))
    gitdir = str(clone / ".git")
    assert set(_files_status_reads(str(clone), gitdir)) == {"data/big.csv", "old.txt"}
    past = os.stat(clone / ".git" / "index").st_mtime - 3600
    for name in ("old.txt", "data/big.csv"):
        os.utime(clone / name, (past, past))
    git(clone, "update-index", "--refresh")  # the index now holds the old stamps: nothing is racy
    assert _files_status_reads(str(clone), gitdir) == []
    (clone / "data" / "big.csv").write_text("b\n")
    assert _files_status_reads(str(clone), gitdir) == ["data/big.csv"]
    state = git_state(clone)
    assert state.dirty is True and state.remote == str(src)


def test_announcements_name_their_paths_and_go_when_the_helper_is_done(tmp_path):
    with own_io.announced(tmp_path, [tmp_path / "data"]):  # no kernel watches: nothing announced, nothing left
        assert not (tmp_path / ".mlops").exists()
    own_io.folder(tmp_path).mkdir(parents=True)  # what a tracking kernel's watcher makes
    big = tmp_path / "d" / ("x" * 300)
    with own_io.announced(tmp_path, [tmp_path / "data" / "a b.csv", big, tmp_path / ".." / "outside"]):
        names = os.listdir(own_io.folder(tmp_path))
        parsed = sorted(own_io.parse(n) for n in names)
        assert parsed == sorted([(os.getpid(), "data/a b.csv"), (os.getpid(), own_io.hashed_key(f"d/{'x' * 300}"))])
        assert own_io.key(f"d/{'x' * 300}") == own_io.hashed_key(f"d/{'x' * 300}")
    assert os.listdir(own_io.folder(tmp_path)) == []
    many = [tmp_path / "shards" / f"{i}.parquet" for i in range(own_io.MAX_PATHS + 1)]
    with own_io.announced(tmp_path, many):
        assert [own_io.parse(n)[1] for n in os.listdir(own_io.folder(tmp_path))] == ["shards"]
    with own_io.announced(tmp_path, [tmp_path]):
        assert [own_io.parse(n)[1] for n in os.listdir(own_io.folder(tmp_path))] == [own_io.WHOLE_TREE]


def test_git_status_runs_while_its_reads_are_announced(tmp_path, monkeypatch):
    """What git reads is announced before git starts and withdrawn after it ends."""
    src = tmp_path / "src"
    src.mkdir()
    git(src, "init", "-q")
    (src / "data.csv").write_text("a\n1\n")
    git(src, "add", ".")
    git(src, "commit", "-qm", "x")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(src), str(clone))
    own_io.folder(clone).mkdir(parents=True)  # a kernel tracks the clone
    seen: list[list[str]] = []
    real_run = subprocess.run

    def spy(argv, *args, **kw):
        if argv[:2] == ["git", "status"]:
            seen.append(sorted(own_io.parse(n)[1] for n in os.listdir(own_io.folder(clone))))
        return real_run(argv, *args, **kw)

    monkeypatch.setattr(subprocess, "run", spy)
    assert git_state(clone).dirty is False
    assert seen == [["data.csv"]]
    assert os.listdir(own_io.folder(clone)) == []


def test_environment_lists_the_distributions_on_the_path_by_their_metadata_folders():
    env = environment()
    names = [line.split("==")[0] for line in env.packages.splitlines()]
    assert {"pytest", "jupyter-mlops", "scikit-learn"} <= set(names) and names == sorted(names)
    import importlib.metadata

    assert f"pytest=={importlib.metadata.version('pytest')}" in env.packages.splitlines()


def test_provenance_is_a_journal_fact_the_mirror_reads(tmp_path):
    journal = Journal(tmp_path / ".mlops" / "journal.sqlite")
    journal.start_session("s1", experiment=None, notebook="nb.ipynb", root=str(tmp_path), python="3",
                          ipython="9", options={})
    git(tmp_path, "init", "-q")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "x")
    provenance = capture(tmp_path)
    journal.save_provenance("s1", provenance)
    assert journal.provenance("s1") == provenance and journal.provenance("nope") is None
    assert journal.sessions_at_commit(provenance.git.commit) == ["s1"]
    assert journal.sessions_at_commit(provenance.git.commit, "other.ipynb") == []
    journal.close()
    book = Bookkeeping(tmp_path / ".mlops" / "journal.sqlite")
    assert book.provenance("s1") == provenance
    book.close()


def test_a_version_3_journal_keeps_what_the_follower_recorded(tmp_path):
    """Before schema 4 the MLflow follower kept the same table in the journal file: its rows become the
    journal's; a journal it never touched gets the table."""
    for mirrored in (True, False):
        path = tmp_path / f"{mirrored}.sqlite"
        Journal(path).close()
        with sqlite3.connect(path) as db:
            db.executescript("DROP INDEX session_provenance_commit;"
                             "UPDATE meta SET value='3' WHERE key='schema_version';")
            if mirrored:
                db.execute("INSERT INTO session_provenance VALUES ('s', 'c0ffee', 'main', 0, NULL, NULL, '3.11',"
                           " 'a==1\n', 'h', 1.0)")
            else:
                db.execute("DROP TABLE session_provenance")
        journal = Journal(path, create=False)
        expected = Provenance(GitState("c0ffee", "main", False), Environment("3.11", "a==1\n", "h"))
        assert journal.provenance("s") == (expected if mirrored else None)
        journal.close()
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION) == "4"


def test_a_dead_helpers_announcement_does_not_hide_anything(tmp_path):
    """The watcher drops an announcement whose process is gone the first time it would hide an event."""
    from jupyter_mlops.kernel.tree_watch import TreeWatcher

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("x")
    dead = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True).stdout.strip()
    folder = own_io.folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / f"{dead}-0-{own_io._token('data/x.csv')}").touch()
    watcher = TreeWatcher(str(tmp_path), lambda p: os.path.basename(p) == ".mlops", lambda m: None)
    try:
        assert watcher.ready.wait(30)
        with own_io.announced(tmp_path, [tmp_path / "data" / "x.csv"]):
            watcher.begin()
            (tmp_path / "data" / "x.csv").read_text()
            assert watcher.end().reads == set()  # ours: announced by this live process
        watcher.begin()
        (tmp_path / "data" / "x.csv").read_text()
        assert watcher.end().reads == {str(tmp_path / "data" / "x.csv")}  # the dead one hides nothing
        assert os.listdir(folder) == []
    finally:
        watcher.close()
