"""What several commands share: the ``--root``, ``--json`` and ``--notebook`` arguments, argument types whose
bad value is a usage error, and ``open_project``, the one place a command finds its project and journal."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from jupyter_mlops.errors import BadInput
from jupyter_mlops.journal import Journal
from jupyter_mlops.project import find_root, journal_path, notebook_key

T = TypeVar("T")

Subparsers = argparse._SubParsersAction


def argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` (an ``inputs`` check) as an argparse ``type=``: its BadInput becomes argparse's usage error
    (exit 2)."""
    def parsed(value: str) -> T:
        try:
            return parse(value)
        except BadInput as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
    parsed.__name__ = getattr(parse, "__name__", "value")
    return parsed


def add_root(parser: argparse.ArgumentParser, near: str = "cwd") -> None:
    """``--root``; without it the project is the git root of ``near`` (what the command is given, or cwd)."""
    parser.add_argument("--root", help=f"project root (default: the git root of {near})")


def add_json(parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def add_notebook(parser: argparse.ArgumentParser) -> None:
    """``--notebook``: which notebook ``latest`` (and ``latest~N``) means."""
    parser.add_argument("--notebook", help="'latest' means this notebook's latest session")


@dataclass(frozen=True)
class Project:
    """The project a command works on: its root, and the journal there when the command asks for it."""

    root: Path

    @property
    def journal_path(self) -> Path:
        return journal_path(self.root)

    def journal(self) -> Journal:
        """The project's journal; a JournalError (exit 2, with what to do) when there is none."""
        return Journal(self.journal_path, create=False)

    def notebook_key(self, notebook: str | None) -> str | None:
        """``--notebook`` (or a notebook argument) as the journal names it; None when not given."""
        return notebook_key(notebook, self.root) if notebook else None


def open_project(args: argparse.Namespace, near: Path | None = None) -> Project:
    """The project of ``--root`` when given (for commands that have it), else the git root of ``near``
    (the notebook's folder, by default the working directory)."""
    root = getattr(args, "root", None)
    return Project(Path(root).resolve() if root else find_root(near or Path.cwd()))
