"""The canvas stays readable in a real browser (headless Chromium against ``dagsmith edit``). Issue 11, defect 10.

Fit view and auto-layout keep six nodes readable, the fitted graph stays clear of the minimap, a click on
the minimap moves the view there, pasted nodes never land on other nodes, and the dark-mode choice
survives a reload. Each test clicks and presses keys as a person does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import (
    count,
    node_ids,
    node_selector,
    screenshot_on_failure,
    wait_for,
    with_token,
)

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Node, Pipeline

pytestmark = pytest.mark.slow

READABLE_PX = 9.0
"""The smallest rendered size of a node label's 13 px font that still reads well."""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("layout-home")


# ---- helpers -------------------------------------------------------------------------------------


def scripts(positions: list[tuple[float, float]]) -> dict[str, Any]:
    """A pipeline document of script steps at ``positions``."""
    nodes = [
        Node(id=f"s{i}", type="script", label=f"Step {i}", params={"script": f"s{i}.py"}, position={"x": x, "y": y})
        for i, (x, y) in enumerate(positions, start=1)
    ]
    return {"nodes": [n.model_dump() for n in nodes]}


def open_pipeline(driver: Any, server: str, services: EditorServices, name: str, document: dict[str, Any]) -> int:
    pipeline = Pipeline.model_validate({"settings": {"name": name}, **document})
    info = services.create(services.local_project().id, pipeline)
    driver.get(with_token(f"{server}/pipeline/{info.id}"))
    wait_for(lambda: count(driver, ".vue-flow__node") == len(pipeline.nodes), "the pipeline's nodes on the canvas")
    return info.id


def rect(driver: Any, selector: str) -> dict[str, float]:
    return dict(
        driver.execute_script(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
            "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom};",
            selector,
        )
    )


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def label_px(driver: Any) -> float:
    """The rendered size of a node label's font: its computed font size times the viewport's scale, both read
    from the page's styles (not from the canvas's state). A ratio of the label's box heights was off by up to
    3 % (``offsetHeight`` is a whole number of pixels), enough to read a zoom of exactly the minimum as below it.
    """
    size = driver.execute_script(
        "const l = document.querySelector('.vue-flow__node .dagsmith-node__label');"
        "const v = document.querySelector('.vue-flow__viewport');"
        "return new DOMMatrixReadOnly(getComputedStyle(v).transform).a * parseFloat(getComputedStyle(l).fontSize);"
    )
    return float(size)


