"""A real `jupyter lab` for browser tests (own port, token, settings and workspace, stopped by its PID), and
the few page helpers the tests share."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output"  # screenshots for a human to look at
PANEL = "#jupyter-mlops-panel"
CHROMIUM = "/usr/bin/chromium"
# What works for Debian's Chromium in a container (TOOLCHAIN.md).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Lab:
    """``collaboration``: jupyter-collaboration is installed with the test extras and would be on; it is
    off unless a test is about it (its 5 s "document is taking some time to load" dialog, under load,
    covers what the other tests click)."""

    def __init__(self, root: Path, scratch: Path, options: list[str] = (), *, collaboration: bool = False) -> None:
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        settings = scratch / "settings"
        # No "get notified about Jupyter news?" toast over the controls.
        news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True)
        news.write_text(json.dumps({"fetchNews": "false"}))
        self.log = (scratch / "lab.log").open("w")
        bin_dir = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "DVC_NO_ANALYTICS": "1",
               "JUPYTER_RUNTIME_DIR": str(scratch / "runtime")}
        env.pop("JPY_SESSION_NAME", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={scratch / 'workspaces'}",
             "--LabApp.expose_app_in_browser=True", f"--YDocExtension.disable_rtc={not collaboration}", *options],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self._wait_up()

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(f"{self.url}/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_kernel_ready(self, timeout: float = 60) -> None:
        """Typing before the kernel is connected drops the run: wait for idle with a connection."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                kernels = self.api("api/kernels")
            except urllib.error.HTTPError as exc:
                # jupyter_server answers 500 when the list is asked for while a kernel is starting (its
                # last_activity is not set yet): Jupyter's own race, which ends when the kernel is up.
                if exc.code != 500:
                    raise
                kernels = []
            if any(k["execution_state"] == "idle" and k["connections"] >= 1 for k in kernels):
                return
            time.sleep(0.3)
        raise TimeoutError(f"no idle connected kernel after {timeout}s: {self.api('api/kernels')}")

    def shutdown_kernels(self) -> None:
        for kernel in self.api("api/kernels"):
            self.api(f"api/kernels/{kernel['id']}", method="DELETE")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL for a server that outlives its own shutdown by more than a few seconds.

        jupyter_server can hang at interpreter exit, its kernels already shut down, joining an idle AnyIO
        worker thread that only the end of a root task would stop (jupyter-collaboration#546): under load
        most labs did, and each cost its test the whole wait. A kernel it was still shutting down is killed with it.
        """
        kernels = psutil.Process(self.process.pid).children()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            for kernel in kernels:  # one still shutting down would outlive its server
                with contextlib.suppress(psutil.Error):
                    kernel.kill()
        self.log.close()

    def _wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}; see {self.log.name}")
            try:
                self.api("api/status")
                return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"jupyter lab did not answer within {timeout}s; see {self.log.name}")


def shot(page: Any, name: str, selector: str = PANEL) -> None:
    OUTPUT.mkdir(exist_ok=True)
    target = page.locator(selector) if selector else page
    target.screenshot(path=str(OUTPUT / f"{name}.png"))


def kernel_says(page: Any, expression: str) -> str:
    """An expression evaluated silently in the notebook's kernel, through the lab's own connection."""
    return page.evaluate("""async (expression) => {
        const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
        const reply = await kernel.requestExecute(
            {code: '', silent: true, store_history: false, user_expressions: {v: expression}}).done;
        return reply.content.user_expressions.v.data['text/plain'];
    }""", expression)


def run_command(page: Any, command: str, args: dict | None = None) -> Any:
    return page.evaluate("([c, a]) => window.jupyterapp.commands.execute(c, a)", [command, args or {}])


def open_notebook(page: Any, lab: Lab, notebook: str = "churn.ipynb") -> None:
    """The notebook open with its kernel connected."""
    page.goto(f"{lab.url}/lab/tree/{notebook}?token={lab.token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    lab.wait_kernel_ready()


def open_notebook_and_panel(page: Any, lab: Lab, notebook: str = "churn.ipynb") -> Any:
    """The notebook open with its kernel connected, and the MLOps panel shown."""
    open_notebook(page, lab, notebook)
    page.click('.jp-SideBar [data-id="jupyter-mlops-panel"]')
    panel = page.locator(PANEL)
    panel.wait_for(state="visible")
    return panel
