"""Node forms in a real browser (headless Chromium against ``dagsmith edit``): nothing a user types is lost.

Each test types key by key into the focused element, as a person does, and checks what the page shows
and what the server stored (the draft in the editor's store). Issue 11, defects 1, 2, 7 and 8:
output storage fields that kept only the first keystroke, repeated keys that dropped a value, list
text lost without Enter, and invalid JSON that was not kept.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browser import (
    BrowserCheckError,
    count,
    drop_from_palette,
    node_ids,
    node_selector,
    screenshot_on_failure,
    wait_for,
    with_token,
)

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Node, Pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("forms-home")


# ---- helpers -------------------------------------------------------------------------------------


def open_pipeline(driver: Any, server: str, services: EditorServices, name: str, nodes: list[Node]) -> int:
    """A new pipeline with ``nodes``, opened in the workbench; its id."""
    pipeline = Pipeline.model_validate({"settings": {"name": name}, "nodes": [n.model_dump() for n in nodes]})
    info = services.create(services.local_project().id, pipeline)
    load(driver, server, info.id, len(nodes))
    return info.id


def load(driver: Any, server: str, pipeline_id: int, nodes: int) -> None:
    driver.get(with_token(f"{server}/pipeline/{pipeline_id}"))
    wait_for(lambda: count(driver, ".vue-flow__node") == nodes, "the pipeline's nodes on the canvas")


def select(driver: Any, node_id: str, title: str) -> None:
    """Click the node on the canvas; wait for its form."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"{node_selector(node_id)} .dagsmith-node__label").click()
    wait_for(lambda: inspector_title(driver) == title, f"the form of {node_id}")


def inspector_title(driver: Any) -> str:
    return str(driver.execute_script("return document.querySelector('.q-drawer--right .text-h6')?.textContent ?? ''"))


def field(driver: Any, name: str) -> Any:
    """The text input of the field with dotted path ``name``."""
    return driver.execute_script(
        """
        const el = document.querySelector(`[data-field="${arguments[0]}"]`);
        return el && (el.tagName === 'INPUT' ? el : el.querySelector('input'));
        """,
        name,
    )


def field_error(driver: Any, element: Any) -> str:
    """The inline error under an input ('' when none)."""
    return str(
        driver.execute_script(
            """
            const field = arguments[0].closest('.q-field');
            return field?.classList.contains('q-field--error')
              ? field.querySelector('.q-field__messages')?.textContent.trim() || 'error' : '';
            """,
            element,
        )
    )


def section(driver: Any, text: str) -> Any:
    """The header of the section titled ``text`` in the inspector."""
    from selenium.webdriver.common.by import By

    selector = f".q-drawer--right .q-expansion-item__container > .q-item[aria-label$='\"{text}\"']"
    return wait_for(lambda: driver.find_element(By.CSS_SELECTOR, selector), f"the section {text!r}")


def open_section(driver: Any, text: str) -> None:
    """Open the section titled ``text``; while the section above it opens, a click can land beside the moving
    header, and a person clicks again: so does this, only while the section is still closed."""

    def attempt() -> bool:
        header = section(driver, text)
        if header.get_attribute("aria-expanded") == "true":
            return True
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", header)
        header.click()
        try:
            wait_for(lambda: section(driver, text).get_attribute("aria-expanded") == "true", "the click", timeout=2)
        except BrowserCheckError:
            return False
        return True

    wait_for(attempt, f"the section {text!r} to open", timeout=30)


def is_open(driver: Any, text: str) -> bool:
    return section(driver, text).get_attribute("aria-expanded") == "true"


def click(driver: Any, element: Any) -> None:
    """Click ``element`` once it can take the click (a section that is still opening moves its content)."""

    def attempt() -> bool:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()
        return True

    wait_for(attempt, "an element to take a click")


