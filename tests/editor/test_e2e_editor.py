"""The editor end to end: the real ``dagsmith edit`` server, driven in headless Chromium like a user.

One walk through the workbench, a screenshot per step in ``artifacts/`` (e2e-<n>-<step>.png):
open a template from the start page, drag a node from the palette, connect it, type into its form,
make and fix a validation error, undo (button and Ctrl+Z) and redo, then export and download the DAG.
Needs Debian's ``chromium`` and ``chromium-driver`` (or CHROME_BINARY_LOCATION / CHROMEDRIVER).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import (
    BrowserCheckError,
    chromium,
    count,
    drag_handle,
    drop_from_palette,
    handle,
    node_ids,
    node_selector,
    pan_into_view,
    screenshot,
    screenshot_on_failure,
    server_log,
    severe_logs,
    wait_for,
    with_token,
)

TEMPLATE = "User targeting"  # 6 steps, 5 edges, valid, with a default image: ready to export
DAG_ID = "user_targeting"
SOURCE = ("predict", "predictions")  # the node and output the new step is connected to


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh DAGSMITH_HOME: the editor creates its store there, with the templates."""
    return tmp_path_factory.mktemp("e2e-home")


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-downloads")


@pytest.fixture(scope="module")
def driver(downloads: Path) -> Iterator[Any]:
    try:
        browser = chromium(downloads=downloads)
    except BrowserCheckError as exc:
        pytest.fail(str(exc))
    try:
        yield browser
    finally:
        browser.quit()


# ---- page helpers --------------------------------------------------------------------------------


def _field(name: str) -> str:
    """The native input of the inspector field with dotted path ``name`` (Quasar puts the attribute there)."""
    return f'input[data-field="{name}"]'


def _field_value(driver: Any, name: str) -> str | None:
    return driver.execute_script("return document.querySelector(arguments[0])?.value ?? null", _field(name))


def _field_error(driver: Any, name: str) -> str:
    """The inline error shown under a field ('' when none)."""
    return str(
        driver.execute_script(
            """
            const field = document.querySelector(`input[data-field="${arguments[0]}"]`)?.closest('.q-field');
            return field?.classList.contains('q-field--error')
              ? field.querySelector('.q-field__messages')?.textContent.trim() || 'error' : '';
            """,
            name,
        )
    )


def _reveal(driver: Any, name: str) -> Any:
    """Open the collapsed sections around a field, like a user would; the field's input element."""
    from selenium.webdriver.common.by import By

    def step() -> Any:  # a closed section's header, True when the field is there and shown, None: wait
        return driver.execute_script(
            """
            // The field, or else the innermost section around it: a closed section's fields are built when opened.
            const parts = arguments[0].split('.');
            let field = document.querySelector(`input[data-field="${arguments[0]}"]`);
            for (let end = parts.length - 1; !field && end > 0; end--) {
              field = document.querySelector(`[data-section="${parts.slice(0, end).join('.')}"]`);
            }
            const closed = [];
            for (let e = field; e; e = e.parentElement) {
              if (e.classList.contains('q-expansion-item--collapsed')) closed.unshift(e);
            }
            if (closed.length) return closed[0].querySelector('.q-expansion-item__container > .q-item');
            return field && field.hasAttribute('data-field') ? true : null;  // null: a section's fields to come
            """,
            name,
        )

    for _ in range(5):
        header = wait_for(step, f"the field {name} or a closed section around it")
        if header is True:
            break
        wait_for(header.is_displayed, "a section header to be visible")  # its parent may still be opening
        header.click()
        wait_for(lambda h=header: h.get_attribute("aria-expanded") == "true", "a section to open")
    element = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, _field(name)), f"the field {name}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    wait_for(element.is_displayed, f"the field {name} to be visible")
    return element


def _type(driver: Any, name: str, text: str, *, clear: bool = True) -> None:
    """Click into a field and type (select-all first when ``clear``), as a user would."""
    from selenium.webdriver.common.keys import Keys

    element = _reveal(driver, name)
    element.click()
    if clear:
        element.send_keys(Keys.CONTROL, "a")
        element.send_keys(Keys.BACKSPACE)
    element.send_keys(text)


