"""Issue 25 in real kernels: one session per kernel whatever starts it, an honest late start, VS Code's
messages judged as JupyterLab's, and one line per issue under a cell."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_mlops.journal import Journal
from tests.support.kernel import Kernel

pytestmark = pytest.mark.kernel

TRACK = "%load_ext jupyter_mlops\n%mlops_track --no-mlflow"


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(code, id=cell_id) for cell_id, code in cells]
    nbformat.write(notebook, path)


def status(kernel: Kernel) -> dict[str, Any]:
    return kernel.eval("__import__('jupyter_mlops').status()")


def journal(project: Path) -> Journal:
    return Journal(project / ".mlops" / "journal.sqlite", create=False)


def check(project: Path, notebook: str = "nb.ipynb") -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "check", "--json", notebook],
                          cwd=project, capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads(done.stdout)


# --- one session per kernel ---------------------------------------------------------------------------


def test_a_second_track_joins_the_session_and_other_options_need_restart(kernel, project):
    # Given a kernel tracking with options of its own, a cell run
    kernel.cell("%load_ext jupyter_mlops", "load")
    kernel.cell("%mlops_track --no-mlflow --metrics auc", "track")
    first = status(kernel)["session"]
    kernel.cell("auc = 0.5", "A")

    # When tracking is started again with no options, or the same ones, the session is joined
    for line in ("%mlops_track", "%mlops_track --no-mlflow --metrics auc"):
        reply = kernel.cell(line, "again")
        assert f"joined tracking session {first}" in reply.stdout
        assert status(kernel)["session"] == first
    # and keeps its options: auc is still a watched metric, nothing is mirrored
    kernel.cell("auc = 0.75", "A")
    assert status(kernel)["metrics"] == {"auc": 0.75}

    # When other options are asked without --restart, nothing changes and the message says what would
    reply = kernel.run("%mlops_track --strict --metrics auc,loss", "again")
    assert reply.status == "error" and reply.ename == "TrackingRunning"
    assert "--strict (now warn mode)" in reply.evalue and "--metrics auc,loss (now auc)" in reply.evalue
    assert "MLflow mirror on (now --no-mlflow)" in reply.evalue
    assert "--restart" in reply.evalue
    assert status(kernel)["session"] == first and status(kernel)["mode"] == "warn"

    # When --restart is given, the session ends and a new one runs with the options asked
    reply = kernel.cell("%mlops_track --no-mlflow --strict --restart", "again")
    now = status(kernel)
    assert now["session"] != first and now["mode"] == "strict"
    sessions = {s["id"]: s for s in journal(project).sessions()}
    assert sessions[first]["state"] == "ended" and sessions[now["session"]]["state"] == "running"
    assert sessions[now["session"]]["options"]["strict"] is True
    # and the API joins the same way
    assert kernel.eval("__import__('jupyter_mlops').track()['session']") == now["session"]


def test_a_start_that_keeps_no_history_is_not_a_cell(kernel, project):
    # Given a kernel tracking from its notebook's cell
    write_notebook(project / "nb.ipynb", [("T", TRACK), ("A", "a = 1")])
    kernel.cell(TRACK, "T")
    kernel.cell("a = 1", "A")
    # When another view's Start button joins (a request that keeps no history, as the lab sends it)
    reply = kernel.kc.execute_interactive("%load_ext jupyter_mlops\n%mlops_track", store_history=False,
                                          timeout=60, output_hook=lambda msg: None)
    assert reply["content"]["status"] == "ok"
    # Then the session records no cell for it, and its verdict stands
    runs = journal(project).session_detail(status(kernel)["session"])["cell_runs"]
    assert [r["cell_id"] for r in runs] == ["A"]
    assert status(kernel)["reproducible"] is True


# --- an honest late start -----------------------------------------------------------------------------


def test_a_late_start_judges_the_order_the_kernel_ran_before_tracking(kernel, project):
    # Given a saved notebook whose cells ran out of order in a plain kernel (cell 2 twice)
    cells = [("A", "x = 1"), ("B", "x = x + 1"), ("C", "y = x"), ("T", TRACK)]
    write_notebook(project / "nb.ipynb", cells)
    for cell_id, code in [cells[0], cells[1], cells[1], cells[2]]:
        kernel.cell(code, cell_id)
    # When tracking starts late
    started = kernel.cell(TRACK, "T")
    # Then the verdict, at once, is the one the real order deserves: not ✓, said under that cell
    assert "non-idempotent-rerun" in started.stderr
    now = status(kernel)
    assert now["reproducible"] is False
    assert ("non-idempotent-rerun", "B") in {(i["kind"], i["cell_id"]) for i in now["issues"]}


def test_a_late_start_on_a_history_it_cannot_explain_is_not_established_everywhere(kernel, project):
    # Given cells run in a plain kernel, one of them edited (and saved) since it ran: the kernel's state
    # holds x = 1, which no cell of the notebook makes now
    kernel.cell("x = 1", "A")
    kernel.cell("y = x * 10", "B")
    write_notebook(project / "nb.ipynb", [("A", "x = 2"), ("B", "y = x * 10"), ("T", TRACK), ("C", "z = y")])
    # When tracking starts late
    started = kernel.cell(TRACK, "T")
    # Then the verdict is not established, with the restart as its fix, not ✓, said under that cell
    assert "jupyter-mlops: not-established: tracking started after" in started.stderr
    now = status(kernel)
    assert now["reproducible"] is False
    issue = now["issues"][0]
    assert issue["kind"] == "not-established" and issue["restart"] is True
    assert issue["fix"] == "restart and run all to establish it"
    assert "In[1] (`x = 1`)" in issue["message"]
    # And it stays so after cells run in order, in the panel's status, in the journal and for `check`
    reply = kernel.cell("z = y", "C")
    assert "not-established" not in reply.stderr  # said once, at the start, not under every cell
    assert status(kernel)["issues"][0]["kind"] == "not-established"
    runs = journal(project).session_detail(status(kernel)["session"])["cell_runs"]
    assert runs[-1]["reproducible"] is False
    code, verdict = check(project)
    assert code == 1 and verdict["issues"][0]["kind"] == "not-established"


def test_a_late_start_with_a_name_no_cell_made_is_not_established(kernel, project):
    # Given a value bound by a request that kept no history (a frontend's silent code), then cells
    write_notebook(project / "nb.ipynb", [("A", "a = 1"), ("T", TRACK)])
    kernel.kc.execute_interactive("secret_state = 41", store_history=False, timeout=60, output_hook=lambda m: None)
    kernel.cell("a = 1", "A")
    # When tracking starts late
    kernel.cell(TRACK, "T")
    # Then the state is not established: the kernel holds a name no cell it ran binds
    issue = status(kernel)["issues"][0]
    assert issue["kind"] == "not-established" and "secret_state" in issue["message"]


def test_imports_above_the_tracking_cell_still_count_as_run(kernel, project):
    write_notebook(project / "nb.ipynb", [("I", "import math"), ("T", TRACK), ("A", "r = math.sqrt(4)")])
    kernel.cell("import math", "I")
    kernel.cell(TRACK, "T")
    reply = kernel.cell("r = math.sqrt(4)", "A")
    assert "jupyter-mlops:" not in reply.stderr
    assert status(kernel)["reproducible"] is True and status(kernel)["issues"] == []


# --- VS Code ----------------------------------------------------------------------------------------


def vscode_run(kernel: Kernel, notebook: Path, handle: str, code: str):
    """A cell as VS Code's Jupyter extension sends it: its document URI as ``cellId`` (the notebook's
    path, the cell's handle in the fragment, percent-encoded) plus the cell's own metadata."""
    uri = f"vscode-notebook-cell:{notebook.as_posix()}#{handle}sZmlsZQ%3D%3D"
    return kernel.run(code, uri, metadata={"tags": []})


@pytest.fixture
def vscode_kernel(project: Path):
    """A kernel as VS Code starts one: its startup code, run keeping no history, names the notebook."""
    k = Kernel(project)
    try:
        reply = k.kc.execute_interactive(
            f'__vsc_ipynb_file__ = "{project / "nb.ipynb"}"\n%config Completer.use_jedi = False',
            store_history=False, timeout=60, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok"
        yield k
    finally:
        k.shutdown()


def test_vscode_messages_give_the_records_and_verdicts_jupyterlab_gives(kernel, vscode_kernel, project):
    cells = [("T", TRACK), ("A", "x = 1"), ("B", "y = x + 1"), ("C", "print(y)")]
    write_notebook(project / "nb.ipynb", cells)
    handles = {cell_id: f"W{i}" for i, (cell_id, _) in enumerate(cells)}
    # The same runs, out of order (A edited and re-run after B), from JupyterLab and from VS Code
    order = [cells[0], cells[1], cells[2], ("A", "x = 42"), cells[3]]
    lab_lines, code_lines = [], []
    for cell_id, code in order:
        lab_lines.append(kernel.cell(code, cell_id).stderr)
        reply = vscode_run(vscode_kernel, project / "nb.ipynb", handles[cell_id], code)
        assert reply.status == "ok", reply.evalue
        code_lines.append(reply.stderr)
    lab, code = status(kernel), status(vscode_kernel)
    assert lab["session"] != code["session"]
    # Then the journal holds the same cells under the notebook's own ids, and the verdicts agree
    j = journal(project)

    def runs(session: str) -> list[tuple]:
        return [(r["cell_id"], r["code"], r["status"], r["reproducible"])
                for r in j.session_detail(session)["cell_runs"]]

    assert runs(code["session"]) == runs(lab["session"])
    assert [r[0] for r in runs(lab["session"])] == ["A", "B", "A", "C"]
    assert code["notebook"] == lab["notebook"] == "nb.ipynb"
    assert code["issues"] == lab["issues"] and code["reproducible"] is lab["reproducible"] is False
    # And VS Code shows the same warnings under the cells
    assert code_lines == lab_lines and "stale-input" in "".join(code_lines)


# --- one line per issue -----------------------------------------------------------------------------


def test_a_cell_that_uses_state_from_below_gets_one_line_for_it(kernel, project):
    # Given a cell that reads what only a cell below it makes, that one run first
    write_notebook(project / "nb.ipynb", [("T", TRACK), ("A", "total = df * 2"), ("B", "df = 5")])
    kernel.cell(TRACK, "T")
    kernel.cell("df = 5", "B")
    # When it runs, the check before it ("would use df") and the verdict after it ("used df") are one line
    reply = kernel.cell("total = df * 2", "A")
    lines = [line for line in reply.stderr.splitlines() if line.startswith("jupyter-mlops:")]
    assert [line.split(":")[1].strip() for line in lines] == ["read-from-below"], reply.stderr
    assert "cell 2 used df from cell 3" in lines[0]


def test_a_vscode_cell_id_is_an_id_of_the_notebook_only_once_matched(project):
    """No notebook file at the URI's path: the run keeps a code id, not VS Code's URI."""
    k = Kernel(project)
    try:
        k.cell("%load_ext jupyter_mlops", f"vscode-notebook-cell:/nowhere/{uuid.uuid4().hex}.ipynb#W0s")
        k.cell("%mlops_track --no-mlflow", "vscode-notebook-cell:/nowhere/x.ipynb#W1s")
        k.cell("a = 1", "vscode-notebook-cell:/nowhere/x.ipynb#W2s")
        (run,) = journal(project).session_detail(status(k)["session"])["cell_runs"]
        assert run["cell_id"].startswith("code-")
    finally:
        k.shutdown()
