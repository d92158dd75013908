"""`jupyter mlops runs/show` over a journal built with the journal API (the kernel side is tested apart)."""

import json
import sqlite3

import pytest

from jupyter_mlops.commands.main import main
from jupyter_mlops.journal import (
    SCHEMA_VERSION,
    CellRunRecord,
    FileRecord,
    Journal,
    MetricRecord,
    ParamRecord,
)


@pytest.fixture
def project(tmp_path):
    (tmp_path / ".git").mkdir()
    j = Journal(tmp_path / ".mlops" / "journal.sqlite")
    for sid, lr, auc in (("aaa111", 0.1, 0.8), ("bbb222", 0.2, 0.85)):
        j.start_session(sid, experiment="churn", notebook="nb/churn.ipynb", root=str(tmp_path), python="3.11",
                        ipython="9", options={})
        j.add_cell_run(sid, CellRunRecord(
            seq=1, cell_id="params", execution_count=1, code="lr = 0.1", code_hash="h", started_at=1.0,
            duration=0.002, status="ok", reproducible=True,
            params=[ParamRecord("lr", lr, "parameters")],
            files=[FileRecord("data/churn.csv", "read", 2048, 1, "f3e108a5d3dd0aefa90c28b518a6f5f2")]))
        j.add_cell_run(sid, CellRunRecord(
            seq=2, cell_id="eval", execution_count=2, code="auc = score()", code_hash="h2", started_at=2.0,
            duration=0.5, status="error", error="ValueError: boom", reproducible=True,
            metrics=[MetricRecord("auc", auc, None, 2.0, "api", True)]))
        j.end_session(sid)
    j.start_session("ccc333", experiment="other", notebook="other.ipynb", root=str(tmp_path), python="3",
                    ipython="9", options={})
    j.close()
    return tmp_path


def test_runs_lists_sessions_of_a_notebook_with_data_params_metrics(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    assert main(["runs", "nb/churn.ipynb"]) == 0
    out = capsys.readouterr().out
    assert out.count("session ") == 2 and "ccc333" not in out
    assert "lr=0.2 (was 0.1)" in out
    assert "data/churn.csv  md5 f3e108a5d3dd0aefa90c28b518a6f5f2  2.0 KB  (cell #1)" in out
    assert "auc = 0.85" in out and "1 errors" in out


def test_runs_json_is_machine_readable(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    assert main(["runs", "--json"]) == 0
    sessions = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in sessions] == ["aaa111", "bbb222", "ccc333"]
    assert sessions[1]["metrics"][0]["value"] == 0.85


def test_show_one_session_in_full_by_prefix(project, monkeypatch, capsys):
    monkeypatch.chdir(project / ".mlops")  # from a subfolder: the root is found through git
    assert main(["show", "bbb"]) == 0
    out = capsys.readouterr().out
    assert "session bbb222" in out and "error: ValueError: boom" in out
    assert main(["show", "latest", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "ccc333"


@pytest.mark.parametrize(("argv", "says"), [
    (["show", "zzz"], "no session 'zzz'"),
    (["runs", "notes.txt"], "expected a .ipynb"),
])
def test_bad_arguments_exit_2_with_one_line(project, monkeypatch, capsys, argv, says):
    monkeypatch.chdir(project)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_an_error_prints_its_message_then_its_hint_and_exits_with_its_code(project, tmp_path_factory, monkeypatch,
                                                                           capsys):
    # Given two sessions whose ids start alike, and a folder with no journal
    j = Journal(project / ".mlops" / "journal.sqlite")
    j.start_session("aaa999", experiment="churn", notebook="nb/churn.ipynb", root=str(project), python="3",
                    ipython="9", options={})
    j.close()
    monkeypatch.chdir(project)
    # When a prefix names both
    assert main(["show", "aaa"]) == 2
    # Then stderr is the message, then what to do, and no traceback
    assert capsys.readouterr().err.splitlines() == [
        "jupyter mlops show: session prefix 'aaa' is ambiguous", "hint: give more characters"]
    # And a missing journal's hint is the CLI's own (the panel's says nothing of --root)
    monkeypatch.chdir(tmp_path_factory.mktemp("untracked"))
    assert main(["runs"]) == 2
    message, hint = capsys.readouterr().err.splitlines()
    assert message.startswith("jupyter mlops runs: no journal at ") and "--root" in hint


def test_missing_and_newer_journals_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["runs"]) == 2
    assert "no journal" in capsys.readouterr().err
    Journal(tmp_path / ".mlops" / "journal.sqlite").close()
    with sqlite3.connect(tmp_path / ".mlops" / "journal.sqlite") as db:
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 3),))
    assert main(["runs"]) == 2
    assert "newer jupyter-mlops" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["frobnicate"])
    assert exit_.value.code == 2


def test_json_output_is_strict_even_with_an_infinite_metric(tmp_path, monkeypatch, capsys):
    j = Journal(tmp_path / ".mlops" / "journal.sqlite")
    j.start_session("inf1", experiment="e", notebook="n.ipynb", root=str(tmp_path), python="3", ipython="9",
                    options={})
    j.add_session_records("inf1", metrics=[MetricRecord("loss", float("inf"), None, 1.0, "api")])
    j.close()
    monkeypatch.chdir(tmp_path)
    assert main(["show", "inf1", "--json"]) == 0

    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    detail = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert detail["metrics"][0]["value"] == "inf"
