"""Reloading and second tabs in a real browser (headless Chromium against ``dagsmith edit``). Issue 11, defect 3.

A reload right after an edit must show that edit (the page waits for the save still in flight), and the
reloaded page's next edit is saved: its own earlier page is not "another tab". Two tabs on one pipeline
see each other's saves at once, not only when they next save. The tests type key by key, as a
person does, and read what the page shows and what the server stored.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from browser import (
    BrowserCheckError,
    count,
    node_selector,
    screenshot_on_failure,
    wait_for,
    with_token,
)

from dagsmith.editor.services import EditorServices
from dagsmith.editor.store.engine import DB_FILENAME
from dagsmith.nodes import Node, Pipeline

pytestmark = pytest.mark.slow

CONFLICT = "changed in another tab"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reload-home")


# ---- helpers -------------------------------------------------------------------------------------


def new_pipeline(services: EditorServices, name: str) -> int:
    """A stored pipeline with one Script node ``train`` whose script is not set yet; its id."""
    train = Node(id="train", type="script", label="Train")
    pipeline = Pipeline.model_validate({"settings": {"name": name}, "nodes": [train.model_dump()]})
    return services.create(services.local_project().id, pipeline).id


def wait_loaded(driver: Any) -> None:
    wait_for(lambda: count(driver, ".vue-flow__node") == 1, "the pipeline's node on the canvas")


def select_train(driver: Any) -> None:
    """Click the node on the canvas; wait for its form."""
    from selenium.webdriver.common.by import By

    wait_loaded(driver)
    driver.find_element(By.CSS_SELECTOR, f"{node_selector('train')} .dagsmith-node__label").click()
    wait_for(lambda: field(driver, "script"), "the Script node's form")


def field(driver: Any, name: str) -> Any:
    """The text input of the field with dotted path ``name``."""
    return driver.execute_script(
        """
        const el = document.querySelector(`[data-field="${arguments[0]}"]`);
        return el && (el.tagName === 'INPUT' ? el : el.querySelector('input'));
        """,
        name,
    )


def click_into(driver: Any, name: str) -> Any:
    element = wait_for(lambda: field(driver, name), f"the field {name}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    wait_for(element.is_displayed, f"the field {name} to be visible")
    element.click()
    element.send_keys("\ue010")  # End: the caret after the text
    return element


def type_keys(driver: Any, text: str) -> None:
    """Type ``text`` key by key into whatever has the focus, as a person does."""
    for key in text:
        driver.switch_to.active_element.send_keys(key)


def page_text(driver: Any) -> str:
    return str(driver.execute_script("return document.body.innerText"))


def save_state(driver: Any) -> str:
    return str(driver.execute_script("return document.querySelector('.q-header .text-caption')?.textContent ?? ''"))


def stored_script(services: EditorServices, pipeline_id: int) -> Any:
    node = services.open_draft(pipeline_id)[1].node("train")
    assert node is not None
    return node.params.get("script")


def wait_stored(what: str, read: Callable[[], Any], expected: Any) -> None:
    """Wait until the saved draft holds ``expected``; fail with what it holds."""
    try:
        wait_for(lambda: read() == expected, what, timeout=10)
    except BrowserCheckError:
        pytest.fail(f"{what}: the draft holds {read()!r}, not {expected!r}")


@contextmanager
def slow_store(home: Path, seconds: float) -> Iterator[None]:
    """The store is slow to write (a slow or busy disk): another writer holds it from now until ``seconds``
    after the block ends, so the editor's draft saves started meanwhile are still running then."""
    connection = sqlite3.connect(home / DB_FILENAME, isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(seconds, connection.rollback)
    try:
        yield
    finally:
        timer.start()
        threading.Thread(target=lambda: (timer.join(), connection.close()), daemon=True).start()


# ---- a reload right after an edit ------------------------------------------------------------------


def test_reload_right_after_typing_shows_the_edit_and_the_next_edit_is_saved(
    server: str, home: Path, driver: Any, services: EditorServices
) -> None:
    with screenshot_on_failure(driver, "reload-after-typing"):
        pipeline_id = new_pipeline(services, "Reload after typing")
        driver.get(with_token(f"{server}/pipeline/{pipeline_id}"))
        select_train(driver)
        click_into(driver, "script")
        with slow_store(home, seconds=1.5):
            type_keys(driver, "train")
            wait_for(lambda: save_state(driver) == "saving…", "the page to start saving")
        driver.refresh()  # at once: the save of what was typed is still running
        select_train(driver)
        shown = field(driver, "script").get_attribute("value")
        assert shown == "train", (
            f"the reloaded page shows {shown!r}, the draft holds {stored_script(services, pipeline_id)!r}"
        )
        click_into(driver, "script")
        type_keys(driver, ".py")
        wait_stored("the edit after the reload", lambda: stored_script(services, pipeline_id), "train.py")
        wait_for(lambda: save_state(driver) == "saved", "the page to say saved")
        assert CONFLICT not in page_text(driver).lower(), "the reloaded page took its own earlier page for another tab"


# ---- two tabs on one pipeline ----------------------------------------------------------------------


def test_a_save_in_one_tab_shows_at_once_in_the_other(server: str, driver: Any, services: EditorServices) -> None:
    pipeline_id = new_pipeline(services, "Two tabs")
    url = with_token(f"{server}/pipeline/{pipeline_id}")
    driver.get(url)
    first = driver.current_window_handle
    wait_loaded(driver)
    driver.switch_to.new_window("window")
    second = driver.current_window_handle
    try:
        with screenshot_on_failure(driver, "reload-two-tabs"):
            driver.get(url)
            select_train(driver)
            driver.switch_to.window(first)
            select_train(driver)
            click_into(driver, "script")
            type_keys(driver, "prep.py")
            wait_stored("tab A's edit", lambda: stored_script(services, pipeline_id), "prep.py")
            driver.switch_to.window(second)  # nothing is done in tab B: it is only looked at
            # Tab A's edit is merged into tab B's form live (test_live_merge_browser.py types in both tabs).
            wait_for(lambda: field(driver, "script").get_attribute("value") == "prep.py", "tab A's edit in tab B")
            click_into(driver, "script")
            type_keys(driver, "\ue003\ue003ipynb")  # two backspaces, then the new suffix
            wait_stored("tab B's edit", lambda: stored_script(services, pipeline_id), "prep.ipynb")
            assert CONFLICT not in page_text(driver).lower()
    finally:
        driver.switch_to.window(second)
        driver.close()
        driver.switch_to.window(first)
