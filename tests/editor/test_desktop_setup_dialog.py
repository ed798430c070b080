"""File → Set up local runs: the dialog on the window's page shows the setup's progress and its outcome
(the setup itself, with the real uv, is in test_desktop_runenv.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.desktop import runenv, setup_dialog


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def fake_plan(tmp_path: Path) -> runenv.Plan:
    lock = tmp_path / "requirements.lock"
    lock.write_text("six==1.17.0\n")
    return runenv.Plan(lock, str(tmp_path))


async def test_the_dialog_follows_the_setup_and_says_when_it_is_done(
    user: User, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    @ui.page("/")
    def page() -> None:
        ui.label("start page")

    await user.open("/")
    seen: list[float] = []
    halfway, go_on = threading.Event(), threading.Event()

    def fake_set_up(plan: runenv.Plan, progress: runenv.Progress) -> Path:
        progress(0.0, "Creating the run environment")
        progress(0.5, "Installing packages 1 of 1 (six==1.17.0 …)")
        halfway.set()
        go_on.wait(10)
        progress(1.0, "Local runs are set up")
        return tmp_path / "home" / "runenv" / "bin" / "python"

    monkeypatch.setattr(setup_dialog, "default_plan", lambda: fake_plan(tmp_path))
    monkeypatch.setattr(setup_dialog, "set_up", fake_set_up)
    import asyncio

    task = asyncio.create_task(setup_dialog.set_up_local_runs())
    while not halfway.is_set():
        await asyncio.sleep(0.02)
    await user.should_see("Installing packages 1 of 1")
    bar = user.find("runenv-progress").elements.pop()
    seen.append(bar.value)  # type: ignore[attr-defined]
    go_on.set()
    assert await task == "set up"
    await user.should_see("Local runs are set up in")
    await user.should_see("Quit and start dagsmith again")
    assert seen == [0.5]
    assert bar.value == 1.0  # type: ignore[attr-defined]


async def test_a_failed_setup_is_told_in_the_dialog(
    user: User, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    @ui.page("/")
    def page() -> None:
        ui.label("start page")

    await user.open("/")

    def failing(plan: runenv.Plan, progress: runenv.Progress) -> Path:
        raise runenv.SetupError("installing six failed: no network (check the network connection and try again)")

    monkeypatch.setattr(setup_dialog, "default_plan", lambda: fake_plan(tmp_path))
    monkeypatch.setattr(setup_dialog, "set_up", failing)
    assert (await setup_dialog.set_up_local_runs()).startswith("failed")
    await user.should_see("Local runs could not be set up: installing six failed")
    await user.should_see("Close")
