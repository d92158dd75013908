"""How params and metrics found in the kernel become journal values.

Params must survive JSON and must not leak secrets; metrics are numbers, and anything else is refused
with a reason the session turns into one warning.
"""

from __future__ import annotations

import ast
import math
import numbers
import re
from typing import Any

REDACTED = "***redacted***"
_SECRET_NAME = re.compile(r"(token|passw|secret|api_?key|access_?key|private_?key|credential|^key$|_key$)", re.I)
_PAPERMILL_HEADER = re.compile(r"^\s*#\s*Parameters\s*$", re.M)


def looks_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def param_value(name: str, value: Any) -> Any:
    """A JSON-safe form of a param's value, redacted when its name looks like a secret."""
    if looks_secret(name):
        return REDACTED
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        as_float = float(value)
        return as_float if math.isfinite(as_float) else repr(as_float)
    if isinstance(value, (list, tuple)) and len(value) <= 100:
        return [param_value("", v) for v in value]
    if isinstance(value, dict) and len(value) <= 100:
        return {str(k): param_value(str(k), v) for k, v in value.items()}
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def metric_value(value: Any) -> float:
    """The metric as a float; raises TypeError saying why when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        # numpy scalars register as numbers.Real; 0-d arrays and tensors expose .item()
        item = getattr(value, "item", None)
        if callable(item) and getattr(value, "ndim", None) == 0:
            return metric_value(item())
        raise TypeError(f"a metric must be a number, not {type(value).__name__}")
    return float(value)


def assigned_names(code: str) -> list[str]:
    """Top-level names a parameters cell assigns, in order (``lr = 0.1``, ``a, b = 1, 2``, ``x: int = 3``)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else []
        )
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name) and leaf.id not in names:
                    names.append(leaf.id)
    return names


def is_papermill_parameters(code: str) -> bool:
    """Papermill writes its injected cell with a ``# Parameters`` header; the kernel never sees tags."""
    return bool(_PAPERMILL_HEADER.search(code))
