"""How fast jupyter_mlops.hashing is, against plain hashlib.md5 measured in the same run.

Prints ratios, asserts nothing:
  * throughput of md5_file vs a plain ``hashlib.md5`` read loop over the same file (page cache warm for
    both, so this is hashing cost, not disk);
  * the Hasher on a file it has not seen (worker hashes it) vs the same file again (one stat);
  * N independent files hashed by the Hasher's pool vs one after another.

    python benchmarks/hashing.py [--size-mib 1024] [--files 4] [--file-mib 256]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from jupyter_mlops.hashing import FileDigest, Hasher, md5_file

OLD_NS = 1_600_000_000 * 10**9  # not "racy", so the Hasher caches it


def generate(path: Path, mib: int) -> None:
    """Incompressible-looking data (a random MiB, varied per MiB) without paying for os.urandom(1 GiB)."""
    block = bytearray(os.urandom(1 << 20))
    with open(path, "wb") as f:
        for i in range(mib):
            block[:8] = i.to_bytes(8, "little")
            f.write(block)
    os.utime(path, ns=(OLD_NS, OLD_NS))


def plain_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check(same: bool) -> None:
    """Timings of wrong answers mean nothing: say so loudly, but keep measuring."""
    if not same:
        print("  !! digests differ from hashlib's: the numbers below are meaningless")


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def best_of(n: int, fn, *args) -> tuple[float, object]:
    runs = [timed(fn, *args) for _ in range(n)]
    return min(run[0] for run in runs), runs[0][1]


def hasher_digest(hasher: Hasher, path: Path) -> FileDigest:
    results: list[FileDigest] = []
    now = hasher.digest(path, results.append)
    hasher.wait()
    return now or results[0]


def throughput(tmp: Path, mib: int) -> None:
    path = tmp / "big.bin"
    generate(path, mib)
    plain_md5(path)  # warm the page cache for both contenders
    t_plain, expected = best_of(2, plain_md5, path)
    t_ours, ours = best_of(2, md5_file, path)
    check(ours == expected)
    data = os.urandom(1 << 20)
    t_mem, _ = timed(lambda: [hashlib.md5(data) for _ in range(256)])
    print(f"file of {mib} MiB")
    print(f"  hashlib.md5 on memory        {256 / t_mem:8.0f} MiB/s")
    print(f"  hashlib.md5 read loop        {mib / t_plain:8.0f} MiB/s")
    print(f"  md5_file                     {mib / t_ours:8.0f} MiB/s   ratio {t_plain / t_ours:.2f}x")

    hasher = Hasher()
    try:
        t_cold, cold = timed(hasher_digest, hasher, path)
        t_warm, warm = best_of(5, hasher_digest, hasher, path)
    finally:
        hasher.close()
    check(cold == warm and cold.md5 == expected)
    print(f"  Hasher cold (worker)         {t_cold * 1e3:8.1f} ms")
    print(f"  Hasher cached (one stat)     {t_warm * 1e6:8.1f} µs   ratio {t_cold / t_warm:,.0f}x")
    path.unlink()


def parallel(tmp: Path, n: int, mib: int) -> None:
    paths = [tmp / f"part-{i}.bin" for i in range(n)]
    for path in paths:
        generate(path, mib)
        plain_md5(path)
    t_serial, serial = timed(lambda: [md5_file(p) for p in paths])

    hasher = Hasher(inline_limit=0)
    results: list[FileDigest] = []
    try:
        start = time.perf_counter()
        for path in paths:
            hasher.digest(path, results.append)
        hasher.wait()
        t_pool = time.perf_counter() - start
    finally:
        hasher.close()
    check(sorted(serial) == sorted(r.md5 for r in results))
    print(f"{n} files of {mib} MiB, {hasher.workers} workers, {os.cpu_count()} CPUs")
    print(f"  one after another            {n * mib / t_serial:8.0f} MiB/s")
    print(f"  Hasher pool                  {n * mib / t_pool:8.0f} MiB/s   ratio {t_serial / t_pool:.2f}x")
    for path in paths:
        path.unlink()


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter  # keep the docstring's layout in --help
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--file-mib", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlops-hash-bench-") as tmp:
        throughput(Path(tmp), args.size_mib)
        parallel(Path(tmp), args.files, args.file_mib)


if __name__ == "__main__":
    main()
