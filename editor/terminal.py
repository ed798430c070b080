"""Text for a terminal: user-supplied text never reaches it as control characters.

A node label, a file name or a task's log line may hold escape sequences (``\\x1b[31m``, ``\\x9b2J``,
``\\r``) that would recolour, clear or overwrite the terminal. The CLI's output helpers pass every line
through ``printable``, which writes such characters as Python-style escapes (``\\x1b``).
"""

from __future__ import annotations

import json
import re
from typing import Any

_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
"""C0 controls except the newline (the program's own line breaks), DEL, C1 controls, lone surrogates."""


_CONTROL_OR_NEWLINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SHORT = {"\t": "\\t", "\r": "\\r", "\n": "\\n"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def printable(text: str, *, newlines: bool = True) -> str:
    """``text`` with control characters and lone surrogates written as escapes.

    Newlines stay line breaks unless ``newlines=False`` (for a value shown inside one line, e.g. a label).
    """
    return (_CONTROL if newlines else _CONTROL_OR_NEWLINE).sub(_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_text(value: Any, *, indent: int | None = 2) -> str:
    """JSON for a terminal: non-ASCII text stays readable, and every control character is a ``\\u`` escape.

    ``json.dumps`` escapes C0 controls itself but leaves DEL, C1 controls and lone surrogates raw; they
    can only occur inside strings, where a ``\\u`` escape is the same JSON value.
    """
    return _CONTROL.sub(_json_escape, json.dumps(value, indent=indent, ensure_ascii=False))
