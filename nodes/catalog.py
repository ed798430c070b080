"""The node catalog: every node type dagsmith knows, looked up by name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .checks import closest
from .types import BUILTIN_TYPES, NodeType


class Catalog:
    """A registry of node types by their ``kind``; iterate it for palette order."""

    def __init__(self, types: Iterable[type[NodeType]] = ()) -> None:
        self._types: dict[str, type[NodeType]] = {}
        for node_type in types:
            self.register(node_type)

    def register(self, node_type: type[NodeType]) -> None:
        """Add a node type; a second type with the same name is a programmer error."""
        if node_type.kind in self._types:
            raise ValueError(f"node type {node_type.kind!r} is already registered")
        self._types[node_type.kind] = node_type

    def get(self, kind: str) -> type[NodeType] | None:
        """The node type called ``kind``, or None."""
        return self._types.get(kind)

    def suggest(self, kind: str) -> list[str]:
        """Known type names close to ``kind`` (for 'unknown node type' messages)."""
        return closest(kind, tuple(self._types)) or closest(kind.lower(), tuple(self._types))

    def names(self) -> list[str]:
        """Type names in palette order."""
        return list(self._types)

    def __iter__(self) -> Iterator[type[NodeType]]:
        return iter(self._types.values())

    def __contains__(self, kind: object) -> bool:
        return kind in self._types

    def describe(self) -> list[dict[str, Any]]:
        """Every type's catalog entry (``dagsmith catalog --json``)."""
        return [t.describe() for t in self]


CATALOG = Catalog(BUILTIN_TYPES)
"""The built-in catalog."""