def _node_state(driver: Any, node_id: str) -> dict[str, Any]:
    """What the canvas shows for a node: error/warning class, badge text and tooltip, label."""
    return dict(
        driver.execute_script(
            """
            const node = document.querySelector(arguments[0]);
            const card = node?.querySelector('.dagsmith-node');
            const badge = node?.querySelector('.dagsmith-badge');
            return {
              present: Boolean(node),
              error: Boolean(card?.classList.contains('dagsmith-has-error')),
              warning: Boolean(card?.classList.contains('dagsmith-has-warning')),
              border: card ? getComputedStyle(card).borderTopColor : null,
              badge: badge ? badge.textContent.trim() : null,
              issues: badge ? badge.getAttribute('title') : '',
              label: node?.querySelector('.dagsmith-node__label')?.textContent.trim() ?? null,
            };
            """,
            node_selector(node_id),
        )
    )


def _inspector_title(driver: Any) -> str:
    return str(driver.execute_script("return document.querySelector('.q-drawer--right .text-h6')?.textContent ?? ''"))


def _header_button(driver: Any, label: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'.q-header button[aria-label="{label}"]')


def _settle(driver: Any) -> None:
    """Wait for two animation frames, so a screenshot shows what the DOM already says."""
    driver.execute_async_script(
        "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()))"
    )


def _problems(driver: Any) -> str:
    return str(driver.execute_script("return document.querySelector('.q-scrollarea')?.innerText ?? ''"))


# ---- the walk ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_editor_end_to_end(server: str, driver: Any, downloads: Path, home: Path) -> None:
    """Every step through the UI, as a user would; on failure artifacts/e2e-failure.png shows where it stopped."""
    with screenshot_on_failure(driver, "e2e-failure"):
        walk(server, driver, downloads, home)


