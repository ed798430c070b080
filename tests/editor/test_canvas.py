"""The canvas element: mounting, events reaching Python handlers, queued method calls, the bundle."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.canvas import Event, Method, PipelineCanvas, TaskState, canvas_graph
from dagsmith.editor.canvas.canvas import DIST
from dagsmith.nodes import Family, PortType, load_example, validate

CANVAS_DIR = Path(DIST).parent

# (event, payload, registration helper); payloads as canvas.js sends them.
EVENTS: list[tuple[Event, dict[str, Any] | None, str]] = [
    (Event.CANVAS_READY, None, "on_ready"),
    (Event.NODE_DROPPED, {"kind": "script", "x": 120.5, "y": -40.0}, "on_node_dropped"),
    (
        Event.NODE_MOVED,
        {"id": "a", "x": 10.0, "y": 20.0, "nodes": [{"id": "a", "x": 10.0, "y": 20.0}, {"id": "b", "x": 5, "y": 0}]},
        "on_node_moved",
    ),
    (
        Event.EDGE_REQUESTED,
        {"source": "a", "source_port": "output", "target": "b", "target_port": "upstream"},
        "on_edge_requested",
    ),
    (Event.SELECTION_CHANGED, {"nodes": ["a"], "edges": ["e1"]}, "on_selection_changed"),
    (Event.DELETE_REQUESTED, {"node_ids": ["a"], "edge_ids": ["e1"]}, "on_delete_requested"),
    (Event.COPY_REQUESTED, {"node_ids": ["a", "b"]}, "on_copy_requested"),
    (Event.PASTE_REQUESTED, {"x": 1.0, "y": 2.0}, "on_paste_requested"),
    (Event.UNDO_REQUESTED, None, "on_undo_requested"),
    (Event.REDO_REQUESTED, None, "on_redo_requested"),
    (Event.NODE_CLICKED, {"id": "a"}, "on_node_clicked"),
    (Event.STATE_CLICKED, {"id": "a"}, "on_state_clicked"),
    (Event.PANE_CLICKED, None, "on_pane_clicked"),
    (Event.VIEWPORT_CHANGED, {"x": -10.0, "y": 4.5, "zoom": 0.8}, "on_viewport_changed"),
]


def record_calls(canvas: PipelineCanvas) -> list[tuple[str, tuple[Any, ...]]]:
    """Replace the element's run_method (the browser side) with a recorder."""
    calls: list[tuple[str, tuple[Any, ...]]] = []
    canvas.run_method = lambda name, *args, **_: calls.append((name, args))  # type: ignore[method-assign,assignment,return-value]
    return calls


async def open_canvas(user: User, **kwargs: Any) -> PipelineCanvas:
    @ui.page("/")
    def page() -> None:
        PipelineCanvas(**kwargs)

    await user.open("/")
    (canvas,) = user.find(PipelineCanvas).elements
    assert isinstance(canvas, PipelineCanvas)
    return canvas


async def test_canvas_mounts_with_resources_and_colours(user: User) -> None:
    canvas = await open_canvas(user)
    assert canvas.props["resource-path"].startswith("/_nicegui/")
    assert set(canvas.props["port-colors"]) == {t.value for t in PortType}
    assert set(canvas.props["family-colors"]) == {f.value for f in Family}
    assert canvas.props["compatibility"]["features"] == ["any", "dataset", "features"]
    assert canvas.props["read-only"] is False
    assert canvas.props["dark"] is None
    assert "height" in canvas.style  # Vue Flow needs a container with a height
    assert not canvas.is_ready


@pytest.mark.parametrize(("event", "payload", "helper"), EVENTS, ids=[e.value for e, _, _ in EVENTS])
async def test_event_reaches_registered_handler(
    user: User, event: Event, payload: dict[str, Any] | None, helper: str
) -> None:
    canvas = await open_canvas(user)
    received: list[Any] = []
    if payload is None:
        getattr(canvas, helper)(lambda: received.append("called"))
    else:
        getattr(canvas, helper)(received.append)
    record_calls(canvas)
    user.find(PipelineCanvas).trigger(event.value, payload)
    assert received == (["called"] if payload is None else [payload])


