"""The Airflow tab through NiceGUI's simulated user, without an Airflow: adding a deployment, and its errors.

Against a real Airflow 3 (versions, runs on the canvas, node logs, trigger) see ``test_deployments_airflow.py``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.deployments.config import Deployments
from dagsmith.editor.pages import Workbench
from dagsmith.editor.pages.log_dialog import LogDialog
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import load_example


@pytest.fixture
def services(tmp_path: Path) -> EditorServices:
    return EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


async def until(what: str, check: Callable[[], object]) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_deployment_added_in_the_tab_keeps_a_reference_and_errors_are_shown(
    user: User, services: EditorServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = services.local_project()
    info = services.create(project.id, load_example("keyword_recommendation"))
    holder: dict[str, Workbench] = {}

    @ui.page("/")
    def page() -> None:
        _, document, revision = services.open_draft(info.id)
        holder["bench"] = Workbench(services, info.id, document, info.name, revision)

    await user.open("/")
    tab = holder["bench"].remote
    panel = tab.panel
    assert "No Airflow deployment yet" in panel.status.text

    dialog = panel.add_dialog
    dialog.open()
    dialog.name.set_value("prod")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"  # closed once the block ends: nothing answers
    dialog.url.set_value(url)
    dialog.secret.set_value("the-token-itself")
    dialog.submit()
    assert dialog.error.text.startswith("secret: give where the token or password is, not the secret itself")
    assert Deployments(services.store).list(project.id) == []

    monkeypatch.setenv("PROD_TOKEN", "tok")
    dialog.secret.set_value("env:PROD_TOKEN")
    dialog.submit()
    assert dialog.error.text == ""
    [added] = Deployments(services.store).list(project.id)
    assert (added.name, added.secret_ref, added.auth) == ("prod", "env:PROD_TOKEN", "token")
    assert panel.choice.options == ["prod"] and panel.choice.value == "prod"
    await until("the connection error", lambda: "cannot reach the Airflow API" in panel.error.text)
    assert f"deployment 'prod': cannot reach the Airflow API at {url}" in panel.error.text


async def test_one_log_dialog_follows_a_local_file_and_shows_fetched_logs_as_given(user: User, tmp_path: Path) -> None:
    """The Runs tab's and the Airflow tab's log dialog: a local log file is read again while the dialog is
    open (the task may still write it); a deployment's fetched log is shown as given, with no timer."""
    holder: dict[str, LogDialog] = {}

    @ui.page("/")
    def page() -> None:
        holder["local"], holder["remote"] = LogDialog(), LogDialog("remote-log")

    await user.open("/")
    local, remote = holder["local"], holder["remote"]
    log = tmp_path / "train.log"
    local.show("Log of train", {"train": log})
    assert local.text.text == "(no log yet: the task has not started)" and local.timer.active
    log.write_text("epoch 1\n", encoding="utf-8")
    await until("the file's new line", lambda: "epoch 1" in local.text.text)
    local.dialog.close()
    await until("the timer stopped", lambda: not local.timer.active)

    remote.show("Log of gate on prod", {"gate": "first try\n", "gate__promote": ""})
    assert remote.text.text == "first try\n" and remote.choice.visible and not remote.timer.active
    remote.choice.set_value("gate__promote")
    assert remote.text.text == "(no log)"
    await user.should_see(marker="remote-log-text")
