"""The editing session's per-keystroke work stays small: copy-on-write edits, small undo steps, and
validation in a worker thread on large pipelines, coalesced, published when it arrives (issue 11, "Speed")."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from dagsmith.editor.session import Change, EditorSession, Refusal
from dagsmith.nodes import Node, Pipeline, Position, RuntimeParam, validate


def pipeline(count: int = 3) -> Pipeline:
    return Pipeline(
        nodes=[
            Node(
                id=f"s{i}",
                type="script",
                label=f"Step {i}",
                position=Position(x=i * 220.0, y=0),
                params={"script": f"s{i}.py", "pod": {"image": "python:3.11"}},
            )
            for i in range(count)
        ]
    )


def test_edits_leave_a_frozen_copy_as_it_was() -> None:
    session = EditorSession(pipeline())
    frozen = session.frozen()
    session.set_param("s1", ("script",), "changed.py")
    session.set_node_field("s2", ("label",), "Renamed")
    session.set_setting(("name",), "other")
    assert frozen.node("s1").params["script"] == "s1.py"  # type: ignore[union-attr]
    assert frozen.node("s2").label == "Step 2"  # type: ignore[union-attr]
    assert frozen.settings.name == "untitled"
    assert session.pipeline.node("s1").params["script"] == "changed.py"  # type: ignore[union-attr]


def test_undo_and_redo_of_node_and_settings_edits() -> None:
    session = EditorSession(pipeline())
    for text in ("a", "ab", "abc"):  # typing: one undo step
        session.set_param("s0", ("script",), text)
    session.set_setting(("description",), "typed")
    session.add_node("script", 0, 300)
    assert session.undo() is not None and len(session.pipeline.nodes) == 3
    assert session.undo() is not None and session.pipeline.settings.description == ""
    assert session.undo() is not None and session.pipeline.node("s0").params["script"] == "s0.py"  # type: ignore[union-attr]
    assert session.redo() is not None and session.pipeline.node("s0").params["script"] == "abc"  # type: ignore[union-attr]
    assert session.redo() is not None and session.pipeline.settings.description == "typed"
    assert session.issues == validate(session.pipeline)


async def test_validation_runs_in_the_background_and_publishes_the_latest_issues() -> None:
    session = EditorSession(pipeline())
    tasks: list[asyncio.Task[None]] = []

    def start(work: Coroutine[Any, Any, None]) -> None:
        tasks.append(asyncio.ensure_future(work))

    session.validate_in_background(start, min_nodes=3)
    heard: list[Change] = []
    session.subscribe(heard.append)
    before = session.issues
    for text in ("", "x", "", "y", ""):  # ends with the required script empty
        session.set_param("s1", ("script",), text or None)
    assert session.issues is before and session.validation_pending  # the keystrokes did not wait
    assert len(tasks) == 1  # the keystrokes made meanwhile are coalesced into the running validation
    await asyncio.gather(*tasks)
    assert not session.validation_pending
    assert session.issues == validate(session.pipeline)
    assert any(i.node == "s1" and i.field == "script" and i.is_error for i in session.issues)
    assert [c.kind for c in heard].count("issues") == 1  # only the issues of the latest document
    assert [c.kind for c in heard][-1] == "issues"


def test_small_pipelines_are_validated_at_once() -> None:
    session = EditorSession(pipeline(2))
    session.validate_in_background(lambda work: work.close(), min_nodes=3)
    session.set_param("s1", ("script",), None)
    assert not session.validation_pending
    assert any(i.node == "s1" and i.field == "script" for i in session.issues)


def test_a_connection_reuses_the_parameter_issues_and_gives_those_of_a_full_validation() -> None:
    document = pipeline(3)
    document.settings.params = [RuntimeParam(name="unused", type="string", default="x")]
    document.nodes[0].params["arguments"] = ["{{ params.missing }}"]
    document.nodes[2].params = {"model_name": "m"}
    document.nodes[2].type = "register_model"
    session = EditorSession(document)
    codes = {i.code.name for i in session.issues}
    assert {"UNDEFINED_PARAM", "UNUSED_PARAM", "REQUIRED_INPUT"} <= codes
    edge = session.request_edge("s0", "output", "s2", "run")
    assert not isinstance(edge, Refusal)
    assert session.issues == validate(session.pipeline)  # the same issues, in the same order
    assert not any(i.code.name == "REQUIRED_INPUT" and i.node == "s2" for i in session.issues)
