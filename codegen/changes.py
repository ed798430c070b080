"""What changed between two pipeline documents, in plain language, for the export's review.

``describe_changes(old, new)`` lists one line per change a reviewer cares about: nodes added, removed,
relabelled or given another type; their parameters, output storage and access (a dotted field path named
by its form label); edges added or removed; pipeline settings. Positions on the canvas and comments do
not change the DAG and are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from dagsmith.nodes import CATALOG, Edge, Node, Pipeline

__all__ = ["describe_changes", "field_label"]

_UNSET = object()
_LONGEST_VALUE = 60
# The words the editor's form labels spell differently from the field names (editor/forms/spec.py's
# label_for; codegen cannot import the editor, so the few words are repeated here).
_WORDS = {"cpu": "CPU", "gpu": "GPU", "id": "ID", "uri": "URI", "pvc": "PVC", "shm": "Shared memory", "dag": "DAG"}


def describe_changes(old: Pipeline, new: Pipeline) -> list[str]:
    """The changes from ``old`` to ``new``, one plain-language line each ([] when none matter).

    Nodes are matched by id; edges by the ports they join (an edge drawn again is no change).
    """
    lines: list[str] = []
    old_nodes, new_nodes = old.node_map(), new.node_map()
    for node in new_nodes.values():
        before = old_nodes.get(node.id)
        if before is None:
            lines.append(f"new node {_name(node)} ({_title(node.type)})")
        else:
            lines.extend(_node_changes(before, node))
    lines.extend(f"removed node {_name(node)}" for node_id, node in old_nodes.items() if node_id not in new_nodes)
    old_edges = {_edge_key(edge): edge for edge in old.edges}
    new_edges = {_edge_key(edge): edge for edge in new.edges}
    lines.extend(
        f"removed edge {_edge_text(edge, old_nodes)}" for key, edge in old_edges.items() if key not in new_edges
    )
    lines.extend(f"new edge {_edge_text(edge, new_nodes)}" for key, edge in new_edges.items() if key not in old_edges)
    settings = _diff(_flatten(old.settings.model_dump(mode="json")), _flatten(new.settings.model_dump(mode="json")))
    lines.extend(f"settings: {text}" for text in settings)
    return lines


def field_label(path: str) -> str:
    """A dotted field path as the form names it: ``pod.resources.gpu`` → ``GPU (pod.resources.gpu)``."""
    parts = path.split(".")
    leaf = next((part for part in reversed(parts) if not part.isdigit()), parts[-1])
    words = [_WORDS.get(word, word) for word in leaf.split("_")]
    first = words[0] if words[0] in _WORDS.values() else words[0].capitalize()
    label = " ".join([first, *words[1:]])
    return label if len(parts) == 1 else f"{label} ({path})"


def _node_changes(old: Node, new: Node) -> Iterator[str]:
    if old.display_name != new.display_name:
        yield f"renamed node {old.display_name!r} → {new.display_name!r}"
    name = _name(new)
    if old.type != new.type:
        yield f"{name}: type {_title(old.type)} → {_title(new.type)}"
    for text in _diff(_node_fields(old), _node_fields(new)):
        yield f"{name}: {text}"


def _node_fields(node: Node) -> dict[str, Any]:
    """The node's parameters, output storage and access as dotted paths (parameters without a prefix)."""
    fields = _flatten(node.params)
    outputs = {port: settings.model_dump(mode="json") for port, settings in node.outputs.items()}
    fields.update(_flatten(outputs, ("outputs",)))
    if node.access is not None:
        fields.update(_flatten(node.access.model_dump(mode="json"), ("access",)))
    return fields


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """One line per path set, cleared or changed, in the order of ``new`` then ``old``."""
    lines = []
    for path in [*new, *(path for path in old if path not in new)]:
        before, after = old.get(path, _UNSET), new.get(path, _UNSET)
        if before == after:
            continue
        label = field_label(path)
        if before is _UNSET:
            lines.append(f"{label} set to {_show(after)}")
        elif after is _UNSET:
            lines.append(f"{label} cleared (was {_show(before)})")
        else:
            lines.append(f"{label} {_show(before)} → {_show(after)}")
    return lines


def _flatten(value: Any, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Leaf values by dotted path; unset (None) leaves are left out.

    A list of items that each have a distinct ``name`` (run-time parameters, environment variables) is
    keyed by those names, so that removing the first item does not read as every item changing.
    """
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            result.update(_flatten(item, (*path, str(key))))
        return result
    if isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
        names = [item.get("name") for item in value]
        keys = [str(name) for name in names] if _distinct_names(names) else [str(i) for i in range(len(value))]
        result = {}
        for key, item in zip(keys, value, strict=True):
            result.update(_flatten(item, (*path, key)))
        return result
    if value is None or not path:
        return {}
    return {".".join(path): value}


def _distinct_names(names: list[Any]) -> bool:
    return all(isinstance(name, str) and name and not name.isdigit() for name in names) and len(set(names)) == len(
        names
    )


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _LONGEST_VALUE else text[: _LONGEST_VALUE - 1] + "…"


def _name(node: Node) -> str:
    return node.display_name


def _title(kind: str) -> str:
    node_type = CATALOG.get(kind)
    return node_type.title if node_type is not None else kind


def _edge_key(edge: Edge) -> tuple[str, str, str, str]:
    return edge.source, edge.source_port, edge.target, edge.target_port


def _edge_text(edge: Edge, nodes: Mapping[str, Node]) -> str:
    source, target = nodes.get(edge.source), nodes.get(edge.target)
    return (
        f"{source.display_name if source else edge.source}.{edge.source_port} → "
        f"{target.display_name if target else edge.target}.{edge.target_port}"
    )
