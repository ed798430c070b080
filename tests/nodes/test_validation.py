"""validate(): graph, edge, port and node rules, each with a failing and a passing case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from factories import chain, codes, edge, node, only, pipeline, sink, source, valid_pipeline

from dagsmith.nodes import Code, Comment, Issue, Node, Pipeline, Severity, has_errors, validate


def _fields(issues: list[Issue]) -> list[tuple[Severity, Code, str | None, str | None, str | None]]:
    return [(i.severity, i.code, i.node, i.edge, i.field) for i in issues]


@pytest.mark.parametrize("value", [None, {}, "pipeline.json", [Node(id="a", type="script")]])
def test_validate_rejects_non_pipelines_with_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match="validate\\(\\) takes a Pipeline"):
        validate(value)


def test_issues_are_deterministic() -> None:
    p = pipeline(
        node("a", label="Train"),
        node("b", label="train!"),
        Node(id="c", type="scirpt"),
        node("d"),
        edges=[edge("a", "b"), edge("b", "a"), edge("a", "zz"), edge("a", "b", "outptu", edge_id="e9")],
        schedule="@dialy",
    )
    first = validate(p)
    assert len(first) > 5
    assert validate(p) == first
    assert validate(p.model_copy(deep=True)) == first


def test_empty_pipeline_is_a_warning() -> None:
    issues = validate(pipeline())
    assert _fields(issues) == [(Severity.WARNING, Code.EMPTY_PIPELINE, None, None, None)]
    assert not has_errors(issues)
    assert validate(pipeline(node("a"))) == []


# -- cycles ---------------------------------------------------------------------------------------
def test_cycle_names_its_nodes_and_flags_each_edge() -> None:
    p = pipeline(
        node("a", label="Load"),
        node("b", label="Train"),
        node("c", label="Eval"),
        edges=[edge("a", "b"), edge("b", "c"), edge("c", "a")],
    )
    issues = validate(p)
    assert _fields(issues) == [
        (Severity.ERROR, Code.CYCLE, "a", "a-b", None),
        (Severity.ERROR, Code.CYCLE, "b", "b-c", None),
        (Severity.ERROR, Code.CYCLE, "c", "c-a", None),
    ]
    assert "these nodes form a cycle: Load → Train → Eval → Load" in issues[0].message


def test_self_loop_is_a_cycle() -> None:
    issue = only(validate(pipeline(node("a"), edges=[edge("a", "a")])), Code.CYCLE)
    assert (issue.node, issue.edge) == ("a", "a-a")
    assert "a → a" in issue.message


def test_two_separate_cycles_are_both_reported() -> None:
    p = pipeline(
        *(node(n) for n in "abcde"),
        edges=[edge("a", "b"), edge("b", "a"), edge("c", "d"), edge("d", "c"), edge("d", "e")],
    )
    issues = validate(p)
    assert [(i.code, i.node) for i in issues] == [(Code.CYCLE, n) for n in "abcd"]
    assert "a → b → a" in issues[0].message
    assert "c → d → c" in issues[2].message


_SEEDED = """
import json
from dagsmith.nodes import Edge, Node, Pipeline, PipelineSettings, validate
nodes = [Node(id=n, type="script", params={"script": "x.py"}) for n in "edcba"]
pairs = ["ab", "ba", "cd", "dc", "de", "ec"]
edges = [Edge(id=s + t, source=s, source_port="output", target=t, target_port="upstream") for s, t in pairs]
p = Pipeline(settings=PipelineSettings(default_image="python:3.11"), nodes=nodes, edges=edges)
print(json.dumps([i.to_dict() for i in validate(p)]))
"""


def test_cycle_issues_do_not_depend_on_the_hash_seed() -> None:
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _SEEDED],
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "2", "3")
    ]
    outputs = {run.communicate(timeout=120)[0] for run in runs}
    assert [run.returncode for run in runs] == [0] * 3
    assert len(outputs) == 1
    issues = json.loads(outputs.pop())
    assert [(i["node"], i["edge"]) for i in issues] == [("c", "cd"), ("d", "dc"), ("b", "ba"), ("a", "ab")]
    assert "c → d → c" in issues[0]["message"]
    assert "b → a → b" in issues[2]["message"]


def test_diamond_is_not_a_cycle() -> None:
    p = pipeline(*(node(n) for n in "abcd"), edges=[edge("a", "b"), edge("a", "c"), edge("b", "d"), edge("c", "d")])
    assert validate(p) == []


# -- node types, ports and edges ------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "suggestion"), [("scirpt", "script"), ("SCRIPT", "script"), ("Notebok", "notebook")])
def test_unknown_node_type_suggests_the_closest(kind: str, suggestion: str) -> None:
    issue = only(validate(pipeline(Node(id="a", type=kind))), Code.UNKNOWN_NODE_TYPE)
    assert _fields([issue]) == [(Severity.ERROR, Code.UNKNOWN_NODE_TYPE, "a", None, "type")]
    assert issue.suggestions == (suggestion,)
    assert f"unknown node type {kind!r}. Did you mean {suggestion!r}?" in issue.message


def test_unknown_node_type_without_close_match_points_to_the_catalog() -> None:
    issue = only(validate(pipeline(Node(id="a", type="kafka_stream_sink"))), Code.UNKNOWN_NODE_TYPE)
    assert issue.suggestions == ()
    assert "Choose a type from the catalog" in issue.message


def test_edges_of_unknown_type_nodes_are_not_port_checked() -> None:
    p = pipeline(node("a"), Node(id="b", type="mystery"), edges=[edge("a", "b", target_port="whatever")])
    assert codes(validate(p)) == [Code.UNKNOWN_NODE_TYPE]


@pytest.mark.parametrize(
    ("ports", "bad_node", "side", "suggestion"),
    [(("outptu", "upstream"), "a", "output", "output"), (("output", "upstrem"), "b", "input", "upstream")],
)
def test_edge_to_missing_port_suggests_one(ports: tuple[str, str], bad_node: str, side: str, suggestion: str) -> None:
    issues = validate(pipeline(node("a"), node("b"), edges=[edge("a", "b", *ports)]))
    assert _fields(issues) == [(Severity.ERROR, Code.UNKNOWN_PORT, bad_node, "a-b", None)]
    assert issues[0].suggestions == (suggestion,)
    assert f"no {side} {ports[side == 'input']!r}; its {side}s are {suggestion!r}. Did you mean" in issues[0].message


@pytest.mark.parametrize(("end", "target"), [("source", "a"), ("target", "zz")])
def test_edge_to_missing_node(end: str, target: str) -> None:
    e = edge("trian", "b") if end == "source" else edge("b", "zz")
    issues = validate(pipeline(node("train"), node("b"), edges=[e, edge("train", "b", edge_id="ok")]))
    issue = only(issues, Code.UNKNOWN_NODE)
    assert (issue.severity, issue.node, issue.edge) == (Severity.ERROR, None, e.id)
    assert f"the edge's {end} " in issue.message
    assert issue.suggestions == (("train",) if end == "source" else ())


def test_incompatible_ports_say_what_fits() -> None:
    p = pipeline(source("a", "model"), sink("b", "dataset"), edges=[edge("a", "b", "out", "inp")])
    issue = only(validate(p), Code.INCOMPATIBLE_PORTS)
    assert (issue.severity, issue.node, issue.edge) == (Severity.ERROR, "b", "a-b")
    assert "'a'.out gives model but 'b'.inp takes dataset" in issue.message
    assert issue.message.endswith("connect an output of type dataset or features or predictions")


@pytest.mark.parametrize(
    ("out_type", "in_type"), [("features", "dataset"), ("predictions", "dataset"), ("any", "model"), ("bento", "any")]
)
def test_compatible_port_types_connect(out_type: str, in_type: str) -> None:
    p = pipeline(source("a", out_type), sink("b", in_type), edges=[edge("a", "b", "out", "inp")])
    assert validate(p) == []


def test_required_input_left_unconnected() -> None:
    issues = validate(pipeline(node("r", "register_model")))
    assert _fields(issues) == [(Severity.ERROR, Code.REQUIRED_INPUT, "r", None, None)]
    assert issues[0].message == "'r' needs its 'run' input (mlflow_run) connected: The run that logged the model"
    assert validate(valid_pipeline("register_model")) == []


def test_second_edge_into_a_single_valued_input() -> None:
    p = pipeline(
        source("a", "dataset"),
        source("c", "dataset"),
        sink("b", "dataset"),
        edges=[edge("a", "b", "out", "inp"), edge("c", "b", "out", "inp")],
    )
    issues = validate(p)
    assert _fields(issues) == [
        (Severity.ERROR, Code.SINGLE_INPUT, "b", "c-b", None),
        (Severity.WARNING, Code.ISOLATED_NODE, "c", None, None),
    ]
    assert "the 'inp' input of 'b' takes one connection" in issues[0].message


def test_multiple_input_accepts_several_edges() -> None:
    p = pipeline(node("a"), node("c"), node("b"), edges=[edge("a", "b"), edge("c", "b")])
    assert validate(p) == []


# -- parameters -----------------------------------------------------------------------------------
def test_missing_required_parameter() -> None:
    issues = validate(valid_pipeline("register_model", {}))
    assert _fields(issues) == [(Severity.ERROR, Code.MISSING_PARAMETER, "n", None, "model_name")]
    assert issues[0].message == "Registered model name (model_name) is required; fill it in"


def test_unknown_parameter_with_did_you_mean() -> None:
    issues = validate(pipeline(node("a", params={"script": "x.py", "argumets": ["-v"]})))
    assert _fields(issues) == [(Severity.ERROR, Code.UNKNOWN_PARAMETER, "a", None, "argumets")]
    assert issues[0].suggestions == ("arguments",)
    assert "did you mean 'arguments'?" in issues[0].message


def test_missing_image_without_pipeline_default() -> None:
    issues = validate(pipeline(node("a"), default_image=None))
    assert _fields(issues) == [(Severity.ERROR, Code.MISSING_PARAMETER, "a", None, "pod.image")]
    assert (
        validate(pipeline(node("a", params={"script": "x.py", "pod": {"image": "python:3.12"}}), default_image=None))
        == []
    )


def test_storage_settings_for_an_unknown_output() -> None:
    issues = validate(pipeline(node("a", outputs={"outptu": {}})))
    assert _fields(issues) == [(Severity.ERROR, Code.UNKNOWN_PORT, "a", None, "outputs.outptu")]
    assert issues[0].suggestions == ("output",)
    assert validate(pipeline(node("a", outputs={"output": {"path": "{pipeline}/{node}"}}))) == []


def test_unmapped_import_settings_warn() -> None:
    issues = validate(pipeline(node("a", unmapped={"kubernetes_pod_labels": "x", "cpu": 1})))
    assert _fields(issues) == [(Severity.WARNING, Code.UNMAPPED, "a", None, "unmapped")]
    assert "cpu, kubernetes_pod_labels" in issues[0].message


# -- ids and task ids -----------------------------------------------------------------------------
@pytest.mark.parametrize(("first", "second"), [({"label": "Train"}, {"label": "train!"}), ({}, {"id": "a_b"})])
def test_labels_that_collide_as_task_ids(first: dict[str, str], second: dict[str, str]) -> None:
    one = node(first.pop("id", "a-b"), **first)
    two = node(second.pop("id", "x"), **second)
    issues = validate(pipeline(one, two, edges=[edge(one.id, two.id)]))
    assert _fields(issues) == [(Severity.ERROR, Code.DUPLICATE_TASK_ID, two.id, None, "label")]
    assert f"would both become the Airflow task {one.task_id()!r}" in issues[0].message


def test_distinct_labels_do_not_collide() -> None:
    assert validate(pipeline(node("a", label="Train"), node("b", label="Train 2"), edges=[edge("a", "b")])) == []


def test_duplicate_node_and_edge_ids() -> None:
    p = pipeline(
        node("a"), node("a", label="again"), node("b"), edges=[edge("a", "b", edge_id="e"), edge("a", "b", edge_id="e")]
    )
    issues = validate(p)
    assert _fields(issues) == [
        (Severity.ERROR, Code.DUPLICATE_ID, "a", None, None),
        (Severity.ERROR, Code.DUPLICATE_ID, None, "e", None),
    ]


# -- access ---------------------------------------------------------------------------------------
PRIVATE, PUBLIC = {"level": "private"}, {"level": "public"}


def _groups(*names: str) -> dict[str, Any]:
    return {"level": "groups", "groups": list(names)}


@pytest.mark.parametrize(
    ("artifact", "reader", "ok"),
    [
        (PRIVATE, PUBLIC, False),
        (PRIVATE, _groups("ml"), False),
        (_groups("ml"), PUBLIC, False),
        (_groups("ml"), _groups("ml", "ads"), False),
        (_groups("ml", "ads"), _groups("ml"), True),
        (_groups("ml"), _groups("ml"), True),
        (PUBLIC, PUBLIC, True),
        (PUBLIC, _groups("ml"), True),
        (PRIVATE, PRIVATE, True),
        (PUBLIC, PRIVATE, True),
        (_groups("ml"), PRIVATE, True),
    ],
)
def test_reader_access_against_output_access(artifact: dict[str, Any], reader: dict[str, Any], ok: bool) -> None:
    p = pipeline(node("a", outputs={"output": {"access": artifact}}), node("b", access=reader), edges=[edge("a", "b")])
    issues = validate(p)
    if ok:
        assert issues == []
    else:
        assert _fields(issues) == [(Severity.ERROR, Code.ACCESS_DENIED, "b", "a-b", "access")]
        assert "'b' runs with access" in issues[0].message
        assert "'a'.output" in issues[0].message


def test_pipeline_default_access_applies_to_unset_outputs_and_nodes() -> None:
    p = pipeline(node("a"), node("b", access=PUBLIC), edges=[edge("a", "b")])
    assert codes(validate(p)) == [Code.ACCESS_DENIED]
    opened = pipeline(node("a"), node("b", access=PUBLIC), edges=[edge("a", "b")], default_access=PUBLIC)
    assert validate(opened) == []


def test_output_access_overrides_the_pipeline_default() -> None:
    edges = [edge("a", "b")]
    opened = pipeline(node("a", outputs={"output": {"access": PUBLIC}}), node("b", access=PUBLIC), edges=edges)
    assert validate(opened) == []
    closed = pipeline(node("a", outputs={"output": {"access": PRIVATE}}), node("b"), edges=edges, default_access=PUBLIC)
    assert _fields(validate(closed)) == [(Severity.ERROR, Code.ACCESS_DENIED, "b", "a-b", "access")]


# -- isolated nodes, comments, settings-level rules -----------------------------------------------
def test_isolated_nodes_are_warnings() -> None:
    issues = validate(pipeline(node("a"), node("b"), node("c"), edges=[edge("a", "b")]))
    assert _fields(issues) == [(Severity.WARNING, Code.ISOLATED_NODE, "c", None, None)]
    assert not has_errors(issues)


def test_single_node_is_not_isolated() -> None:
    assert validate(pipeline(node("a"))) == []


def test_comment_on_missing_node_warns() -> None:
    comments = [Comment(id="c1", nodes=["a", "gone"]), Comment(id="c2", nodes=["a"]), Comment(id="c3")]
    issues = validate(pipeline(node("a"), comments=comments))
    assert _fields(issues) == [(Severity.WARNING, Code.DANGLING_COMMENT, None, None, None)]
    assert "comment 'c1' is attached to missing node(s) 'gone'" in issues[0].message


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"name": "!!!"}, "settings.name"),
        ({"name": "日本語"}, "settings.name"),
        ({"dag_id": "bad id"}, "settings.dag_id"),
        ({"dag_id": ".."}, "settings.dag_id"),
        ({"dag_id": "."}, "settings.dag_id"),
        ({"dag_id": ".hidden"}, "settings.dag_id"),
        ({"dag_id": "../escape"}, "settings.dag_id"),
        ({"dag_id": "x" * 251}, "settings.dag_id"),
    ],
)
def test_invalid_dag_id(settings: dict[str, str], field: str) -> None:
    issues = validate(pipeline(node("a"), **settings))
    assert _fields(issues) == [(Severity.ERROR, Code.INVALID_VALUE, None, None, field)]
    assert "the dag_id" in issues[0].message


@pytest.mark.parametrize(
    ("settings", "dag_id"), [({"name": "My Pipeline 2"}, "my_pipeline_2"), ({"dag_id": "x.y-z"}, "x.y-z")]
)
def test_valid_dag_id(settings: dict[str, str], dag_id: str) -> None:
    p = pipeline(node("a"), **settings)
    assert p.dag_id == dag_id
    assert validate(p) == []


# -- scale (correctness only: speed goals live in bench/) ------------------------------------------
def test_long_chain_validates_without_issues() -> None:
    p = chain(2000)
    assert len(p.nodes) == 2000
    assert validate(p) == []


def test_long_chain_closed_into_a_cycle_is_found() -> None:
    p: Pipeline = chain(2000)
    p.edges.append(edge("n1999", "n0"))
    issues = validate(p)
    assert codes(issues) == [Code.CYCLE] * 2000
    assert issues[0].message.startswith("these nodes form a cycle: n0 → n1 → n2")
