"""The errors a user can meet, in one leaf module every layer raises from (it imports nothing of ours).

An error says what is wrong (``message``) and what to do about it (``hint``). The CLI and the JupyterLab
panel offer different things — flags such as ``--force`` on one side, buttons and the files themselves on
the other — so an error may carry a ``panel_hint`` that replaces the hint in the panel; without one the
hint applies to both. A hint that names a command-line flag must come with a ``panel_hint``.

The class says what the error means, and with it the HTTP status and the exit code. Two places turn an
error into output: ``commands/main.main`` (message and hint on stderr, ``exit_code``) and
``server.handlers.refusal`` (``status`` and the JSON body). Anything that is not an ``MlopsError`` is a bug
of ours: a traceback in the CLI, a logged 500 in the server.
"""

from __future__ import annotations


class MlopsError(Exception):
    """Base of the errors a user causes; raise a subclass, which says what kind of error it is."""

    status: int = 500     # the HTTP status the server answers with
    exit_code: int = 2    # the CLI's exit code: 2 is "your input cannot be used", as for argparse

    def __init__(self, message: str, *, hint: str | None = None, panel_hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.panel_hint = panel_hint if panel_hint is not None else hint


class BadInput(MlopsError):
    """The input cannot be used as given: a bad argument, a corrupt notebook or YAML file, stage tags that
    cannot make a pipeline."""

    status = 400


class NotFound(MlopsError):
    """What the request names does not exist: a notebook, a session, a tracked run to compare with."""

    status = 404


class Conflict(MlopsError):
    """What is on disk stands in the way: a journal from a newer version or damaged, a file that is the
    user's own."""

    status = 409


class Refused(Conflict):
    """Export declines to overwrite the user's own work (a hand-edited ``dvc.yaml`` stage, a file in the way
    of a stage notebook) or to export a state that is not reproducible. A negative answer, like a failed
    check: exit 1, not 2."""

    exit_code = 1


def one_line(exc: BaseException, limit: int = 300) -> str:
    """A foreign exception (MLflow's, a library's) as one short line for a warning or a note: its type and
    the first line of its message, which for MLflow is often followed by a page of server response."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:limit]
