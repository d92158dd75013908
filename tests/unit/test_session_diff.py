"""``jupyter mlops diff``: two sessions of a journal written through the Journal API, compared."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from jupyter_mlops.commands.main import main
from jupyter_mlops.journal import CellRunRecord, FileRecord, Journal, MetricRecord, ParamRecord
from jupyter_mlops.session_diff import ADDED, CHANGED, REMOVED, SAME, diff_sessions


def _session(journal: Journal, sid: str, *, notebook: str = "churn.ipynb", depth: int, auc: float, md5: str,
             train: str = "model.fit(X, y)", extra: str | None = None, reproducible: bool = True) -> None:
    journal.start_session(sid, experiment="churn", notebook=notebook, root="/r", python="3.11", ipython="9",
                          options={})
    journal.add_cell_run(sid, CellRunRecord(
        seq=1, cell_id="params", execution_count=1, code=f"max_depth = {depth}", code_hash="p", started_at=time.time(),
        duration=0.01, status="ok", reproducible=True, params=[ParamRecord("max_depth", depth, "parameters")],
        files=[FileRecord("data/churn.csv", "read", 1000 + depth, 1, md5)],
    ))
    issues = [] if reproducible else [{"kind": "skipped-cell", "cell_id": "x", "names": [], "message": "m",
                                       "fix": "run cell 2", "restart": False, "run": ["x"]}]
    journal.add_cell_run(sid, CellRunRecord(
        seq=2, cell_id="train", execution_count=2, code=train, code_hash="t", started_at=time.time(),
        duration=0.5, status="ok", reproducible=reproducible, issues=issues,
        metrics=[MetricRecord("auc", auc, None, time.time(), "api")],
        params=[ParamRecord(extra, 1, "api")] if extra else [],
    ))
    journal.end_session(sid)
    time.sleep(0.01)  # distinct start times: 'latest' is the last started


@pytest.fixture
def project(tmp_path: Path) -> Path:
    journal = Journal(tmp_path / ".mlops" / "journal.sqlite")
    _session(journal, "aaaa1111", depth=6, auc=0.80, md5="1" * 32)
    _session(journal, "bbbb2222", depth=8, auc=0.83, md5="2" * 32, train="model.fit(X_train, y_train)",
             extra="tol", reproducible=False)
    _session(journal, "cccc3333", notebook="other.ipynb", depth=8, auc=0.5, md5="2" * 32)
    journal.close()
    (tmp_path / "churn.ipynb").write_text("{}")
    return tmp_path


def _details(project: Path, a: str, b: str) -> tuple[dict, dict]:
    journal = Journal(project / ".mlops" / "journal.sqlite", create=False)
    try:
        return journal.session_detail(a), journal.session_detail(b)
    finally:
        journal.close()


def test_every_kind_of_change_is_named(project):
    diff = diff_sessions(*_details(project, "aaaa1111", "bbbb2222"))
    params = {r.name: r for r in diff.params}
    assert (params["max_depth"].a, params["max_depth"].b, params["max_depth"].status) == (6, 8, CHANGED)
    assert params["tol"].status == ADDED and params["tol"].a is None
    (auc,) = diff.metrics
    assert auc.status == CHANGED and auc.delta == pytest.approx(0.03)
    (data,) = diff.files
    assert data.name == "data/churn.csv (read)" and data.a == {"md5": "1" * 32, "size": 1006}
    assert data.b["md5"] == "2" * 32 and data.status == CHANGED
    cells = {r.name: r.status for r in diff.cells}
    assert cells == {"params": CHANGED, "train": CHANGED}
    assert (diff.a.reproducible, diff.b.reproducible, diff.b.issues) == (True, False, 1)
    assert diff.changed
    backwards = diff_sessions(*_details(project, "bbbb2222", "aaaa1111"))
    assert {r.name: r.status for r in backwards.params}["tol"] == REMOVED


def test_a_session_against_itself_has_no_differences(project):
    diff = diff_sessions(*_details(project, "aaaa1111", "aaaa1111"))
    assert not diff.changed and all(r.status == SAME for r in (*diff.params, *diff.metrics, *diff.files))


def test_the_command_prints_text_json_and_markdown(project, capsys, monkeypatch):
    monkeypatch.chdir(project)
    assert main(["diff", "aaaa", "bbbb", "--root", str(project)]) == 0
    text = capsys.readouterr().out
    assert "changed  max_depth: 6 → 8" in text and "auc: 0.8 → 0.83  (+0.03)" in text
    assert "NOT reproducible (1 issues)" in text and "added    tol" in text
    assert main(["diff", "aaaa", "bbbb", "--root", str(project), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["changed"] and {r["name"]: r["status"] for r in found["params"]} == {"max_depth": CHANGED,
                                                                                        "tol": ADDED}
    assert main(["diff", "aaaa", "bbbb", "--root", str(project), "--md"]) == 0
    markdown = capsys.readouterr().out
    assert "| auc | 0.8 | 0.83 | +0.03 |" in markdown and "### files" in markdown


def test_latest_and_latest_tilde_n_scoped_to_a_notebook(project, capsys):
    notebook = str(project / "churn.ipynb")
    assert main(["diff", "latest~1", "latest", "--notebook", notebook, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["a"]["id"], found["b"]["id"]) == ("aaaa1111", "bbbb2222")
    assert main(["diff", "latest~1", "--root", str(project), "--json"]) == 0  # b defaults to latest: any notebook
    found = json.loads(capsys.readouterr().out)
    assert (found["a"]["id"], found["b"]["id"]) == ("bbbb2222", "cccc3333")


@pytest.mark.parametrize("ref, says", [("latest~x", "latest~N"), ("zzzz", "no session 'zzzz'"),
                                       ("latest~9", "no session 'latest~9'")])
def test_bad_session_references_are_bad_input(project, capsys, ref, says):
    assert main(["diff", ref, "latest", "--root", str(project)]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


# -- jupyter mlops report: the same diff as a pull request's Markdown, with gates as the exit code ------


def test_report_has_the_verdict_metrics_data_and_gates_and_exits_on_them(project, monkeypatch):
    monkeypatch.chdir(project)
    notebook = str(project / "churn.ipynb")
    assert main(["report", notebook, "--expect", "auc>=0.8", "--out", "pr.md"]) == 0
    text = (project / "pr.md").read_text()
    assert "Session `bbbb2222` against `aaaa1111` (latest~1)" in text
    assert "❌ **Not reproducible** (1 issue)" in text and "- skipped-cell: m → run cell 2" in text
    assert "| auc | 0.8 | 0.83 | +0.03 |" in text and "| `auc>=0.8` | 0.83 | ✅ |" in text
    assert "| data/churn.csv (read) |" in text and "| max_depth | 6 | 8 | changed |" in text
    assert "Cells whose code changed: 2 (params, train)" in text
    assert (project / "pr-auc.png").read_bytes()[:4] == b"\x89PNG" and "(pr-auc.png)" in text
    assert main(["report", notebook, "--expect", "auc>=0.9", "--out", "pr.md"]) == 1
    assert "| `auc>=0.9` | 0.83 | ❌ |" in (project / "pr.md").read_text()


def test_report_base_can_be_a_git_revision_the_journal_recorded(project, monkeypatch, capsys):
    import subprocess

    from jupyter_mlops.journal import Environment, GitState, Journal, Provenance

    monkeypatch.chdir(project)
    for argv in (["git", "init", "-q"], ["git", "add", "churn.ipynb"],
                 ["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "one"]):
        subprocess.run(argv, cwd=project, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True).stdout.strip()
    journal = Journal(project / ".mlops" / "journal.sqlite")
    journal.save_provenance("aaaa1111", Provenance(GitState(head, "main", False), Environment("3.11", "", "")))
    journal.close()
    notebook = str(project / "churn.ipynb")
    assert main(["report", notebook, "--base", "HEAD", "--out", "pr.md"]) == 0
    assert "against `aaaa1111` (HEAD)" in (project / "pr.md").read_text()
    capsys.readouterr()
    assert main(["diff", "HEAD", "latest", "--notebook", notebook, "--json"]) == 0  # diff takes revisions too
    assert json.loads(capsys.readouterr().out)["a"]["id"] == "aaaa1111"
    journal = Journal(project / ".mlops" / "journal.sqlite")
    journal.save_provenance("aaaa1111", Provenance(GitState("f" * 40, "main", False), Environment("3.11", "", "")))
    journal.close()
    capsys.readouterr()
    assert main(["report", notebook, "--base", "HEAD", "--out", "pr.md"]) == 2
    assert "no tracked session of churn.ipynb ran at HEAD" in capsys.readouterr().err
