"""Pages of one pipeline on one server process: each page pulls another page's save as its own user.

A save is announced to the group of open pages (``pages.drafts``) from inside the saving page's task; the pull
that follows must not run with the saver's identity (``team.identity``), or a user whose role was removed would
be fed the pipeline with the saving user's rights. Cross-replica news already runs as each page's user
(``team.replica_sync``); these tests hold the same-replica path to that.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.errors import UserError
from dagsmith.editor.pages.live_merge import LiveMerge
from dagsmith.editor.session import EditorSession
from dagsmith.editor.store import Role, Store, open_store
from dagsmith.editor.team.accounts import Identity
from dagsmith.editor.team.identity import acting_as, current_identity
from dagsmith.editor.team.services import NoAccessError, TeamServices
from dagsmith.nodes import load_example


class Recording(TeamServices):
    """The team services, recording as whom each draft read ran (the identity its access check saw)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.readers: list[str] = []

    def open_draft(self, pipeline_id: int) -> Any:
        self.readers.append(current_identity().name)
        return super().open_draft(pipeline_id)


@pytest.fixture
def team(tmp_path: Path) -> Iterator[tuple[Recording, int, int]]:
    store = open_store(f"sqlite:///{tmp_path / 'team.db'}", local_user=False)
    for name in ("alice", "ed"):
        store.create_user(name)
    project = store.create_project("Team", by="alice")
    store.add_member(project.id, "ed", Role.EDITOR, by="alice")
    pipeline = store.create_pipeline(project.id, load_example("keyword_recommendation"), by="alice")
    yield Recording(store), project.id, pipeline.id
    store.close()


def open_page(services: TeamServices, pipeline_id: int, name: str, failures: list[Exception]) -> LiveMerge:
    """A page of the pipeline opened by ``name``: its session and live merge, in the group of open pages."""
    with acting_as(Identity(name, False)):
        _, pipeline, revision = services.open_draft(pipeline_id)
        session = EditorSession(pipeline)
        live = LiveMerge(services, pipeline_id, session, revision, on_saved=lambda _: None, on_failed=failures.append)
        live.drafts.join(services.store, pipeline_id)
    return live


async def start(user: User) -> None:
    @ui.page("/")
    def page() -> None:
        pass

    await user.open("/")  # the app's event loop, for the pages' background tasks


async def save_as(live: LiveMerge, name: str, node: str, value: str) -> None:
    """``name`` edits a parameter on their page; the save (and its announcement) runs as them."""
    with acting_as(Identity(name, False)):
        live.session.set_param(node, ["description"], value)
        live.drafts.request()
    await live.settled()


async def test_a_pull_after_another_users_save_runs_as_the_pages_own_user(
    user: User, team: tuple[Recording, int, int]
) -> None:
    await start(user)
    services, _, pipeline_id = team
    failures: list[Exception] = []
    alices = open_page(services, pipeline_id, "alice", failures)
    eds = open_page(services, pipeline_id, "ed", failures)
    node = alices.session.pipeline.nodes[0].id
    services.readers.clear()

    await save_as(alices, "alice", node, "from alice")
    await eds.settled()

    assert services.readers == ["ed"]  # ed's page read the draft as ed, not with alice's identity
    assert eds.session.pipeline.node(node).params["description"] == "from alice"  # type: ignore[union-attr]
    assert failures == []


async def test_a_user_whose_role_was_removed_is_refused_not_fed_the_other_users_save(
    user: User, team: tuple[Recording, int, int]
) -> None:
    await start(user)
    services, project_id, pipeline_id = team
    failures: list[Exception] = []
    alices = open_page(services, pipeline_id, "alice", failures)
    eds = open_page(services, pipeline_id, "ed", failures)
    node = alices.session.pipeline.nodes[0].id
    before = eds.session.pipeline.node(node).params.get("description")  # type: ignore[union-attr]
    services.store.remove_member(project_id, "ed", by="alice")
    services.readers.clear()

    await save_as(alices, "alice", node, "secret from alice")
    await eds.settled()

    assert services.readers == ["ed"]
    assert eds.session.pipeline.node(node).params.get("description") == before  # type: ignore[union-attr]
    assert len(failures) == 1 and isinstance(failures[0], NoAccessError), failures
    assert isinstance(failures[0], UserError) and "no access" in str(failures[0])
