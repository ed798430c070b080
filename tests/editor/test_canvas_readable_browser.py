"""A canvas that stays readable, in a real browser (headless Chromium against ``dagsmith edit``). Issue 11.

Side panels fold away and stay folded after a reload; task states colour whole nodes, readable at the fitted
zoom; a search box finds and focuses nodes; ELK's auto-layout keeps parallel branches apart; a field error
that wraps does not run over the next field's label. Each test clicks and types as a person does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from browser import (
    click_into,
    count,
    node_ids,
    node_selector,
    screenshot_on_failure,
    show_tab,
    wait_for,
    with_token,
)

from dagsmith.editor.runs.records import write_json
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Node, Pipeline
from dagsmith.nodes.fileformat import load

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ERROR_MESSAGES = "aside .q-field--error .q-field__messages > div"
STATE_COLOURS = {
    "queued": "rgb(113, 113, 122)",
    "running": "rgb(37, 99, 235)",
    "success": "rgb(22, 163, 74)",
    "failed": "rgb(220, 38, 38)",
    "skipped": "rgb(161, 161, 170)",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readable-home")


# ---- helpers -------------------------------------------------------------------------------------


def scripts(labels: list[str], *, step: float = 320.0) -> dict[str, Any]:
    """A pipeline document of script steps in a row, labelled ``labels``."""
    nodes = [
        Node(id=f"s{i}", type="script", label=label, params={"script": f"s{i}.py"}, position={"x": i * step, "y": 0})
        for i, label in enumerate(labels, start=1)
    ]
    return {"nodes": [n.model_dump() for n in nodes]}


def open_pipeline(driver: Any, server: str, services: EditorServices, pipeline: Pipeline) -> int:
    info = services.create(services.local_project().id, pipeline)
    driver.get(with_token(f"{server}/pipeline/{info.id}"))
    wait_for(lambda: count(driver, ".vue-flow__node") == len(pipeline.nodes), "the pipeline's nodes on the canvas")
    return info.id


def named(name: str, document: dict[str, Any]) -> Pipeline:
    return Pipeline.model_validate({"settings": {"name": name}, **document})


def rect(driver: Any, selector_or_element: Any) -> dict[str, float]:
    script = (
        "const e = typeof arguments[0] === 'string' ? document.querySelector(arguments[0]) : arguments[0];"
        "const r = e.getBoundingClientRect();"
        "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height};"
    )
    return dict(driver.execute_script(script, selector_or_element))


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def settled(probe: Any) -> Any:
    """Wait until ``probe()`` returns the same value twice in a row (an animated change has ended)."""
    last: list[Any] = [object()]

    def same() -> Any:
        value = probe()
        stable = value == last[0]
        last[0] = value
        return stable

    wait_for(same, "the view to settle", interval=0.3)
    return last[0]


def transform(driver: Any) -> str:
    return str(driver.execute_script("return document.querySelector('.vue-flow__transformationpane').style.transform"))


def zoom(driver: Any) -> float:
    match = re.search(r"scale\(([\d.]+)\)", transform(driver))
    assert match, transform(driver)
    return float(match.group(1))


def button(driver: Any, label: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"header button[aria-label='{label}']")


def header_icon(driver: Any, icon: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//header//button[.//i[normalize-space(text())='{icon}']]")


def style(driver: Any, selector: str, *props: str) -> dict[str, str]:
    return dict(
        driver.execute_script(
            "const s = getComputedStyle(document.querySelector(arguments[0]));"
            "return Object.fromEntries(arguments[1].map(p => [p, s.getPropertyValue(p)]));",
            selector,
            list(props),
        )
    )


def canvas_width(driver: Any) -> float:
    return rect(driver, ".vue-flow")["width"]


# ---- side panels ---------------------------------------------------------------------------------


def test_side_panels_fold_away_and_stay_folded_after_a_reload(
    driver: Any, server: str, services: EditorServices
) -> None:
    with screenshot_on_failure(driver, "readable-panels"):
        open_pipeline(driver, server, services, named("Panels", scripts(["One", "Two"])))
        full = settled(lambda: canvas_width(driver))
        button(driver, "Show or hide the palette").click()
        wait_for(lambda: canvas_width(driver) >= full + 200, "the canvas to take the palette's room")
        wider = settled(lambda: canvas_width(driver))
        button(driver, "Show or hide the inspector").click()
        wait_for(lambda: canvas_width(driver) >= wider + 300, "the canvas to take the inspector's room")
        widest = settled(lambda: canvas_width(driver))
        driver.refresh()
        wait_for(lambda: count(driver, ".vue-flow__node") == 2, "the reloaded canvas")
        after = settled(lambda: canvas_width(driver))
        assert after >= widest - 2, f"the folded panels came back after a reload ({after} px < {widest} px)"
        assert not driver.find_element("css selector", ".q-drawer--left").is_displayed() or (
            rect(driver, ".q-drawer--left")["right"] <= 0
        ), "the palette is shown again after a reload"
        # Unfolding is remembered too (and the other tests here see the panels).
        button(driver, "Show or hide the palette").click()
        button(driver, "Show or hide the inspector").click()
        wait_for(lambda: canvas_width(driver) <= full + 2, "the panels back")
        driver.refresh()
        wait_for(lambda: count(driver, ".vue-flow__node") == 2, "the reloaded canvas")
        assert settled(lambda: canvas_width(driver)) <= full + 2, "the unfolded panels were forgotten on reload"


# ---- run states ----------------------------------------------------------------------------------


def record_run(home: Path, project_id: int, dag_id: str, states: dict[str, str]) -> str:
    """A run record as the local runner writes it (runs/<dag_id>/<run id>/run.json in the project's workspace)."""
    run_id = "20260102T030405Z-ab12"
    folder = home / "workspace" / f"project-{project_id}" / "runs" / dag_id / run_id
    tasks = [
        {"task_id": node, "map_index": -1, "node": node, "state": state, "duration": 1.5, "log": str(folder / node)}
        for node, state in states.items()
    ]
    record = {
        "id": run_id,
        "dag_id": dag_id,
        "state": "failed",
        "started": "2026-01-02T03:04:05+00:00",
        "ended": "2026-01-02T03:05:05+00:00",
        "tasks": tasks,
    }
    write_json(folder / "run.json", record)
    return run_id


def test_task_states_colour_whole_nodes_readable_at_the_fitted_zoom(
    driver: Any, server: str, services: EditorServices, home: Path
) -> None:
    from selenium.webdriver.common.by import By

    states = dict(zip(["s1", "s2", "s3", "s4", "s5"], STATE_COLOURS, strict=True))
    pipeline = named("Run states", scripts(["A", "B", "C", "D", "E", "F"]))
    run_id = record_run(home, services.local_project().id, pipeline.dag_id, states)
    with screenshot_on_failure(driver, "readable-states"):
        open_pipeline(driver, server, services, pipeline)
        settled(lambda: transform(driver))
        fitted = zoom(driver)
        # The run history's way: open the Runs tab and pick the run; its task states go onto the canvas.
        show_tab(driver, "Runs")
        run = wait_for(lambda: driver.find_element(By.XPATH, f"//*[normalize-space(text())='{run_id}']"), "the run")
        run.click()
        wait_for(lambda: count(driver, ".dagsmith-node.dagsmith-has-state") == 5, "the task states on the canvas")
        assert zoom(driver) == pytest.approx(fitted), "showing the states changed the view"
        plain = style(driver, f"{node_selector('s6')} .dagsmith-node", "background-color", "outline-style")
        assert plain["outline-style"] == "none"
        for node, state in states.items():
            look = style(
                driver,
                f"{node_selector(node)} .dagsmith-node",
                "background-color",
                "border-top-color",
                "border-left-color",
                "outline-color",
                "outline-style",
                "outline-width",
            )
            assert look["outline-style"] != "none", f"{state}: the node has no state outline"
            assert float(look["outline-width"].removesuffix("px")) * fitted >= 2.5, (
                f"{state}: the outline is too thin to see at the fitted zoom {fitted}"
            )
            assert look["background-color"] != plain["background-color"], f"{state}: the node is not tinted"
            if state != "running":  # the running outline pulses; its border keeps the colour
                assert look["outline-color"] == STATE_COLOURS[state], f"{state}: {look}"
            assert look["border-left-color"] == STATE_COLOURS[state], f"{state}: {look}"
            minimap = driver.find_element(By.CSS_SELECTOR, f'.vue-flow__minimap-node[id="{node}"]')
            assert minimap.get_attribute("fill") in (STATE_COLOURS[state], _hex(STATE_COLOURS[state]))


def _hex(rgb: str) -> str:
    parts = [int(p) for p in re.findall(r"\d+", rgb)]
    return "#" + "".join(f"{p:02x}" for p in parts)


# ---- search --------------------------------------------------------------------------------------


def test_search_finds_selects_and_centres_nodes(driver: Any, server: str, services: EditorServices) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    labels = ["Load data", "Clean", "Train small", "Evaluate", "Report", "Score", "Export", "Train large"]
    with screenshot_on_failure(driver, "readable-search"):
        open_pipeline(driver, server, services, named("Search", scripts(labels)))
        settled(lambda: transform(driver))
        pane = driver.find_element(By.CSS_SELECTOR, ".vue-flow__pane")
        ActionChains(driver).move_to_element_with_offset(pane, 0, 200).click().perform()  # the canvas is active
        ActionChains(driver).key_down(Keys.CONTROL).send_keys("f").key_up(Keys.CONTROL).perform()
        box = wait_for(
            lambda: driver.execute_script(
                "const a = document.activeElement; return a && a.matches('.dagsmith-search__input') ? a : null"
            ),
            "Ctrl+F to put the cursor in the canvas's search box",
        )
        box.send_keys("train")
        wait_for(lambda: count(driver, ".dagsmith-match") == 2, "both Train nodes marked as matches")
        centre = rect(driver, ".vue-flow")
        middle = ((centre["left"] + centre["right"]) / 2, (centre["top"] + centre["bottom"]) / 2)

        def shown(node: str) -> None:
            wait_for(
                lambda: (
                    "selected" in (driver.find_element(By.CSS_SELECTOR, node_selector(node)).get_attribute("class"))
                ),
                f"{node} selected",
            )
            settled(lambda: transform(driver))
            r = rect(driver, node_selector(node))
            assert abs((r["left"] + r["right"]) / 2 - middle[0]) < 30, f"{node} is not centred"
            assert abs((r["top"] + r["bottom"]) / 2 - middle[1]) < 30, f"{node} is not centred"
            assert zoom(driver) >= 1.0 - 1e-6, "the found node is shown smaller than its natural size"
            selected = [n for n in node_ids(driver) if "selected" in _classes(driver, n)]
            assert selected == [node]
            # The inspector follows the selection, as with a click.
            wait_for(lambda: labels[int(node[1:]) - 1] in _inspector_text(driver), f"{node}'s form")

        box.send_keys(Keys.ENTER)
        shown("s3")
        assert "1 of 2" in driver.find_element(By.CSS_SELECTOR, ".dagsmith-search__count").text
        box.send_keys(Keys.ENTER)
        shown("s8")
        box.send_keys(Keys.ENTER)
        shown("s3")  # round again
        box.send_keys(Keys.SHIFT, Keys.ENTER)
        shown("s8")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys("script s5")  # type and id match too: every word must
        wait_for(lambda: count(driver, ".dagsmith-match") == 1, "s5 alone")
        box.send_keys(Keys.ENTER)
        shown("s5")


def _classes(driver: Any, node: str) -> str:
    return str(driver.execute_script(f"return document.querySelector('{node_selector(node)}').className"))


def _inspector_text(driver: Any) -> str:
    return str(
        driver.execute_script(
            "const d = document.querySelector('.q-drawer--right');"
            "return d ? [...d.querySelectorAll('input')].map(i => i.value).join(' ') + d.innerText : ''"
        )
    )


# ---- auto-layout ---------------------------------------------------------------------------------


def test_auto_layout_keeps_branches_apart(driver: Any, server: str, services: EditorServices) -> None:
    pipeline = load(ROOT / "nodes" / "examples" / "user_targeting.dagsmith.json")
    # Everything piled near one spot, as after careless moves.
    for index, node in enumerate(pipeline.nodes):
        node.position.x, node.position.y = 10.0 * index, 5.0 * index
    pipeline.comments = []
    with screenshot_on_failure(driver, "readable-elk"):
        open_pipeline(driver, server, services, pipeline)
        settled(lambda: transform(driver))
        header_icon(driver, "account_tree").click()

        def boxes() -> dict[str, dict[str, float]]:
            return {n: rect(driver, node_selector(n)) for n in node_ids(driver)}

        def apart() -> dict[str, dict[str, float]] | None:
            found = boxes()
            ids = sorted(found)
            return None if any(overlap(found[a], found[b]) for a in ids for b in ids if a < b) else found

        wait_for(apart, "auto-layout to separate the nodes", timeout=30)
        placed = settled(lambda: str(boxes()))
        del placed
        found = boxes()
        ids = sorted(found)
        pairs = [(a, b) for a in ids for b in ids if a < b and overlap(found[a], found[b])]
        assert not pairs, f"after auto-layout these nodes overlap: {pairs}"
        # Parallel branches (two successors of one node, or two predecessors of one, with no path between them)
        # get their own rows.
        successors: dict[str, list[str]] = {}
        predecessors: dict[str, list[str]] = {}
        for edge in pipeline.edges:
            successors.setdefault(edge.source, []).append(edge.target)
            predecessors.setdefault(edge.target, []).append(edge.source)
        reach = _reachability(successors)
        branches = {
            (a, b)
            for siblings in [*successors.values(), *predecessors.values()]
            for a in set(siblings)
            for b in set(siblings)
            if a < b and b not in reach.get(a, set()) and a not in reach.get(b, set())
        }
        assert branches, "the example has no parallel branches to check"
        for a, b in branches:
            ra, rb = found[a], found[b]
            rows_apart = ra["bottom"] <= rb["top"] or rb["bottom"] <= ra["top"]
            assert rows_apart, f"parallel branches {a} and {b} are not on separate rows"
        # Edges run left to right: every edge's target sits right of its source.
        for edge in pipeline.edges:
            assert found[edge.target]["left"] > found[edge.source]["right"], f"{edge.source} -> {edge.target}"


def _reachability(successors: dict[str, list[str]]) -> dict[str, set[str]]:
    reach: dict[str, set[str]] = {}

    def visit(node: str) -> set[str]:
        if node not in reach:
            reach[node] = set()
            for nxt in successors.get(node, []):
                reach[node] |= {nxt} | visit(nxt)
        return reach[node]

    for node in list(successors):
        visit(node)
    return reach


# ---- field errors --------------------------------------------------------------------------------


def test_a_long_field_error_does_not_cover_the_next_label(driver: Any, server: str, services: EditorServices) -> None:
    from selenium.webdriver.common.by import By

    with screenshot_on_failure(driver, "readable-error"):
        open_pipeline(driver, server, services, named("Errors", scripts(["Fit"])))
        header_icon(driver, "settings").click()  # the pipeline settings in the inspector
        # A field of the inspector: type a value it refuses, as a person would.
        click_into(
            driver,
            lambda: driver.find_element(
                By.XPATH,
                "//aside//label[.//div[contains(@class,'q-field__label')][normalize-space(text())='DAG ID']]//input",
            ),
            "the DAG ID field",
        )
        for key in "not a valid id!":
            driver.switch_to.active_element.send_keys(key)
        message = wait_for(
            lambda: next((e for e in driver.find_elements(By.CSS_SELECTOR, ERROR_MESSAGES) if e.text), None),
            "the field's error",
        )
        error = rect(driver, message)
        assert error["height"] > 16, f"the error should wrap in the 380 px panel to show the overlap: {message.text!r}"
        labels = driver.find_elements(By.CSS_SELECTOR, "aside .q-field__label")
        below = [rect(driver, label) for label in labels if rect(driver, label)["top"] >= error["top"] - 40]
        hit = [r for r in below if r["width"] and overlap(r, error)]
        assert not hit, f"the error {message.text!r} runs over the next field's label"
