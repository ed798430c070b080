"""Typing into a form of a large pipeline never waits for the server (issue 11, "Speed").

On a 3,000-node pipeline each keystroke used to run, on the server's event loop, a snapshot of the
whole pipeline for undo, a full validation and the listeners. The server fell behind the typing, and a
late update could write an older value back into the input the user was typing in. Here a person types
"hello" key by key into the settings' name and description fields of such a pipeline (real Chromium
against a real ``dagsmith edit``); both fields and the saved draft must end with exactly "hello".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from browser import ROOT, screenshot_on_failure, wait_for, with_token

from dagsmith.editor.services import EditorServices

sys.path.insert(0, str(ROOT / "bench"))
from synthetic import synthetic_pipeline  # bench/ is not a package

pytestmark = pytest.mark.slow

SIZE = 3000
TEXT = "hello"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("typing-big-home")


def field(driver: Any, name: str) -> Any:
    return wait_for(
        lambda: driver.execute_script(
            "const e = document.querySelector(`[data-field='${arguments[0]}']`);"
            "return e && (e.tagName === 'INPUT' || e.tagName === 'TEXTAREA' ? e : e.querySelector('input, textarea'))",
            name,
        ),
        f"the settings field {name}",
        timeout=120,
    )


def type_slowly(driver: Any, name: str, text: str) -> None:
    """Click into the field, empty it, and type ``text`` one key at a time, as a quick typist does."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    element = field(driver, name)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()
    # Keys go to whatever has the focus, as a keyboard's do (a field drawn again loses them).
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).send_keys(Keys.BACKSPACE).perform()
    for key in text:
        ActionChains(driver).send_keys(key).perform()
        time.sleep(0.08)


def saved(driver: Any) -> bool:
    """The header's save state says "saved": no change of this page is waiting to be stored."""
    return bool(
        driver.execute_script(
            "return [...document.querySelectorAll('.q-header .text-caption')]"
            ".some(e => e.textContent.trim() === 'saved')"
        )
    )


def test_typing_into_a_big_pipeline_keeps_every_key(server: str, driver: Any, services: EditorServices) -> None:
    pipeline = synthetic_pipeline(SIZE)
    info = services.create(services.local_project().id, pipeline)

    with screenshot_on_failure(driver, "typing-big"):
        driver.get(with_token(f"{server}/pipeline/{info.id}"))
        field(driver, "name")
        wait_for(
            lambda: driver.execute_script("return document.querySelectorAll('.vue-flow__node').length") > 0,
            "the canvas to draw the pipeline",
            timeout=180,
            interval=0.5,
        )
        for name in ("name", "description"):
            type_slowly(driver, name, TEXT)
            # The server catches up; the draft then holds exactly what was typed, and so does the field.
            wait_for(
                lambda n=name: getattr(services.open_draft(info.id)[1].settings, n) == TEXT,
                f"the draft's {name} to be {TEXT!r} (it is "
                f"{getattr(services.open_draft(info.id)[1].settings, name)!r})",
                timeout=180,
                interval=0.5,
            )
            wait_for(lambda: saved(driver), "the page to say 'saved'", timeout=180, interval=0.5)
            time.sleep(1.0)  # any late update from the server has arrived by now
            assert field(driver, name).get_attribute("value") == TEXT
            assert getattr(services.open_draft(info.id)[1].settings, name) == TEXT
