"""``jupyter mlops drift``: has the data moved? Two sessions' inputs, or a file against a model's training data.

``drift [A [B]]`` compares the profiles of the inputs session B read (default: the latest) with those of
session A (default: the one before B), matched by path (``frame:NAME`` for ``--profile`` frames).
``drift --model NAME@ALIAS FILE`` (or ``NAME/VERSION``) profiles FILE now and compares it with the training
data of the session the registered model version came from: the version's ``mlops.session_id`` tag (else
the ``mlops.session`` tag of its run), read through MLflow's client in this process. The training input is
the one of the same path, else the one sharing most columns. ``drift --model NAME@ALIAS --live URL_OR_DIR``
compares the live window of a ``jupyter mlops serve`` server of that version (its URL, or the folder its
window is saved in) instead, each model input matched to the training data as the server matches it
(``serving/reference.py``: one-hot indicators against their category's frequency).

Profiles the profiler has not made yet are waited for (``--wait``); with no profiler running they are made
here. Exit 0 without drift, 1 when an input drifts (so a scheduled job can watch a new batch), 2 for bad
input. Thresholds and the PSI are explained in ``drift.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from jupyter_mlops import strict_json
from jupyter_mlops.errors import BadInput, NotFound
from jupyter_mlops.journal import Journal
from jupyter_mlops.monitor import drift, is_tabular, profiler
from jupyter_mlops.project import find_root, journal_path
from jupyter_mlops.session_ref import resolve_session


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("drift", help="data drift per column (PSI) between two sessions' inputs, or a file "
                                            "against a registered model's training data; exit 1 on drift")
    p.add_argument("refs", nargs="*", metavar="A B",
                   help="sessions (id, prefix, latest~N, git revision; default latest~1 latest); with --model: FILE")
    p.add_argument("--model", metavar="NAME@ALIAS", help="compare FILE with this registered model's training data "
                                                         "(NAME@alias or NAME/version)")
    p.add_argument("--live", metavar="URL_OR_DIR", help="with --model: the live traffic of `jupyter mlops serve` "
                                                        "(its URL, or the project or .mlops/serving folder) instead "
                                                        "of a FILE")
    p.add_argument("--notebook", help="'latest' means this notebook's latest session")
    p.add_argument("--wait", type=float, default=60.0, metavar="S",
                   help="seconds to wait for profiles still being made (default 60)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--root", help="project root (default: the git root of cwd)")
    p.set_defaults(func=cmd_drift)


def cmd_drift(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve() if args.root else find_root(Path.cwd())
    journal = Journal(journal_path(root), create=False)
    try:
        if args.live:
            if not args.model or args.refs:
                raise BadInput("drift --live compares a served model's traffic: give --model NAME@ALIAS and no "
                               "FILE", hint="jupyter mlops drift --model churn@candidate --live http://127.0.0.1:5001")
            report = _live_drift(journal, root, args.model, args.live, args.wait)
        elif args.model:
            if len(args.refs) != 1:
                raise BadInput("drift --model NAME@ALIAS takes one FILE", hint="jupyter mlops drift --model churn@prod "
                               "data/new_batch.csv")
            report = _model_drift(journal, root, args.model, Path(args.refs[0]), args.wait)
        else:
            if len(args.refs) > 2:
                raise BadInput("drift takes at most two sessions", hint="jupyter mlops drift latest~1 latest")
            report = _session_drift(journal, root, args, args.wait)
    finally:
        journal.close()
    print(strict_json.dumps(report, indent=2) if args.json else render(report))
    return 1 if report["verdict"] == drift.DRIFT else 0


def _session_drift(journal: Journal, root: Path, args: argparse.Namespace, wait: float) -> dict[str, Any]:
    from jupyter_mlops.cli import notebook_key  # the one reading of --notebook (cli imports this module)

    key = notebook_key(args.notebook, root) if args.notebook else None
    refs = list(args.refs)
    current_ref = refs[1] if len(refs) == 2 else "latest"
    current = resolve_session(journal, root, key, current_ref)
    reference = resolve_session(journal, root, key, refs[0]) if refs else _previous(journal, current, key)
    profiles = [profiler.settled_profiles(journal, root, sid, wait) for sid in (reference, current)]
    inputs = drift.compare_sessions(*profiles)
    return _report({"session": reference}, {"session": current}, inputs)


def _previous(journal: Journal, session_id: str, notebook: str | None) -> str:
    """The session before ``session_id`` (of the same notebook when one is named, or when it has one)."""
    sessions = journal.sessions()
    mine = next(s for s in sessions if s["id"] == session_id)
    scope = notebook or mine["notebook"]
    earlier = [s["id"] for s in sessions if s["started_at"] < mine["started_at"]
               and (scope is None or s["notebook"] == scope)]
    if not earlier:
        raise NotFound(f"no session before {session_id} to compare with",
                       hint="name both: jupyter mlops drift A B (`jupyter mlops runs` lists them)")
    return earlier[-1]


def _model_drift(journal: Journal, root: Path, model: str, file: Path, wait: float) -> dict[str, Any]:
    from jupyter_mlops.monitor.tables import NotTabular, profile_file

    session_id, version = _model_session(root, model)
    training = drift.inputs_of(profiler.settled_profiles(journal, root, journal.find_session(session_id), wait))
    training = {name: entry for name, entry in training.items() if not name.startswith("frame:")}
    if not training:
        raise NotFound(f"the session {session_id} that trained {model} read no tabular data file",
                       hint="drift --model compares with the CSV or parquet files the training notebook read")
    path = file.resolve()
    if not path.is_file() or not is_tabular(path.name):
        raise BadInput(f"{file}: not a CSV or parquet file")
    try:
        current = {"profile": profile_file(path)}
    except NotTabular as exc:
        raise BadInput(str(exc)) from exc
    name = _training_input(training, path, root, current["profile"])
    inputs = [drift.compare_inputs(training[name], current, reference_name=name, current_name=str(file))]
    return _report({"model": model, "version": version, "session": session_id}, {"file": str(file)}, inputs)


def _live_drift(journal: Journal, root: Path, model: str, source: str, wait: float) -> dict[str, Any]:
    from jupyter_mlops.serving import live, reference

    session_id, version = _model_session(root, model)
    name = model.split("@")[0].split("/")[0]
    window = live.read(source, name, version)
    training = drift.inputs_of(profiler.settled_profiles(journal, root, journal.find_session(session_id), wait))
    inputs = [f["name"] for f in window.profile["fields"]]
    ref = reference.build(inputs, training, session_id)
    result = ref.compare(window.profile, current_name=f"live traffic ({window.source})")
    return _report({"model": model, "version": version, "session": session_id},
                   {"live": window.source, "rows": window.window_rows, "sample": window.sample_rows}, [result])


def _model_session(root: Path, model: str) -> tuple[str, str]:
    """The session id a registered model version came from, and the version: MLflow asked here, in the CLI.

    ``register`` tags the version with its session; a version registered some other way from a tracked run
    still names it through that run's tag."""
    from jupyter_mlops.sinks import mlflow_registry, tracking_uri
    from jupyter_mlops.sinks.mlflow_batch import SESSION_TAG

    client = mlflow_registry.MlflowClient(tracking_uri=tracking_uri.resolve(root))
    found = mlflow_registry.lineage(client, model)
    session = found.tags.get(SESSION_TAG)
    if not session and found.run_id:
        session = client.get_run(found.run_id).data.tags.get(SESSION_TAG)
    if not session:
        raise NotFound(f"{model} (version {found.version}) names no tracked session",
                       hint="register it from a tracked session: `jupyter mlops register --name NAME`")
    return session, found.version


