"""Field errors read as plain language in a real browser (headless Chromium against ``dagsmith edit``).

Issue 11, defect 10: "Raw pydantic messages sit beside the friendly ones; make them all friendly". The
unit tests (tests/nodes/test_friendly.py) cover the messages; these type bad values key by key into a node's
form and the pipeline settings form, and read the message shown under the field.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from browser import BrowserCheckError, screenshot_on_failure, wait_for
from test_forms_browser import field, field_error, open_pipeline, open_section, select

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Node

pytestmark = pytest.mark.slow

RAW = ("input should", "value error", "validation error", "type=", "pydantic", "valid integer")
SELECT_ALL = "\ue009a\ue000"  # Ctrl+A (one chord), then the modifiers released
BACKSPACE = "\ue003"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("friendly-home")


def type_into(driver: Any, name: str, text: str) -> Any:
    """Click into the field ``name``, clear it and type ``text`` key by key; the input."""

    def click() -> Any:  # a section still opening can move the field under the click: click again
        element = field(driver, name)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()
        return element if driver.execute_script("return document.activeElement === arguments[0]", element) else None

    element = wait_for(click, f"a click into the field {name}")
    element.send_keys(SELECT_ALL)
    element.send_keys(BACKSPACE)
    for key in text:
        driver.switch_to.active_element.send_keys(key)
    return element


def shown_error(driver: Any, name: str, expected: str) -> str:
    """Wait for ``expected`` under the field; what it shows (the last text seen, when it never came)."""
    seen: list[str] = []

    def current() -> bool:
        seen.append(field_error(driver, field(driver, name)))
        return seen[-1] == expected

    with contextlib.suppress(BrowserCheckError):  # the test then says what was shown instead
        wait_for(current, f"the message under {name}", timeout=10)
    return seen[-1] if seen else ""


def assert_friendly(message: str, expected: str) -> None:
    assert not any(raw in message.lower() for raw in RAW), f"raw pydantic text under the field: {message!r}"
    assert message == expected


def test_a_node_field_shows_the_friendly_message(server: str, driver: Any, services: EditorServices) -> None:
    with screenshot_on_failure(driver, "friendly-node-field"):
        open_pipeline(driver, server, services, "Friendly node", [Node(id="train", type="script", label="Train")])
        select(driver, "train", "Script")
        open_section(driver, "Pod")
        type_into(driver, "pod.retries", "2.5")
        expected = "2.5 is not a whole number; enter a whole number without decimals, e.g. 3"
        assert_friendly(shown_error(driver, "pod.retries", expected), expected)
        type_into(driver, "pod.retries", "-1")
        assert_friendly(shown_error(driver, "pod.retries", "-1 is too small; enter at least 0"),
                        "-1 is too small; enter at least 0")  # fmt: skip


def test_a_settings_field_shows_the_friendly_message(server: str, driver: Any, services: EditorServices) -> None:
    with screenshot_on_failure(driver, "friendly-settings-field"):
        open_pipeline(driver, server, services, "Friendly settings", [])
        wait_for(lambda: field(driver, "retries"), "the pipeline settings form")
        type_into(driver, "retries", "2.5")
        expected = "2.5 is not a whole number; enter a whole number without decimals, e.g. 3"
        assert_friendly(shown_error(driver, "retries", expected), expected)
        type_into(driver, "retries", "3")
        assert shown_error(driver, "retries", "") == "", "the message stayed after a good value"
