"""Undo after a live merge reverts this page's own steps only: another user's merged change stays.

The session (``session_core``) is driven as a page drives it: this page's user edits, another user's saved
change arrives as ``take_remote`` (the live merge's result: this page's document plus theirs), then undo and
redo. Where both changed the same value, undo keeps the other user's and says so in the change's notice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from nicegui.testing import User

from dagsmith.editor.pages import register_pages
from dagsmith.editor.pages.drafts import open_pages
from dagsmith.editor.services import EditorServices
from dagsmith.editor.session import Change, EditorSession
from dagsmith.nodes import Node, Pipeline, load_example


def opened() -> tuple[EditorSession, list[Change], str, str]:
    session = EditorSession(load_example("keyword_recommendation"))
    changes: list[Change] = []
    session.subscribe(changes.append)
    first, second = (node.id for node in session.pipeline.nodes[:2])
    return session, changes, first, second


def theirs(session: EditorSession, change: Callable[[Pipeline], None]) -> None:
    """Another user's saved change, merged into this page's document (as the live merge hands it over)."""
    merged = session.pipeline.model_copy(deep=True)
    change(merged)
    session.take_remote(merged)


def node(session: EditorSession, node_id: str) -> Node:
    found = session.pipeline.node(node_id)
    assert found is not None
    return found


def set_label(node_id: str, label: str) -> Callable[[Pipeline], None]:
    def change(pipeline: Pipeline) -> None:
        found = pipeline.node(node_id)
        assert found is not None
        found.label = label

    return change


def test_undo_reverts_my_field_and_keeps_the_other_users_merged_field() -> None:
    session, changes, x, y = opened()
    old_x, old_y = node(session, x).params.get("note"), node(session, y).label
    session.set_param(x, ["note"], "mine")
    theirs(session, set_label(y, "Theirs"))

    assert session.undo() is not None
    assert node(session, x).params.get("note") == old_x  # my edit is undone
    assert node(session, y).label == "Theirs"  # theirs is not (it was old_y in the whole-document snapshot)
    assert old_y != "Theirs" and changes[-1].notice == ""

    assert session.redo() is not None
    assert node(session, x).params["note"] == "mine"
    assert node(session, y).label == "Theirs"


def test_undo_of_an_edit_of_the_same_node_keeps_the_other_users_other_field() -> None:
    session, _, x, _ = opened()
    session.set_param(x, ["note"], "mine")
    theirs(session, set_label(x, "Their label"))  # the same node, another field

    session.undo()

    assert "note" not in node(session, x).params
    assert node(session, x).label == "Their label"


def test_undo_of_whole_document_steps_keeps_the_other_users_change() -> None:
    session, _, x, y = opened()
    count = len(session.pipeline.nodes)
    added = session.add_node("script", 500, 500)
    assert isinstance(added, Node)
    session.move_nodes({x: (900.0, 900.0)})
    theirs(session, set_label(y, "Theirs"))
    session.set_setting(["schedule"], "@daily")  # a step after the merge: undone the plain way

    for _ in range(3):
        assert session.undo() is not None

    assert len(session.pipeline.nodes) == count and session.pipeline.node(added.id) is None
    assert (node(session, x).position.x, node(session, x).position.y) != (900.0, 900.0)
    assert node(session, y).label == "Theirs"
    for _ in range(3):
        assert session.redo() is not None
    assert session.pipeline.node(added.id) is not None and node(session, x).position.x == 900.0
    assert node(session, y).label == "Theirs" and session.pipeline.settings.schedule == "@daily"


def test_undo_of_a_setting_keeps_the_other_users_setting() -> None:
    session, _, _, _ = opened()
    old_schedule = session.pipeline.settings.schedule
    session.set_setting(["schedule"], "@hourly")

    def their_dag_id(pipeline: Pipeline) -> None:
        pipeline.settings = pipeline.settings.model_copy(update={"dag_id": "theirs"})

    theirs(session, their_dag_id)
    session.undo()

    assert session.pipeline.settings.schedule == old_schedule
    assert session.pipeline.settings.dag_id == "theirs"


def test_undo_keeps_the_other_users_value_of_the_same_field_and_says_so() -> None:
    session, changes, x, _ = opened()
    session.set_param(x, ["note"], "mine")

    def their_note(pipeline: Pipeline) -> None:
        found = pipeline.node(x)
        assert found is not None
        found.params = {**found.params, "note": "theirs"}

    theirs(session, their_note)  # they saw my edit and wrote over it
    session.undo()

    assert node(session, x).params["note"] == "theirs"
    assert "another user changed the field note of node " + x in changes[-1].notice
    assert "their change is kept" in changes[-1].notice


def test_undo_of_an_added_node_the_other_user_edited_keeps_the_node_and_says_so() -> None:
    session, changes, _, _ = opened()
    added = session.add_node("script", 500, 500)
    assert isinstance(added, Node)
    theirs(session, set_label(added.id, "Their name for it"))

    session.undo()

    assert node(session, added.id).label == "Their name for it"
    assert f"node {added.id}" in changes[-1].notice


def test_undo_of_an_edit_of_a_node_the_other_user_deleted_leaves_it_deleted_and_says_so() -> None:
    session, changes, x, _ = opened()
    session.set_param(x, ["note"], "mine")

    def delete_x(pipeline: Pipeline) -> None:
        pipeline.nodes = [n for n in pipeline.nodes if n.id != x]
        pipeline.edges = [e for e in pipeline.edges if x not in (e.source, e.target)]

    theirs(session, delete_x)
    session.undo()

    assert session.pipeline.node(x) is None
    assert f"node {x}" in changes[-1].notice


def test_several_steps_before_and_after_two_merges_are_undone_without_touching_the_merged_changes() -> None:
    session, _, x, y = opened()
    old_label = node(session, x).label
    session.set_param(x, ["note"], "one")
    session.set_node_field(x, ["label"], "Mine")
    theirs(session, set_label(y, "Theirs 1"))
    session.set_param(x, ["other"], 2)

    def their_params(pipeline: Pipeline) -> None:
        found = pipeline.node(y)
        assert found is not None
        found.params = {**found.params, "theirs": True}

    theirs(session, their_params)

    while session.undo() is not None:
        pass

    reverted = node(session, x)
    assert reverted.label == old_label and "note" not in reverted.params and "other" not in reverted.params
    assert node(session, y).label == "Theirs 1" and node(session, y).params["theirs"] is True


def test_without_a_merge_undo_and_redo_are_unchanged() -> None:
    session, changes, x, _ = opened()
    before = session.pipeline.model_dump()
    session.set_param(x, ["note"], "a")
    session.add_node("script", 10, 10)
    session.undo()
    session.undo()
    assert session.pipeline.model_dump() == before and changes[-1].notice == ""
    session.redo()
    assert node(session, x).params["note"] == "a"


def test_an_edit_to_the_value_a_field_has_is_no_undo_step() -> None:
    # A form field sends its value again when it loses the focus (a click on Undo): that is no step to undo.
    session, _, x, y = opened()
    session.set_param(x, ["note"], "mine")
    session.set_node_field(x, ["label"], "Mine")
    theirs(session, set_label(y, "Theirs"))
    session.set_node_field(x, ["label"], "Mine")
    session.set_param(x, ["note"], "mine")
    session.set_setting(["schedule"], session.pipeline.settings.schedule)

    session.undo()

    assert node(session, x).label != "Mine" and node(session, x).params["note"] == "mine"
    assert node(session, y).label == "Theirs"


async def test_the_page_tells_its_user_when_undo_kept_another_users_change(
    user: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSMITH_WORKSPACE", raising=False)
    services = EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")
    document = load_example("keyword_recommendation")
    document.settings.dag_id = "undo_after_merge"
    pipeline_id = services.store.create_pipeline(services.local_project().id, document).id
    register_pages(services)
    await user.open(f"/pipeline/{pipeline_id}")
    [saver] = open_pages(services.store)[pipeline_id]
    live = saver.on_saved_elsewhere.__self__  # type: ignore[union-attr]  # the page's LiveMerge
    session, x = live.session, live.session.pipeline.nodes[0].id
    with live.context:
        session.set_param(x, ["note"], "mine")
        merged = session.pipeline.model_copy(deep=True)
        merged.nodes[0].params = {**merged.nodes[0].params, "note": "theirs"}
        session.take_remote(merged)  # another user wrote over this page's value

    user.find(marker="undo").click()

    await user.should_see(f"another user changed the field note of node {x} since; their change is kept")
    assert node(session, x).params["note"] == "theirs"