def _training_input(training: dict[str, dict], path: Path, root: Path, profile: dict) -> str:
    """The training input FILE stands for: the same path, else the one sharing most columns."""
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = None
    if rel in training:
        return rel
    columns = {f["name"] for f in profile["fields"]}

    def shared(name: str) -> int:
        entry = training[name]["profile"]
        return len(columns & {f["name"] for f in entry["fields"]}) if entry else 0

    best = max(training, key=shared)
    if shared(best) == 0:
        raise BadInput(f"{path.name} shares no column with the training data ({', '.join(training)})")
    return best


def _report(reference: dict, current: dict, inputs: list[drift.InputDrift]) -> dict[str, Any]:
    return {
        "reference": reference, "current": current,
        "verdict": drift.worst([i.verdict for i in inputs]),
        "thresholds": {"warn": drift.PSI_WARN, "drift": drift.PSI_DRIFT},
        "inputs": [i.to_dict() for i in inputs],
    }


def render(report: dict[str, Any]) -> str:
    """The report as a table per input, for people."""
    def side(s: dict) -> str:
        if "model" in s:
            return f"model {s['model']} (version {s['version']}, session {s['session'][:12]})"
        if "live" in s:
            return f"the live window of {s['live']} (the last {s['rows']} rows, a sample of {s['sample']})"
        return f"session {s['session'][:12]}" if "session" in s else s["file"]

    lines = [f"drift: {report['verdict']} — {side(report['current'])} against {side(report['reference'])} "
             f"(PSI ≥ {report['thresholds']['drift']} drift, ≥ {report['thresholds']['warn']} warn)"]
    if not report["inputs"]:
        lines.append("  no tabular input on either side")
    for item in report["inputs"]:
        name = item["current"] if item["current"] == item["reference"] else f"{item['current']} vs {item['reference']}"
        lines.append("")
        lines.append(f"{name}: {item['verdict']}" + (f" ({item['note']})" if item["note"] else ""))
        if not item["columns"]:
            continue
        width = max(len("column"), *(len(c["name"]) for c in item["columns"]))
        lines.append(f"  {'column':<{width}}  {'kind':<8}  {'psi':>7}  verdict")
        for c in item["columns"]:
            psi = "" if c["psi"] is None else f"{c['psi']:.3f}"
            note = f"  {c['note']}" if c["note"] else ""
            lines.append(f"  {c['name']:<{width}}  {c['kind']:<8}  {psi:>7}  {c['verdict']}{note}")
    return "\n".join(lines)
