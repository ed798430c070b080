"""Displays that follow the pipeline in a real browser (headless Chromium against ``dagsmith edit``).

Issue 11, defect 9: the start page showed a pipeline's old name until a version was saved; the settings
panel showed ``dag_id: new_pipeline`` while the export used another dag_id; and a long DAG ID that was
typed and cleared once came back. Everything is typed key by key, as a person does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import screenshot_on_failure, wait_for, with_token

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Pipeline, PipelineSettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stale-home")


def settings_field(driver: Any, name: str) -> Any:
    return wait_for(
        lambda: driver.execute_script(
            "const e = document.querySelector(`[data-field='${arguments[0]}']`);"
            "return e && (e.tagName === 'INPUT' ? e : e.querySelector('input'))",
            name,
        ),
        f"the settings field {name}",
    )


def retype(driver: Any, name: str, text: str) -> None:
    """Click into the field, select what it holds, delete it, and type ``text`` key by key."""
    from selenium.webdriver.common.keys import Keys

    element = settings_field(driver, name)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.BACKSPACE)
    for key in text:
        driver.switch_to.active_element.send_keys(key)


def dag_id_label(driver: Any) -> str:
    return str(
        driver.execute_script(
            "return [...document.querySelectorAll('.q-drawer--right div')]"
            ".map(e => e.textContent).find(t => t.startsWith('dag_id: ')) ?? ''"
        )
    )


def open_settings(driver: Any, server: str, pipeline_id: int) -> None:
    driver.get(with_token(f"{server}/pipeline/{pipeline_id}"))
    wait_for(lambda: dag_id_label(driver), "the pipeline settings")


def test_names_and_dag_id_follow_what_is_typed(server: str, driver: Any, services: EditorServices) -> None:
    from selenium.webdriver.common.by import By

    pipeline = Pipeline(settings=PipelineSettings(name="Old stale name"))
    info = services.create(services.local_project().id, pipeline)
    new_name = "Fresh name"
    new_dag_id = PipelineSettings(name=new_name).effective_dag_id()
    long_dag_id = "a_deliberately_long_dag_id_typed_by_hand_" * 3

    with screenshot_on_failure(driver, "stale-displays"):
        open_settings(driver, server, info.id)
        assert dag_id_label(driver) == f"dag_id: {info.dag_id}"
        retype(driver, "name", new_name)
        wait_for(lambda: dag_id_label(driver) == f"dag_id: {new_dag_id}", "the dag_id label to follow the name")
        wait_for(lambda: services.open_draft(info.id)[1].settings.name == new_name, "the draft to hold the name")

        retype(driver, "dag_id", long_dag_id)
        wait_for(lambda: dag_id_label(driver) == f"dag_id: {long_dag_id}", "the dag_id label to show the long id")
        retype(driver, "dag_id", "")
        wait_for(lambda: dag_id_label(driver) == f"dag_id: {new_dag_id}", "the dag_id label after clearing")
        wait_for(lambda: services.open_draft(info.id)[1].settings.dag_id is None, "the draft to hold no dag_id")

        # Reloaded, the form shows what was left: no DAG ID, and the name's dag_id, the one the export uses.
        open_settings(driver, server, info.id)
        assert settings_field(driver, "dag_id").get_attribute("value") == ""
        assert dag_id_label(driver) == f"dag_id: {new_dag_id}"
        assert services.open_draft(info.id)[1].dag_id == new_dag_id  # the dag_id the export uses

        # The start page lists the pipeline by the name in its draft: no version was saved.
        driver.get(with_token(server))
        listed = wait_for(
            lambda: driver.find_element(By.XPATH, f"//*[contains(@class,'q-item')][.//*[text()='{new_name}']]"),
            "the pipeline under its new name on the start page",
        )
        assert f"dag_id {new_dag_id}" in listed.text
        assert "Old stale name" not in driver.find_element(By.TAG_NAME, "body").text
    assert services.latest_version(info.id) is None
