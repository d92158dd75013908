"""`jupyter mlops export` end to end: a tracked run of the example, then real `dvc repro` / `dvc exp run`.

One tracked papermill run per module (the slow part) is copied into each test's own repository.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from jupyter_mlops.journal import Journal
from tests.support.repo import mlops, run, tracked_example
from tests.support.wait import followers_done, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
def timed(repo: Path, *argv: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    done = run(repo, *argv)
    return done, time.perf_counter() - start


def commit(repo: Path) -> None:
    """What a user commits after exporting (not model.joblib: DVC owns outputs)."""
    run(repo, "git", "add", "churn.ipynb", "data", "dvc.yaml", "params.yaml", "pipeline", ".dvc")
    run(repo, "git", "commit", "-qm", "export")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> Path:
    """The example in a git + DVC repository, run once with papermill: its own %mlops_track tracks it."""
    return tracked_example(tmp_path_factory.mktemp("tracked"), tmp_path_factory.mktemp("executed") / "churn.ipynb")


@pytest.fixture
def repo(tracked: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(tracked, copy, symlinks=True)
    return copy


def session(repo: Path) -> dict:
    j = Journal(repo / ".mlops" / "journal.sqlite", create=False)
    try:
        return j.session_detail(j.sessions("churn.ipynb")[-1]["id"])
    finally:
        j.close()


def lock_md5(repo: Path, stage: str, path: str) -> str:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(d["md5"] for d in lock["stages"][stage]["deps"] if d["path"] == path)


def test_single_stage_reproduces_the_tracked_run_and_follows_params_and_data(repo):
    tracked = session(repo)
    md5 = next(f["md5"] for f in tracked["files"] if f["path"] == "data/churn.csv" and f["mode"] == "read")
    auc = [m["value"] for m in tracked["metrics"] if m["name"] == "auc"][-1]
    mlops(repo, "export", "churn.ipynb", "--stages", "single")
    commit(repo)

    done, seconds = timed(repo, "dvc", "repro")
    print(f"dvc repro (1 papermill stage): {seconds:.1f} s")
    assert "Running stage 'churn'" in done.stdout
    assert lock_md5(repo, "churn", "data/churn.csv") == md5
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["churn"]
    model = next(f["md5"] for f in tracked["files"] if f["path"] == "model.joblib")
    assert next(o["md5"] for o in lock["outs"] if o["path"] == "model.joblib") == model
    metrics = json.loads((repo / "pipeline/metrics/churn.json").read_text())
    assert metrics["auc"] == pytest.approx(auc, abs=1e-12)

    again, seconds = timed(repo, "dvc", "repro")
    print(f"second dvc repro (nothing to do): {seconds:.1f} s")
    assert "didn't change, skipping" in again.stdout and "Running stage" not in again.stdout

    run(repo, "dvc", "exp", "run", "-S", "n_estimators=5", "-S", "max_depth=2")
    changed = json.loads((repo / "pipeline/metrics/churn.json").read_text())
    assert changed["auc"] != pytest.approx(auc, abs=1e-6)

    csv = repo / "data/churn.csv"
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:-100]))
    status = run(repo, "dvc", "status").stdout
    assert "churn:" in status and "modified:" in status and "data/churn.csv" in status


def tags_notebook(repo: Path) -> None:
    """Two tagged stages; the second uses a DataFrame the first made in memory (a hand-off)."""
    cells = [
        ("code", "%load_ext jupyter_mlops\n%mlops_track --experiment tags", []),
        ("code", "scale = 2.0", ["parameters"]),
        ("code", "import pandas as pd\nimport jupyter_mlops", []),
        ("code", "df = pd.read_csv('data/churn.csv')\ndf['scaled'] = df['monthly_charges'] * scale", ["stage:prepare"]),
        ("code", "score = float(df['scaled'].mean())\njupyter_mlops.log_metric('score', score)", ["stage:train"]),
    ]
    nb = {"cells": [{"cell_type": k, "id": f"c{i}", "metadata": {"tags": t}, "source": s, "outputs": [],
                     "execution_count": None} for i, (k, s, t) in enumerate(cells)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (repo / "tags.ipynb").write_text(json.dumps(nb))


def test_tagged_stages_hand_an_in_memory_dataframe_over_as_a_file(repo):
    tags_notebook(repo)
    out = mlops(repo, "export", "tags.ipynb", "--stages", "tags").stdout
    assert "stage tags-prepare" in out and "stage tags-train" in out
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    assert "pipeline/handoff/tags-prepare" in stages["tags-prepare"]["outs"]
    assert "pipeline/handoff/tags-prepare" in stages["tags-train"]["deps"]
    assert stages["tags-prepare"]["params"] == ["scale"] and "params" not in stages["tags-train"]
    run(repo, "git", "add", "tags.ipynb", "dvc.yaml", "params.yaml", "pipeline", "data", ".dvc")
    run(repo, "git", "commit", "-qm", "tags")

    done, seconds = timed(repo, "dvc", "repro", "tags-train")
    print(f"dvc repro (2 papermill stages): {seconds:.1f} s")
    assert done.stdout.index("Running stage 'tags-prepare'") < done.stdout.index("Running stage 'tags-train'")
    assert (repo / "pipeline/handoff/tags-prepare/df.parquet").is_file()
    expected = 2.0 * pd.read_csv(repo / "data/churn.csv")["monthly_charges"].mean()
    assert json.loads((repo / "pipeline/metrics/tags-train.json").read_text())["score"] == pytest.approx(expected)
    assert "didn't change" in run(repo, "dvc", "repro", "tags-train").stdout


def test_sections_split_into_four_stages_reproduce_the_tracked_metric(repo):
    tracked = session(repo)
    auc = [m["value"] for m in tracked["metrics"] if m["name"] == "auc"][-1]
    mlops(repo, "export", "churn.ipynb")
    commit(repo)
    done, seconds = timed(repo, "dvc", "repro")
    print(f"dvc repro (4 papermill stages): {seconds:.1f} s")
    assert done.stdout.count("Running stage") == 4
    metrics = json.loads((repo / "pipeline/metrics/churn-evaluate.json").read_text())
    assert metrics["auc"] == pytest.approx(auc, abs=1e-12)
    # the same model, though not the same bytes: trained on frames read back from parquet, it pickles apart
    outs = {o["path"] for o in yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["churn-train"]["outs"]}
    assert outs == {"model.joblib", "pipeline/handoff/churn-train", "pipeline/churn-train.out.ipynb"}


def test_a_fresh_clone_pulls_the_raw_data_and_reproduces_the_tracked_run(repo, tmp_path):
    """Tracked run → export (raw data under DVC, a local remote) → git commit → dvc push → git clone →
    dvc pull → dvc repro: the model and the metrics are the tracked run's."""
    tracked = session(repo)
    model = next(f["md5"] for f in tracked["files"] if f["path"] == "model.joblib")
    auc = [m["value"] for m in tracked["metrics"] if m["name"] == "auc"][-1]
    store = tmp_path / "store"
    done = mlops(repo, "export", "churn.ipynb", "--stages", "single", "--remote", str(store), "--push")
    assert "data/churn.csv: put under DVC" in done.stderr and "dvc push to 'storage'" in done.stderr
    assert "data/churn.csv.dvc" in done.stdout and ".dvc/config" in done.stdout
    commit(repo)
    assert "churn.csv" not in run(repo, "git", "ls-files", "data").stdout.split()  # DVC's, not git's

    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    assert not (clone / "data/churn.csv").exists()
    run(clone, "dvc", "pull", "--allow-missing")  # the outputs were never pushed: repro makes them
    assert (clone / "data/churn.csv").read_bytes() == (repo / "data/churn.csv").read_bytes()
    run(clone, "dvc", "repro")
    lock = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]["churn"]
    assert next(o["md5"] for o in lock["outs"] if o["path"] == "model.joblib") == model
    metrics = json.loads((clone / "pipeline/metrics/churn.json").read_text())
    assert metrics["auc"] == pytest.approx(auc, abs=1e-12)


