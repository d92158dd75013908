"""JSON that every parser reads: the journal may hold an infinite metric, which plain ``json`` writes as
``Infinity`` (valid for Python, refused by browsers and ``jq``). Such values are written as strings."""

from __future__ import annotations

import json
import math
from typing import Any


def dumps(value: Any, **kwargs: Any) -> str:
    try:
        return json.dumps(value, default=str, allow_nan=False, **kwargs)
    except ValueError:
        return json.dumps(_finite(value), default=str, allow_nan=False, **kwargs)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
