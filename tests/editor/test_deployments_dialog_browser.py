"""The add-deployment dialog in real Chromium, typed key by key: what a person typed is what is saved.

No Airflow is needed: the deployment names a port nobody listens on (the tab then says it cannot reach it).
The tab's whole journey against a real Airflow is in ``test_deployments_airflow.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browser import free_port, screenshot_on_failure, wait_for, with_token
from test_deployments_airflow import choose, dialog_input, open_dialog, show_airflow_tab, type_in

from dagsmith.editor.deployments.config import Deployment, Deployments
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import load_example

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deployments-dialog-home")


def open_add_dialog(driver: Any, server: str, services: EditorServices, name: str) -> tuple[int, Callable[[], None]]:
    """A new pipeline's page with the Airflow tab shown and the add dialog open; its project id and Save."""
    from selenium.webdriver.common.by import By

    pipeline = load_example("user_targeting")
    pipeline.settings.name = name
    pipeline.settings.dag_id = None
    info = services.create(services.local_project().id, pipeline)
    driver.get(with_token(f"{server}/pipeline/{info.id}"))
    show_airflow_tab(driver)

    def click(mark: str) -> None:
        def clicked() -> bool:
            driver.find_element(By.CSS_SELECTOR, f"[data-dagsmith='{mark}']").click()
            return True

        wait_for(clicked, f"{mark} to take the click")

    open_dialog(driver, "add-deployment", "Name")
    return info.project_id, lambda: click("add-deployment-save")


def saved(services: EditorServices, project_id: int, name: str) -> Deployment:
    deployments = Deployments(services.store)
    return wait_for(
        lambda: next((d for d in deployments.list(project_id) if d.name == name), None), f"deployment {name} saved"
    )


def test_a_user_typed_while_token_is_chosen_signs_in_with_password(
    driver: Any, server: str, services: EditorServices
) -> None:
    """The person types a user and a password reference and never touches "Sign in with" (it says token):
    the user is kept and the deployment signs in with the password, as ``--user`` does on the CLI. Before,
    the deployment was saved as a token one and the typed user was dropped."""
    with screenshot_on_failure(driver, "deployments-dialog-user-typed"):
        project_id, save = open_add_dialog(driver, server, services, "User typed")
        type_in(driver, "Name", "typed")
        type_in(driver, "API URL", f"http://127.0.0.1:{free_port()}")
        type_in(driver, "User (for password)", "alice")
        wait_for(lambda: "password" in select_text(driver, "Sign in with"), "sign-in to follow the typed user")
        type_in(driver, "Token or password from", "env:SOME_PASSWORD")
        save()
        deployment = saved(services, project_id, "typed")
    assert (deployment.auth, deployment.user, deployment.secret_ref) == ("password", "alice", "env:SOME_PASSWORD")


def test_switching_to_token_with_a_user_typed_is_refused_not_dropped(
    driver: Any, server: str, services: EditorServices
) -> None:
    """Password, a user typed, then token: Add names the user field instead of saving without it; back to
    password the field still holds the user, and it is saved."""
    from selenium.webdriver.common.by import By

    with screenshot_on_failure(driver, "deployments-dialog-switching"):
        project_id, save = open_add_dialog(driver, server, services, "Switching")
        type_in(driver, "Name", "switched")
        type_in(driver, "API URL", f"http://127.0.0.1:{free_port()}")
        choose(driver, "Sign in with", "password")
        type_in(driver, "User (for password)", "bob")
        type_in(driver, "Token or password from", "file:/run/secrets/airflow")
        choose(driver, "Sign in with", "token")
        save()
        error = "[data-dagsmith='add-deployment-error']"
        message = wait_for(
            lambda: str(driver.find_element(By.CSS_SELECTOR, error).get_attribute("textContent") or ""),
            "the dialog's error",
        )
        assert message.startswith("user 'bob': only password sign-in uses a user"), message
        assert "switched" not in [d.name for d in Deployments(services.store).list(project_id)]
        choose(driver, "Sign in with", "password")
        assert dialog_input(driver, "User (for password)").get_attribute("value") == "bob"
        save()
        deployment = saved(services, project_id, "switched")
    assert (deployment.auth, deployment.user, deployment.secret_ref) == ("password", "bob", "file:/run/secrets/airflow")


def select_text(driver: Any, label: str) -> str:
    """What the dialog's select labelled ``label`` shows."""
    from selenium.webdriver.common.by import By

    field = f".//div[contains(@class,'q-field__label') and normalize-space()='{label}']"
    xpath = f"//div[contains(@class,'q-dialog')]//label[{field}]"
    return str(driver.find_element(By.XPATH, xpath).get_attribute("textContent") or "")
