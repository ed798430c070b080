"""The database work of a team server's role checks (issue 13, team load): counted in SQL statements, never timed.

Each HTTP request and each socket.io event looks its session up once, in a worker thread; that one query also
reads the user's project roles (``team.grants``). The checks made while that request or event runs (a page
open's "open", edit and read-only checks; the edit guard before each change) use them and read nothing more.
When the request or event ends they expire: a check after that reads the database, so a role removed is
refused at the user's next event.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from dagsmith.editor.errors import UserError
from dagsmith.editor.services import EditorServices
from dagsmith.editor.store import PermissionDenied, Role, Store, open_store
from dagsmith.editor.team.accounts import Accounts, Identity
from dagsmith.editor.team.admin import Administration
from dagsmith.editor.team.grants import Membership
from dagsmith.editor.team.guard import TeamGuard, identify_proxied, sign
from dagsmith.editor.team.identity import acting_as, current_identity, guard_socketio, live_grants
from dagsmith.editor.team.services import NoAccessError, TeamServices
from dagsmith.editor.team.settings import TeamSettings
from dagsmith.nodes import load_example

PASSWORD = "correct horse battery"


@dataclass
class Team:
    store: Store
    accounts: Accounts
    services: TeamServices
    project_id: int
    pipeline_id: int


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    store = open_store(f"sqlite:///{tmp_path / 'team.db'}", local_user=False)
    accounts = Accounts(store)
    for name in ("alice", "ed", "vic", "stranger"):
        accounts.add_user(name, PASSWORD, org_admin=name == "alice")
    project = store.create_project("Team", by="alice")
    store.add_member(project.id, "ed", Role.EDITOR, by="alice")
    store.add_member(project.id, "vic", Role.VIEWER, by="alice")
    pipeline = store.create_pipeline(project.id, load_example("keyword_recommendation"), by="alice")
    yield Team(store, accounts, TeamServices(store), project.id, pipeline.id)
    store.close()


TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK")


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The queries sent to the database while the block runs, from any thread (BEGIN and the like left out: the
    store begins each session's transaction itself on SQLite)."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.strip().upper().startswith(TRANSACTION):
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_the_session_lookup_reads_the_users_roles_in_its_one_query(team: Team) -> None:
    ed, stranger = team.accounts.start_session("ed", hours=1), team.accounts.start_session("stranger", hours=1)
    with statements(team.store.engine) as sent:
        identity = team.accounts.session_identity(ed)
    assert len(sent) == 1, sent
    assert identity is not None and identity.grants is not None
    assert identity.grants.memberships == {team.project_id: Membership(Role.EDITOR, "Team", archived=False)}
    nobody = team.accounts.session_identity(stranger)  # a member of nothing still signs in
    assert nobody is not None and nobody.grants is not None and nobody.grants.memberships == {}


async def test_a_page_open_checks_open_once_in_one_query_with_the_draft(team: Team) -> None:
    """``open_draft`` (in a worker thread, as the page does), then the page's edit guard and read-only banner."""
    services, pipeline_id = team.services, team.pipeline_id
    viewer = "Read-only: you are a viewer in project Team; ask its admin for the editor role to edit"
    for name, banner in (("vic", viewer), ("ed", None)):
        identity = team.accounts.session_identity(team.accounts.start_session(name, hours=1))  # the request's
        with acting_as(identity), statements(team.store.engine) as sent:
            info, pipeline, revision = await asyncio.to_thread(services.open_draft, pipeline_id)
            services.edit_guard(pipeline_id)
            reason = services.read_only_reason(pipeline_id)
        assert len(sent) == 1, sent  # pipeline and draft, one query; 20 before (the role read three times)
        assert (info.id, revision) == (pipeline_id, 1)
        assert [n.id for n in pipeline.nodes] == [n.id for n in load_example("keyword_recommendation").nodes]
        assert reason == banner


async def test_a_stranger_gets_nothing_and_a_missing_pipeline_reads_the_same(team: Team) -> None:
    identity = team.accounts.session_identity(team.accounts.start_session("stranger", hours=1))
    with acting_as(identity):
        with pytest.raises(NoAccessError) as refused:
            team.services.open_draft(team.pipeline_id)
        with pytest.raises(NoAccessError) as missing:
            team.services.open_draft(team.pipeline_id + 1000)
    assert str(refused.value) == str(missing.value).replace(str(team.pipeline_id + 1000), str(team.pipeline_id))


