"""``jupyter mlops check NOTEBOOK``: is the saved notebook reproducible? For CI and code review.

The verdict is ``check.py``'s (the latest tracked session replayed against the notebook as saved now, else
the saved execution counts); a certified notebook is checked against its certificate (``certificate.py``)
with no journal and no kernel. Exit 0 reproducible, 1 not, 2 bad input, 3 never run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jupyter_mlops.certificate import INJECTED_KEY, certificate_of, injected_note, problems
from jupyter_mlops.check import judged
from jupyter_mlops.commands.arguments import Subparsers, add_json, add_root, open_project
from jupyter_mlops.core.notebook import Notebook, read_notebook

EXIT_REPRODUCIBLE, EXIT_NOT_REPRODUCIBLE, EXIT_NEVER_RUN = 0, 1, 3  # 2, bad input, is main's own


def register(sub: Subparsers) -> None:
    check = sub.add_parser("check", help="is the saved notebook reproducible? exit 0 yes, 1 no, 2 bad input, "
                                         "3 never run")
    check.add_argument("notebook", help="the .ipynb to check")
    add_json(check)
    add_root(check, "the notebook")
    check.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.notebook)
    notebook = read_notebook(path)
    project = open_project(args, path.resolve().parent)
    certificate = certificate_of(notebook)
    if certificate is not None:
        return _check_certificate(args, notebook, project.root, certificate)
    verdict, source = judged(notebook, path, project.root)
    if verdict is None:
        if args.json:
            print(json.dumps({"reproducible": None, "never_run": True, "issues": [], "source": source}, indent=2))
        else:
            print(f"{args.notebook}: {source}; run it top to bottom (tracked, to be precise), then check")
        return EXIT_NEVER_RUN
    if args.json:
        print(json.dumps(verdict.to_dict() | {"never_run": False, "source": source}, indent=2))
    elif verdict.reproducible:
        print(f"{args.notebook}: reproducible ({source})")
    else:
        print(f"{args.notebook}: NOT reproducible ({source})")
        for issue in verdict.issues:
            print(f"  ✗ {issue.kind}: {issue.message} → {issue.fix}")
    return EXIT_REPRODUCIBLE if verdict.reproducible else EXIT_NOT_REPRODUCIBLE


def _check_certificate(args: argparse.Namespace, notebook: Notebook, root: Path, certificate: dict) -> int:
    """A certified notebook is checked against its certificate: no journal and no kernel needed."""
    found = problems(notebook, root, certificate)
    source = f"certificate of session {certificate.get('session')}"
    injected = injected_note(certificate)
    if args.json:
        print(json.dumps({"reproducible": not found, "never_run": False, "certified": True, "problems": found,
                          "source": source, "injected_parameters": certificate.get(INJECTED_KEY)}, indent=2))
    elif not found:
        cells = certificate.get("cells") or []
        files = sum(len(c.get("reads") or {}) + len(c.get("writes") or {}) for c in cells)
        print(f"{args.notebook}: reproducible ({source}: {len(cells)} cells and {files} data files match"
              + (f"; run with papermill's parameters {injected}" if injected else "") + ")")
    else:
        print(f"{args.notebook}: NOT reproducible ({source} no longer holds)")
        for problem in found:
            print(f"  ✗ {problem}")
    return EXIT_NOT_REPRODUCIBLE if found else EXIT_REPRODUCIBLE
