"""``jupyter mlops diff A [B]``: what changed between two sessions (``session_diff.py`` computes it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from jupyter_mlops import strict_json
from jupyter_mlops.commands.arguments import Subparsers, add_json, add_notebook, add_root, open_project
from jupyter_mlops.session_diff import diff_sessions, render_markdown, render_text
from jupyter_mlops.session_ref import resolve_session


def register(sub: Subparsers) -> None:
    diff = sub.add_parser("diff", help="what changed between two sessions: params, metrics, data, code, verdict")
    diff.add_argument("a", help="session id, unique prefix, 'latest', 'latest~N' (the N-th before the latest), or a "
                                "git revision (the session that ran at that commit)")
    diff.add_argument("b", nargs="?", default="latest", help="the other session (default: latest)")
    add_notebook(diff)
    output = diff.add_mutually_exclusive_group()
    add_json(output)
    output.add_argument("--md", action="store_true", help="Markdown tables, for a pull request")
    add_root(diff, "the notebook or cwd")
    diff.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    project = open_project(args, Path(args.notebook).resolve().parent if args.notebook else None)
    journal = project.journal()
    key = project.notebook_key(args.notebook)
    a, b = (journal.session_detail(resolve_session(journal, project.root, key, ref)) for ref in (args.a, args.b))
    diff = diff_sessions(a, b)
    if args.json:
        print(strict_json.dumps(diff.to_dict(), indent=2))
    else:
        print(render_markdown(diff) if args.md else render_text(diff), end="\n" if not args.md else "")
    return 0
