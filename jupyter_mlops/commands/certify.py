"""``jupyter mlops certify NOTEBOOK``: the latest tracked session's provenance certificate, written into the
notebook (``certificate.py`` builds and writes it; ``check`` verifies it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from jupyter_mlops.certificate import certify, injected_note
from jupyter_mlops.commands.arguments import Subparsers, open_project


def register(sub: Subparsers) -> None:
    certify_cmd = sub.add_parser("certify", help="write the latest reproducible session's provenance certificate "
                                                     "into the notebook (check verifies it without re-running)")
    certify_cmd.add_argument("notebook", help="the tracked .ipynb")
    certify_cmd.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.notebook).resolve()
    certificate, _ = certify(path, open_project(args, path.parent).root)
    files = sum(len(c["reads"]) + len(c["writes"]) for c in certificate["cells"])
    injected = injected_note(certificate)
    print(f"{args.notebook}: certified session {certificate['session']}: {len(certificate['cells'])} cells, "
          f"{files} data files" + (f", commit {certificate['git_commit'][:12]}" if certificate["git_commit"] else "")
          + (f"; run with papermill's parameters {injected}" if injected else ""))
    return 0
