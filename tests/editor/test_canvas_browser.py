"""The canvas in a real browser (headless Chromium): rendering, drops, connections, keys, console.

Run as a script (``python test_canvas_browser.py PORT``) this file serves the page the test drives: a
canvas with an example pipeline and a minimal Python controller that decides every request the way
the editor will (compatible ports or a refusal, delete, undo). Screenshots go to ``artifacts/``.
Needs Debian's ``chromium`` and ``chromium-driver`` (or CHROME_BINARY_LOCATION / CHROMEDRIVER).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("CHROME_BINARY_LOCATION", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
EXAMPLE = "user_targeting"  # two branches, so the layout has a column with two nodes


# ---- the page under test (runs in the server process) ------------------------------------------


def serve(port: int) -> None:
    """Serve the check page on ``port`` until killed."""
    from nicegui import ui

    from dagsmith.editor.canvas import (
        PALETTE_ATTRIBUTE,
        PipelineCanvas,
        TaskState,
        canvas_edge,
        canvas_issues,
        canvas_node,
        layout,
        needs_layout,
    )
    from dagsmith.nodes import (
        CATALOG,
        Comment,
        Edge,
        Node,
        Pipeline,
        PortType,
        Position,
        compatible,
        load_example,
        validate,
    )

    @ui.page("/")
    def page(example: str = EXAMPLE, dark: str = "") -> None:
        pipeline = load_example(example)
        pipeline.comments.append(Comment(id="note", text="Scores every user nightly.", nodes=["predict"]))
        positions = layout(pipeline)  # always, so the page does not depend on the example's positions
        for item in [*pipeline.nodes, *pipeline.comments]:
            if item.id in positions:
                item.position = Position(**positions[item.id])
        assert not needs_layout(pipeline)
        history: list[Pipeline] = []
        events: list[str] = []

        with ui.row():
            for kind in ("script", "notebook"):
                node_type = CATALOG.get(kind)
                assert node_type is not None
                ui.label(node_type.title).props(f"draggable=true {PALETTE_ATTRIBUTE}={kind}").classes("palette-item")
            ui.input("Name").classes("side-input")
        canvas = PipelineCanvas(dark={"true": True, "false": False}.get(dark)).style("height: 720px")
        log = ui.label().classes("event-log hidden")
        last = ui.label().classes("payload-log hidden")
        payloads: dict[str, Any] = {}

        def note(name: str, payload: Any = None) -> None:
            events.append(name)
            payloads[name] = payload
            log.set_text(json.dumps(events))
            last.set_text(json.dumps(payloads))

        def refresh_issues() -> None:
            node_issues, edge_issues = canvas_issues(validate(pipeline))
            # An edge issue the example does not have, to show how edges carry theirs.
            note = {"severity": "warning", "message": "Check this connection", "code": "demo"}
            canvas.set_issues(node_issues, {**edge_issues, pipeline.edges[0].id: [note]})

        def ready() -> None:
            canvas.load_pipeline(pipeline)
            refresh_issues()
            canvas.set_states({"train_features": TaskState.SUCCESS, "train": TaskState.RUNNING})

        def dropped(payload: Any) -> None:
            history.append(pipeline.model_copy(deep=True))
            node = Node(
                id=f"n{len(pipeline.nodes)}", type=payload["kind"], position=Position(x=payload["x"], y=payload["y"])
            )
            pipeline.nodes.append(node)
            canvas.add_node(canvas_node(node))
            refresh_issues()

        def edge_requested(payload: Any) -> None:
            source, target = pipeline.node(payload["source"]), pipeline.node(payload["target"])
            assert source is not None and target is not None
            out = next(p for p in canvas_node(source)["outputs"] if p["name"] == payload["source_port"])
            into = next(p for p in canvas_node(target)["inputs"] if p["name"] == payload["target_port"])
            if not compatible(PortType(out["type"]), PortType(into["type"])):
                canvas.reject_connection(
                    f"A {out['type']} output cannot feed the {into['type']} input '{into['name']}'."
                )
                return
            history.append(pipeline.model_copy(deep=True))
            edge = Edge(id=f"e{len(pipeline.edges) + 100}", **payload)
            pipeline.edges.append(edge)
            canvas.add_edge(canvas_edge(edge, canvas_node(source)))
            refresh_issues()

        def delete_requested(payload: Any) -> None:
            history.append(pipeline.model_copy(deep=True))
            gone = set(payload["node_ids"])
            pipeline.nodes[:] = [n for n in pipeline.nodes if n.id not in gone]
            pipeline.comments[:] = [c for c in pipeline.comments if c.id not in gone]
            edges = {e.id for e in pipeline.edges if e.id in payload["edge_ids"] or {e.source, e.target} & gone}
            pipeline.edges[:] = [e for e in pipeline.edges if e.id not in edges]
            canvas.remove_elements(gone, edges)
            refresh_issues()

        def undo() -> None:
            nonlocal pipeline
            if history:
                pipeline = history.pop()
                canvas.load_pipeline(pipeline, viewport=canvas.viewport)
                refresh_issues()

        def moved(payload: Any) -> None:
            for p in payload["nodes"]:
                item = pipeline.node(p["id"]) or next((c for c in pipeline.comments if c.id == p["id"]), None)
                if item is not None:
                    item.position = Position(x=p["x"], y=p["y"])

        canvas.on_ready(ready).on_node_dropped(dropped).on_edge_requested(edge_requested)
        canvas.on_delete_requested(delete_requested).on_undo_requested(undo).on_node_moved(moved)
        for name in ("canvasReady", "nodeDropped", "nodeMoved", "edgeRequested", "selectionChanged",
                     "deleteRequested", "copyRequested", "pasteRequested", "undoRequested", "redoRequested",
                     "nodeClicked", "stateClicked", "paneClicked", "viewportChanged"):  # fmt: skip
            canvas.on(name, lambda e, name=name: note(name, e.args))

    ui.run(port=port, reload=False, show=False, title="dagsmith canvas check", favicon="🔧")


if __name__ == "__main__":
    serve(int(sys.argv[1]))


# ---- the test (runs in pytest) -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}  # else NiceGUI runs in test mode
    process = subprocess.Popen(
        [sys.executable, __file__, str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"the check page did not start:\n{output}")
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), (
        f"Chromium not found ({CHROMIUM}, {CHROMEDRIVER}): apt-get install -y chromium chromium-driver"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(condition: Any, what: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _count(driver: Any, selector: str) -> int:
    from selenium.webdriver.common.by import By

    return len(driver.find_elements(By.CSS_SELECTOR, selector))


EDGES = ".vue-flow__edge:not(.dagsmith-comment-link)"
"""The graph's edges (a comment's link to its steps is drawn as an edge too)."""


def _events(driver: Any) -> list[str]:
    text = driver.execute_script("return document.querySelector('.event-log')?.textContent || '[]'")
    return list(json.loads(text))


def _payloads(driver: Any) -> dict[str, Any]:
    text = driver.execute_script("return document.querySelector('.payload-log')?.textContent || '{}'")
    return dict(json.loads(text))


def _drag_handle(driver: Any, source: Any, target: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(driver).move_to_element(source).click_and_hold()
    for _ in range(5):  # Vue Flow follows mouse moves, not a jump
        chain.move_by_offset(5, 0)
    chain.move_to_element(target).pause(0.1).release().perform()


def _drop_from_palette(driver: Any, kind: str, x: int, y: int) -> None:
    # An HTML5 drag cannot be performed by WebDriver; dispatch the events a real drag would fire.
    driver.execute_script(
        """
        const [kind, x, y] = arguments;
        const data = new DataTransfer();
        const item = document.querySelector(`[data-dagsmith-node="${kind}"]`);
        item.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: data}));
        const pane = document.elementFromPoint(x, y);
        for (const type of ['dragover', 'drop']) {
          const init = {bubbles: true, cancelable: true, dataTransfer: data, clientX: x, clientY: y};
          pane.dispatchEvent(new DragEvent(type, init));
        }
        """,
        kind,
        x,
        y,
    )


def _handle(driver: Any, node_id: str, side: str, port: str) -> Any:
    from selenium.webdriver.common.by import By

    selector = f'.vue-flow__node[data-id="{node_id}"] .vue-flow__handle-{side}[data-handleid="{port}"]'
    return driver.find_element(By.CSS_SELECTOR, selector)


def _severe_logs(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.mark.slow
def test_canvas_in_chromium(server: str, browser: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from dagsmith.editor.canvas import PORT_COLORS
    from dagsmith.nodes import PortType

    driver = browser
    driver.get(f"{server}/?example={EXAMPLE}")
    # 6 steps and 1 comment, 5 edges, one handle per declared port, a minimap, controls.
    _wait(lambda: _count(driver, ".vue-flow__node") == 7, "the example's nodes")
    _wait(lambda: _count(driver, EDGES) == 5, "the example's edges")
    # The comment is linked to the step it is attached to by a dotted line, which is not an edge of the graph.
    _wait(lambda: _count(driver, ".vue-flow__edge.dagsmith-comment-link") == 1, "the comment's link")
    link = driver.find_element(By.CSS_SELECTOR, ".vue-flow__edge.dagsmith-comment-link .vue-flow__edge-path")
    assert link.value_of_css_property("stroke-dasharray") in ("2px, 4px", "2, 4"), link.value_of_css_property(
        "stroke-dasharray"
    )
    assert link.get_attribute("d"), "the link has no path"
    assert _count(driver, ".vue-flow__node-comment") == 1
    assert _count(driver, ".vue-flow__handle.dagsmith-handle") == 16
    assert _count(driver, ".vue-flow__minimap-node") == 7
    assert _count(driver, ".vue-flow__controls-button") >= 3
    assert _count(driver, ".dagsmith-state--running") == 1
    # An edge with an issue: its label counts them, and its tooltip (an SVG title) says what they are.
    labels = driver.execute_script(
        "return [...document.querySelectorAll('.vue-flow__edge-text')].map(t => ["
        "t.textContent, t.querySelector('title')?.textContent])"
    )
    assert labels == [["warning: Check this connection⚠ 1", "warning: Check this connection"]], labels
    assert _count(driver, ".vue-flow__edge.dagsmith-edge--warning") == 1
    assert "canvasReady" in _events(driver)
    features = _handle(driver, "train_features", "right", "features")
    rgb = features.value_of_css_property("background-color")
    expected = PORT_COLORS[PortType.FEATURES].lstrip("#")
    assert rgb == "rgba({}, {}, {}, 1)".format(*(int(expected[i : i + 2], 16) for i in (0, 2, 4)))
    label = driver.find_element(By.CSS_SELECTOR, '.vue-flow__node[data-id="train"] .dagsmith-node__label')
    assert label.text == "Train"

    # A palette drop reaches Python, which adds the node; its validation issues come back as a badge.
    box = driver.find_element(By.CSS_SELECTOR, ".dagsmith-canvas").rect
    drop = (int(box["x"] + 250), int(box["y"] + box["height"] - 150))
    _drop_from_palette(driver, "script", *drop)
    _wait(lambda: _count(driver, ".vue-flow__node") == 8, "the dropped node")
    # The drop point is the middle of the new node's header.
    rect = driver.execute_script(
        "return document.querySelector('.vue-flow__node[data-id=\"n6\"]').getBoundingClientRect().toJSON()"
    )
    assert abs(rect["x"] + rect["width"] / 2 - drop[0]) <= 3, (rect, drop)
    assert rect["y"] <= drop[1] <= rect["y"] + rect["height"] / 2, (rect, drop)
    _wait(lambda: _count(driver, '.vue-flow__node[data-id="n6"] .dagsmith-badge') == 1, "the dropped node's issues")
    assert _count(driver, '.vue-flow__node[data-id="n6"] .dagsmith-has-error') == 1

    # A compatible connection becomes an edge; an incompatible one is refused with a toast.
    _drag_handle(
        driver, _handle(driver, "score_features", "right", "features"), _handle(driver, "n6", "left", "upstream")
    )
    _wait(lambda: _count(driver, EDGES) == 6, "the accepted edge")
    _drag_handle(
        driver, _handle(driver, "train_features", "right", "features"), _handle(driver, "register", "left", "run")
    )
    toast = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, ".dagsmith-toast"), "the refusal toast")
    assert "cannot feed" in toast[0].text
    assert _count(driver, EDGES) == 6
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "canvas.png"))

    # Delete goes through Python (which removes the node), and so does undo.
    driver.find_element(By.CSS_SELECTOR, '.vue-flow__node[data-id="n6"]').click()
    _wait(lambda: "selectionChanged" in _events(driver), "the selection event")
    driver.switch_to.active_element.send_keys(Keys.DELETE)
    _wait(lambda: _count(driver, ".vue-flow__node") == 7, "the deletion")
    assert _count(driver, EDGES) == 5
    driver.switch_to.active_element.send_keys(Keys.CONTROL, "z")
    _wait(lambda: _count(driver, ".vue-flow__node") == 8, "the undo")
    events = _events(driver)
    assert {"nodeDropped", "edgeRequested", "nodeClicked", "deleteRequested", "undoRequested"} <= set(events)

    # Dragging a node reports where it ended; copy and paste are requests too.
    train = driver.find_element(By.CSS_SELECTOR, '.vue-flow__node[data-id="train"] .dagsmith-node__label')
    ActionChains(driver).click_and_hold(train).move_by_offset(10, 10).move_by_offset(30, 60).release().perform()
    _wait(lambda: "nodeMoved" in _events(driver), "the move event")
    moved = _payloads(driver)["nodeMoved"]
    assert moved["id"] == "train"
    assert moved["nodes"] == [{"id": "train", "x": moved["x"], "y": moved["y"]}]
    driver.switch_to.active_element.send_keys(Keys.CONTROL, "c")
    driver.switch_to.active_element.send_keys(Keys.CONTROL, "v")
    _wait(lambda: {"copyRequested", "pasteRequested"} <= set(_events(driver)), "copy and paste requests")

    # Keys typed into a form field are the field's, even with a node selected.
    deletes = _events(driver).count("deleteRequested")
    driver.execute_script("document.querySelector('.side-input input').focus()")
    driver.switch_to.active_element.send_keys("ab", Keys.BACKSPACE, Keys.DELETE)
    time.sleep(0.3)
    assert _events(driver).count("deleteRequested") == deletes
    assert _count(driver, ".vue-flow__node") == 8

    # The task-state badge asks for the node's log (and is not a click on the node).
    clicks = _events(driver).count("nodeClicked")
    driver.find_element(By.CSS_SELECTOR, ".dagsmith-state--running").click()
    _wait(lambda: "stateClicked" in _events(driver), "the state badge click")
    assert _payloads(driver)["stateClicked"] == {"id": "train"}
    assert _events(driver).count("nodeClicked") == clicks

    # The zoom control changes the viewport, reported (throttled) to Python.
    driver.find_element(By.CSS_SELECTOR, ".vue-flow__controls-zoomin").click()
    _wait(lambda: _events(driver).count("viewportChanged") >= 2, "the viewport event")
    assert set(_payloads(driver)["viewportChanged"]) == {"x", "y", "zoom"}
    pane = driver.find_element(By.CSS_SELECTOR, ".vue-flow__pane")
    ActionChains(driver).move_to_element_with_offset(pane, 0, -300).click().perform()
    _wait(lambda: "paneClicked" in _events(driver), "the pane click")

    # Without a dark prop the canvas follows NiceGUI's (Quasar's) dark mode.
    assert _count(driver, ".dagsmith-canvas-root.dagsmith-dark") == 0
    driver.execute_script("document.body.classList.add('body--dark')")
    _wait(lambda: _count(driver, ".dagsmith-canvas-root.dagsmith-dark") == 1, "dark mode to follow the page")
    assert _severe_logs(driver) == []

    driver.get(f"{server}/?example={EXAMPLE}&dark=true")
    _wait(lambda: _count(driver, ".vue-flow__node") == 7, "the dark page's nodes")
    assert _count(driver, ".dagsmith-canvas-root.dagsmith-dark") == 1
    time.sleep(0.5)  # let fitView settle before the picture
    driver.save_screenshot(str(ARTIFACTS / "canvas-dark.png"))
    assert _severe_logs(driver) == []
