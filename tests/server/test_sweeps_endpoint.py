"""``GET /mlops/sweeps`` and ``POST /mlops/sweeps/apply`` on a real sweep (real DVC workers and kernels, the
tiny notebook of ``tests/support/sweep.py``), copied into each test's server root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tornado.httpclient import HTTPClientError

from jupyter_mlops.journal import Journal
from tests.support.sweep import NOTEBOOK, copy_project, swept_project

pytestmark = pytest.mark.e2e  # real DVC workers and kernels


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, dict]:
    repo = tmp_path_factory.mktemp("swept") / "repo"
    return repo, swept_project(repo)


@pytest.fixture
def project(swept, jp_root_dir: Path) -> dict:
    copy_project(swept[0], jp_root_dir)
    return swept[1]


async def refused(fetch, *parts, **kwargs) -> tuple[int, dict]:
    with pytest.raises(HTTPClientError) as caught:
        await fetch(*parts, **kwargs)
    return caught.value.code, json.loads(caught.value.response.body)


async def test_the_sweeps_rows_are_its_experiments_best_first_each_with_its_tracked_session(jp_fetch, project,
                                                                                           jp_root_dir):
    data = json.loads((await jp_fetch("mlops", "sweeps", params={"notebook": NOTEBOOK})).body)
    assert data["notebook"] == NOTEBOOK and len(data["sweeps"]) == 1
    sweep = data["sweeps"][0]
    assert (sweep["sweep"], sweep["notebook"], sweep["metric"], sweep["params"]) == (
        project["sweep"], NOTEBOOK, "score", ["a"])
    rows = sweep["rows"]
    # score = b - (a - 3)**2 with b = 2: a=3 scores 2, a=1 scores -2
    assert [(r["params"]["a"], r["metrics"]["score"], r["state"], r["best"]) for r in rows] == [
        (3, 2.0, "success", True), (1, -2.0, "success", False)]
    assert sweep["best"] == rows[0]["experiment"]
    journal = Journal(jp_root_dir / ".mlops" / "journal.sqlite", create=False)
    try:
        by_experiment = {s["options"]["dvc_experiment"]: s["id"] for s in journal.sessions()
                         if s["options"].get("sweep") == project["sweep"]}
    finally:
        journal.close()
    assert {r["experiment"]: r["session"] for r in rows} == by_experiment
    best = rows[0]["details"]
    assert best["id"] == rows[0]["session"] and best["state"] == "ended" and best["cells"] == 3
    assert best["params"]["a"] == 3 and best["metrics"] == {"score": 2.0}


async def test_apply_brings_the_experiments_params_into_params_yaml(jp_fetch, project, jp_root_dir):
    # The workspace has the notebook's own a = 1; the best experiment had a = 3.
    assert yaml.safe_load((jp_root_dir / "params.yaml").read_text())["a"] == 1
    response = await jp_fetch("mlops", "sweeps", "apply", method="POST",
                              body=json.dumps({"notebook": NOTEBOOK, "experiment": project["best"]}))
    data = json.loads(response.body)
    assert data == {"experiment": project["best"], "changed": {"a": 3}, "params": {"a": "3"}}
    assert yaml.safe_load((jp_root_dir / "params.yaml").read_text())["a"] == 3


async def test_unknown_experiments_bad_paths_and_damaged_records_are_refused_with_a_4xx(jp_fetch, project,
                                                                                       jp_root_dir):
    unknown = f"{project['sweep']}-9"
    code, answer = await refused(jp_fetch, "mlops", "sweeps", "apply", method="POST",
                                 body=json.dumps({"notebook": NOTEBOOK, "experiment": unknown}))
    assert code == 404 and unknown in answer["message"]
    code, answer = await refused(jp_fetch, "mlops", "sweeps", "apply", method="POST",
                                 body=json.dumps({"notebook": NOTEBOOK, "experiment": "--force"}))
    assert code == 400 and "not an experiment of a sweep" in answer["message"]
    code, answer = await refused(jp_fetch, "mlops", "sweeps", "apply", method="POST",
                                 body=json.dumps({"notebook": NOTEBOOK, "experiment": "sweep-000000-1"}))
    assert code == 404 and "no sweep sweep-000000" in answer["message"]
    code, answer = await refused(jp_fetch, "mlops", "sweeps", params={"notebook": "../elsewhere.ipynb"})
    assert code == 403 and answer["message"]
    code, answer = await refused(jp_fetch, "mlops", "sweeps", "apply", method="POST",
                                 body=json.dumps({"notebook": "missing.ipynb", "experiment": project["best"]}))
    assert code == 404
    (jp_root_dir / ".mlops" / "sweeps" / "sweep-dddddd.json").write_text("{")
    code, answer = await refused(jp_fetch, "mlops", "sweeps", params={"notebook": NOTEBOOK})
    assert code == 409 and "sweep-dddddd.json is not a sweep record" in answer["message"] and answer["hint"]


async def test_a_project_without_sweeps_has_an_empty_list(jp_fetch, jp_root_dir):
    (jp_root_dir / "new.ipynb").write_text("{}")
    data = json.loads((await jp_fetch("mlops", "sweeps", params={"notebook": "new.ipynb"})).body)
    assert data == {"notebook": "new.ipynb", "sweeps": []}