def walk(server: str, driver: Any, downloads: Path, home: Path) -> None:
    """The steps; each ends with its screenshot."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    console: list[str] = []

    def check_console() -> None:
        console.extend(severe_logs(driver))

    # The start page lists the templates; opening one shows the workbench with its graph.
    driver.get(with_token(f"{server}/"))  # the editor sets its cookie and drops the token
    item = wait_for(
        lambda: driver.find_element(By.XPATH, f"//div[contains(@class,'q-item__label')][text()='{TEMPLATE}']"),
        "the template on the start page",
    )
    item.click()
    wait_for(lambda: "/pipeline/" in driver.current_url, "the workbench")
    wait_for(lambda: count(driver, ".vue-flow__node") == 6, "the template's nodes")
    wait_for(lambda: count(driver, ".vue-flow__edge") == 5, "the template's edges")
    wait_for(lambda: "No problems" in _problems(driver), "the problems panel")
    before = set(node_ids(driver))
    check_console()

    # 1. Drag "Script" from the palette onto an empty part of the canvas.
    box = driver.execute_script("return document.querySelector('.vue-flow__pane').getBoundingClientRect().toJSON()")
    drop_from_palette(driver, "script", box["left"] + box["width"] * 0.55, box["top"] + box["height"] * 0.78)
    wait_for(lambda: count(driver, ".vue-flow__node") == 7, "the dropped node")
    (new,) = set(node_ids(driver)) - before
    wait_for(lambda: _inspector_title(driver) == "Script", "the new node's form in the inspector")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, _field("script")), "the script field")
    assert _field_value(driver, "script") == ""
    assert count(driver, f"{node_selector(new)}.selected") == 1
    # A fresh script step has no file to run and is connected to nothing: an error and a warning.
    state = wait_for(lambda: (s := _node_state(driver, new))["error"] and s, "the new node's problems")
    assert "set the Python file to run" in state["issues"], state
    assert "connected to nothing" in state["issues"], state
    assert state["label"] == "Script"
    _settle(driver)
    screenshot(driver, "e2e-1-drag")

    # 2. Connect an existing output to the new step's input: a new edge, the isolation warning goes.
    # The fitted view stays readable (a minimum zoom), so the source may lie past the edge: pan to it first.
    pan_into_view(driver, handle(driver, SOURCE[0], "right", SOURCE[1]), handle(driver, new, "left", "upstream"))
    drag_handle(driver, handle(driver, SOURCE[0], "right", SOURCE[1]), handle(driver, new, "left", "upstream"))
    wait_for(lambda: count(driver, ".vue-flow__edge") == 6, "the new edge")
    edges = driver.execute_script("return [...document.querySelectorAll('.vue-flow__edge')].map(e => e.ariaLabel)")
    assert sum(new in (label or "") for label in edges) == 1, edges
    wait_for(lambda: "connected to nothing" not in _node_state(driver, new)["issues"], "the isolation warning to go")
    assert _node_state(driver, new)["error"]
    _settle(driver)
    screenshot(driver, "e2e-2-connect")

    # 3. Type the file to run into the form: the node's error goes, the problems panel is clear again.
    _type(driver, "script", "steps/extra.py")
    wait_for(lambda: not _node_state(driver, new)["error"], "the missing-file error to go")
    wait_for(lambda: "No problems" in _problems(driver), "no problems left")
    assert _field_value(driver, "script") == "steps/extra.py"
    assert _node_state(driver, new)["badge"] is None
    _settle(driver)
    screenshot(driver, "e2e-3-type")

    # 4. An invalid Kubernetes quantity: the node turns red with a badge, the field shows why; fixing clears both.
    cpu = "pod.resources.cpu_limit"
    _type(driver, cpu, "2x")
    state = wait_for(lambda: (s := _node_state(driver, new))["error"] and s, "the quantity error on the node")
    assert "not a Kubernetes quantity" in state["issues"], state
    assert state["badge"] == "1"
    assert state["border"] == "rgb(220, 38, 38)", state  # the error red of dagsmith-canvas.css
    wait_for(lambda: "not a Kubernetes quantity" in _field_error(driver, cpu), "the inline field error")
    wait_for(lambda: "1 error(s)" in _problems(driver), "the problems panel to list the error")
    _settle(driver)
    screenshot(driver, "e2e-4-error")
    _reveal(driver, cpu).send_keys(Keys.BACKSPACE)
    wait_for(lambda: not _node_state(driver, new)["error"], "the quantity error to go")
    wait_for(lambda: _field_error(driver, cpu) == "", "the inline error to go")
    assert _field_value(driver, cpu) == "2"
    assert _node_state(driver, new)["badge"] is None
    _settle(driver)
    screenshot(driver, "e2e-4-fixed")
    check_console()

    # 5. Undo with the header button: the CPU limit typed above (one step) is gone from the form.
    undo = _header_button(driver, "Undo")
    assert undo.is_enabled()
    undo.click()
    wait_for(lambda: _field_value(driver, cpu) == "", "the CPU limit to be undone")
    assert _field_value(driver, "script") == "steps/extra.py"
    assert not _node_state(driver, new)["error"]
    # Ctrl+Z on the canvas undoes the file name: the node is red again, and the form says so.
    driver.find_element(By.CSS_SELECTOR, f"{node_selector(new)} .dagsmith-node__label").click()
    wait_for(lambda: _inspector_title(driver) == "Script", "the node's form")
    driver.switch_to.active_element.send_keys(Keys.CONTROL, "z")
    wait_for(lambda: _node_state(driver, new)["error"], "the file name to be undone")
    wait_for(lambda: _field_value(driver, "script") == "", "the form to show the undone file name")
    assert count(driver, ".vue-flow__edge") == 6
    _settle(driver)
    screenshot(driver, "e2e-5-undo")
    # Redo (Ctrl+Shift+Z) brings it back.
    driver.find_element(By.CSS_SELECTOR, f"{node_selector(new)} .dagsmith-node__label").click()
    driver.switch_to.active_element.send_keys(Keys.CONTROL, Keys.SHIFT, "z")
    wait_for(lambda: not _node_state(driver, new)["error"], "the redo")
    wait_for(lambda: _field_value(driver, "script") == "steps/extra.py", "the form to show the redone file name")
    wait_for(lambda: "No problems" in _problems(driver), "no problems before the export")
    check_console()

    # 6. Export: the dialog shows the DAG; Download saves the same file.
    driver.find_element(By.XPATH, "//header//button[.//span[normalize-space()='Export']]").click()
    code = wait_for(
        lambda: driver.execute_script(
            "const c = document.querySelector('.q-dialog .nicegui-code');"
            "return c && c.innerText.length > 200 ? c : null"
        ),
        "the DAG in the export dialog",
    )
    shown = code.get_attribute("innerText")
    assert f"# dag_id: {DAG_ID}" in shown.splitlines()
    assert "steps/extra.py" in shown
    assert "Cannot export" not in driver.find_element(By.CSS_SELECTOR, ".q-dialog").text
    _settle(driver)
    screenshot(driver, "e2e-6-export")
    driver.find_element(By.XPATH, "//div[contains(@class,'q-dialog')]//button[.//span[text()='Download']]").click()
    path = downloads / f"{DAG_ID}.py"
    wait_for(lambda: path.exists() and not list(downloads.glob("*.crdownload")), f"the download of {path.name}")
    source = path.read_text(encoding="utf-8")
    header = [line for line in source.splitlines()[:10] if line.startswith("# ")]
    assert f"# dag_id: {DAG_ID}" in header, header
    assert set(header) <= set(shown.splitlines()), "the download differs from the DAG shown"
    assert "steps/extra.py" in source
    ast.parse(source, filename=path.name)
    check_console()
    assert console == [], console
    assert "Traceback" not in server_log(home), server_log(home)
