"""What does monitoring cost a served model? ``jupyter mlops serve`` against ``mlflow models serve``, same version.

The example is run tracked (papermill) and registered (``--allow-unverified``: the gate is not what is
measured) in a temporary project; the same version is then served by both, one after the other on loopback,
and the same bounded request stream is sent to each by ``--clients`` concurrent clients (threads, one
keep-alive connection each):

    single   ``--single`` one-row requests (rows of the example's table, as the notebook encodes them)
    batch    ``--batch`` requests of ``--batch-rows`` rows each

The two servers take turns for ``--rounds`` rounds (A B, then B A, …), so machine noise lands on both (more,
shorter rounds: the same requests in all, less of the noise of one stretch of time on one server); each
round starts each server afresh (a cold window) and warms it with ``--warmup`` requests first. Both run
uvicorn's access log, as ``mlflow models serve`` does (``jupyter mlops serve --access-log``).

Printed per stream: p50 and p99 latency (ms), throughput (requests/s and rows/s) and the server's CPU time per
request (its process and children: the figure the rest of the machine moves least) of each server, pooled
over the rounds, and the ratios ours / MLflow's (goals: p50 within 5%, throughput at least 0.95×); then the
monitor thread's CPU seconds for each stream (``/monitoring``'s ``monitor_cpu_s``), per 1,000 rows scored:
bounded by the sample, it must not grow with the rows (its share of a core stays flat while the rows per
second grow a hundredfold). The load average before and after. No asserts.

    python benchmarks/serving.py [--single 1000] [--batch 100] [--batch-rows 1000] [--clients 4] [--rounds 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CATEGORICAL = ["contract", "payment_method", "internet_service"]
SETTLE_S = 2.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def registered_project(folder: Path) -> Path:
    """The example, committed, run tracked under papermill and registered as churn@candidate."""
    root = folder / "churn"
    shutil.copytree(REPO / "examples", root, ignore=shutil.ignore_patterns("out", ".mlops", "*.joblib"))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

    def run(*args: str) -> None:
        subprocess.run(args, cwd=root, check=True, capture_output=True, env=env, timeout=600)

    git = ("git", "-c", "user.name=b", "-c", "user.email=b@b")
    run("git", "init", "-q")
    (root / ".gitignore").write_text("out/\nmodel.joblib\nmlflow.db\nmlruns/\n.mlops/\n*.log\n")
    run(*git, "add", "-A")
    run(*git, "commit", "-qm", "example")
    run(sys.executable, "-m", "papermill", "churn.ipynb", "out.ipynb", "--cwd", str(root), "-k", "python3")
    run(sys.executable, "-m", "jupyter_mlops.commands", "register", "--name", "churn", "--alias", "candidate",
        "--allow-unverified")
    return root


def payloads(root: Path, single: int, batch: int, batch_rows: int) -> dict[str, list[bytes]]:
    import pandas as pd

    df = pd.read_csv(root / "data" / "churn.csv")
    X = pd.get_dummies(df.drop(columns=["customer_id", "churned"]), columns=CATEGORICAL, dtype=int)

    def body(rows) -> bytes:
        return json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}).encode()

    big = pd.concat([X] * (1 + batch_rows // len(X)), ignore_index=True)
    return {"single": [body(X.iloc[[i % len(X)]]) for i in range(single)],
            "batch": [body(big.iloc[(i * 97) % len(X):(i * 97) % len(X) + batch_rows]) for i in range(batch)]}


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a server and its children so far: ``mlflow models serve`` runs uvicorn
    in a child process. What a request costs the server, whatever else the machine is doing: latency and
    throughput on a 2-core machine shared with the clients move with everything else that runs."""
    import psutil

    process = psutil.Process(pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


@contextmanager
def server(kind: str, root: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    if kind == "mlflow":
        command = [str(BIN / "mlflow"), "models", "serve", "-m", "models:/churn@candidate", "--env-manager", "local",
                   "-h", "127.0.0.1", "-p", str(port)]
    else:
        command = [sys.executable, "-m", "jupyter_mlops.commands", "serve", "churn@candidate", "--port", str(port),
                   "--access-log"]
    with open(root / f"{kind}.log", "ab") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, (root / f"{kind}.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(url + "/ping", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield url, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # the window a stopped server saved would be restored by the next one: every round starts cold
        shutil.rmtree(root / ".mlops" / "serving", ignore_errors=True)


def stream(url: str, bodies: list[bytes], clients: int) -> tuple[list[float], float]:
    """Each body POSTed once, by ``clients`` threads with a keep-alive connection each: latencies, wall time."""
    host, port = url.removeprefix("http://").split(":")
    local = threading.local()

    def send(body: bytes) -> float:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection(host, int(port), timeout=120)
        started = time.perf_counter()
        connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        assert response.status == 200, response.status
        return elapsed

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(send, bodies))
    return latencies, time.perf_counter() - started


def monitor_cpu(url: str) -> float:
    with urllib.request.urlopen(url + "/monitoring", timeout=30) as response:
        return float(json.loads(response.read())["status"]["monitor_cpu_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        print("building the registered example (papermill + register)…", flush=True)
        root = registered_project(Path(tmp))
        bodies = payloads(root, args.single, args.batch, args.batch_rows)
        results: dict[tuple[str, str], list[float]] = {}
        walls: dict[tuple[str, str], float] = {}
        cpu: dict[str, float] = {}
        server_cpu: dict[tuple[str, str], float] = {}
        for r in range(args.rounds):
            for kind in (("mlflow", "ours") if r % 2 == 0 else ("ours", "mlflow")):
                with server(kind, root) as (url, pid):
                    stream(url, bodies["single"][:args.warmup], args.clients)
                    for name in ("single", "batch"):
                        before = monitor_cpu(url) if kind == "ours" else 0.0
                        cpu_before = server_cpu_s(pid)
                        latencies, wall = stream(url, bodies[name], args.clients)
                        server_cpu[(kind, name)] = server_cpu.get((kind, name), 0.0) + server_cpu_s(pid) - cpu_before
                        results.setdefault((kind, name), []).extend(latencies)
                        walls[(kind, name)] = walls.get((kind, name), 0.0) + wall
                        if kind == "ours":
                            time.sleep(SETTLE_S)  # the monitor's next pass takes in the stream
                            cpu[name] = cpu.get(name, 0.0) + monitor_cpu(url) - before
    load_after = os.getloadavg()

    rows = {"single": 1, "batch": args.batch_rows}
    print(f"\n{args.clients} clients, {args.rounds} rounds, loopback; load average before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f}")
    print(f"{'stream':<8} {'server':<7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'rows/s':>9} {'CPU ms/req':>11}")
    for name in ("single", "batch"):
        figures = {}
        for kind in ("mlflow", "ours"):
            lat = np.array(results[(kind, name)]) * 1000
            throughput = len(lat) / walls[(kind, name)]
            per_request = server_cpu[(kind, name)] / len(lat) * 1000
            figures[kind] = (np.percentile(lat, 50), np.percentile(lat, 99), throughput, per_request)
            print(f"{name:<8} {kind:<7} {figures[kind][0]:8.2f} {figures[kind][1]:8.2f} {throughput:8.1f} "
                  f"{throughput * rows[name]:9.0f} {per_request:11.2f}")
        (m50, m99, mt, mc), (o50, o99, ot, oc) = figures["mlflow"], figures["ours"]
        print(f"{name:<8} {'ratio':<7} {o50 / m50:8.3f} {o99 / m99:8.3f} {ot / mt:8.3f} {'':>9} {oc / mc:11.3f}")
    print("\nmonitor thread CPU (statistics, drift, window, off the request path):")
    for name in ("single", "batch"):
        scored = args.rounds * len(bodies[name]) * rows[name]
        busy = cpu[name] / (walls[("ours", name)] + args.rounds * SETTLE_S)
        print(f"  {name:<7} {cpu[name]:6.2f} s for {scored} rows: {cpu[name] / scored * 1000 * 1000:8.3f} ms "
              f"per 1,000 rows, {busy:.1%} of one core while it ran")


if __name__ == "__main__":
    main()
