"""Pure parts of the canvas: pipeline -> canvas shapes, issue grouping, colours and auto-layout."""

from __future__ import annotations

import json

import networkx as nx
import pytest

from dagsmith.editor.canvas import (
    FAMILY_COLORS,
    PORT_COLORS,
    Event,
    Method,
    canvas_graph,
    canvas_issues,
    canvas_node,
    compatibility_table,
    layout,
    needs_layout,
)
from dagsmith.editor.canvas.layout import NODE_WIDTH, node_height
from dagsmith.nodes import (
    CATALOG,
    Code,
    Comment,
    Edge,
    Family,
    Issue,
    Node,
    Pipeline,
    PortType,
    Position,
    Severity,
    compatible,
    example_names,
    load_example,
)

EXAMPLES = example_names()


def test_there_are_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_converts_with_catalog_ports(name: str) -> None:
    pipeline = load_example(name)
    nodes, edges = canvas_graph(pipeline)
    assert [n["id"] for n in nodes] == [n.id for n in pipeline.nodes] + [c.id for c in pipeline.comments]
    by_id = {n["id"]: n for n in nodes}
    for node in pipeline.nodes:
        node_type = CATALOG.get(node.type)
        assert node_type is not None
        inputs, outputs = node_type.ports(node.params)
        shown = by_id[node.id]
        assert shown["kind"] == "step"
        assert shown["title"] == node_type.title
        assert shown["family"] == node_type.family.value
        assert shown["label"] == node.display_name
        assert (shown["x"], shown["y"]) == (node.position.x, node.position.y)
        assert [(p["name"], p["type"], p["required"]) for p in shown["inputs"]] == [
            (p.name, p.type.value, p.required) for p in inputs
        ]
        assert [p["name"] for p in shown["outputs"]] == [p.name for p in outputs]
    for comment in pipeline.comments:
        assert by_id[comment.id]["kind"] == "comment"
        assert by_id[comment.id]["label"] == comment.text
        assert by_id[comment.id]["inputs"] == by_id[comment.id]["outputs"] == []
        assert by_id[comment.id]["attached"] == comment.nodes  # drawn as links to those steps
    for edge, shown_edge in zip(pipeline.edges, edges, strict=True):
        source = by_id[edge.source]
        (port,) = [p for p in source["outputs"] if p["name"] == edge.source_port]
        assert shown_edge == {
            "id": edge.id,
            "source": edge.source,
            "source_port": edge.source_port,
            "target": edge.target,
            "target_port": edge.target_port,
            "type": port["type"],
        }
        assert any(p["name"] == edge.target_port for p in by_id[edge.target]["inputs"])
    json.dumps([nodes, edges])


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_layout_runs_left_to_right_without_overlaps(name: str) -> None:
    pipeline = load_example(name)
    positions = layout(pipeline)
    assert set(positions) >= {n.id for n in pipeline.nodes}
    for edge in pipeline.edges:
        assert positions[edge.source]["x"] < positions[edge.target]["x"], edge
    nodes = {n["id"]: n for n in canvas_graph(pipeline)[0]}
    boxes = [
        (p["x"], p["y"], p["x"] + NODE_WIDTH, p["y"] + node_height(max(len(n["inputs"]), len(n["outputs"]))))
        for node_id, p in positions.items()
        if (n := nodes[node_id])["kind"] == "step"
    ]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_layout_columns_follow_topological_generations() -> None:
    pipeline = load_example("user_targeting")
    positions = layout(pipeline)
    graph = nx.DiGraph([(e.source, e.target) for e in pipeline.edges])
    for depth, generation in enumerate(nx.topological_generations(graph)):
        for node_id in generation:
            if graph.in_degree(node_id):  # sources may move right, next to their first successor
                assert positions[node_id]["x"] == depth * positions["train"]["x"]
    # The scoring branch joins late, so it starts next to the node it feeds, not in the first column.
    assert positions["score_features"]["x"] == positions["predict"]["x"] - positions["train"]["x"]
    assert positions["train_features"]["x"] == 0


def test_layout_survives_cycles_unknown_types_and_dangling_edges() -> None:
    pipeline = Pipeline(
        nodes=[Node(id="a", type="script"), Node(id="b", type="script"), Node(id="c", type="mystery")],
        edges=[
            Edge(id="e1", source="a", source_port="output", target="b", target_port="upstream"),
            Edge(id="e2", source="b", source_port="output", target="a", target_port="upstream"),
            Edge(id="e3", source="b", source_port="output", target="c", target_port="x"),
            Edge(id="e4", source="ghost", source_port="output", target="c", target_port="x"),
            Edge(id="e5", source="c", source_port="out", target="c", target_port="x"),
        ],
    )
    positions = layout(pipeline)
    assert set(positions) == {"a", "b", "c"}
    assert positions["a"]["x"] == positions["b"]["x"] < positions["c"]["x"]
    assert positions["a"]["y"] < positions["b"]["y"]  # a cycle's members stack in document order


