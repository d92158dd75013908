"""The one rule for files in a project (project_files.py), on a real file system: links out refused by
name, FIFOs refused without blocking, a link swapped in after the check refused at the open, atomic writes
with unique temporaries, and the project's write lock."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jupyter_mlops import project_files
from jupyter_mlops.errors import Conflict


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "project").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("outside")
    return tmp_path / "project"


def test_reads_and_writes_inside_the_root(root):
    project_files.write_text(root, "a/b/c.txt", "one")
    assert project_files.read_text(root, "a/b/c.txt") == "one"
    project_files.write_text(root, root / "a" / "b" / "c.txt", "two")  # absolute, inside: the same file
    assert (root / "a" / "b" / "c.txt").read_text() == "two"
    assert project_files.read_text(root, "missing.txt") is None and project_files.read_bytes(root, "a/x/y") is None
    project_files.remove(root, "a/b/c.txt")
    project_files.remove(root, "a/b/c.txt")  # gone already: nothing to do
    assert not (root / "a" / "b" / "c.txt").exists()


def test_a_link_inside_the_root_is_followed(root):
    (root / "real").mkdir()
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    project_files.write_text(root, "alias/f.txt", "x")
    assert (root / "real" / "f.txt").read_text() == "x"


@pytest.mark.parametrize("operation", ["read", "write", "remove", "check"])
@pytest.mark.parametrize("link", ["file", "folder", "parent"])
def test_a_link_out_of_the_root_is_refused_by_name(root, operation, link):
    outside = root.parent / "outside"
    if link == "file":
        (root / "params.yaml").symlink_to(outside / "secret.txt")
        path, named = "params.yaml", "params.yaml"
    elif link == "folder":
        (root / "pipeline").symlink_to(outside, target_is_directory=True)
        path, named = "pipeline/secret.txt", "pipeline"
    else:
        (root / "a").symlink_to(outside, target_is_directory=True)
        path, named = "a/new/file.txt", "a"
    act = {"read": lambda: project_files.read_bytes(root, path),
           "write": lambda: project_files.write_text(root, path, "overwritten"),
           "remove": lambda: project_files.remove(root, path),
           "check": lambda: project_files.check(root, path)}[operation]
    with pytest.raises(Conflict, match=f"^{named} is a symlink to {outside}"):
        act()
    assert (outside / "secret.txt").read_text() == "outside" and sorted(os.listdir(outside)) == ["secret.txt"]


def test_dotdot_and_absolute_paths_out_of_the_root_are_refused(root):
    for path in ("../outside/secret.txt", root.parent / "outside" / "secret.txt"):
        with pytest.raises(Conflict, match="is outside the project"):
            project_files.read_bytes(root, path)


@pytest.mark.parametrize("operation", ["read", "write", "remove", "check"])
def test_a_fifo_is_refused_without_blocking(root, operation):
    os.mkfifo(root / "params.yaml")
    act = {"read": lambda: project_files.read_bytes(root, "params.yaml"),
           "write": lambda: project_files.write_text(root, "params.yaml", "x"),
           "remove": lambda: project_files.remove(root, "params.yaml"),
           "check": lambda: project_files.check(root, "params.yaml")}[operation]
    with pytest.raises(Conflict, match=r"params\.yaml is a FIFO"):
        act()  # a blocking open would hang here: the test's timeout would fail it
    assert (root / "params.yaml").exists()


def test_a_link_swapped_in_after_the_check_is_refused_at_the_open(root, monkeypatch):
    # Given the path checked while "pipeline" was a folder (resolve saw no link)...
    monkeypatch.setattr(project_files, "resolve", lambda r, p: Path(r).resolve() / p)
    # ...and a link to outside swapped in before the open
    (root / "pipeline").symlink_to(root.parent / "outside", target_is_directory=True)
    for act in (lambda: project_files.read_bytes(root, "pipeline/secret.txt"),
                lambda: project_files.write_text(root, "pipeline/secret.txt", "overwritten")):
        with pytest.raises(Conflict, match="a link appeared in its path"):
            act()
    (root / "link.txt").symlink_to(root.parent / "outside" / "secret.txt")
    with pytest.raises(Conflict, match="a link appeared"):
        project_files.read_bytes(root, "link.txt")
    assert (root.parent / "outside" / "secret.txt").read_text() == "outside"


def test_a_data_folder_holding_a_link_out_or_a_fifo_is_refused(root):
    (root / "data" / "images").mkdir(parents=True)
    (root / "data" / "images" / "a.png").write_bytes(b"png")
    assert project_files.check_tree(root, "data") == (root / "data").resolve()
    (root / "data" / "images" / "b.png").symlink_to(root.parent / "outside" / "secret.txt")
    with pytest.raises(Conflict, match=r"data/images/b\.png is a symlink to"):
        project_files.check_tree(root, "data")
    (root / "data" / "images" / "b.png").unlink()
    os.mkfifo(root / "data" / "images" / "c.png")
    with pytest.raises(Conflict, match=r"data/images/c\.png is a FIFO"):
        project_files.check_tree(root, "data")


def test_concurrent_writes_of_one_file_never_share_a_temporary(root):
    texts = [f"writer {i}\n" * 1000 for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda text: project_files.write_text(root, "dvc.yaml", text), texts * 5))
    assert (root / "dvc.yaml").read_text() in texts and os.listdir(root) == ["dvc.yaml"]


def test_the_write_lock_makes_writers_wait_and_tells_a_late_one_to_retry(root):
    inside, release = threading.Event(), threading.Event()

    def holder() -> None:
        # the second is nested: the lock is re-entrant in its thread
        with project_files.writing(root, "the first export"), project_files.writing(root, "a nested write"):
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert inside.wait(10)
        with pytest.raises(Conflict, match="another export, sweep or certify is writing"), \
                project_files.writing(root, "a second export", wait_s=0.2):
            pass
    finally:
        release.set()
        thread.join(10)
    with project_files.writing(root, "a third export", wait_s=5):  # free again
        pass
    assert os.listdir(root) == []  # the lock leaves no file behind


def test_a_file_where_a_folder_should_be(root):
    (root / "pipeline").write_text("a file")
    assert project_files.read_bytes(root, "pipeline/nb.ipynb") is None
    with pytest.raises(Conflict, match="pipeline is a file, not a folder"):
        project_files.write_text(root, "pipeline/nb.ipynb", "{}")
