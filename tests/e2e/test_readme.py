"""The README's command blocks are tests: every ```bash block runs as written, in README order, from the root
of what a clone of jupyter-mlops holds (examples/ committed), so the README cannot drift from the product.

The whole loop (tracked run, export, push, commit, clone, pull, repro, diff, report, certify, check), the CI
gate (verify, register, show, serve, predict) and the sweep run for real: papermill kernels, DVC, MLflow's
store and scoring server, curl. Only the placeholders in ``PLACEHOLDERS`` are replaced; a block the README
marks as not runnable here (Docker, a registry, a cluster) is read as such from the README itself. One test:
the blocks build on each other (the sweep runs in the loop's project), so they must not be split across
workers. It takes several minutes; its log says how long each block took.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.readme import bash_blocks, run_block
from tests.support.repo import ENV
from tests.ui.lab import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(2400)]
REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
BLOCK_TIMEOUT_S = 1200


def placeholders(workdir: Path) -> dict[str, str]:
    """What the README writes for things only a reader has, and what stands for them here."""
    return {
        "REPO": str(workdir / "churn"),            # the project's git URL: the loop's project itself
        "5001": str(free_port()),                  # the model server's port: a free one (tests run in parallel)
        "9090": str(free_port()),                  # Prometheus' port, likewise
        # the sweep id the README shows as an example: the latest sweep's
        "sweep-3fa91c": '$(basename "$(ls -t .mlops/sweeps/*.json | head -1)" .json)',
    }


def checkout(root: Path) -> Path:
    """``root`` holding what git tracks of examples/ (and the .gitignore), committed: a fresh clone's view."""
    listed = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "-z", "examples", ".gitignore"], check=True,
                            capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, root / name)
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "jupyter-mlops"]):
        subprocess.run(argv, cwd=root, env=ENV, check=True, capture_output=True)
    return root


def reader_env(home: Path) -> dict[str, str]:
    """The environment of a reader with .venv active and git set up (their own HOME: nothing of this
    machine's configuration leaks in, nothing of the test's leaks out)."""
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Reader\n\temail = reader@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    env = {**ENV, "HOME": str(home)}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL",
                 "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def test_every_bash_block_of_the_readme_runs_as_written(tmp_path: Path):
    blocks = bash_blocks(README)
    runnable = [b for b in blocks if b.not_run is None]
    assert runnable and all(b.commands for b in runnable), "the README has no bash block to run"
    root = checkout(tmp_path / "jupyter-mlops")
    env = reader_env(tmp_path / "home")
    table, used = placeholders(tmp_path), set()
    took = []
    for block in runnable:
        started = time.monotonic()
        run_block(block, root, env, table, used, tmp_path / "logs", timeout=BLOCK_TIMEOUT_S)
        took.append(f"{block.name}: {time.monotonic() - started:.1f} s")
    print("\n".join(took))
    assert used == set(table), f"placeholders the README no longer has: {sorted(set(table) - used)}"
