"""The report ``jupyter mlops report NOTEBOOK`` writes: one Markdown file for a pull request, CML-style.

The notebook's latest tracked session against a base (the session before it, another session, or the
session tracked at a git revision, by the commit the journal recorded for it): the verdict with its issues,
the metrics with their deltas, the data that changed, the cells whose code changed, and the gates of
``--expect``, whose result is the exit code, so one CI step writes the file for the pull request and fails
the check. With matplotlib installed, each
metric's history over the notebook's sessions is drawn as a PNG beside the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_mlops.errors import NotFound
from jupyter_mlops.export.compare import Expectation
from jupyter_mlops.journal import Journal, latest_values
from jupyter_mlops.project import find_root, journal_path
from jupyter_mlops.session_diff import SessionDiff, diff_sessions, markdown_table, shown_value
from jupyter_mlops.session_ref import resolve_session


@dataclass(frozen=True)
class Written:
    """What ``write_report`` wrote: the Markdown file, the plots beside it, whether every gate passed."""

    out: Path
    plots: dict[str, Path]
    passed: bool


def write_report(notebook: str | Path, base_ref: str, gates: list[Expectation], out: Path,
                 root: Path | None = None) -> Written:
    """The Markdown report of ``notebook``'s latest session against ``base_ref`` (a session or a git revision),
    written to ``out`` with its plots; ``root``: its project (default: the notebook's git root)."""
    path = Path(notebook).resolve()
    if not path.is_file():
        raise NotFound(f"{notebook}: no such notebook")
    root = root or find_root(path.parent)
    key = path.relative_to(root).as_posix()
    journal = Journal(journal_path(root), create=False)
    try:
        now = journal.session_detail(journal.find_session("latest", notebook=key))
        base = journal.session_detail(resolve_session(journal, root, key, base_ref))
        history = [journal.session_detail(s["id"], runs_limit=1) for s in journal.sessions(key)]
    finally:
        journal.close()
    plots = _plots(history, out)
    text, passed = render(key, diff_sessions(base, now), now, gates, plots, base_ref=base_ref)
    out.write_text(text, encoding="utf-8")
    return Written(out, plots, passed)


def render(notebook: str, diff: SessionDiff, now: dict[str, Any], gates: list[Expectation],
           plots: dict[str, Path], *, base_ref: str) -> tuple[str, bool]:
    """The Markdown, and whether every gate passed."""
    judged = [r for r in now["cell_runs"] if r["reproducible"] is not None]
    issues = judged[-1]["issues"] if judged else []
    if not judged:
        verdict = "**Not judged**: no cell of the latest session was judged"
    elif diff.b.reproducible:
        verdict = "✅ **Reproducible**: a top-to-bottom run in a fresh kernel gives this state"
    else:
        verdict = f"❌ **Not reproducible** ({len(issues)} issue{'s' * (len(issues) != 1)})"
    lines = [f"## jupyter-mlops: `{notebook}`", "",
             f"Session `{diff.b.id}` against `{diff.a.id}` ({base_ref}).", "", verdict, ""]
    lines += [f"- {i['kind']}: {i['message']} → {i['fix']}" for i in issues]
    lines += ["", "### Metrics", "", *markdown_table("metrics", diff.metrics, ("metric", "base", "now", "Δ"))]
    results = [(gate, _latest_value(diff, gate.metric)) for gate in gates]
    if gates:
        lines += ["", "### Gates", "", "| gate | now | |", "|---|---|---|"]
        lines += [f"| `{gate}` | {shown_value(value)} | {'✅' if gate.holds(value) else '❌'} |"
                  for gate, value in results]
    for title, section in (("Data that changed", "files"), ("Params that changed", "params")):
        changed = [r for r in getattr(diff, section) if r.differs]
        if changed:
            lines += ["", f"### {title}", "", *markdown_table(section, changed, ("name", "base", "now", ""))]
    cells = [r.name for r in diff.cells if r.differs]
    lines += ["", f"Cells whose code changed: {len(cells)}" + (f" ({', '.join(cells)})" if cells else "")]
    for metric, image in plots.items():
        lines += ["", f"![{metric} over the sessions of {notebook}]({image.name})"]
    return "\n".join(lines).rstrip() + "\n", all(gate.holds(value) for gate, value in results)


def _latest_value(diff: SessionDiff, metric: str) -> float | None:
    """The latest session's value of ``metric`` (None when it logged none)."""
    row = next((r for r in diff.metrics if r.name == metric), None)
    return row.b if row is not None and isinstance(row.b, (int, float)) else None


def _plots(history: list[dict[str, Any]], out: Path) -> dict[str, Path]:
    """One PNG per metric: its last value in each session of the notebook, oldest first (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    series: dict[str, list[tuple[int, float]]] = {}
    for index, session in enumerate(history):
        for name, value in latest_values(session["metrics"]).items():
            if isinstance(value, (int, float)):
                series.setdefault(name, []).append((index, float(value)))
    images = {}
    for name, points in sorted(series.items()):
        figure, axes = plt.subplots(figsize=(4, 2.5))
        axes.plot([x for x, _ in points], [y for _, y in points], marker="o")
        axes.set_xlabel("session")
        axes.set_title(name)
        figure.tight_layout()
        image = out.with_name(f"{out.stem}-{''.join(c if c.isalnum() else '_' for c in name)}.png")
        figure.savefig(image, dpi=100)
        plt.close(figure)
        images[name] = image
    return images
