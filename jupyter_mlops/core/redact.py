"""Secrets kept out of everything we write: which names hold one, and their values masked in text and code.

The tracker stores each cell's code, its error and its params in the journal, which the server answers
with and the MLflow mirror sends on; export writes params into ``params.yaml``. A value a user would not
paste into a pull request must reach none of them. Two things make a value secret:

- **its name**, split into words (``apiToken``, ``API_TOKEN`` and ``api-token`` are the words api, token):
  any word of :data:`SECRET_WORDS` (``password``, ``passwd``, ``passphrase``, ``pwd``, ``pass``,
  ``secret``, ``credential(s)``, ``creds``, ``bearer``, ``authorization``, ``cookie``, ``dsn``, ``apikey``),
  a pair of :data:`SECRET_PAIRS` (``api key``, ``access key``, ``private key``, ``connection string``…),
  or :data:`SECRET_LAST_WORDS` as the last word (``token``, ``key``, ``auth``: ``hf_token``, ``sort_key``,
  but not ``max_tokens`` or ``token_count``), or a name the user adds (``%mlops_track --secret NAME``);
- **its shape**, whatever the name: the password of a URL or DSN (``postgresql://user:PASSWORD@host``),
  ``password=…``/``pwd=…`` in a connection string, an ``Authorization`` ``Bearer``/``Basic`` credential.

:class:`Redactor` masks both in the code a cell ran (the literal a secret name is given: ``token = "…"``,
``f(password="…")``, ``{"api_key": "…"}``, papermill's injected ``api_token = "…"``), in any text, and
every later occurrence of a secret value it has seen. Masked code keeps its structure (a literal becomes
a literal), so the analysis reads it the same; what compares stored code with a notebook's cells uses
:func:`code_digest` of the code as it ran, which the journal keeps beside the masked code.

Pure and standard library only: the kernel runs it on every cell (a cell with no hint of a secret costs a
lowercase copy and a few substring searches).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***redacted***"

SECRET_WORDS = frozenset({
    "password", "passwd", "passphrase", "pwd", "pass", "secret", "secrets", "credential", "credentials", "creds",
    "bearer", "authorization", "cookie", "dsn", "apikey",
})
SECRET_PAIRS = frozenset({
    ("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("client", "secret"),
    ("connection", "string"), ("conn", "str"), ("conn", "string"),
})
SECRET_LAST_WORDS = frozenset({"token", "key", "auth"})

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")   # "APIKey" → API, Key; "dbPassword2" → db, Password
# Substrings one of which any text holding a secret contains, lowercased: the cheap first look.
_HINTS = ("pass", "pwd", "secret", "cred", "bearer", "basic", "auth", "cookie", "dsn", "key", "token", "://")
_MIN_VALUE = 4  # a seen value shorter than this ("abc", "1") would mask half the code; its literal is masked

_STRING = (r"(?:\b[rRbBuUfF]{1,2})?(?:'''(?:[^\\]|\\.)*?'''|\"\"\"(?:[^\\]|\\.)*?\"\"\"|"
           r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")")
_NUMBER = r"[-+]?(?:0[xXoObB][0-9a-fA-F_]+|\d[\d_]*\.?[\d_]*(?:[eE][-+]?\d+)?|\.\d[\d_]*(?:[eE][-+]?\d+)?)j?\b"
# In code: a name or quoted key given a literal (``k = v``, ``k: T = v``, ``k := v``, ``f(k=v)``,
# ``{"k": v}``, ``d["k"] = v``), else a whole string literal or comment, whose text is masked by shape.
_CODE = re.compile(
    rf"(?P<key>\b[A-Za-z_]\w*|{_STRING})(?P<sep>\s*(?:\]\s*=(?!=)|:\s*[^=\n:#]*?=(?!=)|=(?!=)|:)\s*)"
    rf"(?P<value>{_STRING}|{_NUMBER})|(?P<string>{_STRING})|(?P<comment>#[^\n]*)")
_SHAPES = re.compile(
    r"(?P<url>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*:)(?P<url_secret>[^\s@/'\"]+)(?=@)"
    r"|(?P<pair>(?i:\b(?:password|passwd|pwd|pass)\s*=\s*))(?P<pair_secret>[^;&\s'\"]+)"
    r"|(?P<scheme>(?i:\b(?:bearer|basic)\s+))(?P<scheme_secret>[A-Za-z0-9\-._~+/]{8,}=*)")


def name_words(name: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(name)]


def looks_secret(name: str, extra: Iterable[str] = ()) -> bool:
    """Does a variable, keyword or key of this name hold a secret (see the module's docstring)?"""
    return name in extra or _secret_name(name)


@functools.lru_cache(maxsize=4096)  # a notebook names the same few variables cell after cell
def _secret_name(name: str) -> bool:
    words = name_words(name)
    if not words:
        return False
    return (words[-1] in SECRET_LAST_WORDS or any(w in SECRET_WORDS for w in words)
            or any(pair in SECRET_PAIRS for pair in itertools.pairwise(words)))


def holds_secret(value: str) -> bool:
    """Does this text have a secret's shape, whatever its name (a URL's password, ``pwd=…``, a bearer token)?"""
    return _SHAPES.search(value) is not None


def environment_variable(name: str) -> str:
    """The environment variable export reads a secret param from: its name in capitals (``api_token`` →
    ``API_TOKEN``)."""
    return re.sub(r"\W", "_", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)).upper()


