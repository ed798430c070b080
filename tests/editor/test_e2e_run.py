"""A local run from the editor, end to end: the real ``dagsmith edit`` server in headless Chromium.

From the start page a user creates the runnable user-targeting example, presses Run, starts it, and
watches the nodes' task states change on the canvas (queued, running, success) while Airflow runs the
steps with the embedded MLflow and Feast. Then a node's log opens from its state badge, the runs tab
shows the run with its gate decision and its MLflow model version, and the workspace's MLflow UI
starts from there and answers. Screenshots go to artifacts/e2e-run-<n>-<step>.png.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import (
    BrowserCheckError,
    chromium,
    count,
    node_selector,
    pan_into_view,
    screenshot,
    screenshot_on_failure,
    server_log,
    severe_logs,
    show_tab,
    wait_for,
    with_token,
)

pytestmark = pytest.mark.slow
EXAMPLE = "user_targeting"
NODES = ("users", "train_features", "train", "register", "gate", "score_features", "predict")
RUN_TIMEOUT = 480


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("e2e-run-home")
    yield home
    from dagsmith.editor.runs import Workspace, stop_runner, stop_serving
    from dagsmith.editor.runs.mlflow_links import stop_ui

    for folder in (home / "workspace").glob("project-*"):
        workspace = Workspace.at(folder)
        assert not stop_ui(workspace), "the editor did not stop the MLflow UI it started when it shut down"
        stop_serving(workspace.serving)
        stop_runner(workspace.root)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    try:
        browser = chromium()
    except BrowserCheckError as exc:
        pytest.fail(str(exc))
    yield browser
    browser.quit()


def _states(driver: Any) -> dict[str, str]:
    """The task state each node shows on the canvas."""
    return dict(
        driver.execute_script(
            """
            const states = {};
            for (const node of document.querySelectorAll('.vue-flow__node')) {
              const badge = node.querySelector('.dagsmith-state');
              if (badge) states[node.dataset.id] = badge.textContent.trim();
            }
            return states;
            """
        )
    )


def _text(driver: Any, selector: str) -> str:
    return str(driver.execute_script(f"return document.querySelector({json.dumps(selector)})?.innerText ?? ''"))


def test_a_local_run_from_the_editor(server: str, driver: Any, home: Path) -> None:
    with screenshot_on_failure(driver, "e2e-run-failure"):
        walk(server, driver, home)


def walk(server: str, driver: Any, home: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    # 1. The runnable example from the start page: its project, its code copied under DAGSMITH_HOME.
    driver.get(with_token(f"{server}/"))  # the editor sets its cookie and drops the token
    wait_for(lambda: driver.find_element(By.XPATH, "//button[contains(., 'User targeting (runnable)')]"), "the button")
    driver.find_element(By.XPATH, "//button[contains(., 'User targeting (runnable)')]").click()
    wait_for(lambda: "/pipeline/" in driver.current_url, "the workbench")
    wait_for(lambda: count(driver, ".vue-flow__node") == len(NODES), "the example's nodes")
    assert (home / "examples" / EXAMPLE / "train_targeting.py").is_file()
    assert _states(driver) == {}

    # 2. Run: the dialog knows the folder and the parameter's default; Start.
    driver.find_element(By.XPATH, "//header//button[.//span[normalize-space()='Run']]").click()
    folder = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, ".q-dialog input[aria-label='Project folder']"), "the dialog"
    )
    assert folder.get_attribute("value") == str(home / "examples" / EXAMPLE)
    seed = driver.find_element(By.CSS_SELECTOR, ".q-dialog input[aria-label='seed (integer)']")
    assert seed.get_attribute("value") == "5"
    screenshot(driver, "e2e-run-1-dialog")
    driver.find_element(By.XPATH, "//div[contains(@class,'q-dialog')]//button[.//span[text()='Start']]").click()

    # 3. The states change live: every node queued, then some running, then all succeeded.
    wait_for(lambda: set(_states(driver)) == set(NODES), "the queued badges", timeout=60)
    seen: list[dict[str, str]] = []

    def finished() -> bool:
        states = _states(driver)
        if not seen or seen[-1] != states:
            seen.append(states)
            if "running" in states.values() and not any("running" in s.values() for s in seen[:-1]):
                screenshot(driver, "e2e-run-2-running")
        return set(states.values()) == {"success"}

    wait_for(finished, "every node to succeed", timeout=RUN_TIMEOUT, interval=0.2)
    assert "queued" in seen[0].values(), seen
    assert any("running" in states.values() for states in seen), seen
    assert any(
        states.get("users") == "success" and states.get("predict") in ("queued", "running") for states in seen
    ), seen
    # The run ends (its record written): the header's Stop turns back into Run.
    wait_for(
        lambda: driver.find_elements(By.XPATH, "//header//button[.//span[normalize-space()='Run']]"),
        "the run to end",
        timeout=120,
    )
    screenshot(driver, "e2e-run-3-done")

    # 4. A node's state badge opens its log.
    badge = driver.find_element(By.CSS_SELECTOR, f"{node_selector('predict')} .dagsmith-state")
    pan_into_view(driver, badge)  # the fitted view keeps a readable zoom: the last node may lie past the edge
    badge.click()
    wait_for(lambda: "Log of" in _text(driver, ".q-dialog"), "the log dialog")
    log = wait_for(lambda: (text := _text(driver, ".q-dialog .font-mono")) and "no log yet" not in text and text, "log")
    assert "--- target_users map_index=-1" in log, log[:500]  # the batch prediction node's task
    screenshot(driver, "e2e-run-4-log")
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    wait_for(lambda: count(driver, ".q-dialog") == 0, "the log dialog to close")

    # 5. The runs tab: the run, its gate decision and its model version in MLflow, with links in MLflow's UI.
    show_tab(driver, "Runs")
    wait_for(lambda: "success" in _text(driver, ".q-tab-panel"), "the run in the list")
    wait_for(lambda: "model user-targeting v1 @" in _text(driver, ".q-tab-panel"), "the model version", 90)
    panel = _text(driver, ".q-tab-panel")
    assert "model user-targeting v1 @candidate @champion" in panel, panel  # its aliases now, from MLflow
    assert "gate gate: passed" in panel, panel
    assert "run train-" in panel or "(train)" in panel, panel  # the MLflow run the training step logged
    button = driver.find_element(By.XPATH, "//button[.//span[text()='Open the MLflow UI']]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click()", button)
    link = wait_for(
        lambda: driver.find_element(By.XPATH, "//a[contains(., 'model user-targeting v1')]"), "the link", 180
    )
    href = link.get_attribute("href")
    assert "/#/models/user-targeting/versions/1" in href, href
    with urllib.request.urlopen(href.split("/#/")[0] + "/health", timeout=10) as answer:
        assert answer.status == 200
    screenshot(driver, "e2e-run-5-history")
    assert severe_logs(driver) == []
    assert "Traceback" not in server_log(home), server_log(home)
