"""A provenance certificate inside the notebook, which ``check`` verifies without re-running anything.

``jupyter mlops certify NOTEBOOK`` writes, into the saved ``.ipynb``'s metadata, what the notebook's latest
tracked session proves: per code cell (in order) its id, the md5 of its code and the md5s of the data it
read and wrote; the params; the git commit and environment hash the journal holds for it; and the verdict.
It refuses a session whose state a top-to-bottom run would not reproduce. ``check`` then validates the
certificate: the cells in the file are the cells that ran, in that order, and the data on disk still has
those md5s; the first mismatch is named (exit 1). nbval re-runs; this reads and hashes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from jupyter_mlops import own_io, project_files
from jupyter_mlops.check import replay
from jupyter_mlops.core.notebook import Cell, Notebook, read_notebook
from jupyter_mlops.core.redact import NotebookCode
from jupyter_mlops.errors import NotFound, Refused
from jupyter_mlops.hashing import file_digest
from jupyter_mlops.journal import TRACKING_CELL, Journal, Provenance, latest_values
from jupyter_mlops.project import find_root, journal_path

METADATA_KEY = "jupyter_mlops"
CERTIFICATE_KEY = "certificate"
INJECTED_KEY = "injected_parameters"  # the values papermill injected into the certified run
VERSION = 1


def code_md5(source: str) -> str:
    return hashlib.md5(source.encode("utf-8"), usedforsecurity=False).hexdigest()


def certificate_of(nb: Notebook) -> dict[str, Any] | None:
    found = (nb.metadata.get(METADATA_KEY) or {}).get(CERTIFICATE_KEY)
    return found if isinstance(found, dict) else None


def build(session: dict[str, Any], nb: Notebook, provenance: Provenance | None = None) -> dict[str, Any]:
    """The certificate of ``session`` for ``nb`` as saved; Refused when the session does not vouch for it.

    Every code cell must have run with its code: the cell the session started in (``%mlops_track``, never a
    cell run of its own) counts as run with the code the session recorded for it, its reads being the data
    declared with ``--data``. papermill's injected parameters cell, which the session ran and the notebook
    does not hold, is certified apart: the notebook reproduces the certified run with those values.
    """
    verdict = replay(session, nb.code_cells)
    if not verdict.reproducible:
        first = verdict.issues[0]
        raise Refused(f"the latest session is not reproducible ({first.kind}: {first.message})",
                      hint=f"{first.fix}, then certify again")
    ok = [r for r in session["cell_runs"] if r["status"] == "ok"]
    runs = {r["cell_id"]: r for r in ok}
    ran = NotebookCode(c.source for c in nb.code_cells)  # stored code has its secrets masked
    started_in = (session.get("options") or {}).get(TRACKING_CELL)
    cells = []
    for position, cell in enumerate(nb.code_cells, 1):
        run = runs.get(cell.cell_id)
        if run is not None:
            code = ran.of(run)
            files = [f for f in session["files"] if f["seq"] == run["seq"]]
        elif isinstance(started_in, dict) and started_in.get("cell_id") == cell.cell_id:
            code = ran.of(started_in)
            files = [f | {"mode": "read"} for f in session["files"] if f["mode"] == "declared"]
        elif started_in is None and cell.is_tracking:  # a journal from before the session named its cell
            code, files = cell.source, []
        else:
            code = None
        if code is None or code.strip() != cell.source.strip():
            if not cell.source.strip():
                continue
            raise Refused(f"cell {position} ({cell.cell_id}) did not run with its code in session {session['id']}",
                          hint="restart the kernel and run all cells (tracked), then certify again")
        cells.append({
            "id": cell.cell_id, "code_md5": code_md5(cell.source),
            "reads": {f["path"]: f["md5"] for f in files if f["mode"] == "read"},
            "writes": {f["path"]: f["md5"] for f in files if f["mode"] == "write"},
        })
    certificate = {
        "version": VERSION, "session": session["id"], "reproducible": True,
        "git_commit": provenance.git.commit if provenance else None,
        "environment_md5": provenance.env.packages_hash if provenance else None,
        "params": latest_values(session["params"]), "cells": cells,
    }
    injected = _injected_parameters(session, ok, {c.cell_id for c in nb.code_cells})
    if injected is not None:
        certificate[INJECTED_KEY] = injected
    return certificate


def _injected_parameters(session: dict[str, Any], ok: list[dict[str, Any]], held: set[str]) -> dict[str, Any] | None:
    """papermill's injected parameters cell as the session ran it, when the notebook does not hold it: its
    code's md5 and the values it set (the params recorded from it)."""
    injected = [r for r in ok if r["cell_id"] not in held and Cell(r["cell_id"], r["code"]).is_injected_parameters]
    if not injected:
        return None
    run = injected[-1]
    return {"code_md5": code_md5(run["code"]),
            "params": {p["name"]: p["value"] for p in session["params"] if p["seq"] == run["seq"]}}


