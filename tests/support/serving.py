"""``jupyter mlops serve`` and a real Prometheus as processes on 127.0.0.1, for the serving tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.ports import free_port
from tests.support.wait import wait_for

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the process group (a clean stop: the server saves its window), SIGKILL if it hangs."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


class Served:
    """``jupyter mlops serve MODEL`` in ``root`` on a free port, its output in ``serve-<port>.log``."""

    def __init__(self, root: Path, model: str, *args: str, port: int | None = None) -> None:
        self.root, self.model, self.args = root, model, args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / f"serve-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> Served:
        env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyter_mlops.commands", "serve", self.model, "--port", str(self.port),
                 *self.args],
                cwd=self.root, env=env, stdout=log, stderr=log, start_new_session=True)

        def ready() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=2):
                    return True
            except OSError:
                return False

        wait_for(ready, timeout=timeout, what=f"jupyter mlops serve to answer /ping on {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None

    def output(self) -> str:
        return self.log.read_text()


def request(url: str, body: bytes | None = None, content_type: str = "application/json",
            timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a request; an HTTP error status is an answer, not an exception."""
    req = urllib.request.Request(url, body, {"Content-Type": content_type} if body is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def split_payload(frame: Any) -> bytes:
    """MLflow's ``dataframe_split`` JSON of a pandas frame."""
    return json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}).encode()


def metric_samples(url: str) -> dict[tuple[str, frozenset], float]:
    """``/metrics`` parsed with prometheus-client's own parser: {(name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def metric_names(url: str) -> set[str]:
    """Every family and sample name ``/metrics`` declares (a family of a kind of input the model lacks has a
    HELP line and no sample)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        families = list(text_string_to_metric_families(response.read().decode()))
    return {f.name for f in families} | {s.name for f in families for s in f.samples}


def samples_named(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> dict[frozenset, float]:
    return {lab: v for (n, lab), v in samples.items() if n == name and set(labels.items()) <= lab}


class Prometheus:
    """Debian's ``prometheus`` on a free 127.0.0.1 port with a given config (its own data folder)."""

    def __init__(self, config: Path, folder: Path) -> None:
        self.config, self.folder = config, folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> Prometheus:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "prometheus.log", "ab") as log:
            self.process = subprocess.Popen(
                [PROMETHEUS, f"--config.file={self.config}", f"--storage.tsdb.path={self.folder / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                cwd=self.config.parent, stdout=log, stderr=log, start_new_session=True)

        def ready() -> bool:
            assert self.process is not None and self.process.poll() is None, \
                (self.folder / "prometheus.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2):
                    return True
            except OSError:
                return False

        wait_for(ready, timeout=60, what="prometheus to be ready")
        return self

    def query(self, expr: str) -> list[dict]:
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=30) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def alerts(self) -> list[dict]:
        with urllib.request.urlopen(self.url + "/api/v1/alerts", timeout=30) as response:
            return json.loads(response.read())["data"]["alerts"]

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None


GRAFANA_PANEL_TYPES = {"row", "timeseries", "stat", "bargauge", "table", "gauge"}


def assert_grafana_dashboard(board: dict) -> None:
    """The structure Grafana's file provisioning loads (dashboard schema v39's required parts): a uid and title,
    panels with unique ids, known types, grid positions inside the 24 columns without overlap, Prometheus
    targets with unique refIds, and every ``$variable`` a panel uses declared in the templating list."""
    assert isinstance(board["uid"], str) and 0 < len(board["uid"]) <= 40 and board["title"]
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert "__inputs" not in board and "id" not in board  # provisioned, not imported
    variables = {v["name"] for v in board["templating"]["list"]}
    ids, cells = set(), set()
    for panel in board["panels"]:
        assert panel["type"] in GRAFANA_PANEL_TYPES and panel["title"], panel
        assert panel["id"] not in ids
        ids.add(panel["id"])
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0 and g["y"] >= 0, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval"}
            assert used <= variables, (panel["title"], used - variables)