def header_button(driver: Any, icon: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//header//button[.//i[normalize-space(text())='{icon}']]")


def settled(driver: Any, probe: Any) -> Any:
    """Wait until ``probe()`` returns the same value twice in a row (an animated view change has ended)."""
    last: list[Any] = [object()]

    def same() -> Any:
        value = probe()
        stable = value == last[0]
        last[0] = value
        return stable

    wait_for(same, "the view to settle", interval=0.3)
    return last[0]


def transform(driver: Any) -> str:
    return str(driver.execute_script("return document.querySelector('.vue-flow__viewport').style.transform"))


# ---- tests ---------------------------------------------------------------------------------------


def test_fit_view_and_auto_layout_keep_six_nodes_readable(driver: Any, server: str, services: EditorServices) -> None:
    with screenshot_on_failure(driver, "layout-min-zoom"):
        open_pipeline(driver, server, services, "Six in a row", scripts([(i * 320.0, 0.0) for i in range(6)]))
        settled(driver, lambda: transform(driver))
        assert label_px(driver) >= READABLE_PX, "the opened pipeline was fitted until its labels could not be read"
        header_button(driver, "fit_screen").click()
        settled(driver, lambda: transform(driver))
        assert label_px(driver) >= READABLE_PX, "Fit view shrank the labels below a readable size"
        header_button(driver, "account_tree").click()
        settled(driver, lambda: transform(driver))
        assert label_px(driver) >= READABLE_PX, "Auto-layout shrank the labels below a readable size"
        from selenium.webdriver.common.by import By

        driver.find_element(By.CSS_SELECTOR, ".vue-flow__controls-fitview").click()  # the canvas's own button
        settled(driver, lambda: transform(driver))
        assert label_px(driver) >= READABLE_PX, "the canvas's fit button shrank the labels below a readable size"


def test_fitted_graph_stays_clear_of_the_minimap(driver: Any, server: str, services: EditorServices) -> None:
    grid = [(x, y) for y in (0.0, 400.0) for x in (0.0, 320.0, 640.0)]
    with screenshot_on_failure(driver, "layout-minimap-cover"):
        open_pipeline(driver, server, services, "Grid", scripts(grid))
        settled(driver, lambda: transform(driver))
        header_button(driver, "fit_screen").click()
        settled(driver, lambda: transform(driver))
        minimap = rect(driver, ".vue-flow__minimap")
        covered = [n for n in node_ids(driver) if overlap(rect(driver, node_selector(n)), minimap)]
        assert not covered, f"the minimap covers {covered} after Fit view"
        # Its nodes are drawn in the minimap, with an outline.
        assert count(driver, ".vue-flow__minimap-node") == len(grid)


def test_clicking_the_minimap_moves_the_view_there(driver: Any, server: str, services: EditorServices) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    with screenshot_on_failure(driver, "layout-minimap-click"):
        open_pipeline(driver, server, services, "Long row", scripts([(i * 320.0, 0.0) for i in range(8)]))
        settled(driver, lambda: transform(driver))
        canvas = rect(driver, ".vue-flow")
        centre = (canvas["left"] + canvas["right"]) / 2
        for target in ("s8", "s1"):
            spot = driver.find_element(By.CSS_SELECTOR, f'.vue-flow__minimap-node[id="{target}"]')
            ActionChains(driver).move_to_element(spot).click().perform()
            settled(driver, lambda: transform(driver))
            box = rect(driver, node_selector(target))
            middle = (box["left"] + box["right"]) / 2
            assert abs(middle - centre) < 80, f"clicking {target} on the minimap did not centre the view on it"


def test_pasted_nodes_never_cover_others(driver: Any, server: str, services: EditorServices) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with screenshot_on_failure(driver, "layout-paste"):
        open_pipeline(driver, server, services, "Paste", scripts([(0.0, 0.0), (320.0, 0.0)]))
        label = driver.find_element(By.CSS_SELECTOR, f"{node_selector('s1')} .dagsmith-node__label")
        label.click()  # selects it; the pointer stays over it, where Ctrl+V pastes
        wait_for(lambda: "selected" in (label.find_element(By.XPATH, "../..").get_attribute("class") or ""), "s1")
        ActionChains(driver).key_down(Keys.CONTROL).send_keys("c").key_up(Keys.CONTROL).perform()
        for pasted in range(1, 4):
            ActionChains(driver).move_to_element(label).key_down(Keys.CONTROL).send_keys("v").key_up(
                Keys.CONTROL
            ).perform()
            wait_for(lambda n=pasted: count(driver, ".vue-flow__node") == 2 + n, f"paste {pasted}")
            ids = node_ids(driver)
            boxes = {i: rect(driver, node_selector(i)) for i in ids}
            pairs = [(a, b) for a in ids for b in ids if a < b and overlap(boxes[a], boxes[b])]
            assert not pairs, f"after paste {pasted}, these nodes overlap: {pairs}"


def test_dark_mode_survives_a_reload(driver: Any, server: str, services: EditorServices) -> None:
    def dark() -> bool:
        return bool(driver.execute_script("return document.body.classList.contains('body--dark')"))

    with screenshot_on_failure(driver, "layout-dark"):
        pipeline_id = open_pipeline(driver, server, services, "Dark", scripts([(0.0, 0.0)]))
        assert not dark()
        header_button(driver, "dark_mode").click()
        wait_for(dark, "dark mode")
        driver.refresh()
        wait_for(lambda: count(driver, ".vue-flow__node") == 1, "the reloaded canvas")
        assert dark(), "the dark-mode choice was forgotten on reload"
        assert driver.execute_script("return !!document.querySelector('.dagsmith-canvas-root.dagsmith-dark')")
        driver.get(with_token(server))  # the start page follows the choice too
        wait_for(lambda: count(driver, "[data-testid], .q-list") > 0, "the start page")
        assert dark(), "the start page forgot the dark-mode choice"
        driver.get(with_token(f"{server}/pipeline/{pipeline_id}"))
        wait_for(lambda: count(driver, ".vue-flow__node") == 1, "the canvas again")
        header_button(driver, "dark_mode").click()
        wait_for(lambda: not dark(), "light mode")
        driver.refresh()
        wait_for(lambda: count(driver, ".vue-flow__node") == 1, "the reloaded canvas")
        assert not dark(), "switching back to light mode was forgotten on reload"
