"""The canvas protocol: event and method names and payload shapes, and the pipeline -> canvas conversion.

canvas.js emits the events and implements the methods listed here; canvas.py relays them. The canvas
asks (events) and Python decides, then tells the canvas what to show (methods). Payload keys are
snake_case; names are camelCase because NiceGUI camelCases event names.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Literal, NotRequired, TypedDict

from dagsmith.nodes import CATALOG, Catalog, Comment, Edge, Issue, Node, Pipeline, Port, PortType

DRAG_TYPE = "application/dagsmith-node"
"""The dataTransfer type a palette item's drag carries; its value is the node type name."""

PALETTE_ATTRIBUTE = "data-dagsmith-node"
"""An element with this attribute (value: node type name) can be dragged onto the canvas as is."""


class Event(StrEnum):
    """Events the canvas emits (JS -> Python)."""

    CANVAS_READY = "canvasReady"
    """No payload. The canvas can take method calls; sent again if the component is mounted again."""
    NODE_DROPPED = "nodeDropped"
    """``NodeDropped``: a palette item was dropped; x, y (flow coordinates) are where the new node's top-left
    goes, so that the drop point is the middle of its header."""
    NODE_MOVED = "nodeMoved"
    """``NodeMoved``: one event per finished drag, listing every node that moved with it."""
    EDGE_REQUESTED = "edgeRequested"
    """``EdgeRequested``: the user connected an output to an input; answer with addEdge or rejectConnection."""
    SELECTION_CHANGED = "selectionChanged"
    """``SelectionChanged``: the user changed the selection (Python's own select calls are not echoed)."""
    DELETE_REQUESTED = "deleteRequested"
    """``DeleteRequested``: Delete or Backspace with a selection (not in read-only mode)."""
    COPY_REQUESTED = "copyRequested"
    """``CopyRequested``: Ctrl/Cmd+C with selected nodes; Python keeps the clipboard."""
    PASTE_REQUESTED = "pasteRequested"
    """``PasteRequested``: Ctrl/Cmd+V; x, y: the pointer (or the view's centre) in flow coordinates."""
    UNDO_REQUESTED = "undoRequested"
    """No payload: Ctrl/Cmd+Z."""
    REDO_REQUESTED = "redoRequested"
    """No payload: Ctrl/Cmd+Shift+Z or Ctrl/Cmd+Y."""
    NODE_CLICKED = "nodeClicked"
    """``NodeClicked``: a node (or comment) was clicked."""
    STATE_CLICKED = "stateClicked"
    """``NodeClicked``: the task-state badge of a node was clicked (show the node's task log)."""
    PANE_CLICKED = "paneClicked"
    """No payload: the empty canvas was clicked."""
    VIEWPORT_CHANGED = "viewportChanged"
    """``Viewport``: the view was panned or zoomed (at most one event per 200 ms, the last one always sent)."""
    LAYOUT_COMPUTED = "layoutComputed"
    """``LayoutComputed``: ELK's layered layout, asked for with autoLayout; store it, then applyLayout."""


class Method(StrEnum):
    """Methods the canvas implements (Python -> JS), called through ``run_method``."""

    LOAD_GRAPH = "loadGraph"
    """(nodes, edges, viewport | None): replace everything shown; no viewport: fit the view."""
    ADD_NODE = "addNode"
    """(node)"""
    UPDATE_NODE = "updateNode"
    """(node): replace a node's label, ports, position and kind."""
    REMOVE_ELEMENTS = "removeElements"
    """(node_ids, edge_ids): edges of removed nodes go too."""
    ADD_EDGE = "addEdge"
    """(edge)"""
    SET_ISSUES = "setIssues"
    """({node_id: [issue]}, {edge_id: [issue]}): replaces all issue highlights."""
    SET_STATES = "setStates"
    """({node_id: state}): replaces all task-state badges."""
    SELECT = "select"
    """(node_ids, edge_ids): replaces the selection."""
    FIT_VIEW = "fitView"
    """()"""
    APPLY_LAYOUT = "applyLayout"
    """({node_id: {x, y}}): moves the listed nodes."""
    AUTO_LAYOUT = "autoLayout"
    """(): lay out what is shown with ELK (measured sizes, port positions); answered by layoutComputed."""
    SET_READ_ONLY = "setReadOnly"
    """(bool): no dragging, connecting, dropping, deleting, pasting, undo or redo."""
    REJECT_CONNECTION = "rejectConnection"
    """(message): a short toast near the pointer saying why a connection was refused."""


class TaskState(StrEnum):
    """Task states the canvas shows as badges during live runs."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"


NodeKind = Literal["step", "comment"]


class CanvasPort(TypedDict):
    """A port as the canvas draws it."""

    name: str
    type: str
    required: bool
    multiple: bool
    description: str


class CanvasNode(TypedDict):
    """A step or a comment as the canvas draws it; ``x``, ``y`` is the top-left corner."""

    id: str
    type: str
    label: str
    title: str
    x: float
    y: float
    inputs: list[CanvasPort]
    outputs: list[CanvasPort]
    family: str
    kind: NodeKind
    attached: NotRequired[list[str]]
    """Comments only: the steps the note is attached to (drawn as dotted links)."""


class CanvasEdge(TypedDict):
    """An edge as the canvas draws it; ``type`` is the source port's type (the edge's colour)."""

    id: str
    source: str
    source_port: str
    target: str
    target_port: str
    type: str


class CanvasIssue(TypedDict):
    """One problem shown on a node or edge."""

    severity: str
    message: str
    code: str


class Point(TypedDict):
    """A point in flow coordinates."""

    x: float
    y: float


class Viewport(TypedDict):
    """The view's pan and zoom (payload of ``viewportChanged``, argument of ``loadGraph``)."""

    x: float
    y: float
    zoom: float


