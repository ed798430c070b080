"""The Elyra import does work linear in the file's size (counted, not timed), and always ends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dagsmith.nodes import document, elyra
from dagsmith.nodes.elyra import import_elyra


def node(index: int, label: str, links: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": f"n{index}",
        "type": "execution_node",
        "op": "execute-python-node",
        "app_data": {"label": label, "component_parameters": {"filename": "train.py"}},
        "inputs": [{"id": "inPort", "links": links or []}],
    }


def elyra_file(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "doc_type": "pipeline",
        "primary_pipeline": "main",
        "pipelines": [{"id": "main", "nodes": nodes, "app_data": {"version": 8, "properties": {"name": "big"}}}],
    }


def slug_calls(monkeypatch: pytest.MonkeyPatch, size: int) -> int:
    """How often task ids are derived while importing ``size`` nodes that all have the same label."""
    calls = 0
    real: Callable[[str], str] = document.slug

    def counting(text: str) -> str:
        nonlocal calls
        calls += 1
        return real(text)

    monkeypatch.setattr(document, "slug", counting)
    monkeypatch.setattr(elyra, "slug", counting, raising=False)
    pipeline, _ = import_elyra(elyra_file([node(i, "train") for i in range(size)]))
    assert len({n.task_id() for n in pipeline.nodes}) == size
    monkeypatch.undo()
    return calls


def test_repeated_labels_cost_a_bounded_number_of_task_ids_per_node(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each repeat used to try "train 2", "train 3", ... from the start: 300 nodes derived ~45,000 task ids.
    small, large = slug_calls(monkeypatch, 150), slug_calls(monkeypatch, 300)
    assert large <= 6 * 300
    assert large <= 2.2 * small


@pytest.mark.timeout(60)
def test_repeated_labels_longer_than_a_task_id_are_numbered_within_it() -> None:
    # slug() cuts task ids at 200 characters: the number appended to a longer label used to be cut off,
    # so the renaming never found a free task id and the import never ended.
    label = ("Train the model on every region " * 8).strip()
    pipeline, report = import_elyra(elyra_file([node(i, label) for i in range(3)]))
    first, second, third = pipeline.nodes
    assert first.label == label
    assert second.label.endswith(" 2") and third.label.endswith(" 3")
    assert label.startswith(second.label.removesuffix(" 2").rstrip())
    assert [n.task_id()[-2:] for n in (second, third)] == ["_2", "_3"]
    assert len({n.task_id() for n in pipeline.nodes}) == 3
    assert all(len(n.task_id()) < 200 for n in (second, third))
    assert len(report.unmapped) == 2


def test_links_without_ids_between_the_same_nodes_are_numbered_in_order() -> None:
    links = [{"node_id_ref": "n0"} for _ in range(5)]
    pipeline, _ = import_elyra(elyra_file([node(0, "a"), node(1, "b", links)]))
    assert [e.id for e in pipeline.edges] == ["link-n0-n1", *(f"link-n0-n1-{k}" for k in range(2, 6))]


def test_a_taken_numbered_name_is_skipped() -> None:
    # A label that is already "train 2" makes the repeat of "train" skip to "train 3".
    pipeline, _ = import_elyra(elyra_file([node(0, "train"), node(1, "train 2"), node(2, "train"), node(3, "train")]))
    assert [n.label for n in pipeline.nodes] == ["train", "train 2", "train 3", "train 4"]
