"""DVC's experiment queue as commands: queue one experiment, start the workers, read back every state.

DVC runs (``python -m dvc`` through ``export.dvccmd``), never imported. What the sweep reads is DVC's
machine-readable ``dvc exp show --json`` (state, params, metrics and log of every experiment of one
baseline commit) and the one line of ``dvc queue status`` that counts the workers.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_mlops.errors import BadInput, Conflict, NotFound
from jupyter_mlops.export.dvccmd import TIMED_OUT, reason, run_dvc
from jupyter_mlops.export.layout import PIPELINE_DIR
from jupyter_mlops.sweep.grid import Combination

QUEUED, RUNNING, SUCCESS, FAILED = "queued", "running", "success", "failed"
FINISHED = frozenset({SUCCESS, FAILED})
EXP_SHOW_TIMEOUT_S = 60.0  # a show of a sweep's experiments takes 1-5 s, under load too
EXP_SHOW_TRIES = 3
_WORKERS = re.compile(r"Worker status: (\d+) active, (\d+) idle")


@dataclass(frozen=True)
class Experiment:
    """One DVC experiment as ``dvc exp show`` reports it."""

    name: str
    state: str                       # QUEUED, RUNNING, SUCCESS or FAILED
    rev: str | None = None
    params: dict[str, Any] = field(default_factory=dict)     # dotted names (``train.lr``) of every params file
    metrics: dict[str, float] = field(default_factory=dict)  # numbers of every metrics file
    log: str | None = None           # the executor's log file (what ``dvc queue logs NAME`` prints)


@dataclass(frozen=True)
class Workers:
    active: int
    idle: int

    @property
    def alive(self) -> int:
        return self.active + self.idle


def baseline(root: Path) -> str:
    """The commit experiments are queued on: DVC needs one, and only what git tracks reaches the copy."""
    done = subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise BadInput(f"{root} has no git commit: DVC queues experiments on top of one",
                       hint="commit the notebook and its pipeline (git add … && git commit), then sweep again")
    return done.stdout.strip()


def queue(root: Path, name: str, combination: Combination) -> None:
    """``dvc exp run --queue -f -n NAME -S p=v …``: DVC stashes the workspace with these params. ``-f``:
    the experiment runs even when DVC's run cache holds a result for these params (an earlier sweep's),
    so that each experiment is a tracked session, not a restored output."""
    assignments = [arg for param, value in combination for arg in ("-S", f"{param}={value}")]
    done = run_dvc(root, "exp", "run", "--queue", "-f", "-n", name, *assignments)
    if done.returncode != 0:
        raise Conflict(f"DVC did not queue {name}: {reason(done)}",
                       hint="`dvc exp run --queue` by hand shows the whole message; `dvc doctor` checks DVC")


def start(root: Path, jobs: int) -> None:
    """``dvc queue start -j N``: N workers (DVC's own daemons) that outlive this command."""
    done = run_dvc(root, "queue", "start", "-j", str(jobs))
    if done.returncode != 0:
        raise Conflict(f"DVC did not start its queue workers: {reason(done)}",
                       hint="`dvc queue start` by hand shows the whole message; `dvc queue status` the queue")


def experiments(root: Path, rev: str) -> dict[str, Experiment]:
    """Every named experiment of baseline ``rev``, queued, running and failed ones included.

    ``dvc exp show`` can hang for good when it reads a running experiment's metrics just as DVC removes that
    experiment's temporary repository (DVC 3.x: pygit2's blob reader waits on a thread that is gone); a show
    takes seconds, so one that takes ``EXP_SHOW_TIMEOUT_S`` is killed and asked again, ``EXP_SHOW_TRIES``
    times in all.
    """
    # polled through a whole sweep: it reads the workspace's params, metrics and pipeline files, nothing else
    for _ in range(EXP_SHOW_TRIES):
        done = run_dvc(root, "exp", "show", "--json", "--rev", rev, "--no-fetch", timeout_s=EXP_SHOW_TIMEOUT_S,
                       touches=[root / name for name in ("params.yaml", "dvc.yaml", "dvc.lock", PIPELINE_DIR)])
        if done.returncode != TIMED_OUT:
            break
    if done.returncode != 0:
        raise Conflict(f"dvc exp show failed: {reason(done)}", hint="`dvc exp show` by hand shows why")
    return parse_exp_show(json.loads(done.stdout or "[]"))


def workers(root: Path) -> Workers | None:
    """The queue's workers (``dvc queue status``); None when DVC does not say."""
    done = run_dvc(root, "queue", "status", touches=())
    match = _WORKERS.search(done.stdout or "")
    return Workers(int(match.group(1)), int(match.group(2))) if match else None


def apply(root: Path, name: str) -> None:
    """``dvc exp apply NAME``: the experiment's params, code and outputs into the workspace."""
    done = run_dvc(root, "exp", "apply", name)
    if done.returncode != 0:
        text = reason(done)
        error = NotFound if "unknown" in text.lower() or "not found" in text.lower() else Conflict
        raise error(f"dvc exp apply {name} failed: {text}",
                    hint="`dvc exp show` lists the experiments; commit or stash your changes if DVC names them")


def parse_exp_show(doc: Any) -> dict[str, Experiment]:
    """``dvc exp show --json`` (a list of baselines, each with its experiments) → name → Experiment."""
    found: dict[str, Experiment] = {}
    for baseline_entry in doc if isinstance(doc, list) else []:
        for exp in baseline_entry.get("experiments") or []:
            revs = exp.get("revs") or [{}]
            last = revs[-1]
            name = exp.get("name") or last.get("name")
            if not name:
                continue
            executor = exp.get("executor") or {}
            data = last.get("data") or {}
            state = executor.get("state") or (FAILED if last.get("error") else SUCCESS)
            found[name] = Experiment(
                name=name, state=state if state in (QUEUED, RUNNING, SUCCESS, FAILED) else RUNNING,
                rev=last.get("rev"), params=dict(_flat_files(data.get("params"))),
                metrics={k: float(v) for k, v in _flat_files(data.get("metrics"))
                         if isinstance(v, (int, float)) and not isinstance(v, bool)},
                log=(executor.get("local") or {}).get("log"))
    return found


def _flat_files(files: Mapping[str, Any] | None) -> Iterator[tuple[str, Any]]:
    """The values of every file DVC read (``{path: {"data": …}}``), the first file's name winning a clash."""
    seen: set[str] = set()
    for entry in (files or {}).values():
        for key, value in _flat(entry.get("data") if isinstance(entry, dict) else None, ""):
            if key not in seen:
                seen.add(key)
                yield key, value


def _flat(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _flat(value, f"{prefix}{key}.")
    elif prefix:
        yield prefix[:-1], node
