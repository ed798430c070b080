"""Where pasted nodes go: at the asked point, or moved down and right until they cover no other node."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dagsmith.nodes import CATALOG, Catalog, Node

from .layout import NODE_WIDTH, node_height

PASTE_STEP = 40.0
"""How far (down and right, in canvas units) each try moves pasted nodes that would cover others."""
GAP = 8.0
"""The least space kept between a pasted node and any other."""
_MAX_TRIES = 500


@dataclass(frozen=True, slots=True)
class Box:
    """A node's approximate rectangle on the canvas (top-left corner, width, height)."""

    x: float
    y: float
    width: float
    height: float

    def moved(self, dx: float, dy: float) -> Box:
        """The same box shifted by (dx, dy)."""
        return Box(self.x + dx, self.y + dy, self.width, self.height)

    def overlaps(self, other: Box, gap: float = GAP) -> bool:
        """True when the boxes, one grown by ``gap`` on every side, intersect."""
        return (
            self.x < other.x + other.width + gap
            and other.x < self.x + self.width + gap
            and self.y < other.y + other.height + gap
            and other.y < self.y + self.height + gap
        )


def node_box(node: Node, *, catalog: Catalog = CATALOG) -> Box:
    """A step's rectangle, from its position and its port rows (as the canvas draws it)."""
    node_type = catalog.get(node.type)
    inputs, outputs = node_type.ports(node.params) if node_type is not None else ((), ())
    return Box(node.position.x, node.position.y, NODE_WIDTH, node_height(max(len(inputs), len(outputs))))


def relative_boxes(nodes: Iterable[Node], *, catalog: Catalog = CATALOG) -> list[Box]:
    """The nodes' rectangles relative to their common top-left corner (what a paste places at a point)."""
    boxes = [node_box(node, catalog=catalog) for node in nodes]
    if not boxes:
        return []
    left, top = min(b.x for b in boxes), min(b.y for b in boxes)
    return [b.moved(-left, -top) for b in boxes]


def free_point(x: float, y: float, pasted: list[Box], existing: Iterable[Box]) -> tuple[float, float]:
    """The point nearest (x, y), stepping down and right by PASTE_STEP, where ``pasted`` covers no existing box.

    ``pasted`` is relative to its top-left corner (``relative_boxes``); the result is that corner's position.
    """
    others = list(existing)
    for step in range(_MAX_TRIES):
        dx = dy = step * PASTE_STEP
        if not any(box.moved(x + dx, y + dy).overlaps(other) for box in pasted for other in others):
            return x + dx, y + dy
    return x + _MAX_TRIES * PASTE_STEP, y + _MAX_TRIES * PASTE_STEP
