"""Following a sweep: the counts per state, what changed since the last look, and the stuck-queue verdict.

DVC's known failure is a queue that never drains: experiments left "Queued" (or "Running") with no worker
to run them — workers killed, a broker message lost, a machine put to sleep. Nothing changes and nothing
will. The sweep calls it stuck when no experiment changed state for ``patience`` seconds while no worker
is busy: a long cell keeps a worker busy, so only an idle queue is ever judged, and a slow notebook never
is. Pure: the caller polls DVC and the clock and shows the lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from jupyter_mlops.sweep.queue import FAILED, FINISHED, QUEUED, RUNNING, SUCCESS, Workers

DEFAULT_PATIENCE_S = 60.0


@dataclass(frozen=True)
class Counts:
    queued: int
    running: int
    done: int
    failed: int

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def total(self) -> int:
        return self.queued + self.running + self.done + self.failed


@dataclass(frozen=True)
class Stuck:
    """What is left and the commands that clear it."""

    queued: tuple[str, ...]
    running: tuple[str, ...]
    workers: Workers | None

    def message(self) -> str:
        left = [f"{len(self.queued)} queued" if self.queued else "", f"{len(self.running)} running" if self.running
                else ""]
        who = ("no worker is running" if self.workers is None or self.workers.alive == 0
               else f"its {self.workers.alive} worker(s) sit idle")
        return f"the queue is stuck: {' and '.join(p for p in left if p)} with no progress, and {who}"

    def remedies(self, jobs: int) -> list[str]:
        lines = []
        if self.running:
            lines.append(f"dvc queue kill {' '.join(self.running)}   # experiments no worker runs any more")
        if self.queued:
            lines.append(f"dvc queue start -j {jobs}   # retry the queued ones")
            lines.append("dvc queue remove --queued   # or clear them")
        return lines


def count(states: Mapping[str, str], names: Sequence[str]) -> Counts:
    """The sweep's experiments by state; one DVC does not list (yet) counts as queued."""
    mine = [states.get(n, QUEUED) for n in names]
    return Counts(mine.count(QUEUED), mine.count(RUNNING), mine.count(SUCCESS), mine.count(FAILED))


class QueueWatch:
    """Remembers the last change; says when it is time to ask DVC about its workers, and whether it is stuck."""

    def __init__(self, names: Sequence[str], *, patience_s: float = DEFAULT_PATIENCE_S) -> None:
        self.names = tuple(names)
        self.patience_s = patience_s
        self._states: dict[str, str] = {}
        self._changed_at: float | None = None

    def observe(self, now: float, states: Mapping[str, str]) -> list[tuple[str, str]]:
        """Take one look; the (name, new state) of the experiments that changed since the last one."""
        current = {n: states.get(n, QUEUED) for n in self.names}
        changes = [(n, s) for n, s in current.items() if self._states.get(n) != s]
        if changes or self._changed_at is None:
            self._changed_at = now
        self._states = current
        return [(n, s) for n, s in changes if s != QUEUED]  # all start queued: only news is worth a line

    @property
    def counts(self) -> Counts:
        return count(self._states, self.names)

    @property
    def finished(self) -> bool:
        return all(s in FINISHED for s in self._states.values()) and len(self._states) == len(self.names)

    def quiet_for(self, now: float) -> float:
        return 0.0 if self._changed_at is None else now - self._changed_at

    def needs_worker_check(self, now: float) -> bool:
        """Nothing moved for ``patience``: worth one ``dvc queue status``."""
        return not self.finished and self.quiet_for(now) >= self.patience_s

    def stuck(self, now: float, workers: Workers | None) -> Stuck | None:
        """Stuck: nothing moved for ``patience`` while no worker is busy (``workers`` from DVC, None if it
        does not say, which counts as none)."""
        if not self.needs_worker_check(now):
            return None
        if workers is not None and workers.active > 0:
            self._changed_at = now  # a busy worker is progress to come: the next look is a patience away
            return None
        return Stuck(tuple(n for n, s in self._states.items() if s == QUEUED),
                     tuple(n for n, s in self._states.items() if s == RUNNING), workers)


def bar(counts: Counts, width: int = 24) -> str:
    """``[#######.....]  3/6 done · 2 running · 1 queued · 0 failed`` for a terminal."""
    filled = round(width * counts.finished / counts.total) if counts.total else width
    return (f"[{'#' * filled}{'.' * (width - filled)}] {counts.finished}/{counts.total} finished · "
            f"{counts.running} running · {counts.queued} queued · {counts.failed} failed")


def summary(counts: Counts) -> str:
    """The same as one plain line, for logs."""
    return (f"{counts.finished}/{counts.total} finished: {counts.done} done, {counts.failed} failed, "
            f"{counts.running} running, {counts.queued} queued")


class Display:
    """Progress for a person: on a terminal one line per experiment that starts or ends above a bar
    rewritten in place; elsewhere (CI logs, pipes) the same lines and a summary line when the counts change."""

    def __init__(self, out: TextIO, labels: Mapping[str, str]) -> None:
        self.out = out
        self.labels = labels     # experiment name → its params, as shown on its lines
        self.terminal = out.isatty()
        self._last = ""

    def show(self, changes: Sequence[tuple[str, str]], counts: Counts) -> None:
        clear = "\r\033[K" if self.terminal else ""
        for name, state in changes:
            print(f"{clear}{name} {state}  {self.labels.get(name, '')}".rstrip(), file=self.out)
        if self.terminal:
            print(f"{clear}{bar(counts)}", end="", file=self.out)
        elif summary(counts) != self._last:
            print(summary(counts), file=self.out)
        self._last = summary(counts)
        self.out.flush()

    def close(self) -> None:
        if self.terminal:
            print(file=self.out, flush=True)
