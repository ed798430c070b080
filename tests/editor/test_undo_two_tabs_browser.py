"""Undo in one tab after another tab's change was merged in leaves that change alone (headless Chromium).

Issue 13: undo restored a whole-document (or whole-node) snapshot, so pressing undo after a live merge put the
other tab's merged change back to what it was, and the next save pushed that revert to everyone. Tab A types
into a field, tab B types into another field of the same node, tab A presses undo: tab A's keys are gone, tab
B's label stays, in both tabs, in the draft, and after a reload.
"""

from __future__ import annotations

from typing import Any

import pytest
from browser import screenshot_on_failure, wait_for
from test_live_merge_browser import (  # noqa: F401 (home and tabs are fixtures)
    click_into,
    home,
    node_label,
    script_of,
    select_train,
    stored,
    tabs,
    type_keys,
    value,
    wait_nodes,
    wait_stored,
)

from dagsmith.editor.services import EditorServices

pytestmark = pytest.mark.slow


def press_undo(driver: Any) -> None:
    """Click the header's Undo button (as the user does; Ctrl+Z in a form field is the field's own undo)."""
    from selenium.webdriver.common.by import By

    def click() -> bool:
        button = driver.find_element(By.CSS_SELECTOR, 'button[aria-label="Undo"]')
        if not button.is_enabled():
            return False
        button.click()
        return True

    wait_for(click, "a click on Undo")


def test_undo_after_the_other_tabs_change_reverts_only_this_tabs_keys(
    driver: Any,
    services: EditorServices,
    tabs: tuple[str, str, int],  # noqa: F811 (the fixture)
) -> None:
    first, second, pipeline_id = tabs
    with screenshot_on_failure(driver, "undo-two-tabs"):
        # Tab A types the script's name.
        select_train(driver)
        click_into(driver, "script")
        type_keys(driver, "mine.py")
        wait_stored("tab A's keys", lambda: script_of(services, pipeline_id), "mine.py")
        # Tab B, seeing them, types into the label of the same node.
        driver.switch_to.window(second)
        select_train(driver)
        wait_for(lambda: value(driver, "script") == "mine.py", "tab A's keys in tab B")
        click_into(driver, "label")
        type_keys(driver, " v2")
        wait_stored("tab B's label", lambda: stored(services, pipeline_id).node("train").label, "Train v2")
        # Tab A: once tab B's label is merged in, undo.
        driver.switch_to.window(first)
        wait_for(lambda: value(driver, "label") == "Train v2", "tab B's label merged into tab A")
        press_undo(driver)
        wait_for(lambda: value(driver, "script") in ("", None), "tab A's keys undone in tab A's form")
        wait_stored("tab A's keys undone in the draft", lambda: script_of(services, pipeline_id) or "", "")
        assert stored(services, pipeline_id).node("train").label == "Train v2", "the undo reverted tab B's label"
        assert value(driver, "label") == "Train v2" and node_label(driver, "train") == "Train v2"
        # Tab B keeps its label and sees tab A's undo.
        driver.switch_to.window(second)
        wait_for(lambda: value(driver, "script") in ("", None), "tab A's undo in tab B")
        assert value(driver, "label") == "Train v2"
        # After a reload of tab A, the same.
        driver.switch_to.window(first)
        driver.refresh()
        wait_nodes(driver, 1)
        wait_for(lambda: node_label(driver, "train") == "Train v2", "tab B's label after tab A's reload")
        select_train(driver)
        assert value(driver, "label") == "Train v2" and value(driver, "script") in ("", None)
        assert stored(services, pipeline_id).node("train").label == "Train v2"
