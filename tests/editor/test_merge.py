"""The three-way merge that brings another tab's saved draft into this tab's document (issue 11, defect 3)."""

from __future__ import annotations

from typing import Any

from dagsmith.editor.merge import changed_paths, merge


def doc(**nodes: dict[str, Any]) -> dict[str, Any]:
    return {"settings": {"name": "p"}, "nodes": [{"id": i, **n} for i, n in nodes.items()], "edges": []}


def test_each_side_keeps_what_only_it_changed() -> None:
    base = doc(a={"label": "A", "params": {"x": 1}}, b={"label": "B", "params": {}})
    mine = doc(a={"label": "A2", "params": {"x": 1}}, b={"label": "B", "params": {}})
    theirs = doc(a={"label": "A", "params": {"x": 2}}, b={"label": "B", "params": {"y": "z"}})
    result = merge(base, mine, theirs)
    assert result.document == doc(a={"label": "A2", "params": {"x": 2}}, b={"label": "B", "params": {"y": "z"}})
    assert result.conflicts == []


def test_nodes_added_on_both_sides_and_deleted_there_are_merged_by_id() -> None:
    base = doc(a={"label": "A"}, b={"label": "B"})
    mine = doc(a={"label": "A"}, b={"label": "B"}, mine={"label": "M"})
    theirs = {**doc(a={"label": "A"}, theirs={"label": "T"}), "edges": [{"id": "e1", "source": "a"}]}
    result = merge(base, mine, theirs)
    assert [n["id"] for n in result.document["nodes"]] == ["a", "theirs", "mine"]
    assert result.document["edges"] == [{"id": "e1", "source": "a"}]


def test_the_same_field_changed_on_both_sides_keeps_this_tabs_value_and_says_so() -> None:
    base = doc(a={"label": "A"})
    result = merge(base, doc(a={"label": "mine"}), doc(a={"label": "theirs"}))
    assert result.document == doc(a={"label": "mine"})
    assert result.conflicts == [("nodes", "a", "label")]


def test_a_protected_field_reports_the_other_sides_change_of_it() -> None:
    base = doc(a={"label": "A", "params": {"script": "x"}})
    theirs = doc(a={"label": "B", "params": {"script": "y"}})
    field = ("nodes", "a", "params", "script")
    result = merge(base, base, theirs, protected=[field])
    assert result.document == theirs  # nothing typed here since: the document takes it (the field shows the user's)
    assert result.conflicts == [field]
    typed = doc(a={"label": "A", "params": {"script": "xz"}})
    result = merge(base, typed, theirs, protected=[field])
    assert result.document == doc(a={"label": "B", "params": {"script": "xz"}})
    assert result.conflicts == [field]


def test_changed_paths_names_the_values_that_differ() -> None:
    old = doc(a={"label": "A", "params": {"x": 1}})
    new = doc(a={"label": "A", "params": {"x": 2, "y": [1]}}, b={"label": "B"})
    assert changed_paths(old, new) == [("nodes", "a", "params", "x"), ("nodes", "a", "params", "y"), ("nodes", "b")]
