"""Issue 4 against a real ``mlflow server``: mirrored over HTTP, and a server that goes away costs nothing.

One server per module (a start costs ~6 s); each test uses its own experiment. The server is stopped and
started again on the same port and database to play an outage.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kernel import Kernel
from tests.support.ports import free_port
from tests.support.wait import followers_done, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kernel]

MLFLOW = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"


class MlflowServer:
    """A real tracking server on 127.0.0.1, stoppable and restartable on the same port and database."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with open(self.folder / "server.log", "ab") as log:  # the child keeps its own copy of the fd
            self.process = subprocess.Popen(
                [MLFLOW, "server", "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
                 "--artifacts-destination", str(self.folder / "artifacts"), "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", "1"],
                cwd=self.folder, env=env, stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True,  # its own process group: stopping it stops its workers too
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.folder / "server.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise AssertionError("mlflow server did not answer /health in 90 s")

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
        self.process = None

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(self.uri)


def mlflow_server(tmp_path_factory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` on 127.0.0.1 for a test module (``server = pytest.fixture(scope="module")(…)``)."""
    s = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    s.start()
    try:
        yield s
    finally:
        s.stop()


server = pytest.fixture(scope="module", name="server")(mlflow_server)


@pytest.fixture
def running(server: MlflowServer) -> MlflowServer:
    """The server, up (a test that stopped it and failed must not leave the next one without it)."""
    if server.process is None:
        server.start()
    return server


def run_of(server: MlflowServer, experiment: str):
    client = server.client()
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id]) if found else []
    assert len(runs) <= 1, runs
    return runs[0] if runs else None


def history(server: MlflowServer, experiment: str, metric: str) -> list[tuple[int, float]]:
    run = run_of(server, experiment)
    if run is None:
        return []
    return sorted((m.step, m.value) for m in server.client().get_metric_history(run.info.run_id, metric))


def start_tracking(project: Path, server: MlflowServer, experiment: str) -> Kernel:
    (project / "data.csv").write_text("x\n1\n")
    kernel = Kernel(project, env={"MLFLOW_TRACKING_URI": server.uri})
    kernel.cell("%load_ext jupyter_mlops", "load")
    kernel.cell(f"%mlops_track --experiment {experiment}", "track")
    kernel.cell("# Parameters\nlr = 0.1", "params")
    kernel.cell("text = open('data.csv').read()", "read")
    kernel.cell("import jupyter_mlops\nfor i in range(3):\n    jupyter_mlops.log_metric('loss', 1 / (i + 1), step=i)",
                "train")
    return kernel


def store_warnings(replies) -> list[str]:
    return [line for r in replies for line in r.stderr.splitlines() if line.startswith("jupyter-mlops: MLflow")]


def test_mirrored_over_http_then_an_outage_costs_one_warning_and_the_next_cell_catches_up(running, project):
    server = running
    kernel = start_tracking(project, server, "outage")
    try:
        assert wait_for(lambda: len(history(server, "outage", "loss")) == 3, what="3 metrics on the server")
        run = wait_for(lambda: (r := run_of(server, "outage")).inputs.dataset_inputs and r, what="the dataset")
        md5 = hashlib.md5((project / "data.csv").read_bytes()).hexdigest()
        assert run.data.params == {"lr": "0.1"} and run.inputs.dataset_inputs[0].dataset.digest == md5
        assert run.data.tags["mlops.git"] == "the git repository has no commit yet"

        server.stop()
        replies = []
        # A working cell a second until the outage is told (the follower must try, and fail, first: a few
        # seconds on a busy machine), then three more that must not tell it again. Bounded.
        for i in range(3, 33):
            started = time.monotonic()
            replies.append(kernel.cell(f"jupyter_mlops.log_param('p{i}', {i})\n"
                                       f"jupyter_mlops.log_metric('loss', {i}, step={i})\nimport time; time.sleep(1.0)",
                                       f"down{i}"))
            assert time.monotonic() - started < 5  # the cell never waits for the store
            told = [n for n, reply in enumerate(replies) if store_warnings([reply])]
            if told and len(replies) - told[0] > 3:
                break
        warnings = store_warnings(replies)
        assert len(warnings) == 1 and "unreachable" in warnings[0], warnings
        last = 3 + len(replies)

        server.start()
        back = kernel.cell("after = 1", "after")
        assert store_warnings([back]) == []
        steps = wait_for(lambda: [s for s, _ in history(server, "outage", "loss")] == list(range(last)),
                         what="the missing metrics, each once")
        assert steps
        kernel.cell("%mlops_track --off", "off")
    finally:
        kernel.shutdown()
    # The follower ends the run in its last pass, after the kernel (and after the profile of data.csv).
    wait_for(lambda: followers_done(project), timeout=120, what="the MLflow follower's last pass")
    run = run_of(server, "outage")
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.1", **{f"p{i}": str(i) for i in range(3, last)}}
    assert [s for s, _ in history(server, "outage", "loss")] == list(range(last))
    artifacts = {a.path for a in server.client().list_artifacts(run.info.run_id)}
    assert "environment" in artifacts


def test_records_left_by_a_killed_kernel_during_an_outage_are_delivered_once_by_sync(running, project):
    server = running
    kernel = start_tracking(project, server, "killed")
    try:
        assert wait_for(lambda: len(history(server, "killed", "loss")) == 3, what="3 metrics on the server")
        server.stop()
        for i in range(3, 6):
            kernel.cell(f"jupyter_mlops.log_metric('loss', {i}, step={i})", f"down{i}")
        os.kill(kernel.km.provisioner.pid, signal.SIGKILL)
        wait_for(lambda: not kernel.km.is_alive(), what="the killed kernel to go")
    finally:
        kernel.shutdown()
    down = sync(project, server.uri)
    assert down.returncode == 1 and "does not answer" in down.stderr and len(down.stderr.splitlines()) == 1

    server.start()
    for _ in range(2):  # the second sync has nothing left to send
        out = sync(project, server.uri)
        assert out.returncode == 0, out.stderr
    assert [s for s, _ in history(server, "killed", "loss")] == list(range(6))
    assert run_of(server, "killed").data.params == {"lr": "0.1"}


def sync(project: Path, uri: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.commands", "sync", "--to", uri], cwd=project,
                          capture_output=True, text=True, timeout=120)