def injected_note(certificate: dict[str, Any]) -> str | None:
    """What a certified run owes to papermill's injected parameters ("max_depth=8"), None when nothing."""
    injected = certificate.get(INJECTED_KEY)
    if not isinstance(injected, dict):
        return None
    values = injected.get("params") or {}
    return ", ".join(f"{name}={value!r}" for name, value in values.items()) or "(none recorded)"


def problems(nb: Notebook, root: Path, certificate: dict[str, Any]) -> list[str]:
    """What no longer matches the certificate, the first mismatch first; [] when everything does."""
    found: list[str] = []
    certified = certificate.get("cells") or []
    saved = [c for c in nb.code_cells if c.source.strip()]
    for position, (cell, entry) in enumerate(zip(saved, certified, strict=False), 1):
        if cell.cell_id != entry.get("id"):
            found.append(f"cell {position} is {cell.cell_id}, the certificate's is {entry.get('id')}: cells were "
                         "added, removed or moved after certification")
            break
        if code_md5(cell.source) != entry.get("code_md5"):
            found.append(f"cell {position} ({cell.cell_id}) was edited after certification")
    if len(saved) != len(certified):
        found.append(f"{len(saved)} code cells in the file, {len(certified)} certified")
    checked = [(entry, mode, path, md5) for entry in certified for mode in ("reads", "writes")
               for path, md5 in (entry.get(mode) or {}).items() if md5]
    with own_io.announced(root, [root / path for _, _, path, _ in checked]):  # hashing them is no cell's read
        for entry, mode, path, md5 in checked:
            now = file_digest(root / path).md5  # a folder: DVC's .dir digest; missing: None
            if now != md5:
                what = "is missing" if now is None else f"has md5 {now}"
                found.append(f"{path} ({'read' if mode == 'reads' else 'written'} by {entry.get('id')}) {what}, "
                             f"certified {md5}")
    return found


def certify(path: Path, root: Path | None = None) -> tuple[dict[str, Any], Path]:
    """Write the latest session's certificate into the notebook at ``path`` (under the project's write lock,
    atomically: a reader sees the notebook before or after, never half of it); ``root``: its project (default:
    the notebook's git root)."""
    root = root or find_root(path.parent)
    with project_files.writing(root, "certify"):
        return _certify(path, root), root


def _certify(path: Path, root: Path) -> dict[str, Any]:
    nb = read_notebook(path)
    key = path.resolve().relative_to(root).as_posix()
    if not journal_path(root).exists():
        raise NotFound(f"no journal at {journal_path(root)}", hint=f"run {key} tracked (%mlops_track) first")
    journal = Journal(journal_path(root), create=False)
    try:
        sessions = journal.sessions(key)
        if not sessions:
            raise NotFound(f"no tracked session of {key}", hint="run it with %mlops_track first")
        session = journal.session_detail(sessions[-1]["id"])
        provenance = journal.provenance(session["id"])
    finally:
        journal.close()
    certificate = build(session, nb, provenance)
    document = dict(nb.document)
    metadata = dict(document.get("metadata") or {})
    metadata[METADATA_KEY] = {**(metadata.get(METADATA_KEY) or {}), CERTIFICATE_KEY: certificate}
    document["metadata"] = metadata
    project_files.write_text(root, key, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    return certificate
