"""Turning pydantic validation errors into issues that name the field and say what to do."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from .checks import CHECKED, closest
from .friendly import friendly_message
from .issues import Code, Issue, Severity

_HINTS = {
    "int_parsing": "enter a whole number",
    "int_type": "enter a whole number",
    "int_from_float": "enter a whole number",
    "float_parsing": "enter a number",
    "float_type": "enter a number",
    "bool_parsing": "use true or false",
    "bool_type": "use true or false",
    "string_type": "enter text",
    "list_type": "enter a list",
    "dict_type": "enter key/value pairs",
    "model_type": "enter an object with fields",
    "model_attributes_type": "enter an object with fields",
    "date_from_datetime_parsing": "write a date as YYYY-MM-DD",
    "date_parsing": "write a date as YYYY-MM-DD",
    "string_pattern_mismatch": "change the value to match",
}


def model_issues(
    model: type[BaseModel],
    data: Any,
    *,
    node: str | None = None,
    prefix: str = "",
) -> tuple[BaseModel | None, list[Issue]]:
    """Validate ``data`` against ``model`` with the value checks on; the instance or the issues."""
    try:
        return model.model_validate(data, context=CHECKED), []
    except ValidationError as exc:
        return None, [error_issue(model, err, node=node, prefix=prefix) for err in exc.errors(include_url=False)]


def error_issue(model: type[BaseModel], err: Any, *, node: str | None, prefix: str) -> Issue:
    """One pydantic error as an issue."""
    loc = tuple(err["loc"])
    field = ".".join(str(part) for part in loc)
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    kind = err["type"]
    if kind == "missing":
        info = _field_info(model, loc)
        what = f"{info.description.rstrip('.')} ({loc[-1]})" if info and info.description else repr(loc[-1])
        return Issue(Severity.ERROR, Code.MISSING_PARAMETER, f"{what} is required; fill it in", node=node, field=field)
    if kind == "extra_forbidden":
        name = str(loc[-1])
        known = _fields_at(model, loc[:-1])
        suggestions = tuple(closest(name, known))
        hint = f"; did you mean {' or '.join(map(repr, suggestions))}?" if suggestions else "; remove it"
        return Issue(
            Severity.ERROR,
            Code.UNKNOWN_PARAMETER,
            f"{name!r} is not a field here{hint}",
            node=node,
            field=field,
            suggestions=suggestions,
        )
    friendly = friendly_message(err)  # plain language for every error type it knows
    if friendly is not None:
        return Issue(Severity.ERROR, Code.INVALID_VALUE, friendly, node=node, field=field)
    message: str = err["msg"]
    hint = _HINTS.get(kind, "")
    if hint and "input" in err and not kind.startswith("string_pattern"):
        message = f"{message} (got {err['input']!r}); {hint}"
    elif kind == "string_pattern_mismatch":
        message = f"{err['input']!r} does not have the expected form ({message}); {hint}"
    return Issue(Severity.ERROR, Code.INVALID_VALUE, message, node=node, field=field)


def _unwrap(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``X``, ``X | None``, ``list[X]`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, dict, typing.Annotated):
        for arg in reversed(typing.get_args(annotation)):
            found = _unwrap(arg)
            if found is not None:
                return found
    return None


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int) or part not in current.model_fields:
            continue  # list index or dict key: stay on the element model
        current = _unwrap(current.model_fields[part].annotation)
    return current


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    found = _model_at(model, loc)
    return list(found.model_fields) if found else []


def _field_info(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    parent = _model_at(model, loc[:-1])
    if parent is None or not isinstance(loc[-1], str):
        return None
    return parent.model_fields.get(loc[-1])
