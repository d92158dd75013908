"""``jupyter mlops``: the one command list, and where an error becomes what the user reads.

Exit codes: 0 success, 1 a negative answer (``check``, ``verify``, an export refused), 2 bad input (missing
journal, bad argument, a journal from a newer version). :func:`main` is where an :class:`MlopsError` becomes
its message, the hint on the next line, and its exit code; anything else is our bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys

from jupyter_mlops import inputs
from jupyter_mlops.commands import (
    certify,
    check,
    diff,
    drift,
    export,
    register,
    report,
    runs,
    serve,
    show,
    sweep,
    sync,
    verify,
)
from jupyter_mlops.errors import MlopsError

# In the order `jupyter mlops --help` lists them. Each module's ``register(subparsers)`` adds its parser with
# ``set_defaults(func=run)``; ``run`` returns the exit code and raises an MlopsError for bad input.
COMMANDS = (runs, show, diff, check, certify, export, verify, drift, report, sync, sweep, register, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyter mlops", description="Reproducible notebook experiments.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
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