def code_digest(code: str) -> str:
    """The digest of a cell's code as it ran (surrounding blank space aside): stored beside the masked code,
    it tells whether a notebook cell holds the code a run ran, secrets included."""
    return hashlib.md5(code.strip().encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


class Redactor:
    """Masks secrets in what a session writes; remembers the secret values it met, to mask them anywhere."""

    def __init__(self, extra_names: Iterable[str] = ()) -> None:
        self.extra_names = frozenset(extra_names)
        self._values: set[str] = set()
        self._hints = _HINTS + tuple(n.lower() for n in self.extra_names)

    def is_secret(self, name: str) -> bool:
        return looks_secret(name, self.extra_names)

    def learn(self, value: object) -> None:
        """A secret's value (a secret-named param's, a masked literal's): masked wherever it shows up later."""
        if isinstance(value, str) and len(value.strip()) >= _MIN_VALUE and value != REDACTED:
            self._values.add(value.strip())

    def code(self, code: str) -> str:
        """``code`` with every secret literal and shape masked; the same object when there is none."""
        if not self._may_hold(code):
            return code
        masked = self._known(_CODE.sub(self._mask_match, code))
        return code if masked == code else masked

    def text(self, text: str) -> str:
        """Free text (an error message, a param's string value) with every secret shape and value masked."""
        if not self._may_hold(text):
            return text
        return self._known(_SHAPES.sub(_mask_shape, text))

    def _may_hold(self, text: str) -> bool:
        lowered = text.lower()
        return any(h in lowered for h in self._hints) or any(v in text for v in self._values)

    def _known(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):  # a value inside another: the longer first
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def _mask_match(self, match: re.Match[str]) -> str:
        if match.group("string") is not None or match.group("comment") is not None:
            return _SHAPES.sub(_mask_shape, match.group(0))
        key, value = match.group("key"), match.group("value")
        name = _unquoted(key)
        if name is None or not self.is_secret(name):  # not a secret's name: its value's shapes only
            masked_key = _SHAPES.sub(_mask_shape, key) if name is None or key != name else key
            return masked_key + match.group("sep") + _SHAPES.sub(_mask_shape, value)
        self.learn(_literal(value))
        return key + match.group("sep") + repr(REDACTED)


def _mask_shape(match: re.Match[str]) -> str:
    for head in ("url", "pair", "scheme"):
        if match.group(head) is not None:
            return match.group(head) + REDACTED
    return match.group(0)


def _unquoted(key: str) -> str | None:
    """The name a key stands for: an identifier as is, a quoted key's text; None for a string that is not
    a plain key (``f"…"``, bytes, text with spaces)."""
    if key[0] not in "'\"":
        return key if key[0].isalpha() or key[0] == "_" else None
    inner = _literal(key)
    return inner if isinstance(inner, str) and inner.replace("-", "_").isidentifier() else None


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def masked_notebook(document: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
    """A notebook's JSON with its cells' sources masked (code as code, other cells as text): the copy the
    MLflow run keeps. Outputs are the notebook's own, as saved."""
    cells = []
    for cell in document.get("cells") or []:
        source = cell.get("source", "") if isinstance(cell, Mapping) else ""
        text = "".join(source) if isinstance(source, list) else str(source)
        mask = redactor.code if cell.get("cell_type") == "code" else redactor.text
        cells.append({**cell, "source": mask(text)} if isinstance(cell, Mapping) else cell)
    return {**document, "cells": cells}


class NotebookCode:
    """A notebook's cells by the digest of their code: what a journal run (its code masked) ran, when a cell
    holds that code. Whatever compares stored code with a notebook's asks here, so a masked secret does not
    make a cell look edited."""

    def __init__(self, sources: Iterable[str]) -> None:
        self._by_digest = {code_digest(source): source for source in sources}

    def of(self, run: Mapping[str, Any]) -> str:
        """The code ``run`` ran: the notebook cell's when one holds it, else the code as stored (masked; an
        older journal's, unmasked, is the code itself)."""
        return self._by_digest.get(run.get("code_hash") or "", run["code"])
