"""How params and metrics found in the kernel become journal values.

Params must survive JSON and must not leak secrets (``core/redact.py`` says which names and shapes are
secret); metrics are numbers, and anything else is refused with a reason the session turns into one warning.
"""

from __future__ import annotations

import ast
import math
import numbers
import reprlib
from typing import Any

from jupyter_mlops.core.redact import REDACTED, Redactor

_MAX_DEPTH = 5
_REPR = reprlib.Repr()
_REPR.maxother = _REPR.maxstring = 200
_DEFAULT = Redactor()


def param_value(name: str, value: Any, redactor: Redactor = _DEFAULT, _depth: int = 0) -> Any:
    """A JSON-safe form of a param's value: redacted when its name looks like a secret (and the value
    remembered by ``redactor``, which masks it wherever the session meets it again), a string's secret
    shapes masked (a URL's password).

    Never raises: a param is the user's object, and a failing ``__repr__`` or a list that contains itself
    must cost the param its detail, not the cell its record.
    """
    if redactor.is_secret(name):
        redactor.learn(value)
        return REDACTED
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        as_float = float(value)
        return as_float if math.isfinite(as_float) else repr(as_float)
    if isinstance(value, (list, tuple)) and len(value) <= 100 and _depth < _MAX_DEPTH:
        return [param_value("", v, redactor, _depth + 1) for v in value]
    if isinstance(value, dict) and len(value) <= 100 and _depth < _MAX_DEPTH:
        keys = [k if isinstance(k, str) else _short_repr(k) for k in value]
        return {k: param_value(k, v, redactor, _depth + 1) for k, v in zip(keys, value.values(), strict=True)}
    return redactor.text(_short_repr(value))


def _short_repr(value: Any) -> str:
    """``repr`` cut to 200 characters; reprlib stops early in long containers, so a huge list costs little."""
    try:
        text = _REPR.repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} whose repr() failed: {type(exc).__name__}>"
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