def test_push_without_a_remote_says_how_to_set_one_up(repo):
    done = mlops(repo, "export", "churn.ipynb", "--stages", "single", "--push", check=False)
    assert done.returncode == 2 and "nothing to push to" in done.stderr and "--remote" in done.stderr


def test_diff_and_report_on_the_example_after_a_change_of_max_depth(repo):
    run(repo, sys.executable, "-m", "papermill", "churn.ipynb", str(repo / "executed.ipynb"), "--cwd", str(repo),
        "-k", "python3", "-p", "max_depth", "3")
    wait_for(lambda: followers_done(repo), timeout=120, what="the MLflow follower's last pass")
    found = json.loads(mlops(repo, "diff", "latest~1", "latest", "--notebook", "churn.ipynb", "--json").stdout)
    params = {r["name"]: r for r in found["params"]}
    assert (params["max_depth"]["a"], params["max_depth"]["b"]) == (6, 3)
    auc = {r["name"]: r for r in found["metrics"]}["auc"]
    assert auc["status"] == "changed" and auc["delta"] == pytest.approx(auc["b"] - auc["a"])
    assert {r["name"]: r["status"] for r in found["files"]}["data/churn.csv (read)"] == "same"
    assert found["a"]["reproducible"] is True and found["b"]["reproducible"] is True
    done = mlops(repo, "report", "churn.ipynb", "--expect", "auc>=0.5", "--out", "pr.md")
    text = (repo / "pr.md").read_text()
    assert "✅ **Reproducible**" in text and "| max_depth | 6 | 3 | changed |" in text and "| `auc>=0.5` |" in text
    assert (repo / "pr-auc.png").exists() and "wrote pr.md" in done.stdout
    assert mlops(repo, "report", "churn.ipynb", "--expect", "auc>=0.99", check=False).returncode == 1


def test_a_fresh_clone_reproduces_two_stages_and_their_hand_off(repo, tmp_path):
    tags_notebook(repo)
    mlops(repo, "export", "tags.ipynb", "--stages", "tags", "--remote", str(tmp_path / "store"), "--push")
    run(repo, "git", "add", "tags.ipynb", "dvc.yaml", "params.yaml", "pipeline", "data", ".dvc")
    run(repo, "git", "commit", "-qm", "tags")
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    run(clone, "dvc", "pull", "--allow-missing")
    done = run(clone, "dvc", "repro", "tags-train")
    assert done.stdout.index("Running stage 'tags-prepare'") < done.stdout.index("Running stage 'tags-train'")
    assert (clone / "pipeline/handoff/tags-prepare/df.parquet").is_file()
    expected = 2.0 * pd.read_csv(repo / "data/churn.csv")["monthly_charges"].mean()
    assert json.loads((clone / "pipeline/metrics/tags-train.json").read_text())["score"] == pytest.approx(expected)
