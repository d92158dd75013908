from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kernel import Kernel


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A throwaway git project: the journal goes to its root, as it would in a user's repository."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


@pytest.fixture
def kernel(project: Path) -> Iterator[Kernel]:
    k = Kernel(project)
    try:
        yield k
    finally:
        k.shutdown()
