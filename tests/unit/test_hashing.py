"""jupyter_mlops.hashing on real temporary files: digests, odd paths, changes mid-hash, the cache."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jupyter_mlops import hashing
from jupyter_mlops.hashing import FileDigest, Hasher, HashError, dir_digest, file_digest, md5_file

OLD_NS = 1_600_000_000 * 10**9  # an mtime far in the past, so the file is not "racy" and gets cached


def md5_of(data: bytes) -> str:
    return hashlib.new("md5", data).hexdigest()  # hashlib.new: unaffected when a test patches hashlib.md5


def write(path: Path, data: bytes, *, old: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if old:
        os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


def run_with_timeout(fn, seconds: float = 5.0):
    """Run fn in a thread; fail (instead of hanging the suite) if it blocks, e.g. opening a FIFO."""
    box: list = []

    def target() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # re-raised on the test's thread
            box.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "hashing blocked"
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


class Collector:
    """An on_done that records results and lets a test wait for them."""

    def __init__(self) -> None:
        self.results: list[FileDigest] = []
        self.threads: list[str] = []
        self.done = threading.Event()

    def __call__(self, result: FileDigest) -> None:
        self.results.append(result)
        self.threads.append(threading.current_thread().name)
        self.done.set()


@pytest.fixture
def hasher():
    h = Hasher()
    yield h
    h.close()


@pytest.fixture
def opens(monkeypatch):
    """Paths passed to os.open, to tell a cache hit (no read) from a re-read."""
    seen: list[str] = []
    real_open = os.open

    def counting_open(path, *args, **kwargs):
        seen.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", counting_open)
    return seen


# --- md5 of files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4095, 1 << 20, (3 << 20) + 7])
def test_md5_file_equals_hashlib_of_the_bytes(tmp_path, size):
    data = os.urandom(size)
    path = write(tmp_path / "f.bin", data)
    assert md5_file(path) == md5_of(data)


def test_md5_file_with_chunks_smaller_than_the_file(tmp_path):
    data = os.urandom(10_007)
    assert md5_file(write(tmp_path / "f", data), chunk_size=1000) == md5_of(data)


def test_file_digest_reports_size_and_mtime_of_what_was_hashed(tmp_path):
    path = write(tmp_path / "f", b"abc")
    result = file_digest(path)
    assert result == FileDigest(str(path), 3, OLD_NS, md5_of(b"abc"))
    assert result.ok


# --- paths that must not be read -------------------------------------------------------------------


def test_fifo_is_not_opened(tmp_path, hasher):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # no writer: a blocking open would hang forever
    with pytest.raises(HashError, match=hashing.NOT_REGULAR):
        run_with_timeout(lambda: md5_file(fifo))
    result = run_with_timeout(lambda: hasher.digest(fifo, pytest.fail))
    assert (result.md5, result.error) == (None, hashing.NOT_REGULAR)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_device_files_are_not_read(device, hasher):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    result = run_with_timeout(lambda: hasher.digest(device, pytest.fail))  # /dev/zero would never end
    assert (result.md5, result.error) == (None, hashing.NOT_REGULAR)


def test_path_swapped_for_a_fifo_after_stat_does_not_hang(tmp_path, monkeypatch):
    """The race the non-blocking open and the fstat check exist for: regular at stat, FIFO at open."""
    regular_stat = os.stat(write(tmp_path / "regular", b"x" * 100))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    real_stat = os.stat

    def stale_stat(p, *args, **kwargs):
        return regular_stat if p == str(fifo) else real_stat(p, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stale_stat)
    result = run_with_timeout(lambda: file_digest(fifo))
    assert (result.md5, result.error) == (None, hashing.NOT_REGULAR)


def test_vanished_path(tmp_path, hasher):
    result = hasher.digest(tmp_path / "missing.csv", pytest.fail)
    assert result == FileDigest(str(tmp_path / "missing.csv"), None, None, None, error=hashing.VANISHED)


def test_path_with_nul_byte(hasher):
    assert hasher.digest("data\0.csv", pytest.fail).error == hashing.INVALID_PATH


def test_symlink_loop(tmp_path, hasher):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    assert hasher.digest(tmp_path / "a", pytest.fail).error == hashing.SYMLINK_LOOP


def test_open_refused_is_reported_not_raised(tmp_path, monkeypatch, hasher):
    """Permission denied, simulated: tests run as root, who reads anything (tests/reliability drops that
    privilege in a real kernel)."""
    path = write(tmp_path / "secret", b"x")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    result = hasher.digest(path, pytest.fail)
    assert (result.md5, result.error) == (None, hashing.PERMISSION_DENIED)


# --- files that change while hashed -----------------------------------------------------------------


class RewritingMd5:
    """Stands in for hashlib.md5 and, on the first update of the first `rewrites` reads, changes the file
    the way a concurrent writer would: exactly mid-hash, without timing games."""

    def __init__(self, rewrite, rewrites: int) -> None:
        self.rewrite = rewrite
        self.remaining = rewrites
        self.reads = 0

    def __call__(self, *args, **kwargs):
        outer = self
        outer.reads += 1
        real = hashlib.new("md5", *args)

        class Wrapped:
            first = True

            def update(self, data) -> None:
                if self.first and outer.remaining > 0:
                    outer.remaining -= 1
                    outer.rewrite(outer.reads)
                self.first = False
                real.update(data)

            def hexdigest(self) -> str:
                return real.hexdigest()

        return Wrapped()


def test_file_grown_in_place_mid_hash_gets_the_new_digest(tmp_path, monkeypatch):
    path = write(tmp_path / "data.csv", b"a" * 5000)
    final = b"b" * 6000
    fake = RewritingMd5(lambda _: path.write_bytes(final), rewrites=1)
    monkeypatch.setattr(hashing.hashlib, "md5", fake)
    result = file_digest(path)
    assert result.md5 == md5_of(final)
    assert result.size == len(final)
    assert fake.reads == 2


def test_file_replaced_atomically_mid_hash_gets_the_new_digest(tmp_path, monkeypatch):
    """Same size, new inode: how pandas/`mv`-style atomic writes replace a file."""
    path = write(tmp_path / "data.csv", b"a" * 5000)
    final = b"b" * 5000

    def replace(_: int) -> None:
        write(tmp_path / "tmp", final)
        os.replace(tmp_path / "tmp", path)

    fake = RewritingMd5(replace, rewrites=1)
    monkeypatch.setattr(hashing.hashlib, "md5", fake)
    assert file_digest(path).md5 == md5_of(final)
    assert fake.reads == 2


def test_file_that_keeps_changing_is_reported_without_a_digest(tmp_path, monkeypatch):
    path = write(tmp_path / "log.txt", b"start")
    fake = RewritingMd5(lambda n: path.write_bytes(b"line\n" * n), rewrites=10**6)
    monkeypatch.setattr(hashing.hashlib, "md5", fake)
    result = file_digest(path)
    assert (result.md5, result.error) == (None, hashing.KEPT_CHANGING)
    assert fake.reads == hashing.MAX_ATTEMPTS


# --- the cache ---------------------------------------------------------------------------------------


def test_unchanged_file_is_not_read_again(tmp_path, hasher, opens):
    path = write(tmp_path / "f", b"x" * 1000)
    first = hasher.digest(path, pytest.fail)
    second = hasher.digest(path, pytest.fail)
    assert first == second
    assert first.md5 == md5_of(b"x" * 1000)
    assert opens.count(str(path)) == 1


def test_hard_link_shares_the_cached_digest(tmp_path, hasher, opens):
    path = write(tmp_path / "f", b"x" * 1000)
    os.link(path, tmp_path / "g")
    hasher.digest(path, pytest.fail)
    assert hasher.digest(tmp_path / "g", pytest.fail).md5 == md5_of(b"x" * 1000)
    assert opens == [str(path)]


def test_rewritten_file_is_read_again(tmp_path, hasher, opens):
    path = write(tmp_path / "f", b"x" * 1000)
    hasher.digest(path, pytest.fail)
    write(path, b"y" * 1000)
    os.utime(path, ns=(OLD_NS + 1, OLD_NS + 1))  # same size; only the stat tells
    assert hasher.digest(path, pytest.fail).md5 == md5_of(b"y" * 1000)
    assert opens.count(str(path)) == 2


def test_freshly_written_file_is_not_cached(tmp_path, hasher, opens):
    """Racy-clean: a second same-size write in the same mtime tick would be invisible to the cache."""
    path = write(tmp_path / "f", b"x" * 1000, old=False)
    hasher.digest(path, pytest.fail)
    hasher.digest(path, pytest.fail)
    assert opens.count(str(path)) == 2


def test_large_cached_file_is_answered_inline(tmp_path, opens):
    path = write(tmp_path / "big", b"x" * 10_000)
    hasher = Hasher(inline_limit=1000)
    try:
        done = Collector()
        assert hasher.digest(path, done) is None
        assert hasher.wait(10)
        assert hasher.digest(path, pytest.fail) == done.results[0]
        assert opens.count(str(path)) == 1
    finally:
        hasher.close()


# --- background work ---------------------------------------------------------------------------------


def test_small_file_is_answered_inline_without_callback(tmp_path, hasher):
    path = write(tmp_path / "f", b"x" * 1000)
    assert hasher.digest(path, pytest.fail).md5 == md5_of(b"x" * 1000)
    assert hasher.wait(0)


def test_large_file_is_hashed_by_a_worker(tmp_path):
    data = os.urandom(100_000)
    path = write(tmp_path / "big", data)
    hasher = Hasher(inline_limit=1000)
    try:
        done = Collector()
        assert hasher.digest(path, done) is None
        assert hasher.wait(10)
        assert done.results == [FileDigest(str(path), len(data), OLD_NS, md5_of(data))]
        assert done.threads[0] != threading.current_thread().name
    finally:
        hasher.close()


def test_queued_requests_for_one_path_share_one_read(tmp_path, opens):
    """The single worker is held by a first job, so both requests for `big` are queued together."""
    blocker, big = write(tmp_path / "blocker", b"b" * 2000), write(tmp_path / "big", b"x" * 2000)
    release = threading.Event()
    hasher = Hasher(inline_limit=1000, workers=1)
    try:
        hasher.digest(blocker, lambda _: release.wait(10))
        first, second = Collector(), Collector()
        assert hasher.digest(big, first) is None
        assert hasher.digest(big, second) is None
        release.set()
        assert hasher.wait(10)
        assert first.results == second.results
        assert first.results[0].md5 == md5_of(b"x" * 2000)
        assert opens.count(str(big)) == 1
    finally:
        release.set()
        hasher.close()


def test_failing_callback_does_not_break_the_pool(tmp_path):
    paths = [write(tmp_path / f"f{i}", bytes([i]) * 2000) for i in range(2)]
    hasher = Hasher(inline_limit=1000, workers=1)
    try:

        def broken(_: FileDigest) -> None:
            raise ValueError("bug in the session")

        hasher.digest(paths[0], broken)
        done = Collector()
        hasher.digest(paths[1], done)
        assert hasher.wait(10)
        assert done.results[0].md5 == md5_of(bytes([1]) * 2000)
    finally:
        hasher.close()


def test_close_cancels_a_long_hash_quickly(tmp_path):
    path = tmp_path / "sparse"
    with open(path, "wb") as f:
        f.truncate(8 << 30)  # 8 GiB of holes: ~10 s to hash here, no disk used
    os.utime(path, ns=(OLD_NS, OLD_NS))
    hasher = Hasher(inline_limit=1000)
    done = Collector()
    assert hasher.digest(path, done) is None
    assert not hasher.wait(0.2)
    started = time.monotonic()
    hasher.close()
    assert time.monotonic() - started < 2
    assert [r.error for r in done.results] == [hashing.CANCELLED]
    with pytest.raises(RuntimeError):
        hasher.digest(path, done)


# --- directories -------------------------------------------------------------------------------------


def make_dvc_fixture_tree(root: Path) -> None:
    """A tree whose digest real `dvc add` (dvc 3.67) gave as c45761d267f5fa2770b496388f2146fb.dir,
    size 25, nfiles 8: it exercises sorting ("a-b" < "a/b" < "a0"), non-ASCII names, symlinks to files
    (followed) and to directories (not), empty directories, .git/.hg/.dvc and a sub-repository."""
    for rel, data in {
        "a-b": b"x",
        "a/b": b"y",
        "a0": b"z",
        "café": "é".encode(),
        "f.txt": b"hello\n",
        "sub/s": b"s\n",
        ".git": b"git\n",
        ".hg/h": b"hg\n",
        "x/.dvc/c": b"dv\n",
        "x/.git/c": b"g\n",
        "x/q": b"q\n",
    }.items():
        write(root / rel, data)
    (root / "empty").mkdir()
    os.symlink("f.txt", root / "link")
    os.symlink("sub", root / "linkdir")
    os.symlink("../f.txt", root / "sub" / "l2")


def test_dir_digest_matches_what_dvc_wrote(tmp_path):
    make_dvc_fixture_tree(tmp_path / "data")
    result = dir_digest(tmp_path / "data")
    assert (result.md5, result.size, result.nfiles) == ("c45761d267f5fa2770b496388f2146fb.dir", 25, 8)


def test_empty_dir_digest_is_md5_of_empty_json_list(tmp_path):
    result = dir_digest(tmp_path)
    assert (result.md5, result.size, result.nfiles) == (md5_of(b"[]") + ".dir", 0, 0)


def test_dir_digest_of_a_file_says_so(tmp_path):
    assert dir_digest(write(tmp_path / "f", b"x")).error == hashing.NOT_A_DIRECTORY


def test_dir_with_a_fifo_is_reported_not_hung(tmp_path, hasher):
    write(tmp_path / "d" / "ok.csv", b"1,2\n")
    os.mkfifo(tmp_path / "d" / "pipe")
    result = run_with_timeout(lambda: hasher.digest(tmp_path / "d", pytest.fail))
    assert (result.md5, result.error) == (None, f"{hashing.NOT_REGULAR}: pipe")


def test_dir_digest_changes_when_a_nested_file_does(tmp_path, hasher):
    write(tmp_path / "d" / "deep" / "f", b"1")
    before = hasher.digest(tmp_path / "d", pytest.fail)
    write(tmp_path / "d" / "deep" / "f", b"2")
    os.utime(tmp_path / "d" / "deep" / "f", ns=(OLD_NS + 1, OLD_NS + 1))
    after = hasher.digest(tmp_path / "d", pytest.fail)
    assert before.md5 != after.md5
    assert after == dir_digest(tmp_path / "d")


def test_big_dir_goes_to_a_worker_with_the_same_digest(tmp_path):
    for i in range(50):
        write(tmp_path / "d" / f"{i:03}.csv", str(i).encode())
    hasher = Hasher(dir_inline_entries=10)
    try:
        done = Collector()
        assert hasher.digest(tmp_path / "d", done) is None
        assert hasher.wait(10)
        assert done.results == [dir_digest(tmp_path / "d")]
        assert done.results[0].nfiles == 50
    finally:
        hasher.close()


def test_dir_of_large_files_goes_to_a_worker(tmp_path):
    write(tmp_path / "d" / "a", b"a" * 5000)
    hasher = Hasher(inline_limit=1000)
    try:
        done = Collector()
        assert hasher.digest(tmp_path / "d", done) is None
        assert hasher.wait(10)
        assert done.results[0].md5 == dir_digest(tmp_path / "d").md5
    finally:
        hasher.close()


def test_module_import_stays_light():
    """Imported at %load_ext: no thread pool or json until a digest needs them."""
    code = (
        "import sys, importlib.util as u; "
        f"s = u.spec_from_file_location('h', {hashing.__file__!r}); m = u.module_from_spec(s); "
        "sys.modules['h'] = m; s.loader.exec_module(m); "
        "print(sorted({'json', 'concurrent.futures', 'logging'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_file_being_hashed_is_read_once_for_every_request_while_it_is_unchanged(tmp_path, opens):
    # Given a big file whose background digest is under way
    path = tmp_path / "big.bin"
    path.write_bytes(b"\x02" * (8 << 20))
    hasher = Hasher(inline_limit=1 << 20, workers=2, chunk_size=1 << 16)
    started, release = threading.Event(), threading.Event()
    results: list = []
    real = hashing._read_md5

    def slow(*args):
        started.set()
        release.wait(10)
        return real(*args)

    hashing._read_md5 = slow
    try:
        assert hasher.digest(path, results.append) is None
        started.wait(10)
        # When cells ask for it again while it is read, unchanged
        assert hasher.digest(path, results.append) is None
        assert hasher.digest(path, results.append) is None
        release.set()
        assert hasher.wait(10)
    finally:
        hashing._read_md5 = real
        hasher.close()
    # Then one read answers all three
    assert len(results) == 3 and {r.md5 for r in results} == {md5_of(b"\x02" * (8 << 20))}
    assert opens.count(str(path)) == 1
