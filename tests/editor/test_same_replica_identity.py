"""Pages of one pipeline on one server process: each page pulls another page's save as its own user.

A save is announced to the group of open pages (``pages.drafts``) from inside the saving page's task; the pull
that follows must not run with the saver's identity (``team.identity``), or a user whose role was removed would
be fed the pipeline with the saving user's rights. Cross-replica news already runs as each page's user
(``team.replica_sync``); these tests hold the same-replica path to that.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.errors import UserError
from dagsmith.editor.pages.draft_feed import check_sessions_with
from dagsmith.editor.pages.live_merge import LiveMerge
from dagsmith.editor.session import EditorSession
from dagsmith.editor.store import Role, Store, open_store
from dagsmith.editor.team.accounts import Accounts, Identity
from dagsmith.editor.team.identity import acting_as, current_identity
from dagsmith.editor.team.services import NoAccessError, TeamServices
from dagsmith.nodes import load_example


class Recording(TeamServices):
    """The team services, recording as whom each draft read and each page's check ran (the identity they saw)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.readers: list[str] = []
        self.checked: list[str] = []

    def open_draft(self, pipeline_id: int) -> Any:
        self.readers.append(current_identity().name)
        return super().open_draft(pipeline_id)

    def require(self, pipeline_id: int, action: str) -> None:
        self.checked.append(current_identity().name)
        super().require(pipeline_id, action)


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


def description(live: LiveMerge, node: str) -> object:
    found = live.session.pipeline.node(node)
    assert found is not None
    return found.params.get("description")


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

    assert services.checked == ["ed"]  # ed's page was checked as ed, not with alice's identity
    assert services.readers == []  # and got the document alice's page saved, without reading it again
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

    assert services.checked == ["ed"]
    assert eds.session.pipeline.node(node).params.get("description") == before  # type: ignore[union-attr]
    assert len(failures) == 1 and isinstance(failures[0], NoAccessError), failures
    assert isinstance(failures[0], UserError) and "no access" in str(failures[0])


async def test_a_page_whose_session_was_revoked_gets_no_more_of_the_other_users_saves(
    user: User, team: tuple[Recording, int, int]
) -> None:
    await start(user)
    services, _, pipeline_id = team
    accounts = Accounts(services.store)
    for name in ("alice", "ed"):
        accounts.set_disabled(name, False)  # their sign-in record
    sessions = {name: accounts.start_session(name, hours=1) for name in ("alice", "ed")}
    checks: list[tuple[str, int]] = []  # (whose page, in which thread)

    def check(context: Any) -> AbstractContextManager[Any] | None:  # as the team server's recheck_pages does
        name = current_identity().name  # the page's own user (the check runs in the page's context)
        checks.append((name, threading.get_ident()))
        identity = accounts.session_identity(sessions[name])
        return None if identity is None else acting_as(identity)

    check_sessions_with(services.store, check)
    failures: list[Exception] = []
    alices = open_page(services, pipeline_id, "alice", failures)
    eds, second_tab = (open_page(services, pipeline_id, "ed", failures) for _ in range(2))  # ed has two tabs
    node = alices.session.pipeline.nodes[0].id

    await save_as(alices, "alice", node, "before ed signed out")
    await eds.settled()
    await second_tab.settled()
    assert description(eds, node) == description(second_tab, node) == "before ed signed out"
    assert sorted(name for name, _ in checks) == ["ed", "ed"]
    assert threading.get_ident() not in {thread for _, thread in checks}  # checked off the event loop

    accounts.end_session(sessions["ed"])  # ed signs out (or an admin revoked the session)
    checks.clear()
    await save_as(alices, "alice", node, "secret after ed signed out")
    await eds.settled()
    await second_tab.settled()

    assert description(eds, node) == description(second_tab, node) == "before ed signed out"  # nothing more reached ed
    assert sorted(name for name, _ in checks) == ["ed", "ed"]
    assert failures == []


async def test_a_page_told_outside_any_users_context_merges_and_saves_as_its_own_user(
    user: User, team: tuple[Recording, int, int]
) -> None:
    await start(user)
    services, _, pipeline_id = team
    failures: list[Exception] = []
    eds = open_page(services, pipeline_id, "ed", failures)
    x, y = (node.id for node in eds.session.pipeline.nodes[:2])
    eds.session.set_param(y, ["description"], "ed's, not saved yet")
    with acting_as(Identity("alice", False)):  # alice saves through another replica
        _, other, _ = services.open_draft(pipeline_id)
        other.node(x).params["description"] = "alice's"  # type: ignore[union-attr]
        revision = services.save_draft(pipeline_id, other)
    services.checked.clear()

    eds.saved_elsewhere(revision)  # as the replica's listener tells it: in no user's context
    await eds.settled()

    assert failures == []  # the merge, and the save of ed's change on top, ran as ed
    assert services.checked == ["ed"]
    with acting_as(Identity("ed", False)):
        _, stored, _ = services.open_draft(pipeline_id)
    assert stored.node(x).params["description"] == "alice's"  # type: ignore[union-attr]
    assert stored.node(y).params["description"] == "ed's, not saved yet"  # type: ignore[union-attr]
