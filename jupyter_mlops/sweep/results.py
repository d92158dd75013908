"""A sweep's outcome as one table: a row per experiment, its swept params, its metrics and its tracked
session, best first by one metric, the best row marked. Pure (DVC's and the journal's answers in)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from jupyter_mlops.sweep.queue import FAILED, SUCCESS, Experiment

# Metrics where lower is better, unless the user says otherwise (--maximize / --minimize).
_LOWER_IS_BETTER = re.compile(r"loss|err|rmse|mse|mae|mape|perplexity", re.IGNORECASE)


@dataclass(frozen=True)
class Row:
    experiment: str
    state: str
    params: dict[str, Any]
    metrics: dict[str, float]
    session: str | None         # the journal session the experiment's kernel tracked
    best: bool = False
    log: str | None = None


@dataclass(frozen=True)
class SweepTable:
    sweep: str
    metric: str | None          # what the rows are sorted by
    minimize: bool
    params: tuple[str, ...]
    metrics: tuple[str, ...]
    rows: tuple[Row, ...]

    @property
    def best(self) -> Row | None:
        return next((r for r in self.rows if r.best), None)

    @property
    def failed(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.state == FAILED)

    def to_dict(self) -> dict[str, Any]:
        return {"sweep": self.sweep, "metric": self.metric, "order": "ascending" if self.minimize else "descending",
                "params": list(self.params), "metrics": list(self.metrics),
                "best": self.best.experiment if self.best else None, "rows": [asdict(r) for r in self.rows]}


def lower_is_better(metric: str) -> bool:
    return _LOWER_IS_BETTER.search(metric) is not None


def build_table(sweep: str, names: Sequence[str], experiments: Mapping[str, Experiment], params: Sequence[str],
                sessions: Mapping[str, str], *, metric: str | None = None,
                minimize: bool | None = None) -> SweepTable:
    """The rows of ``names`` (the sweep's experiments), sorted by ``metric`` — by default the first metric
    the experiments report — best first; experiments without it (failed, still queued) last, in order."""
    found = [experiments.get(n) or Experiment(n, FAILED) for n in names]
    metric_names: list[str] = []
    for exp in found:
        metric_names += [m for m in exp.metrics if m not in metric_names]
    metric = metric or (metric_names[0] if metric_names else None)
    if metric is not None and metric in metric_names:
        metric_names.remove(metric)
        metric_names.insert(0, metric)
    minimize = lower_is_better(metric or "") if minimize is None else minimize
    rows = [Row(e.name, e.state, {p: e.params.get(p) for p in params}, e.metrics, sessions.get(e.name), log=e.log)
            for e in found]
    scored = [r for r in rows if metric in r.metrics and r.state == SUCCESS]
    scored.sort(key=lambda r: r.metrics[metric], reverse=not minimize)
    rest = [r for r in rows if r not in scored]
    if scored:
        scored[0] = Row(**{**asdict(scored[0]), "best": True})
    return SweepTable(sweep, metric, minimize, tuple(params), tuple(metric_names), tuple(scored + rest))


def render(table: SweepTable) -> str:
    """The table for a terminal: ``*`` marks the best row, ``-`` a value the experiment does not have."""
    header = ["", "experiment", *table.params, *table.metrics, "session", "state"]
    body = [["*" if r.best else "", r.experiment, *(_cell(r.params.get(p)) for p in table.params),
             *(_cell(r.metrics.get(m)) for m in table.metrics), r.session or "-", r.state] for r in table.rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *body]]
    if table.metric:
        order = "lowest" if table.minimize else "highest"
        lines.append(f"sorted by {table.metric}, {order} first; * best")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
