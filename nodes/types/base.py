"""The base every node type builds on: metadata, ports as data, and cross-field checks."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field

from ..common import PodSettings, Strict
from ..issues import Code
from ..ports import Port, PortType


class Family(StrEnum):
    """Palette groups, in the order of the MLOps loop."""

    FEATURES = "features"
    DEVELOP = "develop"
    TUNE = "tune"
    TRACK = "track"
    DEPLOY = "deploy"
    MONITOR = "monitor"


@dataclass(frozen=True, slots=True)
class Problem:
    """A cross-field problem a node type finds in its own parameters."""

    field: str
    message: str
    code: Code = Code.INVALID_VALUE


class NodeType(Strict):
    """A node type: its pydantic fields are the node's parameters; class variables describe it."""

    kind: ClassVar[str]
    family: ClassVar[Family]
    title: ClassVar[str]
    summary: ClassVar[str]
    in_ports: ClassVar[tuple[Port, ...]] = ()
    out_ports: ClassVar[tuple[Port, ...]] = ()

    pod: PodSettings = Field(default_factory=PodSettings, description="The pod this step runs in")

    @classmethod
    def ports(cls, params: Mapping[str, Any]) -> tuple[tuple[Port, ...], tuple[Port, ...]]:
        """Input and output ports for these (possibly invalid) parameters."""
        return cls.in_ports, cls.out_ports

    def problems(self, connected: frozenset[str]) -> Iterator[Problem]:
        """Cross-field problems, given the names of the connected input ports."""
        return iter(())

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Catalog entry: name, family, title, summary, default ports and the parameter fields."""
        inputs, outputs = cls.ports({})
        return {
            "type": cls.kind,
            "family": cls.family.value,
            "title": cls.title,
            "summary": cls.summary,
            "inputs": [p.to_dict() for p in inputs],
            "outputs": [p.to_dict() for p in outputs],
            "fields": {
                name: {
                    "required": info.is_required(),
                    "description": info.description or "",
                    "annotation": _annotation_name(info.annotation),
                }
                for name, info in cls.model_fields.items()
            },
        }


def _annotation_name(annotation: object) -> str:
    """A short readable type: ``list[str]``, ``PodSettings``, ``Literal['a', 'b'] | None``."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    text = re.sub(r"Annotated\[(\w+(?:\[[^\]]*\])?), [^\]]*\]", r"\1", repr(annotation))
    return re.sub(r"\b(?:[a-z_][\w]*\.)+([A-Za-z_]\w*)", r"\1", text)


def port(name: str, type_: PortType, description: str, *, required: bool = False, multiple: bool = False) -> Port:
    """Shorthand for declaring a port."""
    return Port(name=name, type=type_, description=description, required=required, multiple=multiple)
