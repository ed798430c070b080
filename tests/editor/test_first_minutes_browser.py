"""A new user's first minutes in a real browser (headless Chromium against ``dagsmith edit``), issue 11.

A new pipeline asks for its default image and GPU settings, pre-filled from the project; an empty canvas
says how to add a step; a field that inherits a pipeline default looks unlike one showing an example; the
schedule is said in words as it is typed; the export lists the changes since the last version in words.
Everything is clicked and typed key by key, as a person does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import count, screenshot_on_failure, wait_for, with_token
from test_forms_browser import click_into, field, focused_field, inspector_title, open_section, type_keys

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Pipeline, PipelineSettings, Resources, load_example

pytestmark = pytest.mark.slow

DIALOG = ".q-dialog"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("first-minutes-home")


# ---- helpers -------------------------------------------------------------------------------------


def marked(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return wait_for(lambda: driver.find_element(By.CSS_SELECTOR, selector), selector)


def replace_text(driver: Any, element: Any, text: str) -> None:
    """Click into ``element``, select what it holds and type ``text`` key by key."""
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.BACKSPACE)
    type_keys(driver, text)


def dialog_input(driver: Any, label: str) -> Any:
    from selenium.webdriver.common.by import By

    xpath = (
        "//div[contains(@class,'q-dialog')]//label[.//div[contains(@class,'q-field__label') "
        f"and normalize-space()='{label}']]//input"
    )
    return wait_for(lambda: driver.find_element(By.XPATH, xpath), f"the dialog's input {label!r}")


def visible_text(driver: Any, selector: str) -> str | None:
    """The text of the first displayed element matching ``selector``; None when none is displayed."""
    return driver.execute_script(
        "const e = [...document.querySelectorAll(arguments[0])].find(e => e.offsetParent !== null);"
        "return e ? e.textContent.trim() : null",
        selector,
    )


def open_pipeline(driver: Any, server: str, pipeline_id: int, nodes: int) -> None:
    driver.get(with_token(f"{server}/pipeline/{pipeline_id}"))
    wait_for(lambda: count(driver, ".vue-flow__node") == nodes, "the pipeline's nodes on the canvas")


# ---- a new pipeline asks for its defaults, an empty canvas says what to do ------------------------------


def test_new_pipeline_asks_for_defaults_prefilled_from_the_project(
    server: str, driver: Any, services: EditorServices
) -> None:
    from selenium.webdriver.common.by import By

    project = services.local_project()
    # The project's most recently changed pipeline sets the defaults a new one is offered.
    settings = PipelineSettings(
        name="GPU house style",
        default_image="registry.example.com/ml/train:1.4",
        default_resources=Resources(gpu_resource="amd.com/gpu", gpu_product_label="example.com/gpu-model"),
    )
    services.create(project.id, Pipeline(settings=settings))

    with screenshot_on_failure(driver, "first-minutes-new"):
        driver.get(with_token(server))
        driver.find_element(By.XPATH, "//button[.//span[normalize-space()='Blank pipeline']]").click()
        image = dialog_input(driver, "Default image")
        assert image.get_attribute("value") == "registry.example.com/ml/train:1.4"
        assert dialog_input(driver, "GPU resource name").get_attribute("value") == "amd.com/gpu"
        assert dialog_input(driver, "GPU product label").get_attribute("value") == "example.com/gpu-model"

        replace_text(driver, dialog_input(driver, "Name"), "Nightly fine-tune")
        replace_text(driver, image, "registry.example.com/ml/train:2.0")
        driver.find_element(By.XPATH, "//div[contains(@class,'q-dialog')]//button[.//span[text()='Create']]").click()
        wait_for(lambda: "/pipeline/" in driver.current_url, "the new pipeline's page")
        pipeline_id = int(driver.current_url.rsplit("/", 1)[1].split("?")[0])

        stored = services.open_draft(pipeline_id)[1].settings
        assert stored.name == "Nightly fine-tune"
        assert stored.default_image == "registry.example.com/ml/train:2.0"
        assert stored.default_resources.gpu_resource == "amd.com/gpu"
        assert stored.default_resources.gpu_product_label == "example.com/gpu-model"

        # The empty canvas says how to add a step; the hint goes once a node exists, and an undo brings it back.
        hint = "[data-dagsmith=empty-canvas-hint]"
        assert wait_for(lambda: visible_text(driver, hint), "the empty canvas hint") == (
            "Drag a step from the palette, or click one to add it"
        )
        marked(driver, '[data-dagsmith-node="script"]').click()
        wait_for(lambda: count(driver, ".vue-flow__node") == 1, "the clicked step on the canvas")
        wait_for(lambda: visible_text(driver, hint) is None, "the hint to go once a node exists")
        driver.find_element(By.CSS_SELECTOR, "header button[aria-label=Undo]").click()
        wait_for(lambda: count(driver, ".vue-flow__node") == 0, "the undone step to leave the canvas")
        wait_for(lambda: visible_text(driver, hint), "the hint to come back on the empty canvas")


# ---- inherited defaults look unlike examples ------------------------------------------------------


def test_inherited_defaults_look_unlike_examples(server: str, driver: Any, services: EditorServices) -> None:
    pipeline = Pipeline.model_validate(
        {
            "settings": {
                "name": "Inherits",
                "default_image": "registry.example.com/base:3",
                "default_resources": {"gpu_resource": "nvidia.com/gpu"},
            },
            "nodes": [{"id": "train", "type": "script", "label": "Train", "params": {"script": "train.py"}}],
        }
    )
    info = services.create(services.local_project().id, pipeline)
    with screenshot_on_failure(driver, "first-minutes-inherits"):
        open_pipeline(driver, server, info.id, 1)
        node = marked(driver, '.vue-flow__node[data-id="train"]')
        wait_for(node.is_displayed, "the node to be drawn")
        node.click()
        wait_for(lambda: inspector_title(driver) == "Script", "the node's form")
        for name in ("Pod", "Resources"):  # the next header moves while a section opens: try until it takes the click
            wait_for(lambda n=name: open_section(driver, n) is None, f"the section {name!r} to open")

        inherited = wait_for(lambda: field(driver, "pod.image"), "the image field")
        assert inherited.get_attribute("placeholder") == "pipeline default: registry.example.com/base:3"
        example = field(driver, "pod.resources.cpu_request")
        assert example.get_attribute("placeholder") == "e.g. 500m"

        def note(name: str) -> dict[str, str] | None:
            return driver.execute_script(
                """const f = document.querySelector(`[data-field="${arguments[0]}"]`)?.closest('.q-field');
                const n = f && [...f.querySelectorAll('[data-dagsmith=inherits]')].find(e => e.offsetParent);
                if (!n) return null;
                const s = getComputedStyle(n), p = getComputedStyle(f.querySelector('input'), '::placeholder');
                return {text: n.textContent.trim(), style: s.fontStyle, color: s.color, example: p.color};""",
                name,
            )

        shown = wait_for(lambda: note("pod.image"), "the 'inherits' note under the image field")
        assert shown["text"] == "inherits the pipeline default: registry.example.com/base:3"
        assert shown["style"] == "italic"
        assert shown["color"] != shown["example"], "the inherited default is coloured like an example"
        assert note("pod.resources.gpu_resource"), "the GPU resource inherits the pipeline's too"
        assert note("pod.resources.cpu_request") is None, "an example is not an inherited default"

        # A value typed into the field overrides the default: the note goes, and the field keeps the focus.
        click_into(driver, "pod.image")
        type_keys(driver, "my/img:1")
        wait_for(lambda: note("pod.image") is None, "the note to go once the field has a value")
        assert focused_field(driver) == "pod.image"
        assert field(driver, "pod.image").get_attribute("value") == "my/img:1"


# ---- the schedule in words, and the export's list of changes ---------------------------------------------


def test_schedule_in_words_and_the_exports_list_of_changes(server: str, driver: Any, services: EditorServices) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    pipeline = load_example("user_targeting")
    pipeline.settings.name = "Changes in words"
    info = services.create(services.local_project().id, pipeline)
    services.save_version(info.id, pipeline, "first")
    # Changed since v1, before the page opens: a step relabelled, another given a GPU.
    pipeline.node_map()["predict"].label = "Score users"
    pipeline.node_map()["train"].params["pod"] = {"resources": {"gpu": 1}}
    services.save_draft(info.id, pipeline)

    words = "[data-dagsmith=schedule-words]"
    with screenshot_on_failure(driver, "first-minutes-schedule"):
        open_pipeline(driver, server, info.id, len(pipeline.nodes))
        wait_for(lambda: inspector_title(driver) == "Pipeline settings", "the settings form")
        assert wait_for(lambda: visible_text(driver, words), "the template's schedule in words") == (
            "At 05:00, only on Monday"
        )
        schedule = click_into(driver, "schedule")
        replace_text(driver, schedule, "0 3 * * *")
        wait_for(lambda: visible_text(driver, words) == "At 03:00, every day", "the typed schedule in words")
        assert focused_field(driver) == "schedule", "the schedule field lost the focus while typing"
        type_keys(driver, " 1")  # six fields: not a cron expression; validation says so, the words go
        wait_for(lambda: visible_text(driver, words) is None, "the words to go for an invalid schedule")
        type_keys(driver, Keys.BACKSPACE * 2)
        wait_for(lambda: visible_text(driver, words) == "At 03:00, every day", "the words again")
        assert field(driver, "schedule").get_attribute("value") == "0 3 * * *"
        wait_for(lambda: services.open_draft(info.id)[1].settings.schedule == "0 3 * * *", "the schedule in the draft")

        driver.find_element(By.XPATH, "//header//button[.//span[normalize-space()='Export']]").click()
        changes = wait_for(
            lambda: driver.execute_script(
                "const l = [...document.querySelectorAll('.q-dialog [data-dagsmith=change]')];"
                "return l.length ? l.map(e => e.textContent.trim()) : null"
            ),
            "the list of changes in the export dialog",
        )
        assert changes == [
            "Train: GPU (pod.resources.gpu) set to 1",
            "renamed node 'Target users' → 'Score users'",
            "settings: Schedule '0 5 * * 1' → '0 3 * * *'",
        ]
        above = driver.execute_script(
            "const c = document.querySelector('.q-dialog [data-dagsmith=change]');"
            "const d = document.querySelector('.q-dialog .q-tabs');"
            "return !!(c && d && (c.compareDocumentPosition(d) & Node.DOCUMENT_POSITION_FOLLOWING))"
        )
        assert above, "the list of changes is not above the DAG file and its diff"
        assert "Changes since v1" in str(driver.find_element(By.CSS_SELECTOR, DIALOG).text)
