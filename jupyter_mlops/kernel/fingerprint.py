"""Cheap digests of the values a cell binds, so the detector can tell two equal values apart from their history.

The detector compares values by provenance (the code that made them and what it read), which says "equal"
only when two values were made the same way. The README's definition compares values: a column list made
by two different cells (``features = X.columns`` here, ``features = X_train.columns`` there) is one value.
After each cell the session digests the names it rebound, and the detector treats two provenances whose
values had the same digest as one.

Only what is cheap and exact is digested, by type, never through user code (no ``__repr__``, ``__eq__``
or ``__len__`` of a class the notebook defines): numbers, strings, small containers of those, numpy
scalars and arrays, pandas indexes, Series and DataFrames up to ``_MAX_ITEMS`` elements, random
generators by their state. Anything else (an estimator, a figure, a large frame) gets no digest and is
compared by provenance alone. Nothing here raises: a value that cannot be digested simply has none.
"""

from __future__ import annotations

import hashlib
import random
import sys
from collections.abc import Iterable, Mapping
from typing import Any

_MAX_ITEMS = 20_000  # elements of an array, index or frame: hashing more would cost the cell time
_MAX_OBJECTS = 2_000  # strings (or other Python objects) in an array, index or column
_MAX_TEXT = 4_096  # characters of a string, items of a container
_BYTES_KINDS = "biufcmM"  # numpy kinds whose bytes are their value: booleans, numbers, dates, durations
_MAX_DEPTH = 3
_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_ABSENT = object()


def fingerprints(namespace: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """Digests of the values bound to ``names`` that can be digested cheaply; the others are left out."""
    found = {}
    for name in names:
        value = namespace.get(name, _ABSENT)
        if value is _ABSENT:
            continue
        try:
            parts = _parts(value, 0)
        except Exception:  # a library object in a state we do not expect: no digest, never an error
            parts = None
        if parts is not None:
            found[name] = _md5("\x1f".join(parts).encode("utf-8", "surrogatepass"))
    return found


def _parts(value: Any, depth: int) -> list[str] | None:
    kind = type(value)
    if kind in _SCALARS:
        text = repr(value)
        return [kind.__name__, text] if len(text) <= _MAX_TEXT else None
    if depth >= _MAX_DEPTH:
        return None
    if kind in (tuple, list, set, frozenset, dict):
        return _container(value, kind, depth)
    if kind is random.Random:
        return ["random.Random", repr(value.getstate())]  # the state: what the next draw gives
    module = kind.__module__.partition(".")[0]
    if module == "numpy":
        return _numpy(value)
    if module == "pandas":
        return _pandas(value)
    return None


def _container(value: Any, kind: type, depth: int) -> list[str] | None:
    if len(value) > _MAX_TEXT:
        return None
    items = value.items() if kind is dict else value
    if kind in (set, frozenset):
        items = sorted(items, key=repr) if all(type(v) in _SCALARS for v in items) else None
        if items is None:
            return None
    out = [kind.__name__, str(len(value))]
    for item in items:
        for element in item if kind is dict else (item,):
            found = _parts(element, depth + 1)
            if found is None:
                return None
            out += found
    return out


def _numpy(value: Any) -> list[str] | None:
    np = sys.modules.get("numpy")
    if np is None:
        return None
    if isinstance(value, np.ndarray):
        return _array(value)
    if isinstance(value, np.generic):
        return ["numpy", value.dtype.str, repr(value.item())]
    if isinstance(value, np.random.Generator):
        return ["Generator", repr(value.bit_generator.state)]
    if isinstance(value, np.random.RandomState):
        state = value.get_state()
        return ["RandomState", state[0], _md5(state[1].tobytes()), repr(state[2:])]
    return None


def _array(array: Any) -> list[str] | None:
    """An array's dtype, shape and content: bytes for numbers and dates, the items for a few strings."""
    if array.size > _MAX_ITEMS:
        return None
    if array.dtype.kind in _BYTES_KINDS:
        return ["ndarray", array.dtype.str, repr(array.shape), _md5(array.tobytes())]
    if array.dtype.kind in "OUS" and array.size <= _MAX_OBJECTS:
        items = array.ravel().tolist()
        if all(type(item) in _SCALARS for item in items):
            return ["ndarray", array.dtype.str, repr(array.shape), repr(items)]
    return None


def _pandas(value: Any) -> list[str] | None:
    pd = sys.modules.get("pandas")
    if pd is None or isinstance(value, pd.MultiIndex) or not isinstance(value, pd.Index | pd.Series | pd.DataFrame):
        return None
    if value.size > _MAX_ITEMS:
        return None
    if isinstance(value, pd.RangeIndex):
        return ["RangeIndex", repr((value.start, value.stop, value.step, value.name))]
    if isinstance(value, pd.Index):
        return _column(value, ["Index", repr(value.name), str(getattr(value, "freqstr", None))])
    index = _pandas(value.index)
    if index is None:
        return None
    if isinstance(value, pd.Series):
        return _column(value, ["Series", repr(value.name), *index])
    out = ["DataFrame", repr(list(value.columns)), repr([str(t) for t in value.dtypes]), *index]
    if all(t.kind in _BYTES_KINDS for t in value.dtypes) and len(set(value.dtypes)) == 1:
        part = _array(value.to_numpy())  # one block of numbers: one copy, one digest
        return None if part is None else out + part
    for _, column in value.items():
        part = _column(column, [])
        if part is None:
            return None
        out += part
    return out


def _column(values: Any, out: list[str]) -> list[str] | None:
    """One pandas index or column: its dtype (categories included) and its values."""
    out.append(repr(values.dtype))
    array = values.to_numpy(dtype=object) if values.dtype.name == "category" else values.to_numpy()
    part = _array(array)
    return None if part is None else out + part


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
