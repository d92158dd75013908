"""verify's scratch copy (export/rerun.py): in .mlops/verify/, which no kernel's watcher watches, with the
inputs hard-linked (the re-run reading them is not a cell's read) and an input the notebook also rewrites
copied (the re-run cannot change the user's file through a link)."""

from __future__ import annotations

import os

from jupyter_mlops.export.rerun import _build_scratch


def test_inputs_are_hard_linked_and_a_rewritten_input_is_a_copy(tmp_path):
    root = tmp_path / "project"
    (root / "data" / "parts").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "nb.ipynb").write_text("{}")
    (root / "data" / "in.csv").write_text("a\n1\n")
    (root / "data" / "state.json").write_text("{}")
    for i in range(2):
        (root / "data" / "parts" / f"{i}.parquet").write_bytes(bytes([i]) * 10)
    (root / "helpers.py").write_text("X = 1\n")
    scratch = root / ".mlops" / "verify" / "run-x"
    scratch.mkdir(parents=True)
    (root / ".mlops" / "own-io").mkdir()  # a kernel watches this project: its watcher made the folder
    linked = _build_scratch(root, scratch, "nb.ipynb", ["data/in.csv", "data/parts", "data/state.json"],
                            ["data/state.json", "model.joblib"])
    assert linked == {"data/in.csv", "data/parts"}
    assert os.stat(scratch / "data" / "in.csv").st_ino == os.stat(root / "data" / "in.csv").st_ino
    assert not (scratch / "data" / "parts").is_symlink()
    assert os.stat(scratch / "data/parts/1.parquet").st_ino == os.stat(root / "data/parts/1.parquet").st_ino
    copy = scratch / "data" / "state.json"
    assert not copy.is_symlink() and os.stat(copy).st_ino != os.stat(root / "data" / "state.json").st_ino
    copy.write_text('{"rewritten": true}')
    assert (root / "data" / "state.json").read_text() == "{}"
    assert (scratch / ".git").resolve() == (root / ".git").resolve() and (scratch / "helpers.py").is_symlink()
    assert os.listdir(root / ".mlops" / "own-io") == []  # the build's announcement is withdrawn once done
