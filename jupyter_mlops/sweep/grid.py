"""The combinations a sweep runs: ``-S name=v1,v2`` per param, crossed, or a seeded sample of the cross.

Pure. Values stay the text the user typed (DVC parses ``-S name=value`` itself, as YAML), and are also read
as YAML here, for showing and for the check against ``params.yaml``: only keys it has can be swept, since
papermill passes ``params.yaml`` to the notebook and a new key would be a parameter the notebook ignores.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML, YAMLError

from jupyter_mlops.errors import BadInput


@dataclass(frozen=True)
class Axis:
    """One ``-S`` option: a param (``train.lr`` for a nested one) and the values to try, in order."""

    name: str
    values: tuple[str, ...]


Combination = tuple[tuple[str, str], ...]
"""(param, value as typed) for every axis, in the order of the ``-S`` options."""


def parse_axis(spec: str) -> Axis:
    name, sep, values = spec.partition("=")
    name = name.strip()
    items = tuple(v.strip() for v in values.split(","))
    if not sep or not name or not all(items):
        raise BadInput(f"-S {spec!r}: expected NAME=VALUE[,VALUE…]", hint="e.g. -S 'max_depth=4,6,8'")
    if len(set(items)) != len(items):
        raise BadInput(f"-S {spec!r}: a value is listed twice")
    return Axis(name, items)


def parse_axes(specs: Sequence[str], params: Mapping[str, Any]) -> list[Axis]:
    """The ``-S`` options, checked against the project's ``params.yaml`` (``params``)."""
    if not specs:
        raise BadInput("nothing to sweep", hint="give the values to try, e.g. -S 'max_depth=4,6,8'")
    axes = [parse_axis(s) for s in specs]
    seen: set[str] = set()
    for axis in axes:
        if axis.name in seen:
            raise BadInput(f"-S {axis.name} is given twice", hint="list all its values in one -S, comma-separated")
        seen.add(axis.name)
        if not _has_key(params, axis.name):
            known = ", ".join(sorted(params)) or "none"
            raise BadInput(f"{axis.name} is not a param of params.yaml (it has: {known})",
                           hint="sweep the notebook's parameters (its cell tagged `parameters`)")
    return axes


def combinations(axes: Sequence[Axis], *, sample: int | None = None, seed: int | None = None) -> list[Combination]:
    """Every combination (the grid, first axis slowest), or ``sample`` of them drawn without repetition by a
    generator seeded with ``seed`` (the same seed draws the same sample, in grid order)."""
    names = [a.name for a in axes]
    grid = [tuple(zip(names, values, strict=True)) for values in itertools.product(*(a.values for a in axes))]
    if sample is None:
        return grid
    if not 1 <= sample <= len(grid):
        raise BadInput(f"--random {sample}: the grid has {len(grid)} combinations",
                       hint=f"ask for 1 to {len(grid)}, or leave --random out to run them all")
    chosen = sorted(random.Random(seed).sample(range(len(grid)), sample))
    return [grid[i] for i in chosen]


def typed(value: str) -> Any:
    """A value as typed, read as YAML the way DVC reads it (``4`` is an int, ``0.1`` a float, ``x`` a string)."""
    try:
        return YAML(typ="safe").load(value)
    except YAMLError:
        return value


def _has_key(params: Mapping[str, Any], dotted: str) -> bool:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True
