"""Automatic layout: columns from the graph's topological generations, left to right.

Each generation is one column, except that a source moves right to just before its first successor.
Nodes in a column are ordered by where their predecessors sit (to keep edges short and uncrossed)
and centred vertically. A cycle (an invalid but storable document)
is laid out as one unit, its members stacked in document order. A comment attached to nodes goes
above the column of the first of them; other comments keep their positions.
"""

from __future__ import annotations

import math

import networkx as nx

from dagsmith.nodes import CATALOG, Catalog, Pipeline

from .protocol import Point

NODE_WIDTH = 200.0
"""A step card's width in canvas.js's stylesheet."""
COLUMN_GAP = 120.0
ROW_GAP = 48.0
_CARD_HEIGHT = 52.0  # header and label rows, borders and bottom padding
_PORT_ROW_HEIGHT = 18.0
_COMMENT_LINE_HEIGHT = 17.0
_COMMENT_CHARS_PER_LINE = 36
_COMMENT_PADDING = 18.0


def node_height(ports: int) -> float:
    """A step card's approximate height with ``ports`` rows of ports (the larger of inputs and outputs)."""
    return _CARD_HEIGHT + _PORT_ROW_HEIGHT * max(ports, 1)


def needs_layout(pipeline: Pipeline) -> bool:
    """True when two steps share a position, as in imported or hand-written documents."""
    points = {(n.position.x, n.position.y) for n in pipeline.nodes}
    return len(points) < len(pipeline.nodes)


def layout(
    pipeline: Pipeline,
    *,
    catalog: Catalog = CATALOG,
    column_gap: float = COLUMN_GAP,
    row_gap: float = ROW_GAP,
) -> dict[str, Point]:
    """Top-left positions for every step and attached comment (``applyLayout``'s argument)."""
    nodes = pipeline.node_map()
    order = {node_id: index for index, node_id in enumerate(nodes)}
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(
        (e.source, e.target) for e in pipeline.edges if e.source in nodes and e.target in nodes and e.source != e.target
    )
    # Condensing strongly connected components turns any cycle into a single unit, so the rest is a DAG.
    dag = nx.condensation(graph)
    members = {unit: sorted(dag.nodes[unit]["members"], key=order.__getitem__) for unit in dag}

    heights = {}
    for node_id, node in nodes.items():
        node_type = catalog.get(node.type)
        inputs, outputs = node_type.ports(node.params) if node_type is not None else ((), ())
        heights[node_id] = node_height(max(len(inputs), len(outputs)))

    positions: dict[str, Point] = {}
    tops: dict[float, float] = {}  # each column's top edge, by x
    rank: dict[str, float] = {}  # each placed node's row index, for ordering the next column
    for column, generation in enumerate(_columns(dag)):
        ids = [node_id for unit in generation for node_id in members[unit]]
        ids.sort(key=lambda node_id: (_barycentre(graph, node_id, rank), order[node_id]))
        total = sum(heights[i] for i in ids) + row_gap * (len(ids) - 1)
        y = -total / 2
        tops[column * (NODE_WIDTH + column_gap)] = y
        for row, node_id in enumerate(ids):
            positions[node_id] = {"x": column * (NODE_WIDTH + column_gap), "y": round(y, 1)}
            rank[node_id] = row - (len(ids) - 1) / 2
            y += heights[node_id] + row_gap
    result = {node_id: positions[node_id] for node_id in nodes}
    for comment in pipeline.comments:
        anchor = next((positions[n] for n in comment.nodes if n in positions), None)
        if anchor is not None and comment.id not in result:
            top = tops[anchor["x"]] - row_gap - _comment_height(comment.text)
            tops[anchor["x"]] = top  # a second comment on the same column goes above the first
            result[comment.id] = {"x": anchor["x"], "y": round(top, 1)}
    return result


def _comment_height(text: str) -> float:
    """A sticky note's approximate height, from its wrapped line count."""
    lines = sum(max(1, math.ceil(len(line) / _COMMENT_CHARS_PER_LINE)) for line in text.split("\n"))
    return _COMMENT_PADDING + _COMMENT_LINE_HEIGHT * lines


def _columns(dag: nx.DiGraph[int]) -> list[list[int]]:
    """Topological generations, with each source moved right to just before its first successor.

    Without the move, a second input branch (scoring features next to training features) would
    start in the first column and its edge would run behind every node in between.
    """
    column = {unit: index for index, generation in enumerate(nx.topological_generations(dag)) for unit in generation}
    for unit in list(column):
        successors = [column[s] for s in dag.successors(unit)]
        if dag.in_degree(unit) == 0 and successors:
            column[unit] = min(successors) - 1
    columns: list[list[int]] = [[] for _ in range(max(column.values(), default=-1) + 1)]
    for unit in sorted(column):
        columns[column[unit]].append(unit)
    return columns


def _barycentre(graph: nx.DiGraph[str], node_id: str, rank: dict[str, float]) -> float:
    """The mean row of a node's already placed predecessors; 0 (the middle) when it has none."""
    placed = [rank[p] for p in graph.predecessors(node_id) if p in rank]
    return sum(placed) / len(placed) if placed else 0.0
