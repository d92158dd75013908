"""What the server tests share: a Jupyter server with our extension, its root a git project with a notebook."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}}}


def notebook_project(root: Path) -> Path:
    """Make ``root`` a git project holding an empty ``churn.ipynb``."""
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "churn.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return root
