"""`jupyter mlops sweep`'s refusals before anything is queued, and `runs --sweep` (real git, no DVC run)."""

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from jupyter_mlops.commands.main import main
from jupyter_mlops.errors import Conflict
from jupyter_mlops.journal import Journal
from jupyter_mlops.sweep import queue
from jupyter_mlops.sweep import run as sweep_run
from jupyter_mlops.sweep.record import SweepRecord

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn.ipynb"


@pytest.fixture
def repo(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(EXAMPLE, tmp_path / "churn.ipynb")
    return tmp_path


def sweep(capsys, *argv):
    try:
        code = main(["sweep", *argv])
    except SystemExit as exit:  # argparse's refusal of a bad argument
        code = exit.code
    return code, capsys.readouterr().err


def test_a_sweep_needs_a_notebook_workers_dvc_and_a_commit(repo, capsys):
    nb = str(repo / "churn.ipynb")
    code, err = sweep(capsys, "-S", "max_depth=2,3")
    assert code == 2 and "which notebook?" in err
    code, err = sweep(capsys, nb, "-S", "max_depth=2,3", "-j", "0")
    assert code == 2 and "-j must be a whole number from 1 to 64, not 0" in err
    code, err = sweep(capsys, nb, "-S", "max_depth=2,3")
    assert code == 2 and "not a DVC project" in err and "hint: `dvc init`" in err
    (repo / ".dvc").mkdir()
    code, err = sweep(capsys, nb, "-S", "max_depth=2,3")
    assert code == 2 and "no git commit" in err


def test_show_names_a_sweep_that_exists(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo)
    code, err = sweep(capsys, "--show", "sweep-nothex")
    assert code == 2 and "not a sweep id" in err
    code, err = sweep(capsys, "--show", "sweep-00aa11")
    assert code == 2 and "no sweep sweep-00aa11" in err


def test_runs_sweep_lists_only_that_sweeps_sessions(repo, capsys):
    journal = Journal(repo / ".mlops" / "journal.sqlite")
    for sid, options in (("s1", {"sweep": "sweep-00aa11", "dvc_experiment": "sweep-00aa11-1"}),
                         ("s2", {"sweep": "sweep-00bb22", "dvc_experiment": "sweep-00bb22-1"}), ("s3", {})):
        journal.start_session(sid, experiment="churn", notebook="pipeline/churn.ipynb", root=str(repo),
                              python="3.11", ipython="9", options=options)
    journal.close()
    assert main(["runs", "--root", str(repo), "--sweep", "sweep-00aa11"]) == 0
    out = capsys.readouterr().out
    assert "session s1" in out and "s2" not in out and "s3" not in out
    assert main(["runs", "--root", str(repo), "--sweep", "sweep-ffffff"]) == 0
    assert "no tracked sessions of sweep-ffffff" in capsys.readouterr().out


def test_the_projects_sweep_records_are_listed_newest_first_and_a_damaged_one_is_named(repo):
    assert SweepRecord.all(repo) == []
    for sweep, created in (("sweep-aaaaaa", 10.0), ("sweep-bbbbbb", 30.0), ("sweep-cccccc", 20.0)):
        SweepRecord(sweep, "churn.ipynb", "0" * 40, ["max_depth"], {f"{sweep}-1": {"max_depth": "2"}}, 1,
                    created).save(repo)
    (repo / ".mlops" / "sweeps" / "notes.json").write_text("{}")  # not named by a sweep id: not ours
    assert [r.sweep for r in SweepRecord.all(repo)] == ["sweep-bbbbbb", "sweep-cccccc", "sweep-aaaaaa"]
    (repo / ".mlops" / "sweeps" / "sweep-dddddd.json").write_text('{"sweep": "sweep-dddddd"')
    with pytest.raises(Conflict, match=r"sweep-dddddd\.json is not a sweep record"):
        SweepRecord.all(repo)


def test_following_a_sweep_asks_dvc_again_when_exp_show_fails_for_a_moment(monkeypatch):
    """`dvc exp show` fails now and then while a worker sets up or removes an experiment's copy: the sweep asks
    again; failing for longer than its patience, DVC's error is the sweep's."""
    record = SweepRecord("sweep-abcdef", "churn.ipynb", "HEAD", ["a"], {"sweep-abcdef-1": {"a": "1"}}, 1, 0)
    answers: list[object] = [Conflict("dvc exp show failed: … .dvc/tmp/exps/tmp1/.dvc' does not exist"),
                             {"sweep-abcdef-1": queue.Experiment("sweep-abcdef-1", queue.SUCCESS)}]

    def experiments(root, rev):
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(queue, "experiments", experiments)
    monkeypatch.setattr(queue, "workers", lambda root: queue.Workers(0, 1))
    monkeypatch.setattr(sweep_run, "POLL_S", 0.01)
    out = io.StringIO()
    assert sweep_run.follow(Path("."), record, out, patience=60) is None
    assert "1/1 finished" in out.getvalue()

    answers[:] = [Conflict("dvc exp show failed: for good")]
    with pytest.raises(Conflict, match="for good"):
        sweep_run.follow(Path("."), record, io.StringIO(), patience=0.05)
