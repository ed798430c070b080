"""Browse MLflow in a real browser (headless Chromium against ``dagsmith edit``) after a local run.

Issue 11, defect 6: the dialog said "MLflow is not configured" after a successful local run, because it
looked in ``workspace/<dag_id>`` while the editor's runs track in the project's ``workspace/project-<id>``.
The test makes the MLflow store a run makes (MLflow's own client, a registered model with an alias) in
the project's run workspace, then clicks the node and "Browse MLflow" as a person does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from browser import count, node_selector, screenshot_on_failure, wait_for, with_token

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import load_example

pytestmark = pytest.mark.slow

MODEL = "targeting_model_of_the_run"
# What a local run's register step leaves in the workspace's MLflow: a registered model with an alias.
MAKE_STORE = """
import sys, mlflow
client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{sys.argv[1]}")
client.create_registered_model(sys.argv[2])
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browse-home")


def test_browse_mlflow_finds_the_store_of_the_projects_local_runs(
    server: str, driver: Any, services: EditorServices, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    pipeline = load_example("user_targeting")
    info = services.create(services.local_project().id, pipeline)
    monkeypatch.setenv("DAGSMITH_HOME", str(home))  # the server's home: where its runs' workspaces are
    monkeypatch.delenv("DAGSMITH_WORKSPACE", raising=False)
    store = services.runs.workspace(info.project_id).mlflow / "mlflow.db"
    assert f"project-{info.project_id}" in store.parts, "the editor's runs track in the project's workspace"
    store.parent.mkdir(parents=True)
    subprocess.run([sys.executable, "-c", MAKE_STORE, str(store), MODEL], check=True, capture_output=True)

    with screenshot_on_failure(driver, "browse-mlflow"):
        driver.get(with_token(f"{server}/pipeline/{info.id}"))
        wait_for(lambda: count(driver, ".vue-flow__node") == len(pipeline.nodes), "the pipeline's nodes")
        driver.find_element(By.CSS_SELECTOR, f"{node_selector('predict')} .dagsmith-node__label").click()
        button = wait_for(
            lambda: driver.find_element(By.XPATH, "//button[.//span[normalize-space()='Browse MLflow']]"),
            "the Browse MLflow button",
        )
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()

        def dialog() -> str | None:
            text = str(driver.find_element(By.CSS_SELECTOR, ".q-dialog").text)
            return text if "Registered models" in text or "not configured" in text or "cannot" in text else None

        shown = wait_for(dialog, "the MLflow catalog", timeout=60)
    assert "not configured" not in shown, shown
    assert MODEL in shown, shown
    assert str(store) in shown, "the dialog names the store it reads"
