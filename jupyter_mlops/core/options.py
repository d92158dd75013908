"""The options of ``%mlops_track`` and ``jupyter_mlops.track()``: one parser, one validation.

The option set is fixed so that notebooks written today keep working; ``--strict`` and MLflow mirroring
are accepted now and take effect as their features land.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any


class OptionsError(ValueError):
    """Bad options, with a message that says how to write them."""


@dataclass(frozen=True)
class TrackOptions:
    experiment: str | None = None
    notebook: str | None = None
    root: str | None = None
    params: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    profile: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()   # names masked as secrets besides those core/redact.py recognises
    strict: bool = False
    mlflow: bool = True
    off: bool = False
    restart: bool = False  # replace a running session with these options (else a second start joins it)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def session(self) -> TrackOptions:
        """The options a session runs with: what it tracks, not how it was started."""
        return replace(self, restart=False, off=False)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print and sys.exit(), killing nothing useful
        raise OptionsError(f"{message}\n{self.format_usage().strip()}")


def _parser() -> _Parser:
    p = _Parser(prog="%mlops_track", add_help=False, description="Track this notebook's cell runs.")
    p.add_argument("--experiment", metavar="NAME", help="experiment name (default: the notebook's name)")
    p.add_argument("--notebook", metavar="PATH", help="the .ipynb being run, when Jupyter does not say")
    p.add_argument("--root", metavar="DIR", help="project root (default: the git root, else the cwd)")
    p.add_argument("--params", metavar="a,b", default="", help="variables recorded as params")
    p.add_argument("--metrics", metavar="a,b", default="", help="variables logged as metrics on change")
    p.add_argument("--data", metavar="PATH", action="append", default=[], help="data the audit hook misses")
    p.add_argument("--profile", metavar="a,b", default="",
                   help="DataFrames profiled after each cell that binds them (monitoring, drift)")
    p.add_argument("--secret", metavar="a,b", dest="secrets", action="append", default=[],
                   help="variables whose values are secrets (masked in the journal, kept out of params.yaml) "
                        "besides the names that look like one")
    p.add_argument("--strict", action="store_true", help="refuse cells that would use stale state")
    p.add_argument("--no-mlflow", dest="mlflow", action="store_false", help="do not mirror to MLflow")
    p.add_argument("--off", action="store_true", help="stop tracking")
    p.add_argument("--restart", action="store_true",
                   help="end the running session and start a new one with these options")
    return p


USAGE = _parser().format_usage().strip()


def parse_magic_line(line: str) -> TrackOptions:
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise OptionsError(f"cannot read the options ({exc})\n{USAGE}") from exc
    ns = _parser().parse_args(argv)
    return from_mapping(vars(ns))


def _names(value: Any, option: str) -> tuple[str, ...]:
    """Names given as "a,b", or as a list of such (a repeated option, a keyword's list)."""
    items = [value] if isinstance(value, str) else list(value or ())
    names = tuple(dict.fromkeys(n.strip() for item in items for n in str(item).split(",") if n.strip()))
    bad = [n for n in names if not n.isidentifier()]
    if bad:
        raise OptionsError(
            f"--{option} takes variable names separated by commas; not a name: {', '.join(bad)}\n{USAGE}"
        )
    return names


def from_mapping(options: dict[str, Any]) -> TrackOptions:
    """Validate options given as keywords (``track(metrics=["auc"])``) or parsed from the magic line."""
    known = set(TrackOptions.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise OptionsError(f"unknown option(s): {', '.join(unknown)}\n{USAGE}")
    data = options.get("data") or ()
    data = (data,) if isinstance(data, str) else tuple(str(d) for d in data)
    return TrackOptions(
        experiment=options.get("experiment"),
        notebook=options.get("notebook"),
        root=options.get("root"),
        params=_names(options.get("params", ()), "params"),
        metrics=_names(options.get("metrics", ()), "metrics"),
        data=data,
        profile=_names(options.get("profile", ()), "profile"),
        secrets=_names(options.get("secrets", ()), "secret"),
        strict=bool(options.get("strict", False)),
        mlflow=bool(options.get("mlflow", True)),
        off=bool(options.get("off", False)),
        restart=bool(options.get("restart", False)),
    )


class OptionsDiffer(OptionsError):
    """A start with other options than the running session's, without ``--restart``: nothing changes."""


def join_or_restart(running: TrackOptions, requested: TrackOptions, session_id: str) -> bool:
    """Should a start while ``running`` is tracking replace it (True) or join it (False)?

    No options, or the same ones, join: a second view, a re-run tracking cell, "Run All" again. Other
    options replace the session only when ``--restart`` says so; otherwise ``OptionsDiffer`` says what
    would change and how to choose, and the running session goes on untouched.
    """
    if requested.restart:
        return True
    wanted = requested.session
    if wanted == TrackOptions() or wanted == running.session:
        return False
    changes = "; ".join(differences(running.session, wanted))
    raise OptionsDiffer(
        f"tracking session {session_id} is already running with other options ({changes}). Nothing changed: "
        f"run `%mlops_track` (or the same options) to keep it, or `{as_line(replace(wanted, restart=True))}` "
        "to end it and start a new session"
    )


def differences(running: TrackOptions, wanted: TrackOptions) -> list[str]:
    """What starting with ``wanted`` would change, one phrase per option: "--strict (now warn mode)"."""
    out = []
    for name in ("experiment", "notebook", "root", "params", "metrics", "data", "profile", "secrets"):
        now, then = getattr(running, name), getattr(wanted, name)
        if now != then:
            out.append(f"--{_FLAGS.get(name, name)} {_shown(then)} (now {_shown(now)})")
    if running.strict != wanted.strict:
        out.append("--strict (now warn mode)" if wanted.strict else "warn mode (now --strict)")
    if running.mlflow != wanted.mlflow:
        out.append("MLflow mirror on (now --no-mlflow)" if wanted.mlflow else "--no-mlflow (now mirrored)")
    return out


def as_line(options: TrackOptions) -> str:
    """The ``%mlops_track`` line that asks for these options."""
    parts = ["%mlops_track"]
    for name in ("experiment", "notebook", "root"):
        if getattr(options, name) is not None:
            parts.append(f"--{name} {shlex.quote(getattr(options, name))}")
    for name in ("params", "metrics", "profile", "secrets"):
        if getattr(options, name):
            parts.append(f"--{_FLAGS.get(name, name)} {','.join(getattr(options, name))}")
    parts += [f"--data {shlex.quote(d)}" for d in options.data]
    if options.strict:
        parts.append("--strict")
    if not options.mlflow:
        parts.append("--no-mlflow")
    if options.restart:
        parts.append("--restart")
    return " ".join(parts)


_FLAGS = {"secrets": "secret"}  # an option whose flag is not its field's name


def _shown(value: Any) -> str:
    if value is None or value == ():
        return "none"
    return ",".join(value) if isinstance(value, tuple) else str(value)


def check_paths(options: TrackOptions, cwd: Path) -> None:
    """Fail before anything changes when a named file or folder does not exist."""
    if options.root is not None and not (cwd / options.root).is_dir():
        raise OptionsError(f"--root {options.root}: no such folder (give the project's folder)")
    if options.notebook is not None:
        nb = cwd / options.notebook
        if not nb.is_file():
            raise OptionsError(
                f"--notebook {options.notebook}: no such file (give the .ipynb's path from {cwd})"
            )
    missing = [d for d in options.data if not (cwd / d).exists()]
    if missing:
        raise OptionsError(
            f"--data {', '.join(missing)}: not found (paths are relative to {cwd}; create the data first "
            "or fix the path)"
        )
