"""Python literals and identifiers for generated code: the only way values and names enter a template.

``py_literal`` writes a value the way ``ruff format`` would (double quotes where they do not cost
extra escapes, one element per line with a trailing comma), so that templates produce formatted
code without a formatter pass. Anything that is not plain data raises ``TypeError``.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BUILTINS = frozenset(dir(builtins))
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
INDENT = "    "


def ident(name: str) -> str:
    """``name`` if it is a safe Python identifier: ASCII, not a keyword, not a builtin, no dunder.

    Raises ValueError otherwise; generated code takes every name it defines through here.
    """
    if not isinstance(name, str) or not _IDENT_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not an ASCII Python identifier")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ValueError(f"{name!r} is a Python keyword")
    if name in _BUILTINS:
        raise ValueError(f"{name!r} is a Python builtin name")
    if name.startswith("__"):
        raise ValueError(f"{name!r} starts with a double underscore")
    return name


def py_str(text: str) -> str:
    """A one-line string literal in ruff's preferred quotes (double, unless that needs more escapes)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'  # the common case, without the character loop
    quote = "'" if text.count('"') > text.count("'") else '"'
    out = [quote]
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char == quote:
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(repr(char)[1:-1])
    out.append(quote)
    return "".join(out)


def py_float(value: float) -> str:
    """A float literal as ruff formats it (no ``+`` in the exponent); non-finite values are refused."""
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be written as a Python literal; use a finite number")
    return repr(value).replace("e+", "e")


def py_literal(value: object, indent: int = 0) -> str:
    """The Python literal of ``value`` (str, int, float, bool, None, and lists and dicts of them).

    Non-empty lists and dicts are written one element per line with a trailing comma, indented for
    a line that starts ``indent`` spaces in; anything else raises ``TypeError``.
    """
    if isinstance(value, str):  # first: most values are strings
        return py_str(str(value))
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return py_float(value)
    inner = " " * (indent + 4)
    if isinstance(value, list):
        if not value:
            return "[]"
        items = "".join(f"{inner}{py_literal(item, indent + 4)},\n" for item in value)
        return "[\n" + items + " " * indent + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"dict keys must be strings in generated code, not {type(key).__name__}")
            lines.append(f"{inner}{py_str(key)}: {py_literal(item, indent + 4)},\n")
        return "{\n" + "".join(lines) + " " * indent + "}"
    raise TypeError(f"{type(value).__name__} values cannot be written into generated code")


def py_block(text: str) -> str:
    """A raw triple-quoted literal for a multi-line text block (the embedded step programs).

    Raw so that the program reads as written; double quotes unless the text holds three of them in
    a row (as ruff formats it). Refuses text that a raw literal cannot hold.
    """
    if not text.isascii() or any(not (char.isprintable() or char == "\n") for char in text):
        raise ValueError("only printable ASCII text can be embedded as a block")
    for quote in ('"', "'"):
        if quote * 3 not in text and not text.endswith((quote, "\\")):
            return "r" + quote * 3 + text + quote * 3
    raise ValueError("the text holds both kinds of triple quotes; it cannot be embedded as a block")
