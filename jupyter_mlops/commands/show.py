"""``jupyter mlops show RUN``: one session in full; ``show --model NAME@ALIAS``: where a registered model
version came from (``sinks/registration.py``)."""

from __future__ import annotations

import argparse

from jupyter_mlops import strict_json
from jupyter_mlops.commands.arguments import Subparsers, add_json, add_root, open_project
from jupyter_mlops.errors import BadInput
from jupyter_mlops.report import render_session


def register(sub: Subparsers) -> None:
    show = sub.add_parser("show", help="one session in full")
    show.add_argument("run", nargs="?", help="session id, a unique prefix of it, or 'latest'")
    show.add_argument("--model", metavar="NAME@ALIAS", help="a registered model version instead (NAME@alias, "
                                                            "NAME/VERSION, NAME): where it came from")
    add_json(show)
    add_root(show)
    show.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    project = open_project(args)
    if args.model:
        from jupyter_mlops.sinks.mlflow_registry import render
        from jupyter_mlops.sinks.registration import model_lineage

        registered = model_lineage(project.root, args.model)
        print(strict_json.dumps(registered.to_dict(), indent=2) if args.json else render(registered))
        return 0
    if args.run is None:
        raise BadInput("show needs a session (RUN) or --model NAME@alias")
    journal = project.journal()
    detail = journal.session_detail(journal.find_session(args.run))
    print(strict_json.dumps(detail, indent=2) if args.json else render_session(detail, full=True))
    return 0
