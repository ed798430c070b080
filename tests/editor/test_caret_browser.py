"""Typing in the middle of a field, and problems that arrive while typing (real Chromium, ``dagsmith edit``).

Issue 11, defect 1 ("keep focus, caret and open sections through every server update") and "Speed" ("typing
into a form field must never wait for the server; save and validate in the background, and show problems
when they arrive"). A person moves the caret into the middle of what they typed and goes on typing while the
server's saves and validations answer each key; the caret must stay where they put it. On a pipeline large
enough to be validated in the background (100 nodes and more), a required field cleared key by key shows its
problem once the validation arrives, on the field, on the node and in the problems panel, and loses it
when the text is typed again. Keys are typed one by one into the focused element, never pasted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from browser import ROOT, node_selector, screenshot_on_failure, wait_for
from test_forms_browser import (
    click_into,
    field,
    field_error,
    focused_field,
    is_open,
    load,
    open_pipeline,
    open_section,
    select,
    stored,
    type_keys,
    wait_stored,
)

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Node

sys.path.insert(0, str(ROOT / "bench"))
from synthetic import synthetic_pipeline  # bench/ is not a package

pytestmark = pytest.mark.slow

LEFT, END, BACKSPACE = "\ue012", "\ue010", "\ue003"
OUTPUTS = "Outputs: storage, naming and access"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("caret-home")


def caret(driver: Any) -> tuple[str | None, int, int]:
    """The focused form field and its selection (start, end)."""
    return (
        focused_field(driver),
        int(driver.execute_script("return document.activeElement.selectionStart ?? -1")),
        int(driver.execute_script("return document.activeElement.selectionEnd ?? -1")),
    )


def saved(driver: Any) -> bool:
    """The header's save state says "saved": every change of this page has been answered by the server."""
    return bool(
        driver.execute_script(
            "return [...document.querySelectorAll('.q-header .text-caption')]"
            ".some(e => e.textContent.trim() === 'saved')"
        )
    )


def type_checking_caret(driver: Any, name: str, text: str, start: int) -> None:
    """Type ``text`` key by key at caret ``start`` of field ``name``; after each key the caret must be just
    after it, whatever the server answered meanwhile."""
    for offset, key in enumerate(text, start=1):
        type_keys(driver, key)
        where = caret(driver)
        assert where == (name, start + offset, start + offset), (
            f"after typing {text[:offset]!r} the caret is at {where}, not in {name} at {start + offset}"
        )


# ---- defect 1: the caret stays where the user put it --------------------------------------------------


def test_typing_in_the_middle_keeps_the_caret_through_server_updates(
    server: str, driver: Any, services: EditorServices
) -> None:
    train = Node(id="train", type="script", label="Train", params={"script": "train.py"})
    with screenshot_on_failure(driver, "caret-middle"):
        pipeline_id = open_pipeline(driver, server, services, "Caret in the middle", [train])
        select(driver, "train", "Script")

        # A top-level field: "train.py" → "train_gpu.py", typed before ".py".
        click_into(driver, "script").send_keys(END)
        type_keys(driver, LEFT * 3)
        assert caret(driver) == ("script", 5, 5)
        type_checking_caret(driver, "script", "_gpu", 5)
        wait_stored("the script", lambda: stored(services, pipeline_id, "train").params["script"], "train_gpu.py")
        wait_for(lambda: saved(driver), "the page to say 'saved'")
        assert field(driver, "script").get_attribute("value") == "train_gpu.py"
        assert caret(driver) == ("script", 9, 9), "the server's answer moved the caret"

        # An output's storage path in its section (the field of defect 1): "models/v1" → "models/run-v1".
        open_section(driver, OUTPUTS)
        click_into(driver, "outputs.output.path")
        type_keys(driver, "models/v1")
        wait_stored("the path", lambda: stored(services, pipeline_id, "train").outputs["output"].path, "models/v1")
        type_keys(driver, LEFT * 2)
        type_checking_caret(driver, "outputs.output.path", "run-", 7)
        wait_stored("the path", lambda: stored(services, pipeline_id, "train").outputs["output"].path, "models/run-v1")
        wait_for(lambda: saved(driver), "the page to say 'saved'")
        assert field(driver, "outputs.output.path").get_attribute("value") == "models/run-v1"
        assert caret(driver) == ("outputs.output.path", 11, 11), "the server's answer moved the caret"
        assert is_open(driver, OUTPUTS), "the outputs section closed while typing"


# ---- speed: problems found in the background show when they arrive ----------------------------------


def test_problems_found_in_the_background_show_while_typing_goes_on(
    server: str, driver: Any, services: EditorServices
) -> None:
    pipeline = synthetic_pipeline(120)  # from 100 nodes on the validation runs in a worker thread
    info = services.create(services.local_project().id, pipeline)
    node_id = "n75"  # the middle of the 50 x 3 grid: in view at the fitted zoom
    with screenshot_on_failure(driver, "caret-background-problems"):
        load(driver, server, info.id, len(pipeline.nodes))  # under 500 nodes all are drawn
        select(driver, node_id, "Script")
        script = pipeline.node(node_id).params["script"]  # type: ignore[union-attr]
        element = click_into(driver, "script")
        element.send_keys(END)
        type_keys(driver, BACKSPACE * len(script))  # cleared key by key: the field is required
        assert field(driver, "script").get_attribute("value") == ""
        assert focused_field(driver) == "script"
        wait_stored("the cleared script", lambda: stored(services, info.id, node_id).params.get("script"), None)
        wait_for(lambda: field_error(driver, field(driver, "script")) != "", "the field's problem")
        wait_for(lambda: has_error(driver, node_id), "the node's error mark on the canvas")
        wait_for(lambda: "Step 75 · script" in problems_text(driver), "the problem in the problems panel")
        assert focused_field(driver) == "script", "the problem's arrival took the focus"

        type_keys(driver, "steps/again.py")
        wait_stored(
            "the retyped script", lambda: stored(services, info.id, node_id).params.get("script"), "steps/again.py"
        )
        wait_for(lambda: field_error(driver, field(driver, "script")) == "", "the field's problem to go")
        wait_for(lambda: not has_error(driver, node_id), "the node's error mark to go")
        wait_for(lambda: "Step 75 · script" not in problems_text(driver), "the problem to leave the panel")
        assert field(driver, "script").get_attribute("value") == "steps/again.py"


def has_error(driver: Any, node_id: str) -> bool:
    return bool(
        driver.execute_script(
            "return !!document.querySelector(arguments[0] + ' .dagsmith-has-error, ' + arguments[0] + "
            "'.dagsmith-has-error')",
            node_selector(node_id),
        )
    )


def problems_text(driver: Any) -> str:
    return str(
        driver.execute_script("return [...document.querySelectorAll('.q-item')].map(e => e.innerText).join('\\n')")
    )