def test_attached_comments_go_above_their_node_and_others_stay() -> None:
    pipeline = load_example("user_targeting")
    pipeline.comments = [
        Comment(id="on_gate", text="Champion vs challenger", nodes=["gate"]),
        Comment(id="free", text="Loose note", position=Position(x=5, y=6)),
    ]
    positions = layout(pipeline)
    assert "free" not in positions
    assert positions["on_gate"]["x"] == positions["gate"]["x"]
    column_top = min(
        p["y"] for node_id, p in positions.items() if p["x"] == positions["gate"]["x"] and node_id != "on_gate"
    )
    assert positions["on_gate"]["y"] < column_top


def test_needs_layout_when_steps_share_a_position() -> None:
    stacked = load_example("user_targeting")
    for node in stacked.nodes:
        node.position = Position()
    assert needs_layout(stacked)
    stacked.nodes[0].position = Position(x=1)
    assert needs_layout(stacked)  # the others still share (0, 0)
    spread = load_example("user_targeting")
    for index, node in enumerate(spread.nodes):
        node.position = Position(x=300 * index)
    assert not needs_layout(spread)
    assert not needs_layout(Pipeline())


def test_unknown_node_type_has_no_ports() -> None:
    shown = canvas_node(Node(id="x", type="mystery", label="Odd"))
    assert shown["inputs"] == shown["outputs"] == []
    assert (shown["title"], shown["family"], shown["label"]) == ("mystery", "", "Odd")


def test_edges_from_unknown_sources_or_ports_are_typed_any() -> None:
    pipeline = Pipeline(
        nodes=[Node(id="a", type="script"), Node(id="b", type="mystery")],
        edges=[
            Edge(id="e1", source="a", source_port="nope", target="b", target_port="x"),
            Edge(id="e2", source="b", source_port="x", target="a", target_port="upstream"),
        ],
    )
    _, edges = canvas_graph(pipeline)
    assert [e["type"] for e in edges] == ["any", "any"]


def test_ports_follow_parameters() -> None:
    plain = canvas_node(Node(id="n", type="notebook"))
    with_inputs = load_example("user_targeting").node("train")
    assert with_inputs is not None
    assert [p["name"] for p in plain["inputs"]] != [p["name"] for p in canvas_node(with_inputs)["inputs"]]


def test_issues_group_by_node_and_edge_in_order() -> None:
    issues = [
        Issue(Severity.ERROR, Code.MISSING_PARAMETER, "set the file", node="a", field="script"),
        Issue(Severity.WARNING, Code.ISOLATED_NODE, "connected to nothing", node="a"),
        Issue(Severity.ERROR, Code.INCOMPATIBLE_PORTS, "types differ", node="b", edge="e1"),
        Issue(Severity.ERROR, Code.EMPTY_PIPELINE, "nothing here"),
    ]
    by_node, by_edge = canvas_issues(issues)
    assert by_node == {
        "a": [
            {"severity": "error", "message": "script: set the file", "code": "missing-parameter"},
            {"severity": "warning", "message": "connected to nothing", "code": "isolated-node"},
        ],
        "b": [{"severity": "error", "message": "types differ", "code": "incompatible-ports"}],
    }
    assert by_edge == {"e1": by_node["b"]}


def test_every_port_type_and_family_has_its_own_colour() -> None:
    assert set(PORT_COLORS) == set(PortType)
    assert set(FAMILY_COLORS) == set(Family)
    assert len(set(PORT_COLORS.values())) == len(PORT_COLORS)
    assert all(c.startswith("#") and len(c) == 7 for c in [*PORT_COLORS.values(), *FAMILY_COLORS.values()])


def test_compatibility_table_matches_the_port_rules() -> None:
    table = compatibility_table()
    for source in PortType:
        for target in PortType:
            assert (target.value in table[source.value]) == compatible(source, target)


def test_empty_pipeline_has_an_empty_layout() -> None:
    assert layout(Pipeline()) == {}
    assert canvas_graph(Pipeline()) == ([], [])


def test_public_names_are_sorted_and_resolve() -> None:
    import dagsmith.editor.canvas as package

    assert package.__all__ == sorted(package.__all__)
    assert all(hasattr(package, name) for name in package.__all__)


def test_names_are_camel_case_and_unique() -> None:
    names = [e.value for e in Event] + [m.value for m in Method]
    assert len(set(names)) == len(names)
    assert all(name[0].islower() and "_" not in name and "-" not in name for name in names)
