"""Issue 28, paths, on the command line and in the kernel: every file export touches, planted as a symlink
out of the project or as a FIFO, is refused by name before anything is written (nothing outside changes,
nothing enters DVC's cache); the kernel's metrics file and journal are held to the same rule; four exports
of one notebook at once run one after the other."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.reliability.helpers import track
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
from tests.support.kernel import Kernel
from tests.support.repo import ENV, mlops, run

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return export_project(tmp_path_factory.mktemp("hostile") / "template")


@pytest.fixture
def hostile(template: Path, tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "outside"
    outside.mkdir()
    return copy_project(template, tmp_path / "project"), outside


def export(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "export", NOTEBOOK, "--stages", "single",
                           *args], cwd=root, env=ENV, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", EXPORT_TOUCHES)
def test_export_refuses_a_link_out_of_the_project_for_every_file_it_touches(hostile, name):
    # Given a project where one file (or folder) export touches is a symlink to a place outside it
    root, outside = hostile
    plant_link(root, outside, name)
    before_outside, before_inside = snapshot(outside), snapshot(root)
    # When it is exported (with a remote too: DVC would write its config)
    done = export(root, "--remote", str(outside / "store"))
    # Then export refuses, naming the link and where it goes, and writes nothing anywhere
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{name} is a symlink to {outside}" in done.stderr and "Traceback" not in done.stderr
    assert snapshot(outside) == before_outside and snapshot(root) == before_inside
    assert cached_files(root) == [] and not (outside / "store").exists()


@pytest.mark.parametrize("name", FIFO_CASES)
def test_export_refuses_a_fifo_at_once_instead_of_hanging_on_it(hostile, name):
    # Given a FIFO where export reads a file (nothing will ever write to it)
    root, _ = hostile
    plant_fifo(root, name)
    before = snapshot(root)
    # When it is exported
    started = time.monotonic()
    done = export(root, timeout=60)
    # Then it is refused by name at once, before anything is written
    assert done.returncode == 2 and f"{name} is a FIFO (named pipe), not a regular file" in done.stderr, done.stderr
    assert time.monotonic() - started < 30 and snapshot(root) == before


def test_the_same_project_without_traps_exports(hostile):
    # The control: the project of the cases above exports, puts its data under DVC and writes its files
    root, _ = hostile
    done = export(root)
    assert done.returncode == 0, done.stderr
    for name in ("params.yaml", "dvc.yaml", "pipeline/nb.ipynb", "data/raw.csv.dvc", "data/.gitignore"):
        assert (root / name).is_file(), name
    assert cached_files(root)


def test_four_exports_of_one_notebook_at_once_run_one_after_the_other(hostile):
    root, _ = hostile
    run(root, "git", "add", "data/raw.csv")  # in git, not put under DVC: the race is export's own files
    for round_ in range(3):
        # Given the notebook changed since the last round (so every round writes)
        save = f"open('out.txt', 'w').write(rows * epochs + '{round_}')"
        (root / NOTEBOOK).write_text(notebook_text([
            ("params", "lr = 0.1\nepochs = 3\n", ["parameters"]),
            ("load", "rows = open('data/raw.csv').read()", []), ("save", save, [])]))
        # When four exports of it run at once
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: export(root, timeout=300), range(4)))
        # Then all succeed, the files are the notebook's, and no temporary file is left behind
        assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
        assert sum("nothing to write" in r.stdout for r in results) >= 1
        assert yaml.safe_load((root / "params.yaml").read_text()) == {"lr": 0.1, "epochs": 3}
        assert "nb" in yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
        assert save in (root / "pipeline" / "nb.ipynb").read_text()
        assert not [p for p in root.rglob("*.tmp") if ".dvc" not in p.parts]


# --- the kernel's own files ------------------------------------------------------------------------------


def outside_of(project: Path) -> Path:
    folder = project.parent / f"{project.name}-outside"
    folder.mkdir()
    return folder


def test_the_metrics_file_of_a_stage_is_not_written_through_a_link_out_of_the_project(project):
    # Given a stage's metrics folder that is a symlink out of the project
    outside = outside_of(project)
    (project / "pipeline").mkdir()
    (project / "pipeline" / "metrics").symlink_to(outside, target_is_directory=True)
    kernel = Kernel(project, env={"JUPYTER_MLOPS_METRICS_FILE": "pipeline/metrics/nb.json"})
    try:
        track(kernel, "--no-mlflow --metrics auc")
        # When a cell sets a metric
        refused = kernel.cell("auc = 0.9", "fit")
        # Then the cell ran, one warning names the link, and nothing is written outside
        assert refused.status == "ok" and "pipeline/metrics is a symlink to" in refused.stderr
        assert list(outside.iterdir()) == []
        # And once the folder is a real one, the metrics file is written
        (project / "pipeline" / "metrics").unlink()
        (project / "pipeline" / "metrics").mkdir()
        kernel.cell("auc = 0.95", "fit")
        assert (project / "pipeline" / "metrics" / "nb.json").read_text().strip().startswith("{")
    finally:
        kernel.shutdown()


@pytest.mark.parametrize("trap", ["link", "fifo"])
def test_a_journal_out_of_the_project_or_a_fifo_is_refused_by_the_kernel_and_the_cli(project, trap):
    # Given .mlops/ linked out of the project, or a FIFO in the journal's place
    outside = outside_of(project)
    if trap == "link":
        (project / ".mlops").symlink_to(outside, target_is_directory=True)
    else:
        plant_fifo(project, ".mlops/journal.sqlite")
    kernel = Kernel(project)
    try:
        # When tracking starts
        out = track(kernel)
        after = kernel.cell("x = 1 + 1\nx", "work")
    finally:
        kernel.shutdown()
    # Then it warns that tracking did not start (no hang, no traceback), the cells run, nothing is written outside
    what = ".mlops is a symlink to" if trap == "link" else "journal.sqlite is a FIFO"
    assert "tracking not started" in out and what in out and "Traceback" not in out, out
    assert after.result == "2" and list(outside.iterdir()) == []
    # And the CLI says the same, exit 2
    listed = mlops(project, "runs", check=False)
    assert listed.returncode == 2 and what in listed.stderr


def test_a_background_process_folder_linked_out_of_the_project_is_not_used(project):
    # Given the MLflow follower's folder (its lock and its log) linked out of the project
    outside = outside_of(project)
    (project / ".mlops").mkdir()
    (project / ".mlops" / "mlflow").symlink_to(outside, target_is_directory=True)
    kernel = Kernel(project)
    try:
        # When tracking starts with the MLflow mirror
        out = track(kernel, "")
        after = kernel.cell("x = 2", "work")
    finally:
        kernel.shutdown()
    # Then the cells are tracked, one warning names the link, and no follower writes outside
    assert "cannot start the MLflow follower" in out and ".mlops/mlflow is a symlink to" in out, out
    assert after.status == "ok" and list(outside.iterdir()) == []
