"""The export's plain-language list of changes between two pipeline documents."""

from __future__ import annotations

from typing import Any

import pytest

from dagsmith.codegen.changes import describe_changes, field_label
from dagsmith.nodes import Pipeline


def doc(
    nodes: list[dict[str, Any]] | None = None, edges: list[dict[str, Any]] | None = None, **settings: Any
) -> Pipeline:
    return Pipeline.model_validate(
        {"settings": {"name": "Train daily", **settings}, "nodes": nodes or [], "edges": edges or []}
    )


def script(node_id: str, label: str = "", **params: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "script", "label": label, "params": {"script": "train.py", **params}}


def edge(edge_id: str, source: str, target: str) -> dict[str, Any]:
    return {"id": edge_id, "source": source, "source_port": "output", "target": target, "target_port": "input"}


def test_identical_documents_have_no_changes() -> None:
    pipeline = doc([script("a", "Train", pod={"resources": {"gpu": 1}})], schedule="@daily")
    assert describe_changes(pipeline, pipeline.model_copy(deep=True)) == []


def test_a_nested_parameter_change_is_named_by_its_label_and_path() -> None:
    old = doc([script("a", "Train", pod={"resources": {"gpu": 1}})])
    new = doc([script("a", "Train", pod={"resources": {"gpu": 2}})])
    assert describe_changes(old, new) == ["Train: GPU (pod.resources.gpu) 1 → 2"]


def test_parameters_set_and_cleared() -> None:
    old = doc([script("a", "Train", arguments=["--fast"])])
    new = doc([script("a", "Train", pod={"image": "python:3.11", "cpu_request": None})])
    assert describe_changes(old, new) == [
        "Train: Image (pod.image) set to 'python:3.11'",
        'Train: Arguments cleared (was ["--fast"])',
    ]


def test_added_removed_and_relabelled_nodes() -> None:
    old = doc([script("a", "Train"), script("b", "Old step")])
    new = doc([script("a", "Train model"), {"id": "g", "type": "model_gate", "label": "Gate"}])
    assert describe_changes(old, new) == [
        "renamed node 'Train' → 'Train model'",
        "new node Gate (Model gate)",
        "removed node Old step",
    ]


def test_a_node_without_a_label_is_named_by_its_id() -> None:
    assert describe_changes(doc([]), doc([script("script_1")])) == ["new node script_1 (Script)"]


def test_a_changed_node_type() -> None:
    old = doc([script("a", "Step")])
    new = doc([{"id": "a", "type": "notebook", "label": "Step", "params": {"notebook": "x.ipynb"}}])
    lines = describe_changes(old, new)
    assert lines[0] == "Step: type Script → Notebook"
    assert "Step: Notebook set to 'x.ipynb'" in lines
    assert "Step: Script cleared (was 'train.py')" in lines


def test_edges_are_matched_by_their_ports_not_their_ids() -> None:
    nodes = [script("a", "Prepare"), script("b", "Train"), script("c", "Report")]
    old = doc(nodes, [edge("e1", "a", "b"), edge("e2", "b", "c")])
    new = doc(nodes, [edge("other-id", "a", "b"), edge("e3", "a", "c")])
    assert describe_changes(old, new) == [
        "removed edge Train.output → Report.input",
        "new edge Prepare.output → Report.input",
    ]


def test_a_removed_nodes_edges_are_named_with_its_old_label() -> None:
    old = doc([script("a", "Prepare"), script("b", "Train")], [edge("e1", "a", "b")])
    new = doc([script("a", "Prepare")])
    assert describe_changes(old, new) == ["removed node Train", "removed edge Prepare.output → Train.input"]


def test_settings_changes() -> None:
    old = doc(schedule="@daily", retries=0, default_resources={"gpu_resource": "nvidia.com/gpu"})
    new = doc(schedule="0 3 * * *", retries=2, tags=["ml"], default_resources={"gpu_resource": "amd.com/gpu"})
    assert describe_changes(old, new) == [
        'settings: Tags [] → ["ml"]',
        "settings: Schedule '@daily' → '0 3 * * *'",
        "settings: Retries 0 → 2",
        "settings: GPU resource (default_resources.gpu_resource) 'nvidia.com/gpu' → 'amd.com/gpu'",
    ]


def test_a_cleared_schedule() -> None:
    assert describe_changes(doc(schedule="@hourly"), doc()) == ["settings: Schedule cleared (was '@hourly')"]


def test_named_list_items_are_matched_by_name() -> None:
    """Removing the first run-time parameter is one change, not every later parameter changing."""
    lr = {"name": "lr", "type": "number", "default": 0.1}
    epochs = {"name": "epochs", "type": "integer", "default": 10}
    old = doc(params=[lr, epochs])
    new = doc(params=[{**epochs, "default": 20}])
    assert describe_changes(old, new) == [
        "settings: Default (params.epochs.default) 10 → 20",
        "settings: Name (params.lr.name) cleared (was 'lr')",
        "settings: Type (params.lr.type) cleared (was 'number')",
        "settings: Default (params.lr.default) cleared (was 0.1)",
        "settings: Description (params.lr.description) cleared (was '')",
    ]


def test_output_storage_and_access_changes() -> None:
    old = doc([script("a", "Train")])
    new_node = {**script("a", "Train"), "outputs": {"output": {"path": "models/x"}}, "access": {"level": "public"}}
    lines = describe_changes(old, doc([new_node]))
    assert "Train: Path (outputs.output.path) set to 'models/x'" in lines
    assert "Train: Level (access.level) set to 'public'" in lines


def test_positions_do_not_count() -> None:
    old = doc([{**script("a", "Train"), "position": {"x": 0, "y": 0}}])
    new = doc([{**script("a", "Train"), "position": {"x": 300, "y": 120}}])
    assert describe_changes(old, new) == []


def test_long_values_are_shortened() -> None:
    old = doc(description="")
    (line,) = describe_changes(old, doc(description="x" * 500))
    assert line.startswith("settings: Description '' → 'xxx") and line.endswith("…")
    assert len(line) < 120


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("schedule", "Schedule"),
        ("dag_id", "DAG ID"),
        ("pod.resources.cpu_limit", "CPU limit (pod.resources.cpu_limit)"),
        ("pod.env.0.name", "Name (pod.env.0.name)"),
    ],
)
def test_field_labels(path: str, label: str) -> None:
    assert field_label(path) == label
