"""The public notebooks of the strict detector benchmark, written from pinned sdists into a local cache.

No third-party file is kept in this repository: ``public_notebooks.json`` names, for each notebook, the
package, its pinned version, the file's path inside the sdist and the licence. This script downloads each
pinned sdist with pip (``pip download --no-deps --no-binary <package>``: only the package itself from
source, so that pip does not also build its build dependencies from source), into
``benchmarks/.cache/sdist/`` (gitignored), and writes the notebooks to ``benchmarks/.cache/public/``:

- ``.ipynb`` files (statsmodels' ``examples/notebooks``) as they are, with cell ids added where the file
  predates them (``<name>-<index>``, as nbformat's normalisation would, but stable across runs);
- sphinx-gallery scripts (scikit-learn's ``examples/**/*.py``) converted the way sphinx-gallery's own
  notebook export does: the module docstring and each block of comment lines after a ``# %%`` separator
  become markdown cells, the code between separators one code cell.

    python benchmarks/public_notebooks.py [--force]

The benchmark calls :func:`materialise` itself; running this script alone only fills the cache.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
MANIFEST = HERE / "public_notebooks.json"
CACHE = HERE / ".cache"


@dataclass(frozen=True)
class Entry:
    name: str  # the notebook's name in the benchmark
    package: str
    version: str
    path: str  # inside the sdist, below its top folder
    licence: str

    @property
    def sdist_stem(self) -> str:
        """The sdist's file name without ``.tar.gz``, normalised (``scikit-learn-1.3.2``, ``scikit_learn-…``)."""
        return f"{self.package}-{self.version}".lower().replace("-", "_")


def entries() -> list[Entry]:
    data = json.loads(MANIFEST.read_text())
    return [Entry(**item) for item in data["notebooks"]]


def materialise(force: bool = False) -> list[Path]:
    """The public notebooks, downloading and converting only what the cache lacks."""
    out_dir = CACHE / "public"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in entries():
        target = out_dir / f"{entry.name}.ipynb"
        if force or not target.exists():
            source = _member(_sdist(entry, force), entry)
            notebook = _as_notebook(source, entry)
            target.write_text(json.dumps(notebook, indent=1) + "\n")
        written.append(target)
    return written


def _sdist(entry: Entry, force: bool) -> Path:
    folder = CACHE / "sdist"
    folder.mkdir(parents=True, exist_ok=True)
    found = _find_sdist(folder, entry)
    if found is not None and not force:
        return found
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", entry.package,
         f"{entry.package}=={entry.version}", "--dest", str(folder)],
        check=True,
    )
    found = _find_sdist(folder, entry)
    if found is None:
        raise RuntimeError(f"pip downloaded no sdist of {entry.package}=={entry.version} into {folder}")
    return found


def _find_sdist(folder: Path, entry: Entry) -> Path | None:
    for candidate in folder.glob("*.tar.gz"):
        if candidate.name.lower().replace("-", "_") == entry.sdist_stem + ".tar.gz":
            return candidate
    return None


def _member(sdist: Path, entry: Entry) -> str:
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        member = archive.extractfile(f"{top}/{entry.path}")
        if member is None:
            raise RuntimeError(f"{entry.path} is not a file in {sdist.name}")
        return member.read().decode("utf-8")


def _as_notebook(source: str, entry: Entry) -> dict:
    if entry.path.endswith(".ipynb"):
        notebook = json.loads(source)
        for index, cell in enumerate(notebook["cells"]):
            cell.setdefault("id", f"{entry.name}-{index}")
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
        notebook["nbformat"], notebook["nbformat_minor"] = 4, max(notebook.get("nbformat_minor", 5), 5)
        return notebook
    return _gallery_notebook(source, entry.name)


def _gallery_notebook(source: str, name: str) -> dict:
    """One code cell per ``# %%`` block; the docstring and the comment text that opens a block: markdown."""
    cells: list[tuple[str, str]] = []
    body = source
    docstring = ast.get_docstring(ast.parse(source), clean=True)
    if docstring:
        module = ast.parse(source).body[0]
        body = "\n".join(source.splitlines()[module.end_lineno :])
        cells.append(("markdown", docstring))
    for block in _blocks(body):
        lines = block.splitlines()
        text = []
        while lines and (lines[0].startswith("#") or not lines[0].strip()):
            line = lines.pop(0)
            text.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
        code = "\n".join(lines).strip("\n")
        if "".join(text).strip():
            cells.append(("markdown", "\n".join(text).strip("\n")))
        if code.strip():
            cells.append(("code", code))
    return {
        "cells": [_cell(kind, text, f"{name}-{index}") for index, (kind, text) in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _blocks(body: str) -> list[str]:
    blocks, current = [], []
    for line in body.splitlines():
        if line.startswith("# %%") or (line.startswith("#" * 20) and not line.strip("#")):
            blocks.append("\n".join(current))
            current = [] if line.startswith("#" * 20) else [f"# {line[4:].strip()}"] if line[4:].strip() else []
        else:
            current.append(line)
    blocks.append("\n".join(current))
    return blocks


def _cell(kind: str, text: str, cell_id: str) -> dict:
    cell = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": text.splitlines(keepends=True)}
    if kind == "code":
        cell["outputs"], cell["execution_count"] = [], None
    return cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="download and convert again")
    args = parser.parse_args()
    for path in materialise(force=args.force):
        print(path)


if __name__ == "__main__":
    main()
