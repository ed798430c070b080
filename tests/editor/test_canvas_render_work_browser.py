"""The canvas draws again only what changed (issue 11, speed), in headless Chromium against ``dagsmith edit``.

Two kinds of work the profiles of the 200-node open and the 1,000-node zoom showed, and that are gone:

- Vue Flow's node wrapper draws again when a node is measured, selected or dragged. The card inside it (its
  header, ports and 3-4 ``Handle`` components) is its own component now, drawn again only when its data,
  issues or state change: selecting a node must not draw any card again.
- The minimap drew all its node rectangles again on every pan and zoom frame (its viewBox follows the view).
  They are a component of their own now (a build patch, ``rollup.config.mjs``): moving the view must not
  draw them again.

Both are counted in the page: a canvas helper that a card's render calls (``portTitle``), or that the
minimap's colour function calls for each rectangle (``familyColor``), is wrapped with a counter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import count, wait_for, with_token

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Edge, Node, Pipeline

pytestmark = pytest.mark.slow

STEPS = 8

# Wrap one of the canvas's helpers with a counter (window.__calls[name]).
COUNT_CALLS = """
const vm = getElement(document.querySelector('.dagsmith-canvas'));
const name = arguments[0];
window.__calls = window.__calls || {};
window.__calls[name] = 0;
const original = vm[name];
vm[name] = (...args) => { window.__calls[name] += 1; return original(...args); };
"""

# Resolves after two animation frames: every render that a change caused has run.
FRAMES = "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(done));"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("render-work-home")


@pytest.fixture(scope="module")
def opened(driver: Any, server: str, services: EditorServices) -> Any:
    nodes = [
        Node(
            id=f"s{i}", type="script", label=f"Step {i}", params={"script": f"s{i}.py"}, position={"x": 260 * i, "y": 0}
        )
        for i in range(STEPS)
    ]
    edges = [Edge(id=f"e{i}", source=f"s{i}", source_port="output", target=f"s{i + 1}", target_port="upstream")
             for i in range(STEPS - 1)]  # fmt: skip
    pipeline = Pipeline.model_validate({"settings": {"name": "Render work"}, "nodes": nodes, "edges": edges})
    info = services.create(services.local_project().id, pipeline)
    driver.get(with_token(f"{server}/pipeline/{info.id}"))
    wait_for(lambda: count(driver, ".vue-flow__minimap-node") == STEPS, "the nodes in the canvas and the minimap")
    driver.set_script_timeout(10)
    return driver


def calls(driver: Any, name: str) -> int:
    return int(driver.execute_script("return window.__calls[arguments[0]]", name))


def settle(driver: Any) -> None:
    driver.execute_async_script(FRAMES)


def test_selecting_a_node_does_not_draw_the_cards_again(opened: Any) -> None:
    driver = opened
    driver.execute_script(COUNT_CALLS, "portTitle")
    settle(driver)
    driver.execute_script("window.__calls.portTitle = 0;")
    driver.execute_script("getElement(document.querySelector('.dagsmith-canvas')).select(['s3'], [])")
    wait_for(lambda: count(driver, ".vue-flow__node.selected") == 1, "the node selected")
    settle(driver)
    assert calls(driver, "portTitle") == 0, "selecting a node drew node cards again"
    # The counter does count: a card whose data changes is drawn again (and only that one).
    driver.execute_script(
        "const vm = getElement(document.querySelector('.dagsmith-canvas'));"
        "const node = vm.flow.findNode('s3'); vm.updateNode({...node.data, label: 'Renamed'});"
    )
    wait_for(lambda: "Renamed" in driver.execute_script("return document.body.textContent"), "the new label")
    settle(driver)
    ports = count(driver, '.vue-flow__node[data-id="s3"] .dagsmith-port')
    assert 0 < calls(driver, "portTitle") <= ports, "only the changed card is drawn again"


def test_moving_the_view_does_not_draw_the_minimap_nodes_again(opened: Any) -> None:
    driver = opened
    driver.execute_script(COUNT_CALLS, "familyColor")
    # New (empty) task states: every card and every minimap rectangle is drawn again, through the counter.
    driver.execute_script("getElement(document.querySelector('.dagsmith-canvas')).setStates({})")
    settle(driver)
    assert calls(driver, "familyColor") >= 2 * STEPS, "the cards and the minimap did not use the counted helper"
    driver.execute_script("window.__calls.familyColor = 0;")
    for step in range(5):
        driver.execute_script(
            "getElement(document.querySelector('.dagsmith-canvas'))"
            ".flow.setViewport({x: arguments[0], y: 40, zoom: 0.9})",
            -40.0 * step,
        )
        settle(driver)
    view = driver.execute_script("return getElement(document.querySelector('.dagsmith-canvas')).flow.getViewport()")
    assert (view["x"], view["y"]) == (-160, 40), f"the view did not move: {view}"
    assert calls(driver, "familyColor") == 0, "moving the view drew the minimap's node rectangles again"