class NodeDropped(TypedDict):
    """Payload of ``nodeDropped``: the node type name and the new node's top-left (the drop point centres it)."""

    kind: str
    x: float
    y: float


class NodePosition(TypedDict):
    """A node's new top-left corner."""

    id: str
    x: float
    y: float


class NodeMoved(TypedDict):
    """Payload of ``nodeMoved``: the grabbed node's position, and in ``nodes`` all nodes the drag moved."""

    id: str
    x: float
    y: float
    nodes: list[NodePosition]


class LayoutComputed(TypedDict):
    """Payload of ``layoutComputed``: the top-left position ELK gave every node and comment shown."""

    nodes: list[NodePosition]


class EdgeRequested(TypedDict):
    """Payload of ``edgeRequested``: always from an output (source) to an input (target)."""

    source: str
    source_port: str
    target: str
    target_port: str


class SelectionChanged(TypedDict):
    """Payload of ``selectionChanged``: the selected node and edge ids."""

    nodes: list[str]
    edges: list[str]


class DeleteRequested(TypedDict):
    """Payload of ``deleteRequested``: the selection at the time of the key press."""

    node_ids: list[str]
    edge_ids: list[str]


class CopyRequested(TypedDict):
    """Payload of ``copyRequested``."""

    node_ids: list[str]


class NodeClicked(TypedDict):
    """Payload of ``nodeClicked``."""

    id: str


PasteRequested = Point
"""Payload of ``pasteRequested``."""


def canvas_port(port: Port) -> CanvasPort:
    """A catalog port in the canvas's shape."""
    return {
        "name": port.name,
        "type": port.type.value,
        "required": port.required,
        "multiple": port.multiple,
        "description": port.description,
    }


def canvas_node(node: Node, *, catalog: Catalog = CATALOG) -> CanvasNode:
    """A pipeline node with its type's ports for its current parameters; an unknown type has no ports."""
    node_type = catalog.get(node.type)
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    if node_type is not None:
        inputs, outputs = node_type.ports(node.params)
    return {
        "id": node.id,
        "type": node.type,
        "label": node.display_name,
        "title": node_type.title if node_type is not None else node.type,
        "x": node.position.x,
        "y": node.position.y,
        "inputs": [canvas_port(p) for p in inputs],
        "outputs": [canvas_port(p) for p in outputs],
        "family": node_type.family.value if node_type is not None else "",
        "kind": "step",
    }


def canvas_comment(comment: Comment) -> CanvasNode:
    """A comment as a sticky note: no ports, its text as the label, linked to the steps it is attached to."""
    return {
        "id": comment.id,
        "type": "comment",
        "label": comment.text,
        "title": "Comment",
        "x": comment.position.x,
        "y": comment.position.y,
        "inputs": [],
        "outputs": [],
        "family": "",
        "kind": "comment",
        "attached": list(comment.nodes),
    }


def canvas_edge(edge: Edge, source: CanvasNode | None) -> CanvasEdge:
    """An edge, typed by its source port (``any`` when the source node or port is unknown)."""
    outputs = source["outputs"] if source is not None else []
    port_type = next((p["type"] for p in outputs if p["name"] == edge.source_port), PortType.ANY.value)
    return {
        "id": edge.id,
        "source": edge.source,
        "source_port": edge.source_port,
        "target": edge.target,
        "target_port": edge.target_port,
        "type": port_type,
    }


def canvas_graph(pipeline: Pipeline, *, catalog: Catalog = CATALOG) -> tuple[list[CanvasNode], list[CanvasEdge]]:
    """The whole pipeline in the canvas's shapes: steps, then comments, then edges (``loadGraph``'s arguments)."""
    steps = [canvas_node(n, catalog=catalog) for n in pipeline.nodes]
    by_id: dict[str, CanvasNode] = {}
    for step in steps:
        by_id.setdefault(step["id"], step)
    nodes = steps + [canvas_comment(c) for c in pipeline.comments]
    edges = [canvas_edge(e, by_id.get(e.source)) for e in pipeline.edges]
    return nodes, edges


def canvas_issues(issues: Iterable[Issue]) -> tuple[dict[str, list[CanvasIssue]], dict[str, list[CanvasIssue]]]:
    """Validation issues grouped by node id and by edge id (``setIssues``'s arguments), in the given order.

    An issue about an edge and a node shows on both; pipeline-wide issues show on neither.
    """
    by_node: dict[str, list[CanvasIssue]] = {}
    by_edge: dict[str, list[CanvasIssue]] = {}
    for issue in issues:
        message = f"{issue.field}: {issue.message}" if issue.field else issue.message
        shown: CanvasIssue = {"severity": issue.severity.value, "message": message, "code": issue.code.value}
        if issue.node is not None:
            by_node.setdefault(issue.node, []).append(shown)
        if issue.edge is not None:
            by_edge.setdefault(issue.edge, []).append(shown)
    return by_node, by_edge
