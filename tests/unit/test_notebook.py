"""The one notebook model: one reader, one tag vocabulary, one fallback id, for every consumer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from jupyter_mlops.check import replay
from jupyter_mlops.core.notebook import Cell, NotebookError, read_notebook
from jupyter_mlops.errors import BadInput, NotFound
from jupyter_mlops.export.layout import Layout
from jupyter_mlops.export.nbgen import stage_notebooks
from jupyter_mlops.export.stages import plan_pipeline
from jupyter_mlops.kernel.notebook_file import NotebookFile, notebooks_with_cell
from jupyter_mlops.kernel.notebook_view import NotebookView


def document(*cells: dict, **extra) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells), **extra}


def code(source: str | list[str], cell_id: str | None = None, tags: list[str] | None = None, **fields) -> dict:
    cell = {"cell_type": "code", "metadata": {"tags": tags} if tags else {}, "source": source,
            "outputs": [], "execution_count": None, **fields}
    if cell_id is not None:
        cell["id"] = cell_id
    return cell


def markdown(source: str, cell_id: str | None = None) -> dict:
    cell = {"cell_type": "markdown", "metadata": {}, "source": source}
    if cell_id is not None:
        cell["id"] = cell_id
    return cell


def test_a_path_its_bytes_and_its_json_read_the_same(tmp_path):
    doc = document(markdown("# Title", "t"), code(["x = 1\n", "y = 2"], "a", ["parameters"]))
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(doc))
    read = [read_notebook(path), read_notebook(path.read_bytes()), read_notebook(doc)]
    assert read[0] == read[1] == read[2]
    nb = read[0]
    assert [(c.cell_id, c.kind, c.source, c.index) for c in nb.cells] == [
        ("t", "markdown", "# Title", 0), ("a", "code", "x = 1\ny = 2", 1)]
    assert nb.code_cells == [nb.cells[1]] and nb.document == doc and nb.kernel_name == "python3"


def test_the_roles_a_cell_plays_come_from_its_tags_and_its_code():
    nb = read_notebook(document(
        code("%load_ext jupyter_mlops\n%mlops_track --metrics auc", "track"),
        code("lr = 0.1", "params", ["parameters"]),
        code("lr = 0.5", "injected", ["injected-parameters"]),
        code("df.plot()", "look", ["exploratory"]),
        code("tmp = 1", "scratch", ["skip"]),
        code("df = load()", "load", ["stage:prepare", "other"]),
        markdown("\n## Features ##\ntext", "section"),
    ))
    cell = {c.cell_id: c for c in nb.cells}
    assert nb.tracking_cell is cell["track"] and cell["track"].is_tracking
    assert nb.parameters_cell is cell["params"]
    assert cell["params"].is_parameters and not cell["params"].is_injected_parameters
    assert cell["injected"].is_parameters and cell["injected"].is_injected_parameters
    assert cell["look"].is_skipped and cell["scratch"].is_skipped and not cell["load"].is_skipped
    assert cell["load"].stage_tag == "prepare" and cell["params"].stage_tag is None
    assert cell["section"].heading == (2, "Features") and cell["load"].heading is None
    assert not Cell("m", "lr = 1", "markdown", frozenset({"parameters"})).is_parameters  # code cells only


def test_papermills_injected_cell_is_known_by_its_header_where_no_tags_are_seen():
    assert Cell("run", "# Parameters\nlr = 0.05\n").is_injected_parameters
    assert Cell("run", "# Parameters\nlr = 0.05\n").is_parameters
    assert not Cell("run", "lr = 0.05  # Parameters of the model\n").is_parameters


def test_a_skipped_parameters_cell_is_not_the_parameters_cell():
    nb = read_notebook(document(code("a = 1", "p", ["parameters", "skip"]), code("b = 2", "q", ["parameters"])))
    assert nb.parameters_cell is not None and nb.parameters_cell.cell_id == "q"


def test_cells_without_ids_get_the_same_id_from_every_reader(tmp_path):
    doc = document(markdown("# T"), code("x = 1"), code("y = x", "kept"))
    doc["nbformat_minor"] = 4
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(doc))
    # the position among all cells, markdown counted
    assert [c.cell_id for c in read_notebook(path).cells] == ["index-0", "index-1", "kept"]
    assert [c.cell_id for c in NotebookFile(path).code_cells()] == ["index-1", "kept"]  # the kernel's reader
    assert notebooks_with_cell(tmp_path, code="x = 1") == [path]
    plan = plan_pipeline(read_notebook(path), notebook="old.ipynb", layout=Layout("."), mode="single")
    (stage,) = stage_notebooks(plan, read_notebook(path).document).values()
    assert "index-1" in [c["id"] for c in json.loads(stage)["cells"]]  # the stage notebook keeps that id


def test_saved_runs_are_read_with_the_cell():
    error = {"output_type": "error", "ename": "NameError", "evalue": "name 'np' is not defined", "traceback": []}
    nb = read_notebook(document(code("np.zeros(1)", "a", execution_count=3, outputs=[error]),
                                code("x = 1", "b", execution_count=True), code("y = 2", "c")))
    assert [(c.execution_count, c.error) for c in nb.cells] == [
        (3, "NameError: name 'np' is not defined"), (None, None), (None, None)]


@pytest.mark.parametrize(("content", "says"), [
    (b"{not json", "is not a readable notebook (not JSON"),
    (json.dumps(document(code("x = 1", "a")))[:40].encode(), "is not a readable notebook (not JSON"),
    (b"\xff\xfe", "is not a readable notebook (not JSON"),
    (b'{"cells": 3}', "is not a valid notebook (no list of cells)"),
    (b'{"cells": [], "nbformat": 3}', "nbformat 3, expected 4"),
    (b'{"cells": [{"cell_type": "code"}], "nbformat": 4}', "cell 0 has no text source"),
    (b'{"cells": [{"cell_type": "widget", "source": ""}], "nbformat": 4}', "cell 0 has no valid cell_type"),
])
def test_a_corrupt_notebook_is_one_error_naming_the_file_and_the_problem(tmp_path, content, says):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError, match="^" + re.escape(str(path))) as raised:
        read_notebook(path)
    assert says in str(raised.value) and isinstance(raised.value, BadInput)
    assert raised.value.status == 400 and raised.value.hint == "restore it from git"
    assert "\n" not in str(raised.value)
    file = NotebookFile(path)  # the kernel keeps the reason for its one warning
    assert file.code_cells() == [] and file.error == str(raised.value)


def test_a_missing_file_and_a_file_that_is_no_notebook_say_so(tmp_path):
    with pytest.raises(NotebookError, match="no such notebook") as missing:
        read_notebook(tmp_path / "nope.ipynb")
    assert isinstance(missing.value, NotFound) and missing.value.status == 404  # the server's 404, not 400
    (tmp_path / "notes.txt").write_text("{}")
    with pytest.raises(NotebookError, match=r"expected a \.ipynb notebook"):
        read_notebook(tmp_path / "notes.txt")
    with pytest.raises(NotebookError, match=r"^the notebook is not a readable"):
        read_notebook(b"[")


def test_papermills_injected_parameters_cell_is_the_parameters_cell_for_export_kernel_and_check(tmp_path):
    """The old disagreement: the kernel knew the ``injected-parameters`` tag, the export did not.

    papermill writes a cell tagged ``injected-parameters`` (a notebook without a ``parameters`` cell gets
    only that one); the export must put its values in params.yaml as the kernel records them as params.
    """
    path = tmp_path / "run.ipynb"
    path.write_text(json.dumps(document(
        code("%mlops_track", "track"), code("alpha = 0.3\n", "inj", ["injected-parameters"]),
        code("beta = alpha * 2", "work"))))
    nb = read_notebook(path)
    assert nb.parameters_cell is not None and nb.parameters_cell.cell_id == "inj"
    plan = plan_pipeline(nb, notebook="run.ipynb", layout=Layout("."), mode="single")
    assert plan.params == {"alpha": 0.3} and nb.parameters_cell.index in plan.shared
    view = NotebookView(None, tmp_path, tmp_path, path, [], warn=lambda key, message: None,
                        found=lambda renamed, early: None)
    assert view.parameters_source("inj", "alpha = 0.3\n") == "injected"
    assert view.parameters_source("work", "beta = alpha * 2") is None
    # check: the session papermill ran from the input notebook, which does not hold the injected cell
    runs = [{"seq": i, "cell_id": cid, "code": src, "status": "ok", "rebound": None, "error": None}
            for i, (cid, src) in enumerate([("track", "%mlops_track"), ("code-1", "# Parameters\nalpha = 0.3\n"),
                                            ("work", "beta = alpha * 2")], 1)]
    session = {"files": [], "cell_runs": runs}
    without = [c for c in nb.code_cells if c.cell_id != "inj"]
    assert replay(session, without).reproducible


def test_the_example_notebook_reads_as_before():
    nb = read_notebook(Path(__file__).resolve().parents[2] / "examples" / "churn.ipynb")
    assert nb.tracking_cell is not None and nb.parameters_cell is not None
    assert nb.parameters_cell.cell_id == "parameters" and nb.tracking_cell.cell_id == "track"