def click_into(driver: Any, name: str) -> Any:
    element = wait_for(lambda: field(driver, name), f"the field {name}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    wait_for(element.is_displayed, f"the field {name} to be visible")
    element.click()
    return element


def type_keys(driver: Any, text: str) -> None:
    """Type ``text`` key by key into whatever has the focus, as a person does."""
    for key in text:
        driver.switch_to.active_element.send_keys(key)


def focused_field(driver: Any) -> str | None:
    return driver.execute_script(
        "const a = document.activeElement; return a?.closest('[data-field]')?.getAttribute('data-field') ?? null"
    )


def stored(services: EditorServices, pipeline_id: int, node_id: str) -> Node:
    node = services.open_draft(pipeline_id)[1].node(node_id)
    assert node is not None
    return node


def wait_stored(what: str, read: Callable[[], Any], expected: Any) -> None:
    """Wait until the saved draft holds ``expected``; fail with what it holds."""
    try:
        wait_for(lambda: read() == expected, what, timeout=10)
    except BrowserCheckError:
        pytest.fail(f"{what}: the draft holds {read()!r}, not {expected!r}")


# ---- defect 1: output storage fields keep every keystroke and their section stays open ----------------


def test_output_path_naming_and_access_keep_every_keystroke(server: str, driver: Any, services: EditorServices) -> None:
    with screenshot_on_failure(driver, "forms-outputs"):
        pipeline_id = open_pipeline(driver, server, services, "Outputs typing", [])
        box = driver.execute_script("return document.querySelector('.vue-flow__pane').getBoundingClientRect().toJSON()")
        drop_from_palette(driver, "script", box["left"] + box["width"] / 2, box["top"] + box["height"] / 2)
        wait_for(lambda: count(driver, ".vue-flow__node") == 1, "the dropped node")
        (node_id,) = node_ids(driver)
        wait_for(lambda: inspector_title(driver) == "Script", "the new node's form")

        outputs = "Outputs: storage, naming and access"
        open_section(driver, outputs)
        click_into(driver, "outputs.output.path")
        type_keys(driver, "models/x")
        assert field(driver, "outputs.output.path").get_attribute("value") == "models/x"
        assert focused_field(driver) == "outputs.output.path", "the field lost the focus while typing"
        assert is_open(driver, outputs), "the outputs section closed while typing"
        click_into(driver, "outputs.output.naming")
        type_keys(driver, "{output}-v1")
        assert field(driver, "outputs.output.naming").get_attribute("value") == "{output}-v1"
        assert focused_field(driver) == "outputs.output.naming"

        # Choosing an access level keeps the sections open as well.
        open_section(driver, "Access")
        level = wait_for(lambda: field(driver, "outputs.output.access.level"), "the access level")
        wait_for(lambda: driver.execute_script("return arguments[0].closest('.q-field')", level).is_displayed(), "it")
        driver.execute_script("return arguments[0].closest('.q-field')", level).click()
        from selenium.webdriver.common.by import By

        option = wait_for(
            lambda: driver.find_element(By.XPATH, "//div[contains(@class,'q-menu')]//div[normalize-space()='groups']"),
            "the access level menu",
        )
        option.click()
        wait_stored(
            "the access level",
            lambda: (a := stored(services, pipeline_id, node_id).outputs["output"].access) and a.level,
            "groups",
        )
        assert is_open(driver, outputs) and is_open(driver, "Access"), "choosing a level closed the sections"
        settings = stored(services, pipeline_id, node_id).outputs["output"]
        assert (settings.path, settings.naming) == ("models/x", "{output}-v1")


# ---- defect 2: a repeated key is an inline error and nothing is dropped ------------------------------


def kv_inputs(driver: Any, name: str, column: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, f'[data-field="{name}"] input[data-kv="{column}"]'))


def add_row(driver: Any, name: str) -> None:
    from selenium.webdriver.common.by import By

    rows = len(kv_inputs(driver, name, "key"))
    button = driver.find_element(By.XPATH, f"//*[@data-field='{name}']//button[.//span[normalize-space()='add']]")
    # While the section above it still opens, the button moves and a click lands beside it, as a person's would:
    # aim once it has stopped.
    last: list[Any] = [None]

    def still() -> bool:
        where, last[0] = last[0], button.rect
        return where == last[0]

    wait_for(still, "the add button to stop moving", interval=0.2)
    click(driver, button)
    wait_for(lambda: len(kv_inputs(driver, name, "key")) == rows + 1, "a new row")


