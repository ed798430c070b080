"""The start page in a real browser (headless Chromium against ``dagsmith edit``). Issue 11, defect 10.

The git settings' "Project" label is shown whole, the file opener is a button (no bare "0.0B / 0.00%"),
and pipelines can be searched, renamed and deleted (after a confirmation). The tests type and click as a
person does and check the page and the store the server uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser import count, screenshot_on_failure, wait_for, with_token

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Pipeline, dumps

pytestmark = pytest.mark.slow

SEARCH = 'input[placeholder="Search pipelines by name or dag_id"]'


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home-manage")


def start_page(driver: Any, server: str) -> None:
    driver.get(with_token(server))
    wait_for(lambda: count(driver, SEARCH) == 1, "the start page's pipeline search")


def listed(driver: Any) -> list[str]:
    """The pipeline names the start page lists (first line of each item)."""
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll('.q-list .q-item')]"
            ".map(i => i.querySelector('.q-item__label')?.textContent.trim() ?? '')"
            ".filter(t => t && !t.startsWith('No pipeline'))"
        )
    )


def click(find: Any, what: str) -> None:
    """Click the element ``find()`` returns as soon as it takes clicks (a dialog may still be opening)."""
    wait_for(lambda: find().click() or True, what)


def type_into(element: Any, text: str) -> None:
    element.click()
    for key in text:
        element.send_keys(key)


def dialog_button(driver: Any, text: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//div[contains(@class,'q-dialog')]//button[normalize-space(.)='{text}']")


def test_project_label_is_whole_and_files_open_from_a_button(
    driver: Any, server: str, services: EditorServices, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    with screenshot_on_failure(driver, "home-layout"):
        start_page(driver, server)
        label = driver.execute_script(
            "const l = [...document.querySelectorAll('.q-field__label')].find(e => e.textContent.trim() === 'Project');"
            "return l ? [l.scrollWidth, l.clientWidth] : null;"
        )
        assert label is not None, "the git settings have no Project field"
        assert label[0] <= label[1], "the git settings' Project label is cut off"
        text = driver.execute_script("return document.body.innerText")
        assert "0.00%" not in text and "0.0B" not in text, "the uploader shows a bare progress text"
        button = driver.find_element(By.XPATH, "//button[contains(normalize-space(.), 'Open a file')]")
        assert button.is_displayed()
        # Choosing a file: Selenium fills the file chooser's input, as the system dialog would.
        document = tmp_path / "Uploaded.dagsmith.json"
        document.write_text(dumps(Pipeline.model_validate({"settings": {"name": "Uploaded from disk"}})))
        driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(document))
        wait_for(lambda: "/pipeline/" in driver.current_url, "the uploaded pipeline to open")
        names = [p.name for p in services.pipelines(services.local_project().id)]
        assert "Uploaded from disk" in names


def test_search_rename_and_delete(driver: Any, server: str, services: EditorServices) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    project = services.local_project().id
    with screenshot_on_failure(driver, "home-manage"):
        start_page(driver, server)
        everything = listed(driver)
        assert "Keyword monitor" in everything and "User targeting" in everything

        search = driver.find_element(By.CSS_SELECTOR, SEARCH)
        type_into(search, "keyword")
        wait_for(lambda: listed(driver) and all("keyword" in n.lower() for n in listed(driver)), "the filtered list")
        assert set(listed(driver)) == {n for n in everything if "keyword" in n.lower()}
        type_into(search, "_mon")  # matches the dag_id keyword_mon(itor) too
        wait_for(lambda: listed(driver) == ["Keyword monitor"], "one match")
        for _ in range(len("keyword_mon")):
            search.send_keys(Keys.BACKSPACE)
        wait_for(lambda: listed(driver) == everything, "the whole list again")

        # Rename: the list, the stored pipeline and its draft take the new name.
        monitor = next(p for p in services.pipelines(project) if p.name == "Keyword monitor")
        driver.find_element(By.CSS_SELECTOR, 'button[aria-label="Rename Keyword monitor"]').click()
        field = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".q-dialog input"), "the rename dialog")
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(Keys.BACKSPACE)
        type_into(field, "Churn monitor")
        click(lambda: dialog_button(driver, "Rename"), "Rename in the dialog")
        wait_for(lambda: "Churn monitor" in listed(driver), "the new name in the list")
        assert "Keyword monitor" not in listed(driver)
        assert "/pipeline/" not in driver.current_url, "the rename button also opened the pipeline"
        assert services.store.get_pipeline(monitor.id).name == "Churn monitor"
        draft = json.loads(services.store.get_draft(monitor.id).document)
        assert draft["settings"]["name"] == "Churn monitor"

        # Delete asks first; Cancel keeps the pipeline, Delete removes it from the list and the store.
        driver.find_element(By.CSS_SELECTOR, 'button[aria-label="Delete Churn monitor"]').click()
        click(lambda: dialog_button(driver, "Cancel"), "Cancel in the delete confirmation")
        wait_for(lambda: count(driver, ".q-dialog") == 0, "the dialog to close")
        assert "Churn monitor" in listed(driver)
        assert any(p.id == monitor.id for p in services.pipelines(project))
        driver.find_element(By.CSS_SELECTOR, 'button[aria-label="Delete Churn monitor"]').click()
        click(lambda: dialog_button(driver, "Delete"), "Delete in the delete confirmation")
        wait_for(lambda: "Churn monitor" not in listed(driver), "the pipeline to leave the list")
        assert all(p.id != monitor.id for p in services.pipelines(project))
        start_page(driver, server)  # and it stays gone after a reload
        assert "Churn monitor" not in listed(driver)
