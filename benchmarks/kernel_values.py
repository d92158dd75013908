"""Fingerprints of a kernel's user names, so that two kernels (a session and its oracle) can be compared.

Imported *inside* the kernels by ``detector_strict.py`` through a silent request's ``user_expressions``,
so reading them creates no cell run. Values cannot cross processes, digests can: each user name maps to a
digest of what the value is, by the benchmark's rule of equality:

- numbers, strings, bytes, containers: by value; floats to 1 part in 2**30 (about 9 significant digits),
  so NaN equals NaN and the last bits of a sum, which depend on the memory alignment SIMD code sees and
  not on the notebook, do not make two values differ (statsmodels' GLM fit did, between two kernels);
- numpy arrays by dtype, shape and bytes (floats as above); pandas objects by index, columns, dtypes and
  cell hashes (what ``.equals`` compares; float columns as above); random generators
  (``np.random.Generator``, ``RandomState``, ``random.Random``) by their state, since the next draw is
  what a later cell sees;
- scikit-learn estimators by ``get_params()`` plus their fitted attributes (``coef_``, ``classes_`` …);
- modules, functions and classes by what they are (module name; qualified name and compiled code);
- matplotlib figures, axes and artists by what they draw (lines' data, collections' offsets, patches'
  extents, images' arrays, texts), never by object identity;
- other objects with a ``__dict__`` by their class and attributes; values with a meaningful ``__eq__``
  by ``repr``. What remains (identity-only objects without state) is ``None``: not comparable, and
  then only the name's presence counts.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sys
import types
from typing import Any

_HIDDEN = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})
_MAX_DEPTH = 6
_MAX_ITEMS = 20000


class _Opaque(Exception):
    """The value has no comparable content."""


def user_names(ns: dict[str, Any], baseline: frozenset[str] = frozenset()) -> dict[str, str | None]:
    """Each user name (no leading underscore, not IPython's own, not in ``baseline``) → digest or None."""
    out: dict[str, str | None] = {}
    for name, value in list(ns.items()):
        if name.startswith("_") or name in _HIDDEN or name in baseline:
            continue
        out[name] = digest(value)
    return out


def digest(value: Any) -> str | None:
    try:
        parts: list[str] = []
        _feed(value, parts, 0, set())
    except _Opaque:
        return None
    except Exception as exc:  # a value whose inspection fails is compared by its type and the failure
        return f"uninspectable:{type(value).__qualname__}:{type(exc).__name__}"
    return hashlib.md5("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def user_names_json(ns: dict[str, Any], baseline: list[str]) -> str:
    return json.dumps(user_names(ns, frozenset(baseline)))


def _feed(value: Any, out: list[str], depth: int, seen: set[int]) -> None:
    if depth > _MAX_DEPTH:
        raise _Opaque
    kind = type(value)
    out.append(f"<{kind.__module__}.{kind.__qualname__}>")
    if kind is float:
        out.append(repr(_coarse(value)))
        return
    if value is None or kind in (bool, int, complex, str):
        out.append(repr(value))
        return
    if kind in (bytes, bytearray):
        out.append(hashlib.md5(value).hexdigest())
        return
    if id(value) in seen:
        out.append("<cycle>")
        return
    seen = seen | {id(value)}
    module = kind.__module__.split(".")[0]
    if module == "numpy":
        _numpy(value, out, depth, seen)
    elif module == "pandas":
        _pandas(value, out)
    elif module == "matplotlib":
        _matplotlib(value, out, depth, seen)
    elif module == "sklearn" and hasattr(value, "get_params"):
        _estimator(value, out, depth, seen)
    elif isinstance(value, list | tuple):
        _sequence(value, out, depth, seen)
    elif isinstance(value, dict):
        if len(value) > _MAX_ITEMS:
            raise _Opaque
        for key, item in value.items():
            _feed(key, out, depth + 1, seen)
            _feed(item, out, depth + 1, seen)
    elif isinstance(value, set | frozenset):
        out.append(repr(sorted(digest(v) or "" for v in value)))
    elif isinstance(value, random.Random):
        out.append(repr(value.getstate()))
    elif isinstance(value, types.ModuleType):
        out.append(value.__name__)
    elif isinstance(value, types.FunctionType | types.MethodType):
        _function(value, out)
    elif isinstance(value, types.BuiltinFunctionType):
        out.append(f"{getattr(value, '__module__', '')}.{value.__qualname__}")
    elif isinstance(value, type):
        _class(value, out)
    elif kind.__eq__ is not object.__eq__ and " at 0x" not in (text := repr(value)):
        out.append(text)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        _attributes(vars(value), out, depth, seen)
    else:
        raise _Opaque


_MANTISSA_BITS = 30


def _coarse(value: float) -> float:
    """A float to ``_MANTISSA_BITS`` bits: values a rounding error apart are one value (NaN and ±inf kept)."""
    mantissa, exponent = math.frexp(value)
    return value if not math.isfinite(value) else math.ldexp(round(mantissa * 2**_MANTISSA_BITS), exponent)


def _coarse_array(array: Any) -> Any:
    """``_coarse`` for a numpy float array (other dtypes as they are)."""
    import numpy as np

    if array.dtype.kind != "f":
        return array
    mantissa, exponent = np.frexp(array)
    return np.where(np.isfinite(array), np.ldexp(np.round(mantissa * 2**_MANTISSA_BITS), exponent), array)


def _sequence(value: list | tuple, out: list[str], depth: int, seen: set[int]) -> None:
    if len(value) > _MAX_ITEMS:
        out.append(hashlib.md5(repr(value).encode()).hexdigest())
        return
    out.append(str(len(value)))
    for item in value:
        _feed(item, out, depth + 1, seen)


def _attributes(attrs: dict[str, Any], out: list[str], depth: int, seen: set[int]) -> None:
    for key in sorted(attrs):
        out.append(key)
        try:
            _feed(attrs[key], out, depth + 1, seen)
        except _Opaque:
            out.append("<opaque>")


def _numpy(value: Any, out: list[str], depth: int, seen: set[int]) -> None:
    import numpy as np

    if isinstance(value, np.ndarray):
        out.append(f"{value.dtype.str}{value.shape}")
        if value.dtype == object:
            flat = value.ravel().tolist()
            _sequence(flat, out, depth, seen)
        else:
            out.append(hashlib.md5(np.ascontiguousarray(_coarse_array(value)).tobytes()).hexdigest())
    elif isinstance(value, np.floating):
        out.append(repr(_coarse(float(value))))
    elif isinstance(value, np.generic):
        out.append(repr(value.item()))
    elif isinstance(value, np.random.Generator):
        out.append(repr(value.bit_generator.state))
    elif isinstance(value, np.random.RandomState):
        state = value.get_state()
        out.append(repr((state[0], hashlib.md5(state[1].tobytes()).hexdigest(), *state[2:])))
    elif isinstance(value, np.random.BitGenerator):
        out.append(repr(value.state))
    elif isinstance(value, np.ufunc):
        out.append(value.__name__)
    else:
        out.append(repr(value))


def _pandas(value: Any, out: list[str]) -> None:
    import pandas as pd

    if isinstance(value, pd.DataFrame | pd.Series | pd.Index):
        frame = value.to_frame() if isinstance(value, pd.Series | pd.Index) else value
        floats = [c for c, t in zip(frame.columns, frame.dtypes, strict=True) if getattr(t, "kind", "") == "f"]
        if floats:
            frame = frame.copy()
            for column in floats:
                frame[column] = _coarse_array(frame[column].to_numpy())
        out.append(repr(list(frame.columns)))
        out.append(repr([str(t) for t in frame.dtypes]))
        out.append(repr(getattr(value, "name", None)))
        try:
            out.append(hashlib.md5(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
                       .hexdigest())
            out.append(hashlib.md5(pd.util.hash_pandas_object(frame.index.to_frame(), index=False)
                                   .to_numpy().tobytes()).hexdigest())
        except TypeError:  # unhashable cells (lists, dicts): their text
            out.append(hashlib.md5(frame.to_json(orient="split", default_handler=repr).encode()).hexdigest())
    else:  # Timestamp, Timedelta, Categorical dtype, groupby objects …
        text = repr(value)
        if " at 0x" in text:
            raise _Opaque
        out.append(text)


def _matplotlib(value: Any, out: list[str], depth: int, seen: set[int]) -> None:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.collections import Collection
    from matplotlib.figure import Figure, SubFigure
    from matplotlib.image import AxesImage
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.text import Text

    if isinstance(value, Figure | SubFigure):
        out.append(repr([round(float(v), 6) for v in value.get_size_inches()]))
        for axes in value.axes:
            _matplotlib(axes, out, depth, seen)
        for text in value.texts:
            out.append(text.get_text())
    elif isinstance(value, Axes):
        out.append(repr((value.get_title(), value.get_xlabel(), value.get_ylabel())))
        for child in value.get_children():
            if isinstance(child, Line2D | Collection | Patch | AxesImage | Text) and child.get_visible():
                _matplotlib(child, out, depth, seen)
    elif isinstance(value, Line2D):
        _numpy(value.get_xydata(), out, depth, seen)
    elif isinstance(value, Collection):
        _numpy(value.get_offsets(), out, depth, seen)
        for path in value.get_paths()[:200]:
            _numpy(path.vertices, out, depth, seen)
    elif isinstance(value, Patch):
        _numpy(value.get_path().vertices, out, depth, seen)
        out.append(repr(value.get_transform().get_matrix().round(6).tolist()) if hasattr(
            value.get_transform(), "get_matrix") else "")
    elif isinstance(value, AxesImage):
        _numpy(value.get_array(), out, depth, seen)
    elif isinstance(value, Text):
        out.append(value.get_text())
    elif isinstance(value, Artist):
        raise _Opaque
    else:  # colormaps, norms, containers returned by bar()/hist() …
        if isinstance(value, list | tuple):
            _sequence(value, out, depth, seen)
        elif hasattr(value, "__dict__"):
            _attributes({k: v for k, v in vars(value).items() if not k.startswith("_")}, out, depth, seen)
        else:
            raise _Opaque


def _estimator(value: Any, out: list[str], depth: int, seen: set[int]) -> None:
    params = value.get_params(deep=False)
    _attributes(params, out, depth, seen)
    fitted = {k: v for k, v in vars(value).items() if k.endswith("_") and not k.startswith("_")}
    _attributes(fitted, out, depth, seen)


def _function(value: Any, out: list[str]) -> None:
    func = getattr(value, "__func__", value)
    out.append(f"{func.__module__}.{func.__qualname__}")
    _code(func.__code__, out)


def _code(code: types.CodeType, out: list[str]) -> None:
    out.append(hashlib.md5(code.co_code).hexdigest())
    out.append(repr(code.co_names))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code(const, out)
        else:
            out.append(repr(const))


def _class(value: type, out: list[str]) -> None:
    out.append(f"{value.__module__}.{value.__qualname__}")
    if value.__module__ in ("__main__", "builtins") or value.__module__ not in sys.modules:
        for key, member in sorted(vars(value).items()):
            if isinstance(member, types.FunctionType):
                out.append(key)
                _code(member.__code__, out)
