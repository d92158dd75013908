"""``params.yaml``: the notebook's parameter values, merged without losing the user's. Pure (text in, text out).

A key the file already has with another value was changed there on purpose (by hand, by ``dvc exp run -S``
and kept): it stays unless ``--force``. New keys are appended; comments and order survive a ruamel
round-trip.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML, YAMLError

from jupyter_mlops.errors import BadInput


@dataclass(frozen=True)
class ParamsMerge:
    text: str
    kept: dict[str, tuple[Any, Any]]   # name → (value in params.yaml, value in the notebook), not overwritten
    skipped: tuple[str, ...]           # values YAML cannot hold (sets, bytes, complex)


def merge_params(existing: str | None, values: Mapping[str, Any], *, force: bool) -> ParamsMerge:
    yaml = YAML()
    yaml.width = 4096
    try:
        doc = yaml.load(existing) if existing and existing.strip() else None
    except YAMLError as exc:
        raise BadInput(f"params.yaml is not valid YAML ({str(exc).splitlines()[0]})",
                       hint="fix it, then export again") from exc
    if doc is None:
        doc = yaml.load("{}")
    if not isinstance(doc, dict):
        raise BadInput("params.yaml is not a mapping of names to values", hint="fix it, then export again")
    kept: dict[str, tuple[Any, Any]] = {}
    skipped: list[str] = []
    for name, value in values.items():
        plain = _yamlable(value)
        if plain is _UNREPRESENTABLE:
            skipped.append(name)
        elif name not in doc:
            doc[name] = plain
        elif not _same(doc[name], plain):
            if force:
                doc[name] = plain
            else:
                kept[name] = (_plain(doc[name]), plain)
    out = io.StringIO()
    yaml.dump(doc, out)
    return ParamsMerge(out.getvalue(), kept, tuple(skipped))


def param_values(text: str) -> dict[str, Any]:
    """The values a ``params.yaml`` holds, as plain Python (what papermill injects from it)."""
    try:
        doc = YAML(typ="safe").load(text) if text.strip() else None
    except YAMLError as exc:
        raise BadInput(f"params.yaml is not valid YAML ({str(exc).splitlines()[0]})",
                       hint="fix it, then try again") from exc
    return dict(doc) if isinstance(doc, dict) else {}


_UNREPRESENTABLE = object()


def _yamlable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = [_yamlable(v) for v in value]
        return _UNREPRESENTABLE if any(i is _UNREPRESENTABLE for i in items) else items
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        items = {k: _yamlable(v) for k, v in value.items()}
        return _UNREPRESENTABLE if any(i is _UNREPRESENTABLE for i in items.values()) else items
    return _UNREPRESENTABLE


def _plain(value: Any) -> Any:
    """ruamel's commented containers and scalar subclasses as plain Python, for comparing and messages."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal as YAML values: 100 equals 100.0, but true is not 1."""
    a = _plain(a)
    return a == b and isinstance(a, bool) == isinstance(b, bool)
