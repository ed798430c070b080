"""The Airflow tab checks the user's role on the server for each trigger, clear and pause (issue 13).

A viewer's page hides those buttons (test_read_only_page.py); a forged click reaches the panel's handler all
the same, and must be refused there before any call to Airflow. ``TeamServices.require`` is the role check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nicegui.testing import User
from test_workbench import open_bench

from dagsmith.editor.services import EditorServices, UserError
from dagsmith.editor.store import Role, open_store
from dagsmith.editor.team.accounts import Identity
from dagsmith.editor.team.identity import acting_as
from dagsmith.editor.team.services import RoleError, TeamServices
from dagsmith.nodes import load_example


class Refusing(EditorServices):
    """The services of a user who may open the pipeline but not run it (what a team server says to a viewer)."""

    def require(self, pipeline_id: int, action: str) -> None:
        raise UserError(f"you cannot {action} pipeline {pipeline_id}: you are a viewer")


class Remote:
    """A connected deployment that records what it was asked to do."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.pipeline: Any = None

    def trigger(self, values: dict[str, Any]) -> Any:
        self.calls.append("trigger")

    def clear(self, run_id: str) -> list[str]:
        self.calls.append("clear")
        return []

    def set_paused(self, paused: bool) -> bool:
        self.calls.append("pause")
        return paused


async def test_a_forged_trigger_clear_or_pause_is_refused_before_airflow_is_called(user: User, tmp_path: Path) -> None:
    services = Refusing.open(f"sqlite:///{tmp_path / 'editor.db'}")
    page = await open_bench(user, services, load_example("keyword_recommendation"))
    pipeline_id = page.bench.pipeline_id
    panel = page.bench.remote.panel
    remote = Remote()
    panel.remote, panel.run_id = remote, "manual__1"
    assert await panel.trigger({}) == f"you cannot run pipeline {pipeline_id}: you are a viewer"
    await panel.clear_failed()
    await panel.toggle_pause()
    assert remote.calls == []
    assert panel.error.text == f"you cannot run pipeline {pipeline_id}: you are a viewer"


@pytest.fixture
def team(tmp_path: Path) -> Iterator[tuple[TeamServices, int]]:
    store = open_store(f"sqlite:///{tmp_path / 'team.db'}", local_user=False)
    for name in ("alice", "vic"):
        store.create_user(name)
    project = store.create_project("Team", by="alice")
    store.add_member(project.id, "vic", Role.VIEWER, by="alice")
    pipeline = store.create_pipeline(project.id, load_example("keyword_recommendation"), by="alice")
    yield TeamServices(store), pipeline.id
    store.close()


def test_the_team_server_lets_editors_run_on_a_deployment_and_refuses_viewers(
    team: tuple[TeamServices, int],
) -> None:
    services, pipeline_id = team
    with acting_as(Identity("alice", False)):
        services.require(pipeline_id, "run")  # the owner may
    with acting_as(Identity("vic", False)), pytest.raises(RoleError, match="run its pipelines"):
        services.require(pipeline_id, "run")
