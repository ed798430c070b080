"""The live preview of where an output lands (issue 10), in a real browser (headless Chromium, key by key).

The "Outputs: storage, naming and access" section shows, under each stored output, its location in an example
run. Typing a path template changes the preview as the keys arrive, in place: the field keeps the focus and the
preview is the same element (the form is not drawn again).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import screenshot_on_failure, wait_for, with_token
from test_forms_browser import click_into, count, field, focused_field, open_section, select, type_keys

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Node, Pipeline

pytestmark = pytest.mark.slow

PREVIEW = "[data-dagsmith=location-preview][data-port=output]"
RUN_KEY = "manual__2026-01-02T03_04_05_00_00"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("preview-home")


def test_typing_a_path_template_updates_the_location_preview(
    server: str, driver: Any, services: EditorServices
) -> None:
    from selenium.webdriver.common.by import By

    settings = {
        "name": "Preview",
        "artifact_root": "s3://ml-artifacts/team",
        "artifact_store": {"workload_identity": True},
    }
    node = Node(id="train", type="script", params={"script": "train.py"})
    pipeline = Pipeline.model_validate({"settings": settings, "nodes": [node.model_dump()]})
    info = services.create(services.local_project().id, pipeline)
    with screenshot_on_failure(driver, "artifact-preview"):
        driver.get(with_token(f"{server}/pipeline/{info.id}"))
        wait_for(lambda: count(driver, ".vue-flow__node") == 1, "the pipeline's node on the canvas")
        select(driver, "train", "Script")
        open_section(driver, "Outputs: storage, naming and access")
        preview = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, PREVIEW), "the location preview")
        default = f"s3://ml-artifacts/team/preview/{RUN_KEY}/train/output"
        wait_for(lambda: default in preview.text, f"the default location {default}")

        click_into(driver, "outputs.output.path")
        type_keys(driver, "models/")
        wait_for(lambda: "s3://ml-artifacts/team/models/output" in preview.text, "the preview after 'models/'")
        type_keys(driver, "{ds}")
        wait_for(lambda: "s3://ml-artifacts/team/models/2026-01-02/output" in preview.text, "the preview with {ds}")
        click_into(driver, "outputs.output.naming")
        type_keys(driver, "{output}-{run_id}")
        expected = f"s3://ml-artifacts/team/models/2026-01-02/output-{RUN_KEY}"
        wait_for(lambda: expected in preview.text, f"the preview {expected}")
        # Updated in place: the same element, and the field typed in still has the focus and every key.
        assert preview.is_displayed() and preview.get_attribute("data-port") == "output"
        assert focused_field(driver) == "outputs.output.naming"
        assert field(driver, "outputs.output.naming").get_attribute("value") == "{output}-{run_id}"
        assert field(driver, "outputs.output.path").get_attribute("value") == "models/{ds}"
