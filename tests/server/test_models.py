"""``/mlops/models`` and ``/mlops/register`` against a real Jupyter server, a real journal and a real MLflow
SQLite store: the session's model with its versions, the gate's refusal as a 409 the panel can act on, and
a registration once a verify of that session passed (recorded where ``verify`` records it)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import joblib
import pandas as pd
from sklearn.linear_model import LogisticRegression

from jupyter_mlops.export.verify_log import record as record_verify
from jupyter_mlops.hashing import file_digest
from jupyter_mlops.journal import CellRunRecord, FileRecord, Journal
from tests.server.test_endpoints import body, refused
from tests.support.server import notebook_project

CELLS = {"load": "df = pd.read_csv('data.csv')",
         "fit": "joblib.dump(LogisticRegression().fit(df[['x']], df.y), 'm.joblib')"}


def tracked_project(root: Path) -> str:
    """A session of ``clf.ipynb`` that read data.csv and wrote m.joblib (a real fitted estimator)."""
    notebook_project(root)
    frame = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 6], "y": [0, 0, 1, 0, 1, 1]})
    frame.to_csv(root / "data.csv", index=False)
    joblib.dump(LogisticRegression().fit(frame[["x"]], frame["y"]), root / "m.joblib")
    cells = [{"cell_type": "code", "id": cid, "source": src, "metadata": {}, "outputs": [], "execution_count": None}
             for cid, src in CELLS.items()]
    (root / "clf.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    journal = Journal(root / ".mlops" / "journal.sqlite")
    journal.start_session("cafe00000001", experiment="clf", notebook="clf.ipynb", root=str(root), python="3",
                          ipython="9", options={"mlflow": True})
    for seq, (cid, code) in enumerate(CELLS.items(), 1):
        path, mode = ("data.csv", "read") if cid == "load" else ("m.joblib", "write")
        d = file_digest(root / path)
        journal.add_cell_run("cafe00000001", CellRunRecord(
            seq=seq, cell_id=cid, execution_count=seq, code=code, code_hash=cid, started_at=time.time(),
            duration=0.1, status="ok", reproducible=True, files=[FileRecord(path, mode, d.size, d.mtime_ns, d.md5)]))
    journal.end_session("cafe00000001")
    journal.close()
    return "cafe00000001"


async def test_register_is_refused_until_verified_then_the_models_show_their_version(jp_fetch, jp_root_dir):
    sid = tracked_project(jp_root_dir)
    request = {"notebook": "clf.ipynb", "session": sid, "name": "clf", "model": "m.joblib", "alias": "candidate"}

    # Not verified: a 409 whose hint is what the panel offers (no command-line flag)
    code, answer = await refused(jp_fetch, "mlops", "register", method="POST", body=json.dumps(request))
    assert code == 409 and "has not passed for session cafe00000001" in answer["message"]
    assert answer["hint"].startswith("press Verify in this panel")

    # Bad input never reaches the registry
    for bad in ({"name": "../x"}, {"alias": "no spaces"}, {"session": "x;y"}):
        code, _ = await refused(jp_fetch, "mlops", "register", method="POST", body=json.dumps(request | bad))
        assert code == 400

    # Once the session is mirrored (as its follower does; here `sync`), its model is listed, not registered
    synced = subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "sync", sid], cwd=jp_root_dir,
                            capture_output=True, text=True, timeout=300)
    assert synced.returncode == 0, synced.stderr
    # (the server imports MLflow for these: on a loaded 2-core machine that alone can pass Tornado's 20 s)
    listed = body(await jp_fetch("mlops", "models", params={"notebook": "clf.ipynb", "session": sid},
                                 request_timeout=120))
    assert listed["suggested_name"] == "clf"
    [model] = listed["models"]
    assert (model["path"], model["flavor"], model["versions"]) == ("m.joblib", "sklearn", [])

    # Once a verify of this session passed at its commit (none: the project has no commit yet)
    record_verify(jp_root_dir, "clf.ipynb", sid, True, "clf.ipynb reproduces tracked session", [])
    done = body(await jp_fetch("mlops", "register", method="POST", body=json.dumps(request), request_timeout=120))
    assert (done["name"], done["version"], done["aliases"]) == ("clf", "1", ["candidate"])
    listed = body(await jp_fetch("mlops", "models", params={"notebook": "clf.ipynb", "session": sid},
                                 request_timeout=120))
    assert listed["models"][0]["versions"] == [{"name": "clf", "version": "1", "aliases": ["candidate"]}]


async def test_models_of_a_session_of_another_notebook_are_not_found(jp_fetch, jp_root_dir):
    sid = tracked_project(jp_root_dir)
    code, _ = await refused(jp_fetch, "mlops", "models", params={"notebook": "churn.ipynb", "session": sid})
    assert code == 404