async def test_async_handlers_are_awaited(user: User) -> None:
    canvas = await open_canvas(user)
    received: list[Any] = []

    async def handler(payload: dict[str, Any]) -> None:
        received.append(payload)

    canvas.on_edge_requested(handler)
    payload = {"source": "a", "source_port": "out", "target": "b", "target_port": "in"}
    user.find(PipelineCanvas).trigger(Event.EDGE_REQUESTED.value, payload)
    await asyncio.sleep(0.01)  # the handler runs as a background task
    assert received == [payload]


async def test_method_calls_wait_for_canvas_ready(user: User) -> None:
    canvas = await open_canvas(user)
    calls = record_calls(canvas)
    nodes, edges = canvas_graph(load_example("user_targeting"))
    canvas.add_node(nodes[0])
    canvas.load_pipeline(load_example("user_targeting"))
    canvas.set_issues({"train": [{"severity": "error", "message": "no image", "code": "invalid-value"}]})
    canvas.set_states({"train": TaskState.RUNNING})
    canvas.set_read_only(True)
    assert calls == []

    user.find(PipelineCanvas).trigger(Event.CANVAS_READY.value)
    names = [name for name, _ in calls]
    # loadGraph supersedes the earlier addNode; the other calls keep their order.
    assert names == [Method.LOAD_GRAPH, Method.SET_ISSUES, Method.SET_STATES, Method.SET_READ_ONLY]
    assert calls[0][1] == (nodes, edges, None)
    assert calls[2][1] == ({"train": "running"},)
    assert canvas.is_ready
    assert canvas.read_only

    calls.clear()
    canvas.reject_connection("dataset cannot feed model")
    canvas.remove_elements(["a"], edge_ids=("e1",))
    assert calls == [
        (Method.REJECT_CONNECTION, ("dataset cannot feed model",)),
        (Method.REMOVE_ELEMENTS, (["a"], ["e1"])),
    ]


async def test_task_states_come_back_when_the_canvas_is_mounted_again(user: User) -> None:
    canvas = await open_canvas(user)
    calls = record_calls(canvas)
    user.find(PipelineCanvas).trigger(Event.CANVAS_READY.value)
    assert calls == []  # the first mount: nothing to show again
    canvas.set_states({"train": TaskState.SUCCESS})
    calls.clear()
    user.find(PipelineCanvas).trigger(Event.CANVAS_READY.value)  # a reconnect mounts a new component
    assert calls == [(Method.SET_STATES, ({"train": "success"},))]
    canvas.set_states({})
    calls.clear()
    user.find(PipelineCanvas).trigger(Event.CANVAS_READY.value)
    assert calls == []


async def test_ready_handlers_run_after_the_queue_is_flushed(user: User) -> None:
    canvas = await open_canvas(user)
    calls = record_calls(canvas)
    canvas.fit_view()
    canvas.on_ready(lambda: canvas.select(["a"]))
    user.find(PipelineCanvas).trigger(Event.CANVAS_READY.value)
    assert calls == [(Method.FIT_VIEW, ()), (Method.SELECT, (["a"], []))]
    assert canvas.selection == {"nodes": ["a"], "edges": []}


async def test_layout_and_issues_helpers_send_protocol_shapes(user: User) -> None:
    canvas = await open_canvas(user)
    calls = record_calls(canvas)
    user.find(PipelineCanvas).trigger(Event.CANVAS_READY.value)
    pipeline = load_example("article_recommendation")
    positions = canvas.auto_layout(pipeline)
    assert set(positions) == {n.id for n in pipeline.nodes}
    assert calls[:2] == [(Method.APPLY_LAYOUT, (positions,)), (Method.FIT_VIEW, ())]

    calls.clear()
    pipeline.nodes[0].type = "no_such_type"
    canvas.show_issues(validate(pipeline))
    ((name, (node_issues, _edge_issues)),) = calls
    assert name == Method.SET_ISSUES
    assert any(i["code"] == "unknown-node-type" for i in node_issues[pipeline.nodes[0].id])
    json.dumps(calls)  # everything sent to the browser is JSON


