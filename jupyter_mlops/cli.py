"""``jupyter mlops …``: read the journal from the command line (one dispatch module, like nbdime's).

Exit codes: 0 success, 1 a negative answer (``check``, ``verify``, an export refused), 2 bad input (missing
journal, bad argument, a journal from a newer version). :func:`main` is where an :class:`MlopsError` becomes
what the user reads: its message, the hint on the next line, its exit code; anything else is our bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from jupyter_mlops import inputs, strict_json
from jupyter_mlops.errors import BadInput, MlopsError
from jupyter_mlops.journal import Journal
from jupyter_mlops.project import find_root, journal_path
from jupyter_mlops.report import RUNS_SHOWN, render_session, render_sessions
from jupyter_mlops.session_diff import diff_sessions, render_markdown, render_text
from jupyter_mlops.session_ref import resolve_session


def _open_journal(root: str | None, near: Path) -> Journal:
    base = Path(root).resolve() if root else find_root(near)
    return Journal(journal_path(base), create=False)


def notebook_key(notebook: str, root: Path) -> str:
    path = Path(notebook).resolve()
    if path.suffix != ".ipynb":
        raise BadInput(f"{notebook}: expected a .ipynb notebook path")
    try:
        return path.relative_to(root).as_posix()
    except ValueError as exc:
        raise BadInput(f"{notebook} is outside the project root {root}") from exc


def cmd_runs(args: argparse.Namespace) -> int:
    near = Path(args.notebook).resolve().parent if args.notebook else Path.cwd()
    journal = _open_journal(args.root, near)
    root = journal.path.parent.parent
    key = notebook_key(args.notebook, root) if args.notebook else None
    limit = None if args.json else RUNS_SHOWN  # a 10,000-cell session costs what its last cells cost
    chosen = [s for s in journal.sessions(key) if args.sweep is None or s["options"].get("sweep") == args.sweep]
    details = [journal.session_detail(s["id"], runs_limit=limit) for s in chosen]
    if args.json:
        print(strict_json.dumps(details, indent=2))
    elif not details:
        print(f"no tracked sessions{' of ' + key if key else ''}{' of ' + args.sweep if args.sweep else ''} "
              f"in {journal.path}")
    else:
        print(render_sessions(details))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    if args.model:
        from jupyter_mlops.sinks.register_cli import cmd_show_model

        return cmd_show_model(args)
    if args.run is None:
        raise BadInput("show needs a session (RUN) or --model NAME@alias")
    journal = _open_journal(args.root, Path.cwd())
    detail = journal.session_detail(journal.find_session(args.run))
    print(strict_json.dumps(detail, indent=2) if args.json else render_session(detail, full=True))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    near = Path(args.notebook).resolve().parent if args.notebook else Path.cwd()
    journal = _open_journal(args.root, near)
    root = journal.path.parent.parent
    key = notebook_key(args.notebook, root) if args.notebook else None
    a, b = (journal.session_detail(resolve_session(journal, root, key, ref)) for ref in (args.a, args.b))
    diff = diff_sessions(a, b)
    if args.json:
        print(strict_json.dumps(diff.to_dict(), indent=2))
    else:
        print(render_markdown(diff) if args.md else render_text(diff), end="\n" if not args.md else "")
    return 0


# Commands that live beside their feature: each module has ``register(subparsers)`` adding its parser(s)
# with ``set_defaults(func=...)``; the func returns the exit code and raises an MlopsError for bad input.
_COMMAND_MODULES: tuple[str, ...] = (
    "jupyter_mlops.check_cli",
    "jupyter_mlops.certificate",
    "jupyter_mlops.export.cli",
    "jupyter_mlops.monitor.drift_cli",
    "jupyter_mlops.pr_report",
    "jupyter_mlops.sinks.sync_cli",
    "jupyter_mlops.sweep.cli",
    "jupyter_mlops.sinks.register_cli",
    "jupyter_mlops.serving.serve_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyter mlops", description="Reproducible notebook experiments.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    runs = sub.add_parser("runs", help="list tracked sessions with their cells, data, params and metrics")
    runs.add_argument("notebook", nargs="?", help="only the sessions of this notebook")
    runs.add_argument("--json", action="store_true", help="machine-readable output")
    runs.add_argument("--sweep", metavar="SWEEP", help="only the sessions of this sweep's experiments")
    runs.add_argument("--root", help="project root (default: the git root of the notebook or cwd)")
    runs.set_defaults(func=cmd_runs)

    show = sub.add_parser("show", help="one session in full")
    show.add_argument("run", nargs="?", help="session id, a unique prefix of it, or 'latest'")
    show.add_argument("--model", metavar="NAME@ALIAS", help="a registered model version instead (NAME@alias, "
                                                            "NAME/VERSION, NAME): where it came from")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.add_argument("--root", help="project root (default: the git root of cwd)")
    show.set_defaults(func=cmd_show)

    diff = sub.add_parser("diff", help="what changed between two sessions: params, metrics, data, code, verdict")
    diff.add_argument("a", help="session id, unique prefix, 'latest', 'latest~N' (the N-th before the latest), or a "
                                "git revision (the session that ran at that commit)")
    diff.add_argument("b", nargs="?", default="latest", help="the other session (default: latest)")
    diff.add_argument("--notebook", help="'latest' means this notebook's latest session")
    output = diff.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="machine-readable output")
    output.add_argument("--md", action="store_true", help="Markdown tables, for a pull request")
    diff.add_argument("--root", help="project root (default: the git root of the notebook or cwd)")
    diff.set_defaults(func=cmd_diff)
    for module in _COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_text(args)
        return int(args.func(args))
    except MlopsError as exc:
        print(f"jupyter mlops {args.command}: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code


def _check_text(args: argparse.Namespace) -> None:
    """Every text argument is text UTF-8 can hold: a path that was not UTF-8 on the command line arrives as
    lone surrogates, which the journal, YAML and JSON cannot store."""
    for name, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                inputs.text(item, name.replace("_", "-"), empty=True)


if __name__ == "__main__":
    sys.exit(main())
