"""The panel's Serving section: the running ``jupyter mlops serve`` servers of the notebook's registered models.

Each server rewrites its record in ``<project>/.mlops/serving/servers/`` every few seconds (``serving/state.py``):
the version, its lineage (the notebook it was trained in), and its live status (requests/s, p50/p99 over the
last minute, each input's drift). The servers shown are those whose version came from this notebook and whose
process runs. Read-only files below the project, which ``paths.notebook_ref`` keeps inside the server root;
the folder itself must not lead out of it either. No request to the model server is made from here.
"""

from __future__ import annotations

from typing import Any

from jupyter_mlops.server.paths import NotebookRef, RequestError
from jupyter_mlops.serving import state

SHOWN_KEYS = ("url", "model", "version", "aliases", "session", "commit", "started_at", "updated_at")


def servers(ref: NotebookRef, root_dir: Any) -> dict[str, Any]:
    """``{"servers": [...]}``: each running server of a model registered from ``ref``'s notebook."""
    folder = state.serving_dir(ref.project)
    if folder.exists() and not folder.resolve().is_relative_to(root_dir.resolve()):
        raise RequestError(403, ".mlops/serving is a symlink out of the Jupyter root; refused")
    mine = [r for r in state.running_servers(ref.project) if r.get("notebook") == ref.key]
    return {"servers": [{**{k: r.get(k) for k in SHOWN_KEYS}, "status": r.get("status") or {}}
                        for r in sorted(mine, key=lambda r: (str(r.get("model")), str(r.get("version"))))]}
