"""Issue 28, paths and races, through a real Jupyter server: every file ``POST /mlops/export`` touches, planted
as a symlink out of the server root or as a FIFO, is a 409 naming it before anything is written; the
server keeps serving (and shuts down) after a FIFO; four exports of one notebook at once, three rounds,
are all answered 200 with the files the notebook gives."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import yaml
from tornado.httpclient import HTTPClientError

from tests.support.hostile import (
    EXPORT_TOUCHES,
    FIFO_CASES,
    NOTEBOOK,
    cached_files,
    copy_project,
    export_project,
    notebook_text,
    plant_fifo,
    plant_link,
    snapshot,
)
from tests.support.repo import run

EXPORT = {"notebook": NOTEBOOK, "stages": "single"}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return export_project(tmp_path_factory.mktemp("hostile-server") / "template")


@pytest.fixture
def root(template: Path, jp_root_dir: Path) -> Path:
    return copy_project(template, jp_root_dir)


@pytest.fixture
def outside(jp_root_dir: Path) -> Path:
    folder = jp_root_dir.parent / f"{jp_root_dir.name}-outside"
    folder.mkdir()
    return folder


async def export(jp_fetch, body: dict = EXPORT) -> tuple[int, dict]:
    try:
        response = await jp_fetch("mlops", "export", method="POST", body=json.dumps(body), request_timeout=300)
    except HTTPClientError as exc:
        return exc.code, json.loads(exc.response.body) if exc.response is not None else {}
    return response.code, json.loads(response.body)


@pytest.mark.parametrize("name", EXPORT_TOUCHES)
async def test_export_refuses_a_link_out_of_the_root_for_every_file_it_touches(jp_fetch, root, outside, name):
    # Given a project where one file (or folder) export touches is a symlink out of the server root
    plant_link(root, outside, name)
    before_outside, before_inside = snapshot(outside), snapshot(root)
    # When the panel exports it
    code, answer = await export(jp_fetch)
    # Then the answer is a 409 naming the link, and nothing was written, inside or out
    assert code == 409 and f"{name} is a symlink to {outside}" in answer["message"], answer
    assert answer["hint"] and snapshot(outside) == before_outside and snapshot(root) == before_inside
    assert cached_files(root) == []


@pytest.mark.parametrize("name", FIFO_CASES)
async def test_a_fifo_is_a_409_at_once_and_the_server_keeps_serving(jp_fetch, root, name):
    # Given a FIFO where export reads a file
    plant_fifo(root, name)
    # When the panel exports
    started = time.monotonic()
    code, answer = await export(jp_fetch)
    # Then the answer comes at once, a 409 naming it; the server answers the next request (and shuts down
    # at the end of the test: no thread of it is left blocked on the FIFO)
    assert code == 409 and f"{name} is a FIFO (named pipe), not a regular file" in answer["message"], answer
    assert time.monotonic() - started < 30
    info = await jp_fetch("mlops", "info")
    assert info.code == 200


async def test_four_exports_of_one_notebook_at_once_are_all_answered_with_its_files(jp_fetch, root):
    run(root, "git", "add", "data/raw.csv")  # in git, not put under DVC: the race is export's own files
    for round_ in range(3):
        # Given the notebook changed since the last round, so every round writes
        save = f"open('out.txt', 'w').write(rows * epochs + '{round_}')"
        (root / NOTEBOOK).write_text(notebook_text([
            ("params", "lr = 0.1\nepochs = 3\n", ["parameters"]),
            ("load", "rows = open('data/raw.csv').read()", []), ("save", save, [])]))
        # When four exports arrive at once
        answers = await asyncio.gather(*(export(jp_fetch) for _ in range(4)))
        # Then every one is a 200 (one after the other: the later ones find the files written), and the
        # files are whole and the notebook's, with no temporary left behind
        assert [code for code, _ in answers] == [200] * 4, answers
        assert any("pipeline/nb.ipynb" in a["written"] for _, a in answers)
        assert any(a["written"] == [] for _, a in answers)
        assert save in (root / "pipeline" / "nb.ipynb").read_text()
        assert yaml.safe_load((root / "params.yaml").read_text()) == {"lr": 0.1, "epochs": 3}
        assert "nb" in yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
        assert not [p for p in root.rglob("*.tmp") if ".dvc" not in p.parts]
