"""A served version's live window read back, for ``jupyter mlops drift --model NAME@ALIAS --live URL_OR_DIR``.

From a URL: the running server's ``GET /monitoring`` (its last snapshot's input profile). From a folder:
the window a server saved under ``.mlops/serving/windows/`` (the project root, ``.mlops/serving`` or the
``windows`` folder itself may be named), profiled here from its sample with the server's own code, so a
stopped server's last traffic can still be compared. Either way the window must be of the version the
reference is: comparing version 2's traffic with version 1's training data would be a wrong answer.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_mlops.errors import BadInput, NotFound
from jupyter_mlops.serving import state
from jupyter_mlops.serving.statistics import INPUTS, columns_of, profile_of
from jupyter_mlops.serving.window import Window

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LiveWindow:
    source: str               # the URL or the window file
    profile: dict[str, Any]   # the inputs' profile (``monitor/profile.py``'s form)
    window_rows: int
    sample_rows: int


def read(source: str, model: str, version: str) -> LiveWindow:
    if source.startswith(("http://", "https://")):
        return _from_url(source.rstrip("/"), model, version)
    return _from_folder(Path(source), model, version)


def _from_url(url: str, model: str, version: str) -> LiveWindow:
    try:
        with urllib.request.urlopen(url + "/monitoring", timeout=TIMEOUT_S) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise NotFound(f"{url} answered /monitoring with HTTP {exc.code}: not a `jupyter mlops serve` server",
                       hint="give the URL `jupyter mlops serve` printed, or its .mlops/serving folder") from exc
    except (OSError, ValueError) as exc:
        raise NotFound(f"{url} does not answer ({getattr(exc, 'reason', exc)})",
                       hint="is the server running? `jupyter mlops serve NAME@ALIAS` prints its URL; a stopped "
                            "server's window is read from its project: --live .mlops/serving") from exc
    _same_version(url, body.get("model"), body.get("version"), model, version)
    snapshot = body.get("snapshot") or {}
    profile = snapshot.get("inputs") or {"fields": [], "sample_rows": 0}
    return LiveWindow(url, profile, int(snapshot.get("window_rows", 0)), int(snapshot.get("sample_rows", 0)))


def _from_folder(folder: Path, model: str, version: str) -> LiveWindow:
    if not folder.is_dir():
        raise BadInput(f"--live {folder}: neither a URL (http://…) nor a folder")
    candidates = [folder / state.WINDOWS, folder / ".mlops" / state.SERVING_DIR / state.WINDOWS, folder]
    files = [p for c in candidates if c.is_dir() for p in sorted(c.glob("*.json"))]
    windows = []
    for path in files:
        try:
            saved = state.read_json(folder, path)
        except (OSError, ValueError):
            continue
        if isinstance(saved, dict) and {"model", "version", "window"} <= saved.keys():
            windows.append((path, saved))
    if not windows:
        raise NotFound(f"no saved serving window in {folder}",
                       hint="a server started by `jupyter mlops serve` keeps it in <project>/.mlops/serving/windows")
    mine = [(p, s) for p, s in windows if (s["model"], str(s["version"])) == (model, version)]
    if not mine:
        found = ", ".join(sorted({f"{s['model']} version {s['version']}" for _, s in windows}))
        raise NotFound(f"the windows in {folder} are of {found}, not of {model} version {version}")
    path, saved = max(mine, key=lambda ps: float(ps[1].get("saved_at", 0)))
    try:
        window = Window.from_state(saved["window"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"{path}: not a window this version of jupyter-mlops reads ({exc})") from exc
    rows = window.sample()
    profile = profile_of(columns_of(rows, INPUTS), window.window_rows)
    return LiveWindow(str(path), profile, window.window_rows, len(rows))


def _same_version(source: str, served_model: Any, served_version: Any, model: str, version: str) -> None:
    if (served_model, str(served_version)) != (model, version):
        raise BadInput(f"{source} serves {served_model} version {served_version}, not {model} version {version}",
                       hint="compare it with its own version: drift --model NAME/VERSION --live URL")
