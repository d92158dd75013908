from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kernel import Kernel


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files marked ``slow`` first (in their order; the rest keep theirs): with ``--dist loadfile`` the workers
    take files in collection order, and a file of several minutes taken last is the run's whole tail."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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
