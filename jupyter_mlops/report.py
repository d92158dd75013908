"""Journal sessions as text a person reads in a terminal (``jupyter mlops runs`` / ``show``)."""

from __future__ import annotations

import time

from jupyter_mlops.journal import latest_values


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def first_line(code: str, width: int = 48) -> str:
    """A cell's first non-blank line, cut to ``width`` with an ellipsis."""
    line = next((ln.strip() for ln in code.splitlines() if ln.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


RUNS_SHOWN = 12
"""Cell runs ``jupyter mlops runs`` lists per session (the latest); ``show`` lists them all."""


def render_session(s: dict, *, full: bool, previous: dict | None = None) -> str:
    """``s`` is a journal session detail; without ``full`` it needs only the latest RUNS_SHOWN cell runs."""
    runs = s["cell_runs"]
    verdict = "" if not runs or runs[-1]["reproducible"] is None else (
        " · reproducible" if runs[-1]["reproducible"] else " · NOT reproducible")
    lines = [
        f"session {s['id']}  {s['experiment'] or '-'}  {s['notebook'] or '(notebook not known)'}  "
        f"{_when(s['started_at'])}  {s['state']}  {s['cells']} cells, {s['errors']} errors{verdict}"
    ]
    params = latest_values(s["params"])
    if params:
        before = latest_values(previous["params"]) if previous else {}
        shown = []
        for name, value in params.items():
            changed = name in before and before[name] != value
            shown.append(f"{name}={value!r}" + (f" (was {before[name]!r})" if changed else ""))
        lines.append("  params   " + ", ".join(shown))
    metrics = s["metrics"] if full else list(
        {m["name"]: m for m in s["metrics"]}.values())
    for m in metrics:
        step = f" step {m['step']}" if m["step"] is not None else ""
        flag = "" if m["reproducible"] in (None, True) else "  (state not reproducible)"
        value = "NaN" if m["value"] is None else f"{m['value']:.6g}"
        lines.append(f"  metric   {m['name']} = {value}{step}  (cell #{m['seq'] or '-'}, {m['source']}){flag}")
    # `runs` shows each file's latest access, as it shows each metric's latest value: a 10,000-cell session
    # that rewrote one file in every cell is one line, not 10,000
    files = s["files"] if full else list({(f["path"], f["mode"]): f for f in s["files"]}.values())
    for f in files:
        digest = "hashing…" if f["pending"] else (f["md5"] or f"not hashed: {f['error']}")
        where = f"cell #{f['seq']}" if f["seq"] else "session"
        lines.append(f"  {f['mode']:<8} {f['path']}  md5 {digest}  {_size(f['size'])}  ({where})")
    shown_runs = runs if full else runs[-RUNS_SHOWN:]
    if len(shown_runs) < s["cells"]:
        lines.append(f"  … {s['cells'] - len(shown_runs)} earlier cell runs (jupyter mlops show {s['id']})")
    for r in shown_runs:
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r['error'] or ''}"[:60]
        lines.append(
            f"  #{r['seq']:<3} [{r['execution_count'] or ' '}] {r['cell_id'][:12]:<12} {r['duration'] * 1000:8.1f} ms"
            f"  {status:<4}  {first_line(r['code'])}"
        )
        if full:
            lines += [f"        ✗ {i['kind']}: {i['message']} → {i['fix']}" for i in r["issues"]]
    return "\n".join(lines)


def render_sessions(sessions: list[dict]) -> str:
    """Every session, oldest first; params that changed since the same notebook's previous session say so."""
    blocks = []
    previous: dict[str | None, dict] = {}
    for s in sessions:
        blocks.append(render_session(s, full=False, previous=previous.get(s["notebook"])))
        previous[s["notebook"]] = s
    return "\n\n".join(blocks)