def test_repeated_key_is_marked_and_nothing_is_dropped(server: str, driver: Any, services: EditorServices) -> None:
    selector = "pod.node_selector"
    train = Node(id="train", type="script", label="Train", params={"script": "train.py"})
    with screenshot_on_failure(driver, "forms-keyvalue"):
        pipeline_id = open_pipeline(driver, server, services, "Repeated keys", [train])
        select(driver, "train", "Script")
        open_section(driver, "Pod")
        for key, value in (("gpu", "a100"), ("gpu", "h100")):
            add_row(driver, selector)
            click(driver, kv_inputs(driver, selector, "key")[-1])
            type_keys(driver, key)
            click(driver, kv_inputs(driver, selector, "value")[-1])
            type_keys(driver, value)
        keys = kv_inputs(driver, selector, "key")
        values = kv_inputs(driver, selector, "value")
        assert [k.get_attribute("value") for k in keys] == ["gpu", "gpu"]
        assert [v.get_attribute("value") for v in values] == ["a100", "h100"]
        wait_for(lambda: "used by 2 rows" in field_error(driver, keys[1]), "the inline error on the repeated key")
        # Nothing dropped: the typed rows are kept in the draft (marked invalid there too), so a reload shows them.
        rows = [["gpu", "a100"], ["gpu", "h100"]]
        wait_stored("both rows", lambda: stored(services, pipeline_id, "train").params["pod"]["node_selector"], rows)
        load(driver, server, pipeline_id, 1)
        select(driver, "train", "Script")
        open_section(driver, "Pod")
        wait_for(lambda: len(kv_inputs(driver, selector, "key")) == 2, "both rows after the reload")
        assert [v.get_attribute("value") for v in kv_inputs(driver, selector, "value")] == ["a100", "h100"]
        assert "used by 2 rows" in field_error(driver, kv_inputs(driver, selector, "key")[1])
        # Resolving the repeat stores the mapping and clears the error.
        click(driver, kv_inputs(driver, selector, "key")[1])
        type_keys(driver, "\ue003\ue003\ue003zone")  # three backspaces, then the new key
        wait_stored(
            "the resolved mapping",
            lambda: stored(services, pipeline_id, "train").params["pod"]["node_selector"],
            {"gpu": "a100", "zone": "h100"},
        )
        wait_for(lambda: field_error(driver, kv_inputs(driver, selector, "key")[1]) == "", "the error to go")


# ---- defect 7: text typed into a list field is kept when the user clicks away ------------------------


def chips(driver: Any, name: str) -> list[str]:
    return list(
        driver.execute_script(
            "return [...document.querySelector(`[data-field='${arguments[0]}']`).closest('.q-field')"
            ".querySelectorAll('.q-chip .q-chip__content')].map(c => c.textContent.trim())",
            name,
        )
    )


def test_list_field_keeps_text_when_clicking_away(server: str, driver: Any, services: EditorServices) -> None:
    train = Node(id="train", type="script", label="Train", params={"script": "train.py"})
    with screenshot_on_failure(driver, "forms-chips"):
        pipeline_id = open_pipeline(driver, server, services, "List typing", [train])
        select(driver, "train", "Script")
        click_into(driver, "command")
        type_keys(driver, "python\ue007")  # the first item with Enter
        wait_for(lambda: chips(driver, "command") == ["python"], "the first item")
        type_keys(driver, "train.py")  # the second without Enter: the user clicks elsewhere
        click_into(driver, "label")
        wait_for(lambda: chips(driver, "command") == ["python", "train.py"], "the second item after leaving the field")
        assert field(driver, "command").get_attribute("value") == ""
        wait_stored(
            "the list", lambda: stored(services, pipeline_id, "train").params.get("command"), ["python", "train.py"]
        )


# ---- defect 8: invalid JSON is kept as typed and marked, with a dictionary example -----------------------


def test_invalid_json_parameters_are_kept_and_marked(server: str, driver: Any, services: EditorServices) -> None:
    explore = Node(id="explore", type="notebook", label="Explore", params={"notebook": "explore.ipynb"})
    with screenshot_on_failure(driver, "forms-json"):
        pipeline_id = open_pipeline(driver, server, services, "JSON typing", [explore])
        select(driver, "explore", "Notebook")
        element = click_into(driver, "parameters")
        typed = '{"alpha": 0.5'
        type_keys(driver, typed)
        error = wait_for(lambda: field_error(driver, element), "the inline JSON error")
        assert "not valid JSON" in error and '{"alpha": 0.5, "epochs": 10}' in error, error
        wait_stored("the typed text", lambda: stored(services, pipeline_id, "explore").params.get("parameters"), typed)
        load(driver, server, pipeline_id, 1)
        select(driver, "explore", "Notebook")
        element = wait_for(lambda: field(driver, "parameters"), "the parameters field after the reload")
        assert element.get_attribute("value") == typed
        assert "not valid JSON" in field_error(driver, element)
        click_into(driver, "parameters").send_keys("\ue010")  # End: the caret after the text
        type_keys(driver, "}")
        wait_stored(
            "the parameters", lambda: stored(services, pipeline_id, "explore").params.get("parameters"), {"alpha": 0.5}
        )
        wait_for(lambda: field_error(driver, field(driver, "parameters")) == "", "the error to go")
