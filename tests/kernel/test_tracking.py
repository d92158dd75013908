"""Issue 2 in a real kernel: every cell after %mlops_track recorded, with files, params and metrics."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from jupyter_mlops.core.redact import code_digest
from jupyter_mlops.journal import Journal
from tests.support.kernel import Kernel

pytestmark = pytest.mark.kernel


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def journal(project: Path) -> Journal:
    return Journal(project / ".mlops" / "journal.sqlite", create=False)


def latest(project: Path) -> dict:
    j = journal(project)
    return j.session_detail(j.find_session("latest"))


def track(kernel: Kernel, options: str = "--no-mlflow") -> None:
    kernel.cell("%load_ext jupyter_mlops", "load")
    reply = kernel.cell(f"%mlops_track {options}", "track")
    assert "tracking session" in reply.stdout


def test_every_cell_after_track_is_recorded_and_none_before(kernel, project):
    kernel.cell("before = 1", "pre")
    track(kernel)
    kernel.cell("a = 1", "A")
    kernel.cell("b = a + 1\nb", "B")
    kernel.cell("a = 5", "A")
    runs = latest(project)["cell_runs"]
    assert [(r["cell_id"], r["code"], r["status"]) for r in runs] == [
        ("A", "a = 1", "ok"), ("B", "b = a + 1\nb", "ok"), ("A", "a = 5", "ok")]
    assert [r["execution_count"] for r in runs] == [4, 5, 6]
    assert runs[0]["code_hash"] == hashlib.md5(b"a = 1").hexdigest() == runs[0]["code_hash"]
    assert runs[0]["code_hash"] != runs[2]["code_hash"]
    took = [r["duration"] for r in runs]  # recorded for every cell (a fact, not a speed goal)
    assert None not in took and min(took) >= 0
    session = latest(project)
    assert session["state"] == "running" and session["python"] and session["ipython"]
    # the cell tracking started in is no cell run, but the journal knows it (certify counts it as run)
    assert session["options"]["tracking_cell"] == {"cell_id": "track", "code": "%mlops_track --no-mlflow",
                                                   "code_hash": code_digest("%mlops_track --no-mlflow")}


def test_files_read_and_written_are_recorded_with_their_md5(kernel, project):
    (project / "data").mkdir()
    (project / "data" / "raw.txt").write_text("hello\n")
    (project / "data" / "t.csv").write_text("x,y\n1,2\n3,4\n")
    track(kernel)
    kernel.cell("import numpy as np, pandas as pd, pickle\nnp.save('data/arr.npy', np.arange(5))", "save")
    kernel.cell("text = open('data/raw.txt').read()", "open")
    kernel.cell("df = pd.read_csv('data/t.csv')", "pandas")
    kernel.cell("arr = np.load('data/arr.npy')", "numpy")
    kernel.cell("df.to_csv('data/out.csv')\nwith open('data/obj.pkl', 'wb') as f:\n    pickle.dump(df, f)", "write")
    files = {(f["path"], f["mode"], f["cell_id"]): f["md5"] for f in latest(project)["files"]}
    data = project / "data"
    assert files == {
        ("data/arr.npy", "write", "save"): md5(data / "arr.npy"),
        ("data/raw.txt", "read", "open"): md5(data / "raw.txt"),
        ("data/t.csv", "read", "pandas"): md5(data / "t.csv"),
        ("data/arr.npy", "read", "numpy"): md5(data / "arr.npy"),
        ("data/out.csv", "write", "write"): md5(data / "out.csv"),
        ("data/obj.pkl", "write", "write"): md5(data / "obj.pkl"),
    }


def test_unchanged_file_is_hashed_once_and_a_rewrite_gets_its_new_hash(kernel, project):
    data = project / "d.txt"
    data.write_text("v1\n")
    old = time.time() - 60  # not racy-clean: a file modified this second is never cached
    os.utime(data, (old, old))
    # Count every open of d.txt in the kernel: the cells' own and the hasher's.
    kernel.cell(
        "import sys\nopens = []\n"
        "sys.addaudithook(lambda e, a: opens.append(1) if e == 'open' and str(a[0]).endswith('d.txt') else None)"
    )
    track(kernel)
    kernel.cell("x = open('d.txt').read()", "r1")
    kernel.cell("x = open('d.txt').read()", "r2")
    assert kernel.eval("len(opens)") == 3  # two reads by the cells, one by the hasher
    kernel.cell("open('d.txt', 'w').write('v2 longer\\n')", "w")
    kernel.cell("x = open('d.txt').read()", "r3")
    digests = [(f["cell_id"], f["mode"], f["md5"]) for f in latest(project)["files"]]
    assert digests[0] == ("r1", "read", hashlib.md5(b"v1\n").hexdigest())
    assert digests[1] == ("r2", "read", hashlib.md5(b"v1\n").hexdigest())
    assert digests[2] == ("w", "write", hashlib.md5(b"v2 longer\n").hexdigest())
    assert digests[3] == ("r3", "read", hashlib.md5(b"v2 longer\n").hexdigest())


def test_only_data_counts(kernel, project):
    (project / "helper_mod.py").write_text("VALUE = 3\n")
    (project / "nb.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}))
    outside = project.parent / f"outside-{project.name}.txt"
    outside.write_text("x")
    track(kernel, "--no-mlflow --notebook nb.ipynb")
    kernel.cell(
        "import helper_mod, json\n"
        f"open({str(outside)!r}).read()\n"
        "open('nb.ipynb').read()\n"
        "import os; os.makedirs('.ipynb_checkpoints', exist_ok=True)\n"
        "open('.ipynb_checkpoints/x-checkpoint.ipynb', 'w').write('{}')\n"
        "open('.mlops/journal.sqlite', 'rb').read(10)\n"
        "open('kept.txt', 'w').write('ok')",
        "io",
    )
    assert [(f["path"], f["mode"]) for f in latest(project)["files"]] == [("kept.txt", "write")]


def test_read_and_written_by_one_cell_is_both(kernel, project):
    (project / "log.txt").write_text("a\n")
    track(kernel)
    kernel.cell("t = open('log.txt').read()\nopen('log.txt', 'a').write('b\\n')", "rw")
    modes = {f["mode"]: f["md5"] for f in latest(project)["files"]}
    assert set(modes) == {"read", "write"}
    assert modes["write"] == md5(project / "log.txt")


def test_large_file_is_hashed_off_the_cell_and_completed(kernel, project):
    track(kernel)
    kernel.cell("open('big.bin', 'wb').write(b'\\x07' * (12 << 20))", "big")
    status = kernel.eval("__import__('jupyter_mlops').status()")
    assert status["cells"] == 1
    deadline = time.time() + 60
    while time.time() < deadline:
        files = latest(project)["files"]
        if files and not files[0]["pending"]:
            break
        time.sleep(0.2)
    assert files[0]["md5"] == md5(project / "big.bin") and files[0]["size"] == 12 << 20


def test_declared_data_file_and_directory(kernel, project):
    (project / "warehouse" / "part").mkdir(parents=True)
    (project / "warehouse" / "part" / "a.parquet").write_bytes(b"PAR1" * 10)
    (project / "warehouse" / "b.parquet").write_bytes(b"PAR1" * 20)
    (project / "extract.bin").write_bytes(b"123")
    track(kernel, "--no-mlflow --data warehouse --data extract.bin")
    from jupyter_mlops.hashing import dir_digest

    declared = {f["path"]: f for f in latest(project)["files"] if f["mode"] == "declared"}
    assert declared["extract.bin"]["md5"] == hashlib.md5(b"123").hexdigest()
    assert declared["warehouse"]["md5"] == dir_digest(project / "warehouse").md5
    assert declared["warehouse"]["md5"].endswith(".dir") and declared["warehouse"]["nfiles"] == 2
    kernel.cell("import subprocess; subprocess.run(['sh', '-c', 'printf 4567 > extract.bin'])", "c-level")
    changed = [f for f in latest(project)["files"] if f["mode"] == "write"]
    assert [(f["path"], f["cell_id"], f["md5"]) for f in changed] == [
        ("extract.bin", "c-level", hashlib.md5(b"4567").hexdigest())]


def test_params_from_the_tagged_parameters_cell(kernel, project):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": "params-1", "metadata": {"tags": ["parameters"]}, "source": "lr = 0.1\n",
         "outputs": [], "execution_count": None}]}
    (project / "exp.ipynb").write_text(json.dumps(nb))
    track(kernel)
    kernel.cell("lr = 0.1\nepochs = 3\napi_token = 'abc'", "params-1")
    kernel.cell("lr = 0.5", "other")
    status = kernel.eval("__import__('jupyter_mlops').status()")
    assert status["notebook"] == "exp.ipynb"
    assert status["params"] == {"lr": 0.1, "epochs": 3, "api_token": "***redacted***"}
    assert "abc" not in json.dumps(latest(project)["params"])


def test_papermill_injected_parameters_and_watched_params(kernel, project):
    track(kernel, "--no-mlflow --params seed")
    kernel.cell("# Parameters\nlr = 0.05\nname = 'run-a'\n", "injected")
    kernel.cell("seed = 1", "s1")
    kernel.cell("seed = 2", "s2")
    params = [(p["name"], p["value"], p["source"]) for p in latest(project)["params"]]
    assert params == [("lr", 0.05, "injected"), ("name", "run-a", "injected"), ("seed", 1, "watched"),
                      ("seed", 2, "watched")]


def test_a_cell_tagged_injected_parameters_is_the_parameters_cell_for_the_kernel_export_and_check(kernel, project):
    # Given papermill's output notebook opened in JupyterLab: its only parameters cell is the injected one
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": cid, "metadata": {"tags": tags}, "source": src, "outputs": [],
         "execution_count": None}
        for cid, src, tags in [("load", "%load_ext jupyter_mlops", []), ("track", "%mlops_track --no-mlflow", []),
                               ("inj", "alpha = 0.3\n", ["injected-parameters"]), ("work", "beta = alpha * 2", [])]]}
    path = project / "run-out.ipynb"
    path.write_text(json.dumps(nb))
    # When it is tracked top to bottom
    track(kernel)
    kernel.cell("alpha = 0.3\n", "inj")
    kernel.cell("beta = alpha * 2", "work")
    # Then the kernel records alpha as papermill's parameter, the export puts it in params.yaml, and check
    # judges the journal's session against the same cells
    from jupyter_mlops.check import check_notebook
    from jupyter_mlops.core.notebook import read_notebook
    from jupyter_mlops.export.layout import Layout
    from jupyter_mlops.export.stages import plan_pipeline

    assert [(p["name"], p["value"], p["source"]) for p in latest(project)["params"]] == [("alpha", 0.3, "injected")]
    notebook = read_notebook(path)
    plan = plan_pipeline(notebook, notebook="run-out.ipynb", layout=Layout("."), mode="single")
    assert plan.params == {"alpha": 0.3} and notebook.parameters_cell.index in plan.shared
    verdict, source = check_notebook(path, project)
    assert source.startswith("journal session") and verdict is not None and verdict.reproducible


def test_secrets_never_leave_the_kernel_in_clear(kernel, project):
    # Given tracking with one more secret name, and cells that assign, log, reuse and fail on secrets
    track(kernel, "--no-mlflow --params salt --secret salt")
    kernel.cell("# Parameters\napi_token = 'tok-injected-0002'\n", "injected")
    kernel.cell("salt = 'pepper-literal-77'", "salt")
    kernel.cell("import jupyter_mlops\njupyter_mlops.log_param('db', 'postgresql://bob:url-pass-9@db/x')", "log")
    reply = kernel.run("raise ConnectionError(f'no route with {api_token}')", "fail")
    kernel.cell("x = 1", "idle")
    # Then the kernel's own namespace is untouched (the masking is of what is written) ...
    assert reply.ename == "ConnectionError" and kernel.eval("api_token") == "tok-injected-0002"
    # ... and nothing in the journal, its WAL or the status holds a secret in clear
    session = latest(project)
    written = json.dumps(session) + json.dumps(kernel.eval("__import__('jupyter_mlops').status()"))
    for secret in ("tok-injected-0002", "pepper-literal-77", "url-pass-9"):
        assert secret not in written
        assert all(secret.encode() not in p.read_bytes() for p in (project / ".mlops").glob("journal.sqlite*"))
    runs = {r["cell_id"]: r for r in session["cell_runs"]}
    assert runs["salt"]["code"] == "salt = '***redacted***'"
    assert runs["fail"]["error"] == "ConnectionError: no route with ***redacted***"
    assert runs["idle"]["code"] == "x = 1"
    assert {p["name"]: p["value"] for p in session["params"]} == {
        "api_token": "***redacted***", "salt": "***redacted***", "db": "postgresql://bob:***redacted***@db/x"}


def test_metrics_from_the_api_and_from_watched_variables(kernel, project):
    track(kernel, "--no-mlflow --metrics auc,label")
    kernel.cell(
        "import jupyter_mlops\nfor step in range(3):\n    jupyter_mlops.log_metric('loss', 1 / (step + 1), step=step)",
        "api",
    )
    kernel.cell("auc = 0.81", "w1")
    kernel.cell("unrelated = 1", "w2")
    kernel.cell("auc = 0.83", "w3")
    reply = kernel.cell("label = 'good'", "w4")
    assert "--metrics label: a metric must be a number, not str" in reply.stderr
    reply = kernel.cell("jupyter_mlops.log_metric('bad', 'high')", "w5")
    assert "log_metric('bad')" in reply.stderr and reply.status == "ok"
    metrics = [(m["name"], round(m["value"], 4), m["step"], m["source"]) for m in latest(project)["metrics"]]
    assert metrics == [("loss", 1.0, 0, "api"), ("loss", 0.5, 1, "api"), ("loss", 0.3333, 2, "api"),
                       ("auc", 0.81, None, "watched"), ("auc", 0.83, None, "watched")]
    assert kernel.eval("__import__('jupyter_mlops').status()['metrics']") == {"loss": 1 / 3, "auc": 0.83}


def test_an_error_is_recorded_and_the_kernel_keeps_working(kernel, project):
    track(kernel)
    reply = kernel.run("1 / 0", "boom")
    assert reply.status == "error" and reply.ename == "ZeroDivisionError"
    kernel.cell("ok = 2", "after")
    runs = latest(project)["cell_runs"]
    assert [(r["cell_id"], r["status"]) for r in runs] == [("boom", "error"), ("after", "ok")]
    assert runs[0]["error"].startswith("ZeroDivisionError")


def test_journal_survives_sigkill_with_every_completed_cell(project):
    k = Kernel(project)
    try:
        track(k)
        for i in range(20):
            k.cell(f"v{i} = {i}", f"cell-{i}")
        k.kc.execute("import time; time.sleep(30)")  # mid-cell when it dies
        time.sleep(0.5)
        os.kill(k.km.provisioner.pid, signal.SIGKILL)
    finally:
        k.kc.stop_channels()
        k.km.cleanup_resources()
    with sqlite3.connect(project / ".mlops" / "journal.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    j = journal(project)
    killed = j.sessions()[0]["id"]
    assert [r["cell_id"] for r in j.session_detail(killed)["cell_runs"]] == [f"cell-{i}" for i in range(20)]
    k2 = Kernel(project)
    try:
        track(k2)
    finally:
        k2.shutdown()
    assert journal(project).session_detail(killed)["state"] == "abandoned"


def test_bad_magic_arguments_explain_and_change_nothing(kernel, project):
    kernel.cell("%load_ext jupyter_mlops", "load")
    for line, says in (("--bogus", "unrecognized arguments: --bogus"), ("--data missing.csv", "not found"),
                       ("--metrics 'a b'", "not a name")):
        reply = kernel.run(f"%mlops_track {line}", "bad")
        assert reply.status == "error" and reply.ename == "UsageError", reply
        assert says in reply.evalue and "Traceback" not in reply.evalue
    assert not (project / ".mlops").exists()
    assert kernel.eval("__import__('jupyter_mlops').status()['tracking']") is False


def test_off_stops_tracking_and_status_summarises(kernel, project):
    track(kernel, "--no-mlflow --metrics auc")
    kernel.cell("auc = 0.9", "m")
    summary = kernel.cell("%mlops_status", "st").stdout
    assert "1 cells run, 0 errors" in summary and "auc=0.9" in summary
    kernel.cell("%mlops_track --off", "off")
    kernel.cell("z = 1", "after-off")
    session = latest(project)
    assert [r["cell_id"] for r in session["cell_runs"]] == ["m", "st"]
    assert session["state"] == "ended"
    assert "not tracking" in kernel.cell("%mlops_status", "st2").stdout


def test_load_ext_imports_nothing_heavy(kernel):
    kernel.cell("import sys\nbefore = set(sys.modules)", "m0")
    kernel.cell("%load_ext jupyter_mlops", "load")
    loaded = set(kernel.eval("sorted(set(sys.modules) - before)"))
    assert not {m for m in loaded if m.split(".")[0] in {"mlflow", "dvc", "git", "pandas", "sqlalchemy"}}


def test_names_ipython_binds_itself_are_not_a_cells_bindings(kernel, project):
    # Given cells the session must scan the whole namespace for (a shell escape, a magic)
    track(kernel)
    kernel.cell("!true\nx = 1", "shell")
    kernel.cell("%time y = 2", "timed")
    # Then IPython's own names (_exit_code, _, _i3 ...) are not recorded as what the cells bound
    runs = latest(project)["cell_runs"]
    assert kernel.eval("_exit_code") == 0
    assert [(r["cell_id"], r["rebound"]) for r in runs] == [("shell", ["x"]), ("timed", ["y"])]
