"""dagsmith.editor.canvas: the pipeline canvas element (Vue Flow) and its protocol with Python.

``PipelineCanvas`` is the element; ``protocol`` names its events and methods and converts a pipeline
into what the canvas draws; ``layout`` places nodes left to right.
"""

from __future__ import annotations

from .canvas import PipelineCanvas
from .layout import layout, needs_layout
from .protocol import (
    DRAG_TYPE,
    PALETTE_ATTRIBUTE,
    CanvasEdge,
    CanvasIssue,
    CanvasNode,
    CanvasPort,
    CopyRequested,
    DeleteRequested,
    EdgeRequested,
    Event,
    LayoutComputed,
    Method,
    NodeClicked,
    NodeDropped,
    NodeMoved,
    NodePosition,
    PasteRequested,
    Point,
    SelectionChanged,
    TaskState,
    Viewport,
    canvas_comment,
    canvas_edge,
    canvas_graph,
    canvas_issues,
    canvas_node,
    canvas_port,
)
from .theme import FAMILY_COLORS, PORT_COLORS, compatibility_table

__all__ = [
    "CanvasEdge",
    "CanvasIssue",
    "CanvasNode",
    "CanvasPort",
    "CopyRequested",
    "DRAG_TYPE",
    "DeleteRequested",
    "EdgeRequested",
    "Event",
    "FAMILY_COLORS",
    "LayoutComputed",
    "Method",
    "NodeClicked",
    "NodeDropped",
    "NodeMoved",
    "NodePosition",
    "PALETTE_ATTRIBUTE",
    "PORT_COLORS",
    "PasteRequested",
    "PipelineCanvas",
    "Point",
    "SelectionChanged",
    "TaskState",
    "Viewport",
    "canvas_comment",
    "canvas_edge",
    "canvas_graph",
    "canvas_issues",
    "canvas_node",
    "canvas_port",
    "compatibility_table",
    "layout",
    "needs_layout",
]
