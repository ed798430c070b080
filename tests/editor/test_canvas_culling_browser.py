"""A large canvas draws only the nodes and edges around the view (issue 11, speed), in headless Chromium
against ``dagsmith edit``.

From 500 nodes on, Vue Flow's only-render-visible-elements keeps the nodes out of view out of the page. A
build patch (``patch-culling`` in ``editor/canvas/rollup.config.mjs``) computes the drawn set for a region
around the view: the view plus a quarter of its size on each side. The set, and so the page, stays the same while
the view moves inside that region; it is computed again when the view leaves it or zooms in more than twice.
What that relies on, checked here on a grid of 520 cards:

- every card in view is drawn, and cards far outside the region are not;
- a card just outside the view, within the margin, is drawn already (it needs no mount when it comes in);
- small pans and zooms inside the region draw no card again and remove none;
- a card far away comes into the page when the view is moved to it, and the old ones leave;
- a card added while the region stays the same is drawn at once (the set follows the nodes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import count, wait_for, with_token

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Edge, Node, Pipeline

pytestmark = pytest.mark.slow

COLUMNS, ROWS = 26, 20  # 520 cards: over the canvas's culling threshold (CULL_NODES = 500)
DX, DY = 400, 300  # grid spacing in flow units; larger than a card, so boxes are bounded by it

CANVAS = "getElement(document.querySelector('.dagsmith-canvas'))"
# Resolves after two animation frames: every render that a change caused has run.
FRAMES = "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(done));"
# The ids of the cards in the page, each tagged (once) so that a card drawn anew can be told from a kept one.
DRAWN = """
const out = {};
for (const el of document.querySelectorAll('.vue-flow__node')) {
  if (el.__mark === undefined) el.__mark = (window.__nextMark = (window.__nextMark || 0) + 1);
  out[el.dataset.id] = el.__mark;
}
return out;
"""


def node_id(col: int, row: int) -> str:
    return f"n{col}_{row}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("culling-home")


@pytest.fixture(scope="module")
def opened(driver: Any, server: str, services: EditorServices) -> Any:
    nodes = [
        Node(
            id=node_id(c, r),
            type="script",
            label=f"Step {c}/{r}",
            params={"script": "s.py"},
            position={"x": DX * c, "y": DY * r},
        )
        for r in range(ROWS)
        for c in range(COLUMNS)
    ]
    edges = [
        Edge(
            id=f"e{c}_{r}",
            source=node_id(c, r),
            source_port="output",
            target=node_id(c + 1, r),
            target_port="upstream",
        )
        for r in range(ROWS)
        for c in range(COLUMNS - 1)
    ]
    pipeline = Pipeline.model_validate({"settings": {"name": "Culling"}, "nodes": nodes, "edges": edges})
    info = services.create(services.local_project().id, pipeline)
    driver.set_script_timeout(30)
    driver.get(with_token(f"{server}/pipeline/{info.id}"))
    wait_for(lambda: count(driver, ".vue-flow__node") > 0, "the first cards drawn", timeout=60)
    wait_for(lambda: driver.execute_script(f"return Boolean({CANVAS}.flow)"), "the canvas ready", timeout=30)
    return driver


def pane_size(driver: Any) -> tuple[float, float]:
    width, height = driver.execute_script(
        "const r = document.querySelector('.vue-flow').getBoundingClientRect(); return [r.width, r.height]"
    )
    return float(width), float(height)


def view_to(driver: Any, left: float, top: float, zoom: float = 1.0) -> dict[str, int]:
    """Show the flow point (left, top) at the pane's top left corner; the cards then in the page."""
    driver.execute_script(f"{CANVAS}.flow.setViewport({{x: arguments[0], y: arguments[1], zoom: arguments[2]}})",
                          -left * zoom, -top * zoom, zoom)  # fmt: skip
    driver.execute_async_script(FRAMES)
    drawn: dict[str, int] = driver.execute_script(DRAWN)
    return drawn


def cells(left: float, top: float, width: float, height: float, *, inside: bool) -> set[str]:
    """Cards whose top-left corner lies in the box (``inside``), or whose whole cell lies outside it."""
    found = set()
    for r in range(ROWS):
        for c in range(COLUMNS):
            x, y = DX * c, DY * r
            if inside and left <= x <= left + width - 1 and top <= y <= top + height - 1:
                found.add(node_id(c, r))
            if not inside and (x + DX < left or x > left + width or y + DY < top or y > top + height):
                found.add(node_id(c, r))
    return found


def test_only_cards_around_the_view_are_drawn_and_kept_while_the_view_moves_inside(opened: Any) -> None:
    driver = opened
    width, height = pane_size(driver)
    edge_col = int(width // DX) + 3  # the view's right edge ends 10 units left of this column's cards
    left, top = DX * edge_col - width - 10, 3 * DY + 10
    view_to(driver, -100_000, -100_000)  # away from the graph first: the next view computes a region of its own
    drawn = wait_for(lambda: view_to(driver, left, top) or None, "cards drawn at the first view")
    in_view = cells(left, top, width, height, inside=True)
    assert in_view and in_view <= drawn.keys(), f"cards in view not drawn: {sorted(in_view - drawn.keys())}"
    far = cells(left - width / 2, top - height / 2, 2 * width, 2 * height, inside=False)
    assert not far & drawn.keys(), f"cards far outside the view drawn: {sorted(far & drawn.keys())[:5]}"
    # A card just right of the view, within the margin, is in the page before it comes into view.
    beside = node_id(edge_col, 4)
    assert beside in drawn, f"{beside}, just outside the view, is not drawn ahead"
    assert count(driver, ".vue-flow__edge") > 0, "no edge drawn"

    # Pans and a zoom out inside the region: the same cards, none drawn anew.
    for dx, dy, zoom in ((40, 0, 1.0), (80, 30, 1.0), (-60, -40, 1.0), (0, 0, 0.85), (0, 0, 1.2)):
        moved = view_to(driver, left + dx, top + dy, zoom)
        assert moved == drawn, f"moving the view by ({dx}, {dy}) at zoom {zoom} changed the drawn cards"

    # Far away: the cards there come in, the old ones leave.
    far_left, far_top = 18 * DX + 10, 12 * DY + 10
    there = view_to(driver, far_left, far_top)
    wanted = cells(far_left, far_top, width, height, inside=True)
    assert wanted and wanted <= there.keys(), f"cards in the new view not drawn: {sorted(wanted - there.keys())}"
    assert node_id(3, 3) not in there, "a card far outside the new view is still drawn"

    # The set follows the nodes while the region stays: a card added in view is drawn at once.
    driver.execute_script(
        f"const flow = {CANVAS}.flow; const like = flow.findNode(arguments[0]);"
        "const position = {x: arguments[1], y: arguments[2]};"
        "flow.setNodes([...flow.nodes.value, {id: 'added', type: like.type, data: like.data, position}]);",
        node_id(18, 12),
        far_left + DX / 2,
        far_top + DY / 2,
    )
    wait_for(lambda: count(driver, '.vue-flow__node[data-id="added"]') == 1, "the added card drawn")
