"""What a form's widgets store and show, without any UI: key/value rows and their problems, JSON messages,
numbers and texts as entered (``widgets.Form`` uses them)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .spec import FieldSpec

JSON_EXAMPLES = {"": '42, "text" or [32, 64]', "object": '{"alpha": 0.5, "epochs": 10}', "array": "[32, 64]"}


def json_error(text: str, example: str) -> str:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg}); e.g. {example}"
    return f"not valid here; e.g. {example}"


def rows_of(value: Any) -> list[list[str]]:
    """Key/value rows from a mapping, or from the ``[key, value]`` pairs kept while a key was invalid."""
    if isinstance(value, Mapping):
        return [[str(k), "" if v is None else str(v)] for k, v in value.items()]
    if isinstance(value, list):
        return [
            [str(pair[0]), "" if pair[1] is None else str(pair[1])]
            for pair in value
            if isinstance(pair, list | tuple) and len(pair) == 2
        ]
    return []


def row_problems(rows: Sequence[Sequence[str]]) -> dict[int, str]:
    """The problem of each key/value row by index: a key used by more than one row, or a value without a key."""
    seen: dict[str, int] = {}
    for key, _ in rows:
        if key:
            seen[key] = seen.get(key, 0) + 1
    problems: dict[int, str] = {}
    for index, (key, text) in enumerate(rows):
        if key and seen[key] > 1:
            problems[index] = f"the key {key!r} is used by {seen[key]} rows; change or remove one"
        elif not key and text:
            problems[index] = f"enter a key for the value {text!r}, or remove the row"
    return problems


def remember(sections: set[str], key: str, is_open: bool) -> None:
    if is_open:
        sections.add(key)
    else:
        sections.discard(key)


def as_number(value: float | None, kind: str) -> float | int | None:
    """The number as entered: a fraction in a whole-number field stays a fraction, for validation to report.

    (Truncating it with ``int()`` turned 2.7 GPUs into 2 without a word.)
    """
    if value is None:
        return None
    number = float(value)
    return int(number) if kind == "integer" and number.is_integer() else number


def as_text(value: str | None, spec: FieldSpec) -> str | None:
    """Empty text removes the value, so the default (or 'is required') applies again."""
    return value or None
