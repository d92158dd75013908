"""Fixtures of the browser tests: a project copied from examples/, a real JupyterLab on it, a Chromium page."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.lab import CHROMIUM, CHROMIUM_ARGS, REPO, Lab


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    """A copy of examples/ as its own git repository (the journal goes to its root); not `project`, which
    the kernel tests (test_comm.py) take bare from tests/conftest.py."""
    root = tmp_path / "churn"
    shutil.copytree(REPO / "examples", root, ignore=shutil.ignore_patterns("out", ".mlops", "*.joblib",
                                                                           ".ipynb_checkpoints"))
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
                   check=True)
    return root


@pytest.fixture
def lab_options() -> list[str]:
    return []


@pytest.fixture
def lab(example_project: Path, tmp_path: Path, lab_options: list[str]) -> Iterator[Lab]:
    server = Lab(example_project, tmp_path / "lab", lab_options)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(lab: Lab) -> Iterator[tuple]:
    """A Chromium page, and the console errors it logs (a test asserts there are none of ours)."""
    playwright = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            yield page, errors
        finally:
            browser.close()