def test_an_archived_projects_banner_comes_from_the_lookup_too(team: Team) -> None:
    admin = team.accounts.session_identity(team.accounts.start_session("alice", hours=1))
    assert admin is not None
    Administration(team.accounts).set_archived(admin, team.project_id)
    identity = team.accounts.session_identity(team.accounts.start_session("ed", hours=1))
    with acting_as(identity), statements(team.store.engine) as sent:
        reason = team.services.project_read_only_reason(team.project_id)
    assert sent == []
    assert reason == "Read-only: project Team is archived; an organisation admin can restore it"


def test_the_edit_guard_uses_each_events_lookup_and_a_removed_role_is_refused_at_the_next(team: Team) -> None:
    secret = team.accounts.start_session("ed", hours=1)
    with acting_as(team.accounts.session_identity(secret)):  # the page open's request
        guard = team.services.edit_guard(team.pipeline_id)
    assert guard is not None
    event_identity = team.accounts.session_identity(secret)  # an edit's socket.io event
    with acting_as(event_identity), statements(team.store.engine) as sent:
        guard()
        guard()
    assert sent == []  # 4 queries per change before (user, project, role, then the archive)

    team.store.remove_member(team.project_id, "ed", by="alice")
    with acting_as(team.accounts.session_identity(secret)), pytest.raises(PermissionDenied, match="not a member"):
        guard()  # the next event
    with acting_as(event_identity), pytest.raises(PermissionDenied):
        guard()  # what the earlier event left running: its roles expired with it, so the database is asked


async def test_a_socket_event_is_checked_with_the_roles_its_lookup_read_which_expire_with_it(team: Team) -> None:
    secret = team.accounts.start_session("ed", hours=1)
    with acting_as(team.accounts.session_identity(secret)):
        guard = team.services.edit_guard(team.pipeline_id)
    assert guard is not None
    outcomes: list[str] = []
    seen: list[Identity] = []

    def handle(sid: str, message: str) -> None:  # NiceGUI's event handler: a change, which asks the guard
        seen.append(current_identity())
        try:
            guard()
        except PermissionDenied:
            outcomes.append("refused")
        else:
            outcomes.append("allowed")

    sio = FakeSocketIO(handle)
    guard_socketio(sio, lambda scope: team.accounts.session_identity(secret))
    guarded = sio.handlers["/"]["event"]
    with statements(team.store.engine) as sent:
        await guarded("s1", "a keystroke")
    assert outcomes == ["allowed"] and len(sent) == 1, sent  # the lookup only; 5 before
    grants = seen[0].grants
    assert grants is not None and not grants.live  # expired with the event

    team.store.remove_member(team.project_id, "ed", by="alice")
    await guarded("s1", "the next keystroke")
    assert outcomes == ["allowed", "refused"]


class FakeSocketIO:
    """What ``guard_socketio`` needs of socket.io's server: its handlers and a socket's opening request."""

    def __init__(self, handler: Any) -> None:
        self.handlers: dict[str, dict[str, Any]] = {"/": {"event": handler}}
        self.disconnected: list[str] = []

    def get_environ(self, sid: str) -> dict[str, Any]:
        return {"HTTP_COOKIE": "session=x"}

    async def disconnect(self, sid: str) -> None:
        self.disconnected.append(sid)


def test_the_local_editor_opens_a_draft_in_one_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    services = EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")
    pipeline_id = services.pipelines(services.local_project().id)[0].id
    with statements(services.store.engine) as sent:
        info, _, _ = services.open_draft(pipeline_id)
    assert len(sent) == 1 and info.id == pipeline_id, sent
    services.store.close()


