"""Every value a user gives us, parsed once and strictly: the command line's arguments and the server's
query strings and JSON bodies go through these functions, so a bad value is a :class:`BadInput` (exit 2,
HTTP 400) saying what is expected, never an exception of ours.

- whole numbers are ASCII digits only (``int()`` takes ``'٣'``, ``'1_000'`` and ``' 5'``; ``str.isdigit``
  passes ``'²'``, which ``int()`` then refuses) and bounded, so none overflows SQLite's 64 bits;
- text is Unicode that UTF-8 can encode (JSON's ``"\\ud800"`` is a lone surrogate; so is an argument that
  was not UTF-8 on the command line) and holds no NUL;
- identifiers (session ids, model names, aliases, metric gates) match their pattern as a whole
  (``fullmatch``: ``re.match`` with ``$`` lets ``"candidate\\n"`` through).
"""

from __future__ import annotations

import math
import re
from typing import Any

from jupyter_mlops.errors import BadInput

MAX_TEXT = 4096
MAX_INDEX = 2**31 - 1   # offsets and counts: far beyond any journal, far inside SQLite's integers
_DIGITS = re.compile(r"[0-9]{1,19}")
_DECIMAL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")
_SESSION_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][\w .-]{0,127}")
_ALIAS = re.compile(r"[A-Za-z_][\w-]{0,63}")
GATE = re.compile(r" *([A-Za-z_][\w./-]{0,63}) *(>=|<=|==|!=|>|<) *([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)"
                  r"(?:[eE][-+]?[0-9]{1,3})?) *")
"""A metric gate, ``auc>=0.8``: a metric name, a comparison, a number."""


def text(value: Any, what: str, *, max_chars: int = MAX_TEXT, empty: bool = False) -> str:
    """``value`` as text UTF-8 can hold, without NUL, at most ``max_chars`` long (and not empty unless
    ``empty``)."""
    if not isinstance(value, str) or (not value and not empty):
        raise BadInput(f"{what} must be a non-empty string" if not empty else f"{what} must be a string")
    if len(value) > max_chars:
        raise BadInput(f"{what} is longer than {max_chars} characters")
    if "\0" in value:
        raise BadInput(f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadInput(f"{what} is not valid text: {value[exc.start:exc.end]!r} at {exc.start} is not a "
                       "character (a lone surrogate, or bytes that were not UTF-8)") from None
    return value


def whole_number(value: Any, what: str, *, low: int = 0, high: int = MAX_INDEX) -> int:
    """A whole number from ``low`` to ``high``: an int (not a bool), or a string of ASCII digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        raise BadInput(f"{what} must be a whole number from {low} to {high} (digits 0-9), not {_shown(value)}")
    if not low <= number <= high:
        raise BadInput(f"{what} must be a whole number from {low} to {high}, not {number}")
    return number


def number(value: Any, what: str, *, low: float, high: float) -> float:
    """A finite number from ``low`` to ``high``: an int or float (not a bool), or its ASCII decimal text."""
    plain = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not plain and not (isinstance(value, str) and _DECIMAL.fullmatch(value)):
        raise BadInput(f"{what} must be a number from {low:g} to {high:g}, not {_shown(value)}")
    try:
        found = float(value)
    except OverflowError:  # an int of 400 digits
        found = math.inf
    if not (math.isfinite(found) and low <= found <= high):
        raise BadInput(f"{what} must be a number from {low:g} to {high:g}, not {found:g}")
    return found


def session_id(value: Any, what: str = "session") -> str:
    return _matching(value, _SESSION_ID, f"{what} must be a session id: letters, digits, '-' or '_' (up to 64)")


def model_name(value: Any, what: str = "name") -> str:
    return _matching(value, _MODEL_NAME,
                     f"{what} must be a model name: letters, digits, ' ', '.', '_' or '-' (up to 128)")


def alias(value: Any, what: str = "alias") -> str:
    return _matching(value, _ALIAS, f"{what} must be letters, digits, '_' or '-', e.g. candidate")


def metric_gate(value: Any, what: str = "expect") -> str:
    return _matching(value, GATE, f"{what}: {_shown(value)} is not a metric gate such as 'auc>=0.8' "
                                  "(OP: >= <= == != > <)")


def _matching(value: Any, pattern: re.Pattern[str], message: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise BadInput(message)
    return value


def _shown(value: Any) -> str:
    return repr(value)[:40]
