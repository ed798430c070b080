"""The pipeline canvas element: a NiceGUI wrapper around canvas.js (Vue Flow)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Self, cast

from nicegui import ui
from nicegui.events import GenericEventArguments

from dagsmith.nodes import CATALOG, Catalog, Issue, Pipeline

from .layout import layout
from .protocol import (
    CanvasEdge,
    CanvasIssue,
    CanvasNode,
    CopyRequested,
    DeleteRequested,
    EdgeRequested,
    Event,
    LayoutComputed,
    Method,
    NodeClicked,
    NodeDropped,
    NodeMoved,
    PasteRequested,
    Point,
    SelectionChanged,
    TaskState,
    Viewport,
    canvas_graph,
    canvas_issues,
)
from .theme import FAMILY_COLORS, PORT_COLORS, compatibility_table

DIST = Path(__file__).parent / "dist"
"""The committed Vue Flow bundle and stylesheets (rebuild: see README.md)."""

# A queued loadGraph replaces everything these would have changed, so they are dropped from the queue.
_SUPERSEDED_BY_LOAD = frozenset(
    {
        Method.LOAD_GRAPH,
        Method.ADD_NODE,
        Method.UPDATE_NODE,
        Method.REMOVE_ELEMENTS,
        Method.ADD_EDGE,
        Method.SELECT,
        Method.APPLY_LAYOUT,
        Method.FIT_VIEW,
    }
)


class PipelineCanvas(
    ui.element,
    component="canvas.js",
    esm={"dagsmith-canvas-vendor": "dist"},
    default_classes="dagsmith-canvas",
    default_style="width: 100%; height: 640px",
):
    """The pipeline canvas: shows what Python tells it and reports what the user asks for.

    Python owns the graph: each ``on_*`` handler receives a request (a payload from protocol.py) and
    answers with the methods below. Calls made before the browser reports ``canvasReady`` are queued.
    The element needs a height (default 640 px; override with ``.style('height: ...')``).
    """

    def __init__(self, *, read_only: bool = False, dark: bool | None = None) -> None:
        """A canvas; ``dark=None`` follows NiceGUI's dark mode."""
        super().__init__()
        self.add_resource(DIST)
        self._props["read-only"] = read_only
        self._props["dark"] = dark
        self._props["port-colors"] = {t.value: color for t, color in PORT_COLORS.items()}
        self._props["family-colors"] = {f.value: color for f, color in FAMILY_COLORS.items()}
        self._props["compatibility"] = compatibility_table()
        self.is_ready = False
        self.viewport: Viewport | None = None
        """The last viewport the browser reported."""
        self.states: dict[str, str] = {}
        """The task-state badges shown (node id -> state)."""
        self.selection: SelectionChanged = {"nodes": [], "edges": []}
        """The selection as last reported by the browser or set with ``select``."""
        self._ready = asyncio.Event()
        self._pending: list[tuple[Method, tuple[Any, ...]]] = []
        self.on(Event.CANVAS_READY, self._handle_ready)
        self.on(Event.VIEWPORT_CHANGED, self._handle_viewport)
        self.on(Event.SELECTION_CHANGED, self._handle_selection)

    # ---- lifecycle ------------------------------------------------------------------------------

    def _handle_ready(self) -> None:
        first = not self.is_ready
        self.is_ready = True
        self._ready.set()
        pending, self._pending = self._pending, []
        for method, args in pending:
            self.run_method(method.value, *args)
        if not first and self.states:  # mounted again: the new component starts without badges
            self.run_method(Method.SET_STATES.value, self.states)

    def _handle_viewport(self, e: GenericEventArguments) -> None:
        self.viewport = cast("Viewport", e.args)

    def _handle_selection(self, e: GenericEventArguments) -> None:
        self.selection = cast("SelectionChanged", e.args)

    async def initialized(self) -> None:
        """Wait until the browser has mounted the canvas."""
        await self._ready.wait()

    def _call(self, method: Method, *args: Any) -> None:
        if self.is_ready:
            self.run_method(method.value, *args)
            return
        if method is Method.LOAD_GRAPH:
            self._pending = [(m, a) for m, a in self._pending if m not in _SUPERSEDED_BY_LOAD]
        self._pending.append((method, args))

    # ---- Python -> canvas -----------------------------------------------------------------------

    def load_graph(self, nodes: list[CanvasNode], edges: list[CanvasEdge], viewport: Viewport | None = None) -> None:
        """Replace everything shown; without a viewport the view fits the graph."""
        self._call(Method.LOAD_GRAPH, nodes, edges, viewport)

    def load_pipeline(
        self, pipeline: Pipeline, *, viewport: Viewport | None = None, catalog: Catalog = CATALOG
    ) -> None:
        """Show a whole pipeline document (steps, comments and edges)."""
        nodes, edges = canvas_graph(pipeline, catalog=catalog)
        self.load_graph(nodes, edges, viewport)

    def add_node(self, node: CanvasNode) -> None:
        """Show one more node (or comment)."""
        self._call(Method.ADD_NODE, node)

    def update_node(self, node: CanvasNode) -> None:
        """Redraw a node after its label, ports or position changed."""
        self._call(Method.UPDATE_NODE, node)

    def remove_elements(self, node_ids: Iterable[str] = (), edge_ids: Iterable[str] = ()) -> None:
        """Remove nodes and edges; the edges of removed nodes go too."""
        self._call(Method.REMOVE_ELEMENTS, list(node_ids), list(edge_ids))

    def add_edge(self, edge: CanvasEdge) -> None:
        """Show an edge Python accepted."""
        self._call(Method.ADD_EDGE, edge)

    def set_issues(
        self,
        node_issues: Mapping[str, list[CanvasIssue]],
        edge_issues: Mapping[str, list[CanvasIssue]] | None = None,
    ) -> None:
        """Replace all issue highlights (red border for errors, orange for warnings, count badge, tooltip)."""
        self._call(Method.SET_ISSUES, dict(node_issues), dict(edge_issues or {}))

    def show_issues(self, issues: Iterable[Issue]) -> None:
        """Highlight validation issues on their nodes and edges (replaces earlier highlights)."""
        self.set_issues(*canvas_issues(issues))

    def set_states(self, states: Mapping[str, TaskState | str]) -> None:
        """Replace all task-state badges (queued, running, success, failed, skipped); {} clears them.

        They are shown again when the browser mounts the canvas anew (a reconnect).
        """
        self.states = {node_id: str(state) for node_id, state in states.items()}
        self._call(Method.SET_STATES, self.states)

    def select(self, node_ids: Iterable[str] = (), edge_ids: Iterable[str] = ()) -> None:
        """Replace the selection (not echoed back as ``selectionChanged``)."""
        self.selection = {"nodes": list(node_ids), "edges": list(edge_ids)}
        self._call(Method.SELECT, self.selection["nodes"], self.selection["edges"])

    def fit_view(self) -> None:
        """Zoom and pan so the whole graph is visible."""
        self._call(Method.FIT_VIEW)

    def apply_layout(self, positions: Mapping[str, Point], *, fit: bool = True) -> None:
        """Move nodes to the given top-left positions, then (by default) fit the view."""
        self._call(Method.APPLY_LAYOUT, dict(positions))
        if fit:
            self.fit_view()

    def request_layout(self) -> None:
        """Ask the browser for ELK's layered layout of what it shows; it answers with ``on_layout_computed``."""
        self._call(Method.AUTO_LAYOUT)

    def auto_layout(self, pipeline: Pipeline, *, catalog: Catalog = CATALOG) -> dict[str, Point]:
        """Lay the pipeline out left to right in Python (no browser measurements: layout.py's estimates),
        show it, and return the positions for Python to store. ``request_layout`` gives a better layout."""
        positions = layout(pipeline, catalog=catalog)
        self.apply_layout(positions)
        return positions

    @property
    def read_only(self) -> bool:
        """Whether editing gestures are disabled."""
        return bool(self._props["read-only"])

    def set_read_only(self, value: bool) -> None:
        """Disable (or re-enable) dragging, connecting, dropping, deleting, pasting, undo and redo."""
        self._props["read-only"] = value  # kept as a prop so that a re-mounted canvas stays read-only
        self._call(Method.SET_READ_ONLY, value)

    def set_dark(self, value: bool | None) -> None:
        """Dark (True), light (False) or following NiceGUI's dark mode (None)."""
        self._props["dark"] = value
        self.update()

    def reject_connection(self, message: str) -> None:
        """Tell the user near the pointer why a requested connection was refused."""
        self._call(Method.REJECT_CONNECTION, message)

    # ---- canvas -> Python -----------------------------------------------------------------------

    def _relay(self, event: Event, handler: Callable[[Any], Any]) -> Self:
        def relay(e: GenericEventArguments) -> Any:
            return handler(e.args)

        self.on(event, relay)
        return self

    def _relay_bare(self, event: Event, handler: Callable[[], Any]) -> Self:
        self.on(event, handler)  # NiceGUI calls a handler without parameters without arguments
        return self

    def on_ready(self, handler: Callable[[], Any]) -> Self:
        """Call ``handler()`` whenever the browser (re)mounts the canvas; load the graph there."""
        return self._relay_bare(Event.CANVAS_READY, handler)

    def on_node_dropped(self, handler: Callable[[NodeDropped], Any]) -> Self:
        """Call ``handler(payload)`` when a palette item is dropped."""
        return self._relay(Event.NODE_DROPPED, handler)

    def on_node_moved(self, handler: Callable[[NodeMoved], Any]) -> Self:
        """Call ``handler(payload)`` once per finished drag (``payload['nodes']`` lists all moved nodes)."""
        return self._relay(Event.NODE_MOVED, handler)

    def on_edge_requested(self, handler: Callable[[EdgeRequested], Any]) -> Self:
        """Call ``handler(payload)`` when the user connects two ports; answer with add_edge or reject_connection."""
        return self._relay(Event.EDGE_REQUESTED, handler)

    def on_selection_changed(self, handler: Callable[[SelectionChanged], Any]) -> Self:
        """Call ``handler(payload)`` when the user changes the selection."""
        return self._relay(Event.SELECTION_CHANGED, handler)

    def on_delete_requested(self, handler: Callable[[DeleteRequested], Any]) -> Self:
        """Call ``handler(payload)`` on Delete/Backspace with a selection."""
        return self._relay(Event.DELETE_REQUESTED, handler)

    def on_copy_requested(self, handler: Callable[[CopyRequested], Any]) -> Self:
        """Call ``handler(payload)`` on Ctrl/Cmd+C with selected nodes."""
        return self._relay(Event.COPY_REQUESTED, handler)

    def on_paste_requested(self, handler: Callable[[PasteRequested], Any]) -> Self:
        """Call ``handler(payload)`` on Ctrl/Cmd+V with the paste point."""
        return self._relay(Event.PASTE_REQUESTED, handler)

    def on_undo_requested(self, handler: Callable[[], Any]) -> Self:
        """Call ``handler()`` on Ctrl/Cmd+Z."""
        return self._relay_bare(Event.UNDO_REQUESTED, handler)

    def on_redo_requested(self, handler: Callable[[], Any]) -> Self:
        """Call ``handler()`` on Ctrl/Cmd+Shift+Z or Ctrl/Cmd+Y."""
        return self._relay_bare(Event.REDO_REQUESTED, handler)

    def on_node_clicked(self, handler: Callable[[NodeClicked], Any]) -> Self:
        """Call ``handler(payload)`` when a node or comment is clicked."""
        return self._relay(Event.NODE_CLICKED, handler)

    def on_state_clicked(self, handler: Callable[[NodeClicked], Any]) -> Self:
        """Call ``handler(payload)`` when a node's task-state badge is clicked."""
        return self._relay(Event.STATE_CLICKED, handler)

    def on_pane_clicked(self, handler: Callable[[], Any]) -> Self:
        """Call ``handler()`` when the empty canvas is clicked."""
        return self._relay_bare(Event.PANE_CLICKED, handler)

    def on_layout_computed(self, handler: Callable[[LayoutComputed], Any]) -> Self:
        """Call ``handler(payload)`` with the layout ``request_layout`` asked for."""
        return self._relay(Event.LAYOUT_COMPUTED, handler)

    def on_viewport_changed(self, handler: Callable[[Viewport], Any]) -> Self:
        """Call ``handler(payload)`` after panning or zooming (throttled in the browser)."""
        return self._relay(Event.VIEWPORT_CHANGED, handler)
