"""``jupyter mlops check NOTEBOOK``: is the saved notebook reproducible? For CI and code review.

With a journal, the latest tracked session of the notebook is replayed through the detector against the
notebook as saved now (cells edited or deleted since the last run count); that is the precise answer.
Without one, the saved execution counts are all there is (``jupyter_mlops.check``). A notebook with
neither (no code cell has an execution count, no tracked session) was never run: nothing says it
reproduces, so it gets its own answer rather than a "reproducible" nobody checked.
Exit 0 reproducible, 1 not, 2 bad input, 3 never run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jupyter_mlops.certificate import INJECTED_KEY, certificate_of, injected_note, problems
from jupyter_mlops.check import check_saved_notebook, replay
from jupyter_mlops.core.notebook import Notebook, read_notebook
from jupyter_mlops.core.order import Verdict
from jupyter_mlops.journal import Journal
from jupyter_mlops.project import find_root, journal_path

EXIT_REPRODUCIBLE, EXIT_NOT_REPRODUCIBLE, EXIT_NEVER_RUN = 0, 1, 3  # 2, bad input, is the CLI's own
NEVER_RUN = "never run: no code cell has an execution count and no session of it is tracked"


def check_notebook(path: Path, root: Path | None = None) -> tuple[Verdict | None, str]:
    """The verdict and where it came from ("journal session …" or "saved execution counts"); no verdict
    for a notebook that was never run."""
    return _judged(read_notebook(path), path, root)


def _judged(notebook: Notebook, path: Path, root: Path | None) -> tuple[Verdict | None, str]:
    base = root or find_root(path.parent)
    journal_file = journal_path(base)
    if journal_file.exists():
        journal = Journal(journal_file, create=False)
        try:
            key = path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            key = str(path.resolve())
        sessions = journal.sessions(key)
        if sessions:
            detail = journal.session_detail(sessions[-1]["id"])
            if detail["cell_runs"]:
                return replay(detail, notebook.code_cells), f"journal session {detail['id']}"
    code = notebook.code_cells
    if code and all(c.execution_count is None for c in code):
        return None, NEVER_RUN
    return check_saved_notebook(notebook.cells), "saved execution counts (no tracked session of this notebook)"


def cmd_check(args: argparse.Namespace) -> int:
    path = Path(args.notebook)
    root = Path(args.root).resolve() if args.root else None
    notebook = read_notebook(path)
    certificate = certificate_of(notebook)
    if certificate is not None:
        return _check_certificate(args, notebook, root or find_root(path.resolve().parent), certificate)
    verdict, source = _judged(notebook, path, root)
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


def register(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser("check", help="is the saved notebook reproducible? exit 0 yes, 1 no, 2 bad input, "
                                                "3 never run")
    check.add_argument("notebook", help="the .ipynb to check")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("--root", help="project root (default: the git root of the notebook)")
    check.set_defaults(func=cmd_check)
