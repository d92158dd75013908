"""Profiles in a real kernel: the profiler process profiles the tables a cell read (cached by md5, with the
MLflow mirror off), and ``--profile`` frames are profiled beside the cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.journal import Journal
from tests.support.kernel import Kernel
from tests.support.wait import wait_for

pytestmark = pytest.mark.kernel


def journal(project) -> Journal:
    return Journal(project / ".mlops" / "journal.sqlite", create=False)


def profiles_of_latest(project) -> dict:
    j = journal(project)
    try:
        return j.session_profiles(j.find_session("latest"))
    finally:
        j.close()


def write_table(project) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(3.0, 1.0, 1000), "k": rng.choice(["a", "b"], 1000)})
    (project / "data").mkdir(exist_ok=True)
    df.to_csv(project / "data" / "t.csv", index=False)
    return df


def profiled_files(project) -> list[dict]:
    files = profiles_of_latest(project)["files"]
    return files if files and all(f["profile"] for f in files) else []


def test_a_csv_the_cell_read_is_profiled_by_the_profiler_without_pyarrow_in_the_kernel(kernel, project):
    df = write_table(project)
    kernel.cell("%load_ext jupyter_mlops")
    kernel.cell("%mlops_track --no-mlflow")
    kernel.cell("text = open('data/t.csv').read()", "read")
    files = wait_for(lambda: profiled_files(project), timeout=60, what="the profile of data/t.csv")
    assert [f["path"] for f in files] == ["data/t.csv"]
    x = {c["name"]: c for c in files[0]["profile"]["fields"]}["x"]
    assert x["mean"] == pytest.approx(df["x"].mean()) and x["std"] == pytest.approx(df["x"].std())
    imported = kernel.eval("sorted(m for m in __import__('sys').modules if m.split('.')[0] in "
                           "('pyarrow', 'pandas', 'numpy', 'polars') or m.startswith('jupyter_mlops.monitor.t'))")
    assert imported == []


def test_an_unchanged_file_is_profiled_once_across_sessions(project):
    write_table(project)
    for _ in range(2):
        k = Kernel(project)
        try:
            k.cell("%load_ext jupyter_mlops")
            k.cell("%mlops_track --no-mlflow")
            k.cell("text = open('data/t.csv').read()", "read")
            wait_for(lambda: profiled_files(project), timeout=60, what="the profile")
        finally:
            k.shutdown()
    j = journal(project)
    sessions = j.sessions()
    assert len(sessions) == 2
    assert [len(j.session_profiles(s["id"])["files"]) for s in sessions] == [1, 1]
    j.close()
    log = (project / ".mlops" / "profiles" / "profiler.log").read_text()
    assert log.count("profiled data/t.csv") == 1, log


def test_profile_option_profiles_the_named_frame_after_the_cell_that_binds_it(kernel, project):
    write_table(project)
    kernel.cell("%load_ext jupyter_mlops")
    kernel.cell("%mlops_track --no-mlflow --profile df")
    kernel.cell("import pandas as pd\ndf = pd.read_csv('data/t.csv')", "load")
    kernel.cell("other = 1", "idle")
    frames = wait_for(lambda: profiles_of_latest(project)["frames"], timeout=30, what="the frame's profile")
    assert [(f["name"], f["seq"]) for f in frames] == [("df", 1)]
    profile = frames[0]["profile"]
    assert (profile["rows"], profile["columns"], profile["source"]["library"]) == (1000, 2, "pandas")
    expected = kernel.eval("float(df['x'].median())")
    assert {c["name"]: c for c in profile["fields"]}["x"]["median"] == pytest.approx(expected)


def test_profile_option_on_a_value_that_is_no_frame_warns_once_and_the_cell_runs(kernel, project):
    kernel.cell("%load_ext jupyter_mlops")
    kernel.cell("%mlops_track --no-mlflow --profile df")
    reply = kernel.cell("df = [1, 2, 3]\nlen(df)", "bind")
    assert reply.status == "ok" and reply.result == "3"
    assert "--profile df: list is not a pandas or polars DataFrame" in reply.stderr
