"""Our digests equal the ones real `dvc add` writes to .dvc files, for files and for directories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jupyter_mlops.hashing import FileDigest, Hasher, dir_digest, file_digest, md5_file

pytestmark = pytest.mark.e2e

DVC = shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc")


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    if DVC is None:
        pytest.skip("dvc is not installed")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    for var, value in {
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }.items():
        monkeypatch.setenv(var, value)
    run(tmp_path, "git", "init", "-q")
    run(tmp_path, DVC, "init", "-q")
    return tmp_path


def run(cwd: Path, *argv: str) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, timeout=120)


def dvc_add(repo: Path, name: str) -> dict:
    """`dvc add NAME` and the single `outs` entry it wrote to NAME.dvc."""
    run(repo, DVC, "add", "-q", name)
    (out,) = yaml.safe_load((repo / f"{name}.dvc").read_text())["outs"]
    assert out["hash"] == "md5"
    return out


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def hash_in_background(path: Path) -> FileDigest:
    """Through the Hasher's worker path, which is what the kernel uses for big data."""
    hasher = Hasher(inline_limit=-1, dir_inline_entries=0)  # -1: even empty files
    results: list[FileDigest] = []
    try:
        assert hasher.digest(path, results.append) is None
        assert hasher.wait(60)
    finally:
        hasher.close()
    return results[0]


@pytest.mark.parametrize("size", [0, 11, (5 << 20) + 3])
def test_file_md5_equals_dvcs(repo, size):
    data = os.urandom(size)
    write(repo / "data.bin", data)
    ours = md5_file(repo / "data.bin")
    background = hash_in_background(repo / "data.bin")
    out = dvc_add(repo, "data.bin")
    assert ours == out["md5"]
    assert (background.md5, background.size) == (out["md5"], out["size"])


def test_text_file_with_crlf_md5_equals_dvcs(repo):
    """DVC 2 hashed text with CRLF turned into LF (md5-dos2unix); DVC 3's plain md5 must be what we do."""
    write(repo / "table.csv", b"a,b\r\n1,2\r\n")
    assert md5_file(repo / "table.csv") == dvc_add(repo, "table.csv")["md5"]


def test_directory_digest_equals_dvcs(repo):
    data = repo / "data"
    files = {
        "train.csv": os.urandom(3 << 20),
        "test.csv": b"x,y\n1,2\n",
        "nested/deep/part-0.parquet": os.urandom(1000),
        "nested/deep/part-1.parquet": b"",
        "nested/a-b": b"-",
        "nested/a0": b"0",
        "naïve ünïcode.txt": "ü".encode(),
        "sub-repo-lookalike/.dvcx": b"not a .dvc",
        ".git": b"gitdir: elsewhere\n",  # a worktree's .git file: DVC ignores it
        "hg/.hg/store": b"hg",
        "subrepo/.dvc/config": b"",  # a DVC sub-repository: DVC leaves the whole folder out
        "subrepo/inside.csv": b"ignored",
    }
    for rel, content in files.items():
        write(data / rel, content)
    (data / "empty").mkdir()
    os.symlink("train.csv", data / "link-to-file")  # followed
    os.symlink("nested", data / "link-to-dir")  # not followed
    ours = dir_digest(data)
    background = hash_in_background(data)
    generic = file_digest(data)

    out = dvc_add(repo, "data")

    assert out["md5"].endswith(".dir")
    assert (ours.md5, ours.size, ours.nfiles) == (out["md5"], out["size"], out["nfiles"])
    assert background == ours
    assert generic == ours
    assert ours.nfiles == 9
