"""A real Jupyter server with the jupyter_mlops extension, for the hostile-request tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# pytest-jupyter's fixtures (jp_fetch, jp_serverapp …) and its async-test hooks, for this folder only.
from pytest_jupyter.jupyter_server import *  # noqa: F403

from tests.support.server import jp_server_config, notebook_project  # noqa: F401 - a fixture


@pytest.fixture
def project(jp_root_dir: Path) -> Path:
    return notebook_project(jp_root_dir)
