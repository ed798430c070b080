"""New ids that two pages editing one draft cannot both choose (issue 13: bench_team_load's lost updates).

Each page is an ``EditorSession``; a page's merge of a draft saved elsewhere is ``merge_draft``, as
``pages.live_merge`` does it. Before, both pages named their new node ``script_1``; the page that merged second
renamed its own node, and a keystroke still in flight to ``script_1`` landed on the other user's node.
"""

from __future__ import annotations

import re
from typing import Any

from dagsmith.editor.merge import merge_draft
from dagsmith.editor.session import EditorSession
from dagsmith.nodes import Node, Pipeline, load_example
from dagsmith.nodes.fileformat import from_dict, to_dict

NEW_ID = re.compile(r"^[a-z0-9_]+_[a-km-z2-9]{6}$")


class Page:
    """One page on the draft: its session, and the draft it last saved or loaded (the merge's base)."""

    def __init__(self, draft: dict[str, Any]) -> None:
        self.session = EditorSession(from_dict(draft))
        self.base = draft

    def save(self) -> dict[str, Any]:
        self.base = to_dict(self.session.pipeline)
        return self.base

    def merge(self, draft: dict[str, Any]) -> list[Any]:
        """Merge a draft saved elsewhere (this page's save was refused); the conflicts."""
        result, _ = merge_draft(self.base, to_dict(self.session.pipeline), draft)
        self.session.take_remote(from_dict(result.document))
        self.base = draft
        return result.conflicts


def at(pipeline: Pipeline, x: float) -> Node:
    found = [n for n in pipeline.nodes if n.position.x == x]
    assert len(found) == 1, (x, [n.id for n in found])
    return found[0]


def test_two_pages_add_the_same_kind_at_once_and_each_types_into_its_node() -> None:
    draft = to_dict(load_example("keyword_recommendation"))
    alice, bob = Page(draft), Page(draft)
    a = alice.session.add_node("script", 900.0, 400.0)
    b = bob.session.add_node("script", 1200.0, 400.0)
    assert isinstance(a, Node) and isinstance(b, Node)
    assert a.id != b.id
    saved = alice.save()
    # Bob's save is refused (the draft moved): his page merges Alice's, while his keystroke, sent for the
    # node his form showed (b.id), is still on its way; then he saves.
    assert bob.merge(saved) == []
    assert bob.session.set_node_field(b.id, ("label",), "Bob's step") is None
    saved = bob.save()
    # Alice typed meanwhile; her save is refused in turn and merges Bob's.
    assert alice.session.set_node_field(a.id, ("label",), "Alice's step") is None
    assert alice.merge(saved) == []
    final = from_dict(alice.save())
    assert at(final, 900.0).label == "Alice's step"
    assert at(final, 1200.0).label == "Bob's step"
    assert bob.merge(to_dict(final)) == [] and bob.session.pipeline == final  # Bob's page shows the same
    assert len({n.task_id() for n in final.nodes}) == len(final.nodes)


def test_nodes_added_at_once_keep_task_ids_of_their_own() -> None:
    """Both pages' new nodes are labelled "Script": the page that merges second relabels its own (the task id
    comes from the label), unless its user is typing that label."""
    draft = to_dict(load_example("keyword_recommendation"))
    alice, bob = Page(draft), Page(draft)
    a, b = alice.session.add_node("script", 900.0, 400.0), bob.session.add_node("script", 1200.0, 400.0)
    assert isinstance(a, Node) and isinstance(b, Node) and a.label == b.label == "Script"
    bob.merge(alice.save())
    merged = bob.session.pipeline
    assert (at(merged, 900.0).label, at(merged, 1200.0).label) == ("Script", "Script 2")
    assert (at(merged, 900.0).id, at(merged, 1200.0).id) == (a.id, b.id)  # no id changed
    typing = [("nodes", b.id, "label")]
    result, renamed = merge_draft(draft, to_dict(bob.session.pipeline), draft, protected=typing)
    assert renamed == {}
    other = Page(draft)
    c = other.session.add_node("script", 1500.0, 400.0)
    assert isinstance(c, Node)
    result, _ = merge_draft(
        draft, to_dict(other.session.pipeline), to_dict(merged), protected=[("nodes", c.id, "label")]
    )
    assert at(from_dict(result.document), 1500.0).label == "Script"  # the field being typed in is left alone


def test_new_ids_are_random_suffixes_and_existing_ids_stay() -> None:
    example = load_example("keyword_recommendation")
    before = [n.id for n in example.nodes]
    session = EditorSession(example)
    added = [session.add_node("script", 100.0 * i, 0.0) for i in range(20)]
    ids = [n.id for n in added if isinstance(n, Node)]
    assert len(set(ids)) == 20 and all(NEW_ID.match(i) and i.startswith("script_") for i in ids)
    assert [n.id for n in session.pipeline.nodes][: len(before)] == before
    edge = session.request_edge(ids[0], "output", ids[1], "upstream")
    assert not hasattr(edge, "message"), edge
    comment = session.add_comment("note", 0.0, 0.0, [ids[0]])
    assert NEW_ID.match(edge.id) and NEW_ID.match(comment.id)  # type: ignore[union-attr]
    session.copy(ids[:2])
    pasted = session.paste(0.0, 900.0)
    assert len(pasted) == 2 and not set(pasted) & set(ids)
    assert all(NEW_ID.match(e.id) for e in session.pipeline.edges if e.source in pasted)
    assert session.undo() and [n.id for n in session.pipeline.nodes if n.id in pasted] == []
