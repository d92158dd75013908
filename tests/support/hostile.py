"""A project in which export touches every kind of file it can, and the links and FIFOs a hostile clone can
plant there: the same cases for the CLI and for the server's export.

``nb.ipynb`` has a parameters cell, reads ``data/raw.csv`` (a raw input export puts under DVC) and writes
``out.txt``, so ``export --stages single`` reads and writes ``params.yaml``, ``dvc.yaml``,
``pipeline/nb.ipynb``, ``data/raw.csv.dvc``, ``data/.gitignore``, runs DVC (which reads ``.dvc/config``) and
hashes the data.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.support.repo import run

NOTEBOOK = "nb.ipynb"
STAGE_NOTEBOOK = "pipeline/nb.ipynb"
# Every file or folder export reads or writes in that project (or DVC does, for it).
EXPORT_TOUCHES = ("params.yaml", "dvc.yaml", "pipeline", STAGE_NOTEBOOK, "data/raw.csv.dvc", "data/.gitignore",
                  "data/raw.csv", "data", ".dvc/config")
FIFO_CASES = ("params.yaml", "dvc.yaml", STAGE_NOTEBOOK, "data/raw.csv")
_KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
           "language_info": {"name": "python"}}


def notebook_text(cells: list[tuple[str, str, list[str]]]) -> str:
    """A notebook of code cells (id, source, tags)."""
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": _KERNEL, "cells": [
        {"cell_type": "code", "id": cid, "metadata": {"tags": tags}, "source": source, "outputs": [],
         "execution_count": None} for cid, source, tags in cells]})


def export_project(root: Path) -> Path:
    """``root`` as a git + DVC project holding ``nb.ipynb`` and its raw data."""
    root.mkdir(parents=True, exist_ok=True)
    run(root, "git", "init", "-q")
    run(root, "dvc", "init", "-q")
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text("a,b\n1,2\n")
    (root / NOTEBOOK).write_text(notebook_text([
        ("params", "lr = 0.1\nepochs = 3\n", ["parameters"]),
        ("load", "rows = open('data/raw.csv').read()", []),
        ("save", "open('out.txt', 'w').write(rows * epochs)", []),
    ]))
    return root


def copy_project(template: Path, root: Path) -> Path:
    shutil.copytree(template, root, symlinks=True, dirs_exist_ok=True)
    return root


def plant_link(root: Path, outside: Path, name: str) -> None:
    """Replace ``name`` in the project by a symlink to a file or folder of the same kind in ``outside``."""
    inside = root / name
    target = outside / name.replace("/", "_")
    if name == "pipeline":
        target.mkdir()
    elif name == STAGE_NOTEBOOK:
        inside.parent.mkdir(exist_ok=True)
        target.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": [],
                                      "metadata": {"jupyter_mlops": {"generated_from": NOTEBOOK}}}))
    elif inside.exists():  # the data, its folder, .dvc/config: moved out, linked back
        shutil.move(inside, target)
    else:
        target.write_text("planted outside the project\n")
    inside.symlink_to(target, target_is_directory=target.is_dir())


def plant_fifo(root: Path, name: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    os.mkfifo(path)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links not followed) with its content: what must not change."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() and not p.is_symlink() else b"<dir>"
            for p in sorted(folder.rglob("*"))}


def cached_files(root: Path) -> list[Path]:
    """What DVC's cache holds: data a refused export must not have copied in."""
    cache = root / ".dvc" / "cache"
    return [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
