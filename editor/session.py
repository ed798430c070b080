"""The editing session: Python owns the pipeline; every change is one undoable step, then re-validated.

The canvas and the forms only ask; ``EditorSession`` decides, changes the document and tells its
listeners what changed. It imports no UI, so every interaction is testable without a browser. How a
change is recorded (undo), validated (in the background on large pipelines) and announced lives in
``session_core.SessionCore``; this module holds the edits themselves.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from dagsmith.nodes import CATALOG, Comment, Edge, Node, Pipeline, Position, validate
from dagsmith.nodes.document import slug
from dagsmith.nodes.friendly import friendly_message

from .session_core import (
    BACKGROUND_NODES,
    MAX_UNDO,
    Change,
    Guard,
    Listener,
    Path,
    Refusal,
    SessionCore,
    Starter,
    fresh_id,
)

__all__ = [
    "BACKGROUND_NODES",
    "MAX_UNDO",
    "Change",
    "EditorSession",
    "Guard",
    "Listener",
    "Path",
    "Refusal",
    "SessionCore",
    "Starter",
]


@dataclass(slots=True)
class _Clipboard:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)


class EditorSession(SessionCore):
    """One open pipeline with undo/redo, live validation and change notifications."""

    def __init__(self, pipeline: Pipeline | None = None) -> None:
        super().__init__(pipeline)
        self._clipboard = _Clipboard()

    def replace(self, pipeline: Pipeline, description: str = "open") -> None:
        """Replace the whole document (open a file, start from a template) as one undoable step."""
        before = self._snapshot()
        self.pipeline = pipeline
        self._commit(before, Change("reload", description=description))

    # -- nodes ---------------------------------------------------------------------------------------
    def _new_id(self, base: str) -> str:
        """A node id no other page editing this draft picks too (``fresh_id``): ``script_k3x9qa``."""
        return fresh_id(slug(base) or "node", {n.id for n in self.pipeline.nodes})

    def _new_label(self, base: str) -> str:
        taken = {n.task_id() for n in self.pipeline.nodes}
        if slug(base) not in taken:
            return base
        return next(f"{base} {i}" for i in itertools.count(2) if slug(f"{base} {i}") not in taken)

    def add_node(self, kind: str, x: float, y: float) -> Node | Refusal:
        """Add a node of type ``kind`` at a canvas position, with a unique id and label."""
        node_type = CATALOG.get(kind)
        if node_type is None:
            return Refusal(f"there is no node type {kind!r}")
        before = self._snapshot()
        node = Node(
            id=self._new_id(kind),
            type=kind,
            label=self._new_label(node_type.title),
            position=Position(x=x, y=y),
        )
        self.pipeline.nodes.append(node)
        self._commit(before, Change("add", (node.id,), f"add {node.label}"))
        return node

    def move_nodes(self, positions: dict[str, tuple[float, float]]) -> None:
        """Move nodes (one drag = one step); unknown ids are ignored."""
        items: dict[str, Node | Comment] = {c.id: c for c in self.pipeline.comments}
        items.update(self.pipeline.node_map())
        moved = {i: p for i, p in positions.items() if i in items}
        if not moved:
            return
        before = self._snapshot()
        for item_id, (x, y) in moved.items():
            items[item_id].position = Position(x=x, y=y)
        self._commit(before, Change("layout", tuple(moved), "move"))

    def apply_layout(self, positions: dict[str, tuple[float, float]]) -> None:
        """Auto-layout result as one step."""
        self.move_nodes(positions)

    def delete(self, node_ids: Iterable[str] = (), edge_ids: Iterable[str] = ()) -> None:
        """Delete nodes (with their edges), comments (their ids come with the nodes') and edges.

        Comments attached to deleted nodes stay on the canvas, detached from them.
        """
        nodes, edges = set(node_ids), set(edge_ids)
        if not nodes and not edges:
            return
        before = self._snapshot()
        p = self.pipeline
        p.comments = [c for c in p.comments if c.id not in nodes]
        removed = [e.id for e in p.edges if e.id in edges or e.source in nodes or e.target in nodes]
        p.nodes = [n for n in p.nodes if n.id not in nodes]
        p.edges = [e for e in p.edges if e.id not in removed]
        for comment in p.comments:
            comment.nodes = [n for n in comment.nodes if n not in nodes]
        self._commit(before, Change("delete", tuple(sorted(nodes)), "delete", tuple(removed)))

    def set_param(self, node_id: str, path: Path, value: Any) -> None:
        """Set one (nested) parameter from a form; ``None`` removes it, so the default applies again."""
        node = self.pipeline.node(node_id)
        if node is None or not path:
            return
        params = copy.deepcopy(node.params)  # replaced, not changed in place (see ``frozen``)
        _set_path(params, path, value)
        if params == node.params:
            return  # the value it has (a field's change event on blur, a merged value echoed): no undo step
        before = self._node_snapshot(node)
        node.params = params
        where = ".".join(map(str, path))
        self._commit(
            before, Change("node", (node_id,), f"edit {node.display_name}.{where}"), coalesce=f"{node_id}:{where}"
        )

    def set_node_field(self, node_id: str, path: Path, value: Any) -> Refusal | None:
        """Set a node's own field (``label``, ``access.level``, ``outputs.model.path``) from a form."""
        node = self.pipeline.node(node_id)
        if node is None or not path:
            return Refusal(f"there is no node {node_id!r}")
        data = node.model_dump(mode="json")
        _set_path(data, path, value)
        where = ".".join(map(str, path))
        try:
            updated = Node.model_validate(data)
        except ValidationError as exc:
            return self._refuse(node_id, where, exc)
        if self.refused.pop((node_id, where), None) is None and updated == node:
            return None  # the value it has: no undo step (one would undo nothing, or a merged change)
        before = self._node_snapshot(node)
        self.pipeline.nodes[self.pipeline.nodes.index(node)] = updated
        self._commit(
            before, Change("node", (node_id,), f"edit {updated.display_name}.{where}"), coalesce=f"{node_id}:{where}"
        )
        return None

    def set_setting(self, path: Path, value: Any) -> Refusal | None:
        """Set a pipeline setting (``schedule``, ``default_resources.gpu_resource``) from the settings form."""
        if not path:
            return Refusal("no setting named")
        data = self.pipeline.settings.model_dump(mode="json")
        _set_path(data, path, value)
        where = ".".join(map(str, path))
        try:
            settings = type(self.pipeline.settings).model_validate(data)
        except ValidationError as exc:
            return self._refuse(None, f"settings.{where}", exc)
        if self.refused.pop((None, f"settings.{where}"), None) is None and settings == self.pipeline.settings:
            return None  # the value it has: no undo step
        before = self._settings_snapshot()
        self.pipeline.settings = settings
        self._commit(before, Change("settings", description=f"edit settings.{where}"), coalesce=f"settings:{where}")
        return None

    def _refuse(self, node_id: str | None, field: str, exc: ValidationError) -> Refusal:
        """A value the document cannot hold: the plain-language message, kept for the field (``refused``)."""
        err = exc.errors(include_url=False)[0]
        message = friendly_message(err) or err["msg"]
        self.refused[(node_id, field)] = message
        self._notify(Change("issues"))  # the form shows it under the field; the document did not change
        where = f"node {node_id}" if node_id else "the pipeline settings"
        return Refusal(f"{field.removeprefix('settings.')} of {where}: {message}")

    # -- edges ---------------------------------------------------------------------------------------
    def request_edge(self, source: str, source_port: str, target: str, target_port: str) -> Edge | Refusal:
        """Connect two ports if validation allows it; otherwise explain why not."""
        edge_id = fresh_id("e", {e.id for e in self.pipeline.edges})
        edge = Edge(id=edge_id, source=source, source_port=source_port, target=target, target_port=target_port)
        if any(
            (e.source, e.source_port, e.target, e.target_port) == (source, source_port, target, target_port)
            for e in self.pipeline.edges
        ):
            return Refusal("these ports are already connected")
        trial = self.pipeline.model_copy(update={"edges": [*self.pipeline.edges, edge]})
        # Only the edges differ from the document: its run-time parameter issues (when current) hold for the trial.
        issues = validate(trial, same_params_as=None if self.validation_pending else self.issues)
        problems = [i for i in issues if i.is_error and i.edge == edge_id]
        if problems:
            return Refusal(problems[0].message)
        before = self._snapshot()
        self.pipeline.edges.append(edge)  # the trial's issues are this document's: no second validation
        self._commit(before, Change("connect", (source, target), "connect", (edge.id,)), issues=issues)
        return edge

    # -- comments --------------------------------------------------------------------------------------
    def add_comment(self, text: str, x: float, y: float, nodes: Sequence[str] = ()) -> Comment:
        """Add a canvas comment, optionally attached to nodes."""
        before = self._snapshot()
        comment_id = fresh_id("c", {c.id for c in self.pipeline.comments})
        comment = Comment(id=comment_id, text=text, position=Position(x=x, y=y), nodes=list(nodes))
        self.pipeline.comments.append(comment)
        self._commit(before, Change("graph", description="add comment"))
        return comment

    def comment(self, comment_id: str) -> Comment | None:
        """The comment with this id, or None."""
        return next((c for c in self.pipeline.comments if c.id == comment_id), None)

    def edit_comment(self, comment_id: str, text: str, nodes: Sequence[str] | None = None) -> None:
        """Change a comment's text and, if given, the nodes it is attached to."""
        comment = self.comment(comment_id)
        attached = list(nodes) if nodes is not None else None
        if comment is None or (comment.text == text and (attached is None or attached == comment.nodes)):
            return
        before = self._snapshot()
        comment.text = text
        if attached is not None:
            comment.nodes = [n for n in attached if self.pipeline.node(n) is not None]
        self._commit(before, Change("graph", description="edit comment"))

    # -- clipboard -------------------------------------------------------------------------------------
    def copy(self, node_ids: Iterable[str]) -> int:
        """Copy nodes and the edges between them; the number of nodes copied."""
        wanted = set(node_ids)
        self._clipboard = _Clipboard(
            nodes=[n.model_dump() for n in self.pipeline.nodes if n.id in wanted],
            edges=[e.model_dump() for e in self.pipeline.edges if e.source in wanted and e.target in wanted],
        )
        return len(self._clipboard.nodes)

    def paste(self, x: float, y: float) -> list[str]:
        """Paste the clipboard with its top-left node at (x, y); the new node ids."""
        if not self._clipboard.nodes:
            return []
        before = self._snapshot()
        min_x = min(n["position"]["x"] for n in self._clipboard.nodes)
        min_y = min(n["position"]["y"] for n in self._clipboard.nodes)
        renamed: dict[str, str] = {}
        for data in copy.deepcopy(self._clipboard.nodes):
            new_id = self._new_id(data["type"])
            renamed[data["id"]] = new_id
            data.update(id=new_id, label=self._new_label(data["label"] or data["type"]))
            data["position"] = {"x": data["position"]["x"] - min_x + x, "y": data["position"]["y"] - min_y + y}
            self.pipeline.nodes.append(Node.model_validate(data))
        taken = {e.id for e in self.pipeline.edges}
        for data in self._clipboard.edges:
            edge_id = fresh_id("e", taken)
            taken.add(edge_id)
            self.pipeline.edges.append(
                Edge.model_validate(
                    {**data, "id": edge_id, "source": renamed[data["source"]], "target": renamed[data["target"]]}
                )
            )
        self._commit(before, Change("graph", tuple(renamed.values()), "paste"))
        return list(renamed.values())


def _set_path(container: dict[str, Any], path: Path, value: Any) -> None:
    """Set ``container[path[0]][path[1]]... = value``, creating dicts and lists on the way."""
    current: Any = container
    for key, following in itertools.pairwise(path):
        if isinstance(current, list) and isinstance(key, int):
            while len(current) <= key:
                current.append({} if isinstance(following, str) else [])
            if not isinstance(current[key], dict | list):
                current[key] = {} if isinstance(following, str) else []
            current = current[key]
            continue
        child = current.get(key)
        if not isinstance(child, dict | list):
            child = {} if isinstance(following, str) else []
            current[key] = child
        current = child
    last = path[-1]
    if isinstance(current, list) and isinstance(last, int):
        while len(current) <= last:
            current.append(None)
        current[last] = value
    elif value is None:
        current.pop(last, None)
    else:
        current[last] = value
