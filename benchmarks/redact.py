"""What masking secrets costs the kernel per cell (``core/redact.py``), against what the cell's record cost
already, measured in the same run.

Every tracked cell's code goes through ``Redactor.code`` and ``code_digest`` before it is written (the
journal keeps the masked code and the digest of the code as it ran). The baseline is the md5 of the code
the kernel computed for every cell before (``hashlib.md5(code)``), timed in the same loop. Cells:

- idle: the trivial cells ``cell_overhead.py`` times (no hint of a secret: the cheap first look only);
- example: every code cell of ``examples/churn.ipynb`` (words such as ``key`` take the full pass);
- secrets: a parameters cell with secret literals and a URL password, and a cell repeating a seen value.

    python benchmarks/redact.py [--rounds 20000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from jupyter_mlops.core.redact import Redactor, code_digest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "churn.ipynb"
IDLE = ("x = 1", "y = x + 1", "s = str(y)", "x += 1", "y")
SECRETS = ('lr = 0.1\napi_token = "tok-literal-0001"\ndb_password = "hunter2"\n'
           'db_url = "postgresql://bob:pw-9@db/x"\n', 'same = "tok-literal-0001" == api_token\nclient(db_url)')


def per_cell(cells: tuple[str, ...], work: Callable[[str], object], rounds: int) -> float:
    """Median over 5 batches of the time per cell, in microseconds."""
    batches = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds // len(cells)):
            for code in cells:
                work(code)
        batches.append((time.perf_counter() - started) / (rounds // len(cells) * len(cells)) * 1e6)
    return statistics.median(batches)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20000, help="cells timed per batch")
    args = parser.parse_args()
    example = tuple("".join(c["source"]) for c in json.loads(EXAMPLE.read_text())["cells"] if c["cell_type"] == "code")
    redactor = Redactor(["salt"])
    redactor.learn("tok-literal-0001")

    def record(code: str) -> None:  # what the kernel now does with each cell's code before writing it
        redactor.code(code)
        code_digest(code)

    def before(code: str) -> None:  # what it did before
        hashlib.md5(code.encode("utf-8", "surrogatepass")).hexdigest()

    print(f"{'cells':<10} {'before µs':>10} {'now µs':>10} {'added µs':>10} {'ratio':>7}")
    for name, cells in (("idle", IDLE), ("example", example), ("secrets", SECRETS)):
        base, now = per_cell(cells, before, args.rounds), per_cell(cells, record, args.rounds)
        print(f"{name:<10} {base:>10.2f} {now:>10.2f} {now - base:>10.2f} {now / base:>6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