def test_the_proxys_unchanged_groups_cost_no_query_beyond_the_lookup(team: Team) -> None:
    settings = TeamSettings(
        database_url="sqlite://", secret_key="k" * 48, trial=True, trusted_proxies="10.0.0.9", proxy_groups_header="X-G"
    )

    def request(groups: str) -> dict[str, Any]:
        headers = [(b"x-forwarded-user", b"ed"), (b"x-g", groups.encode())]
        return {"type": "http", "headers": headers, "client": ("10.0.0.9", 1234)}

    identify_proxied(team.accounts, settings, request("marketing, staff"))
    assert team.store.idp_groups("ed") == {"marketing", "staff"}
    with statements(team.store.engine) as sent:
        identity = identify_proxied(team.accounts, settings, request("staff,marketing"))
    assert len(sent) == 1, sent  # one read (a second one, of the groups, before)
    assert identity is not None and identity.grants is not None and team.project_id in identity.grants.memberships
    identify_proxied(team.accounts, settings, request("finance"))
    assert team.store.idp_groups("ed") == {"finance"}


def test_an_http_requests_session_is_looked_up_off_the_event_loop_and_its_roles_expire_with_it(team: Team) -> None:
    threads: list[str] = []
    kept: list[Identity] = []
    lookup = team.accounts.session_identity

    def recorded(secret: str) -> Identity | None:
        threads.append(threading.current_thread().name)
        return lookup(secret)

    team.accounts.session_identity = recorded  # type: ignore[method-assign]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        threads.append(threading.current_thread().name)  # the event loop's
        kept.append(current_identity())
        assert live_grants("ed") is not None  # the request's checks may use them
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    settings = TeamSettings(database_url="sqlite://", secret_key="k" * 48, trial=True)
    guard = TeamGuard(app, accounts=team.accounts, settings=settings)
    client = TestClient(guard)  # type: ignore[arg-type]
    client.cookies.set(settings.cookie_name, sign(team.accounts.start_session("ed", hours=1), settings.secret_key))
    assert client.get("/").status_code == 200
    lookup_thread, loop_thread = threads
    assert lookup_thread != loop_thread
    assert kept[0].grants is not None and not kept[0].grants.live


def test_a_check_without_a_live_lookup_reads_the_pipelines_project_and_the_role_in_one_query(team: Team) -> None:
    """E.g. a draft save, which runs after its event ended: the pipeline's project, role and archive at once."""
    with acting_as(Identity("ed", False)), statements(team.store.engine) as sent:
        team.services.require(team.pipeline_id, "edit")
    assert len(sent) == 1, sent  # 5 before (project; user, project, role; archive)
    with acting_as(Identity("vic", False)), pytest.raises(UserError, match=r"viewer.*needs the editor role"):
        team.services.require(team.pipeline_id, "edit")  # refused with the store's message, as before


def test_a_check_in_another_event_reads_only_the_pipelines_project(team: Team) -> None:
    """E.g. a page told of another page's save: its session is looked up again, then it is checked."""
    identity = team.accounts.session_identity(team.accounts.start_session("vic", hours=1))
    with acting_as(identity), statements(team.store.engine) as sent:
        team.services.require(team.pipeline_id, "open")
        team.services.require(team.pipeline_id, "download")
    assert len(sent) == 1, sent  # the pipeline's project, once per event
    with acting_as(team.accounts.session_identity(team.accounts.start_session("vic", hours=1))):
        with pytest.raises(UserError, match="viewer"):
            team.services.require(team.pipeline_id, "edit")


def test_signing_in_writes_the_new_session_off_the_event_loop(team: Team) -> None:
    on_loop: list[bool] = []
    start = team.accounts.start_session

    def recorded(name: str, **kwargs: Any) -> str:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            on_loop.append(False)
        else:
            on_loop.append(True)
        return start(name, **kwargs)

    team.accounts.start_session = recorded  # type: ignore[method-assign]
    settings = TeamSettings(database_url="sqlite://", secret_key="k" * 48, trial=True)
    client = TestClient(TeamGuard(whoami, accounts=team.accounts, settings=settings), follow_redirects=False)  # type: ignore[arg-type]
    answer = client.post("/login", data={"name": "ed", "password": PASSWORD, "next": "/"})
    assert answer.status_code == 303 and settings.cookie_name in answer.cookies
    assert on_loop == [False]


async def whoami(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": current_identity().name.encode()})
