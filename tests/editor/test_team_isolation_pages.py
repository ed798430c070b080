"""Issue 13's isolation in the start page's list and search, and ``dagsmith desktop``'s loopback rule.

- A user sees only the projects they belong to in the pipeline list and in its search: a search for
  another project's pipeline finds nothing, exactly as for a name that exists nowhere (NiceGUI's simulated
  user on the real ``home_page`` over ``TeamServices`` on a real store, as each user).
- ``dagsmith desktop`` is the local editor too: it has no ``--host``, listens on loopback, and the editor
  refuses any other address before it starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor import app, cli
from dagsmith.editor.desktop import launch
from dagsmith.editor.pages.home import home_page
from dagsmith.editor.store import Role, open_store
from dagsmith.editor.team.accounts import Identity
from dagsmith.editor.team.identity import acting_as
from dagsmith.editor.team.services import TeamServices
from dagsmith.nodes import load_example

HIDDEN = "Churn model of the acquisition"
"""The name of project Secret's pipeline (its dag_id stays keyword_recommendation)."""


@pytest.fixture
def services(tmp_path: Path) -> Iterator[TeamServices]:
    """Project Secret (alice's, with the keyword pipeline) and project Other (eve's, with user targeting)."""
    store = open_store(f"sqlite:///{tmp_path / 'team.db'}", local_user=False)
    for name in ("alice", "eve", "vic"):
        store.create_user(name)
    secret = store.create_project("Secret", by="alice")
    store.add_member(secret.id, "vic", Role.VIEWER, by="alice")
    hidden = store.create_pipeline(secret.id, load_example("keyword_recommendation"), by="alice")
    store.rename_pipeline(hidden.id, HIDDEN, by="alice")
    other = store.create_project("Other", by="eve")
    store.create_pipeline(other.id, load_example("user_targeting"), by="eve")
    yield TeamServices(store)
    store.close()


async def open_home(user: User, services: TeamServices) -> None:
    @ui.page("/")
    def page() -> None:
        home_page(services)

    await user.open("/")


async def search(user: User, text: str) -> None:
    field = user.find(marker="pipeline-search")
    field.clear()
    field.type(text)


async def test_a_user_lists_and_finds_only_their_own_projects(user: User, services: TeamServices) -> None:
    with acting_as(Identity("eve", False)):
        await open_home(user, services)
        await user.should_see("Other")
        await user.should_see("user_targeting")
        await user.should_not_see("Secret")
        await user.should_not_see(HIDDEN)
        for query in ("churn", "keyword_recommendation"):  # the other project's pipeline: its name, its dag_id
            await search(user, query)
            await user.should_see(f"No pipeline matches {query!r}")
            await user.should_not_see(HIDDEN)
            await user.should_not_see("Secret")
        await search(user, "user_targ")  # the control: the search works for eve's own pipeline
        await user.should_see("user_targeting")


async def test_a_member_finds_the_pipelines_of_their_project(user: User, services: TeamServices) -> None:
    """The control for the test above: the same search finds the pipeline for a member of its project."""
    with acting_as(Identity("vic", False)):
        await open_home(user, services)
        await search(user, "churn")
        await user.should_see("Secret")
        await user.should_see(HIDDEN)
        await user.should_not_see("No pipeline matches")
        await user.should_not_see("Other")


# ---- dagsmith desktop: loopback only ------------------------------------------------------------------


def test_desktop_has_no_host_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.run(["desktop", "--host", "0.0.0.0"])
    assert refused.value.code == 2
    assert "unrecognized arguments: --host" in capsys.readouterr().err


def test_desktop_serves_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(launch, "restart_in_run_env", lambda argv: None)
    monkeypatch.setattr(launch, "claim_or_hand_over", lambda file: True)
    monkeypatch.setattr(app, "run_editor", lambda **kwargs: started.append(kwargs))
    assert cli.run(["desktop", "--port", "8123"]) == 0
    (kwargs,) = started
    assert kwargs["native"] is True and kwargs["port"] == 8123
    assert kwargs.get("host", "127.0.0.1") == "127.0.0.1"  # run_editor's default: loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com"])
def test_the_editor_itself_refuses_a_non_loopback_address(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever calls it (edit, desktop), the local editor does not start on another address."""
    monkeypatch.setattr(app, "launch_token", lambda: pytest.fail("the editor went on to start"), raising=False)
    with pytest.raises(ValueError, match="loopback only"):
        app.run_editor(host=host, show=False)
