"""Form specifications derived from pydantic models: which widget each field gets, without any UI.

The node forms and the settings form are generated from the node types' and settings' models; this
module decides the widget kind, label, help text, options and nested structure for each field.
"""

from __future__ import annotations

import datetime as dt
import enum
import inspect
import types
import typing
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

Kind = Literal[
    "text", "integer", "number", "switch", "select", "chips", "keyvalue", "json", "date", "section", "list", "map"
]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One form field: its path inside the model's data, widget kind and help."""

    name: str
    kind: Kind
    label: str
    description: str = ""
    required: bool = False
    optional: bool = False  # ``X | None``: clearing the widget stores None (the default applies)
    default: Any = None
    options: tuple[Any, ...] = ()
    examples: tuple[Any, ...] = ()
    children: tuple[FieldSpec, ...] = field(default=())  # section / list item / map value fields
    shape: Literal["", "object", "array"] = ""  # a JSON field's expected value: a dictionary, a list, or anything


_WORDS = {"cpu": "CPU", "gpu": "GPU", "id": "ID", "uri": "URI", "pvc": "PVC", "shm": "Shared memory", "dag": "DAG"}


def label_for(name: str) -> str:
    """``cpu_limit`` → ``CPU limit``, ``dag_id`` → ``DAG ID``: a field name as a form label."""
    words = [_WORDS.get(word, word) for word in name.split("_")]
    first = words[0] if words[0] in _WORDS.values() else words[0].capitalize()
    return " ".join([first, *words[1:]])


def _strip(annotation: Any) -> tuple[Any, bool]:
    """Remove ``Annotated`` and ``| None``; returns (inner type, was optional)."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            if len(args) == 1:
                annotation = args[0]
                continue
            return annotation, optional
        return annotation, optional


def _is_model(annotation: Any) -> typing.TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_scalar_union(annotation: Any) -> bool:
    args = typing.get_args(annotation)
    return bool(args) and all(a in (str, int, float, bool) for a in args)


def field_spec(name: str, info: FieldInfo) -> FieldSpec:
    """The spec of one pydantic field."""
    annotation, optional = _strip(info.annotation)
    base = FieldSpec(
        name=name,
        kind="json",
        label=label_for(name),
        description=info.description or "",
        required=info.is_required(),
        optional=optional,
        default=None if info.is_required() or info.default_factory else info.default,
        examples=tuple(info.examples or ()),
    )
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is bool:
        return replace(base, kind="switch")
    if annotation is int:
        return replace(base, kind="integer")
    if annotation is float:
        return replace(base, kind="number")
    if annotation is dt.date:
        return replace(base, kind="date")
    if origin is Literal:
        return replace(base, kind="select", options=args)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return replace(base, kind="select", options=tuple(m.value for m in annotation))
    if _is_model(annotation):
        return replace(base, kind="section", children=model_spec(annotation))
    if origin is list:
        item, _ = _strip(args[0]) if args else (Any, False)
        if _is_model(item):
            return replace(base, kind="list", children=model_spec(item))
        if item is str:
            return replace(base, kind="chips")
        return replace(base, kind="json", shape="array")
    if origin is dict:
        value, _ = _strip(args[1]) if len(args) == 2 else (Any, False)
        if _is_model(value):
            return replace(base, kind="map", children=model_spec(value))
        if value is str:
            return replace(base, kind="keyvalue")
        return replace(base, kind="json", shape="object")
    if annotation is str:
        return replace(base, kind="text")
    if _is_scalar_union(annotation):
        return replace(base, kind="json")
    return replace(base, kind="json")


def _depth(model: type[BaseModel], name: str) -> int:
    """0 for a field the model itself declares, higher for inherited ones."""
    for depth, cls in enumerate(model.__mro__):
        if name in inspect.get_annotations(cls):
            return depth
    return len(model.__mro__)


def model_spec(model: type[BaseModel], *, exclude: tuple[str, ...] = ()) -> tuple[FieldSpec, ...]:
    """Specs of every field of ``model``: required first, the type's own fields before inherited ones,
    nested sections last; otherwise in declaration order."""
    specs = [field_spec(name, info) for name, info in model.model_fields.items() if name not in exclude]
    return tuple(
        sorted(
            specs,
            key=lambda s: (s.kind in ("section", "list", "map"), not s.required, _depth(model, s.name)),
        )
    )
