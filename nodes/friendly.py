"""Plain-language messages for pydantic's error types: what is wrong with the value and what to enter instead.

``friendly_message(err)`` takes one entry of ``ValidationError.errors()`` and returns the text a form shows
at the field, or None for an error type it does not know (the caller keeps pydantic's message then).
"""

from __future__ import annotations

from typing import Any

_VALUE_ERROR_PREFIXES = ("Value error, ", "Assertion failed, ")
_MAX_SHOWN = 60


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else f"{text[: _MAX_SHOWN - 1]}…"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_SIMPLE = {  # error type -> (what the value should be, how to fix it)
    "int_parsing": ("a whole number", "enter a whole number such as 3"),
    "int_type": ("a whole number", "enter a whole number such as 3"),
    "int_from_float": ("a whole number", "enter a whole number without decimals, e.g. 3"),
    "float_parsing": ("a number", "enter one such as 0.5"),
    "float_type": ("a number", "enter one such as 0.5"),
    "finite_number": ("a finite number", "enter a number such as 0.5"),
    "bool_parsing": ("true or false", "choose true or false"),
    "bool_type": ("true or false", "choose true or false"),
    "string_type": ("text", "enter text"),
    "list_type": ("a list", "enter a list of items"),
    "tuple_type": ("a list", "enter a list of items"),
    "set_type": ("a list", "enter a list of items"),
    "dict_type": ("key/value pairs", "enter key/value pairs"),
    "model_type": ("an object with fields", "fill in its fields"),
    "model_attributes_type": ("an object with fields", "fill in its fields"),
    "date_parsing": ("a date", "write it as YYYY-MM-DD"),
    "date_from_datetime_parsing": ("a date", "write it as YYYY-MM-DD"),
    "date_type": ("a date", "write it as YYYY-MM-DD"),
    "datetime_parsing": ("a date and time", "write it as YYYY-MM-DDTHH:MM"),
    "datetime_from_date_parsing": ("a date and time", "write it as YYYY-MM-DDTHH:MM"),
    "datetime_type": ("a date and time", "write it as YYYY-MM-DDTHH:MM"),
    "time_delta_parsing": ("a duration", "enter a number of seconds"),
    "url_parsing": ("a web address", "enter one such as https://example.com"),
    "url_type": ("a web address", "enter one such as https://example.com"),
    "url_scheme": ("a web address", "enter one such as https://example.com"),
    "json_invalid": ("valid JSON", "check the brackets, quotes and commas"),
}
_BOUNDS = {
    "greater_than_equal": ("too small", "at least", "ge"),
    "greater_than": ("too small", "more than", "gt"),
    "less_than_equal": ("too large", "at most", "le"),
    "less_than": ("too large", "less than", "lt"),
    "multiple_of": ("not allowed", "a multiple of", "multiple_of"),
}


def _describe(kind: str, ctx: dict[str, Any], shown: str | None) -> str | None:
    """The message for a known error type (``shown``: the value as typed, or None when there is none)."""
    if kind in _SIMPLE:
        noun, advice = _SIMPLE[kind]
        return f"{shown} is not {noun}; {advice}" if shown is not None else f"this needs {noun}; {advice}"
    if kind in _BOUNDS and _BOUNDS[kind][2] in ctx:
        problem, words, key = _BOUNDS[kind]
        subject = shown if shown is not None else "the value"
        return f"{subject} is {problem}; enter {words} {_number(ctx[key])}"
    if kind == "string_too_short":
        count = ctx.get("min_length", 1)
        return (
            "this cannot be empty; fill it in"
            if count <= 1
            else f"this is too short; enter at least {count} characters"
        )
    if kind == "string_too_long":
        return f"this is too long; shorten it to at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        count = ctx.get("min_length", 1)
        return (
            "this list is empty; add an item" if count <= 1 else f"this list is too short; add at least {count} items"
        )
    if kind == "too_long":
        return f"this list is too long; keep at most {ctx.get('max_length')} items"
    if kind in ("literal_error", "enum") and "expected" in ctx:
        subject = shown if shown is not None else "the value"
        return f"{subject} is not one of the choices; choose {ctx['expected']}"
    return None


def friendly_message(err: Any) -> str | None:
    """A plain-language message for one pydantic error, or None when its type is not known here."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    message = str(err.get("msg", ""))
    if kind in ("value_error", "assertion_error"):
        for prefix in _VALUE_ERROR_PREFIXES:  # the project's own validators already say what to do
            if message.startswith(prefix):
                return message[len(prefix) :]
        return message
    if kind == "string_pattern_mismatch":
        return f"{_shown(err.get('input'))} does not have the expected form; change it to match {ctx.get('pattern')!r}"
    has_input = "input" in err and err["input"] not in ("", None) and not isinstance(err["input"], (dict, list))
    return _describe(kind, ctx, _shown(err["input"]) if has_input else None)
