"""``jupyter mlops register [SESSION] --name NAME``: the model a tracked session wrote as a new version in
MLflow's Model Registry, behind the gate (reproducible, verified) of ``sinks/registration.py``."""

from __future__ import annotations

import argparse

from jupyter_mlops import inputs, strict_json
from jupyter_mlops.commands.arguments import Subparsers, add_json, add_notebook, add_root, argument, open_project
from jupyter_mlops.sinks.registration import register_model


def register(sub: Subparsers) -> None:
    reg = sub.add_parser("register", help="register the model a tracked session wrote in MLflow's Model "
                                          "Registry (refused unless reproducible and verified)")
    reg.add_argument("session", nargs="?", default="latest", metavar="SESSION",
                     help="session id, unique prefix, 'latest' (default), 'latest~N', or a git revision")
    reg.add_argument("--name", required=True, type=argument(inputs.model_name),
                     help="the registered model's name, e.g. churn")
    reg.add_argument("--model", metavar="PATH",
                     help="the model file or folder the session wrote (default: its only one)")
    reg.add_argument("--alias", action="append", default=[], metavar="ALIAS", type=argument(inputs.alias),
                     help="point this alias at the new version, e.g. candidate (repeatable)")
    reg.add_argument("--allow-unverified", action="store_true",
                     help="register without a passing `jupyter mlops verify` (recorded in the version's tags)")
    add_notebook(reg)
    reg.add_argument("--to", metavar="URI",
                     help="tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///<root>/mlflow.db)")
    add_json(reg)
    add_root(reg)
    reg.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jupyter_mlops.sinks.mlflow_registry import render

    project = open_project(args)
    sid, registered = register_model(project.root, args.session, args.name,
                                     notebook=project.notebook_key(args.notebook), model=args.model,
                                     aliases=args.alias, allow_unverified=args.allow_unverified, uri=args.to)
    if args.json:
        print(strict_json.dumps(registered.to_dict(), indent=2))
    else:
        print(f"registered {registered.name} version {registered.version} from session {sid} "
              f"({'models:/' + registered.name + '@' + args.alias[0] if args.alias else 'no alias'})")
        print(render(registered))
    return 0