async def test_reported_viewport_and_selection_are_kept(user: User) -> None:
    canvas = await open_canvas(user, read_only=True, dark=True)
    assert canvas.read_only
    assert canvas.props["dark"] is True
    user.find(PipelineCanvas).trigger(Event.VIEWPORT_CHANGED.value, {"x": 1, "y": 2, "zoom": 0.5})
    user.find(PipelineCanvas).trigger(Event.SELECTION_CHANGED.value, {"nodes": ["x"], "edges": []})
    assert canvas.viewport == {"x": 1, "y": 2, "zoom": 0.5}
    assert canvas.selection == {"nodes": ["x"], "edges": []}


# ---- the JS side and its bundle ----------------------------------------------------------------


def canvas_js() -> str:
    return (CANVAS_DIR / "canvas.js").read_text(encoding="utf-8")


def test_dist_holds_the_bundle_and_stylesheets_canvas_js_loads() -> None:
    bundle = DIST / "index.js"
    assert bundle.is_file()
    assert bundle.stat().st_size > 50_000
    assert "process.env" not in bundle.read_text(encoding="utf-8")  # replaced at build time
    stylesheets = re.search(r"const STYLESHEETS = \[(.*?)\];", canvas_js(), re.DOTALL)
    assert stylesheets is not None
    names = re.findall(r'"([^"]+\.css)"', stylesheets.group(1))
    assert {"vue-flow/style.css", "vue-flow/theme-default.css", "vue-flow/minimap.css"} <= set(names)
    assert all((DIST / name).is_file() for name in names)


def test_wrapper_registers_dist_as_the_module_canvas_js_imports() -> None:
    from nicegui.dependencies import esm_modules

    (name,) = [m.name for m in esm_modules.values() if m.path == DIST]
    assert f'from "{name}"' in canvas_js()
    assert PipelineCanvas.component is not None
    assert PipelineCanvas.component.path == CANVAS_DIR / "canvas.js"


def test_package_json_pins_exact_versions_matching_the_lock_file() -> None:
    package = json.loads((CANVAS_DIR / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((CANVAS_DIR / "package-lock.json").read_text(encoding="utf-8"))
    pinned = {**package["dependencies"], **package["devDependencies"]}
    assert pinned["@vue-flow/core"] == "1.48.2"
    assert pinned["@vue-flow/minimap"] == "1.5.4"
    assert pinned["@vue-flow/controls"] == "1.1.3"
    assert pinned["@vue-flow/background"] == "1.3.2"
    for name, version in pinned.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned exactly: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_canvas_js_speaks_the_protocol() -> None:
    source = canvas_js()
    emits = re.search(r"emits: \[(.*?)\]", source, re.DOTALL)
    assert emits is not None
    assert re.findall(r'"(\w+)"', emits.group(1)) == [e.value for e in Event]
    for event in Event:
        assert re.search(rf"""(\$emit\(|\[)["']{event.value}["']|"{event.value}"\]""", source), event
    for method in Method:
        assert re.search(rf"^    {method.value}\(", source, re.MULTILINE), f"canvas.js lacks method {method}"
    from dagsmith.editor.canvas import DRAG_TYPE, PALETTE_ATTRIBUTE

    assert f'"{DRAG_TYPE}"' in source
    assert f'"{PALETTE_ATTRIBUTE}"' in source


def test_stylesheet_styles_every_task_state() -> None:
    css = (DIST / "dagsmith-canvas.css").read_text(encoding="utf-8")
    assert css == (CANVAS_DIR / "src" / "dagsmith-canvas.css").read_text(encoding="utf-8"), "run npm run build"
    for state in TaskState:
        assert f".dagsmith-state--{state.value}" in css
