"""Whether a document read from a file can be stored and read back: UTF-8 text and finite numbers.

JSON can carry a lone surrogate (``"\\ud800"``) and Python's parser turns ``1e999`` into infinity. An
imported document holding either would fail later, when it is written (UTF-8 refuses surrogates) or
opened again (the format refuses infinity), so the import refuses it now and says where it is.
"""

from __future__ import annotations

import math
import re
from typing import Any

from dagsmith.nodes import Pipeline
from dagsmith.nodes.fileformat import to_dict

_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(pipeline: Pipeline) -> str | None:
    """What in the document cannot be stored, with where it is (``nodes[0] ('n1').label``); None if all can."""
    return _find(to_dict(pipeline), "")


def _find(value: Any, where: str) -> str | None:
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        if found:
            return (
                f"{where or 'the document'} holds a lone surrogate (\\u{ord(found.group()):04x}), which is not "
                "valid Unicode text; correct that text in the file"
            )
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where or 'the document'} is {value}, not a finite number; write a finite number"
    if isinstance(value, dict):
        for key, item in value.items():
            key_problem = _find(key, f"{where}.{key!r}" if where else repr(key)) if isinstance(key, str) else None
            found_problem = key_problem or _find(item, f"{where}.{key}" if where else str(key))
            if found_problem:
                return found_problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            ident = item.get("id") if isinstance(item, dict) else None
            label = f" ({ident!r})" if isinstance(ident, str) and not _SURROGATE.search(ident) else ""
            found_problem = _find(item, f"{where}[{index}]{label}")
            if found_problem:
                return found_problem
    return None
