"""A real Jupyter server with the jupyter_mlops extension, for the hostile-request tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

# pytest-jupyter's fixtures (jp_fetch, jp_serverapp …) and its async-test hooks, for this folder only.
from pytest_jupyter.jupyter_server import *  # noqa: F403


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}}}


@pytest.fixture
def project(jp_root_dir: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(jp_root_dir)], check=True)
    (jp_root_dir / "churn.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                         "nbformat_minor": 5}))
    return jp_root_dir
