"""SSO behind an authenticating proxy (oauth2-proxy style): its user header is believed only from its address.

``TeamGuard`` in front of a small app that answers who the request runs as, on a real store; Starlette's
test client comes from the address ``testclient``. The socket.io guard gets the same answer from a socket's
opening scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from dagsmith.editor.store import Store, open_store
from dagsmith.editor.team.accounts import Accounts
from dagsmith.editor.team.guard import TeamGuard, identify_scope
from dagsmith.editor.team.identity import current_identity, guard_socketio
from dagsmith.editor.team.settings import TeamSettings

HEADER = "X-Forwarded-User"


async def whoami(scope: Scope, receive: Receive, send: Send) -> None:
    name = current_identity().name.encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": name})


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    store: Store = open_store(f"sqlite:///{tmp_path / 'team.db'}", local_user=False)
    try:
        yield Accounts(store)
    finally:
        store.close()


def settings(proxies: str) -> TeamSettings:
    return TeamSettings(database_url="sqlite://", secret_key="k" * 48, trial=True, trusted_proxies=proxies)


def client(accounts: Accounts, proxies: str) -> TestClient:
    app = TeamGuard(whoami, accounts=accounts, settings=settings(proxies))
    return TestClient(app, follow_redirects=False)  # type: ignore[arg-type]


def test_the_trusted_proxy_signs_its_user_in_and_a_new_user_is_made_without_any_role(accounts: Accounts) -> None:
    answer = client(accounts, "10.0.0.9, testclient").get("/", headers={HEADER: "carol", "Accept": "text/html"})
    assert answer.status_code == 200 and answer.text == "carol"
    assert [a.name for a in accounts.accounts()] == ["carol"]
    assert accounts.store.list_projects(user="carol") == []  # SSO lets them in; a project admin grants roles


def test_the_header_from_any_other_address_is_ignored(accounts: Accounts) -> None:
    accounts.add_user("alice", "correct horse battery")
    for proxies in ("", "10.0.0.9"):  # no proxy configured; a proxy, but not this caller
        answer = client(accounts, proxies).get("/", headers={HEADER: "alice", "Accept": "text/html"})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
        assert client(accounts, proxies).get("/api/v1/me", headers={HEADER: "alice"}).status_code == 401


def test_a_disabled_user_is_refused_even_through_the_proxy(accounts: Accounts) -> None:
    accounts.add_user("mallory", "correct horse battery")
    accounts.set_disabled("mallory")
    answer = client(accounts, "testclient").get("/api/v1/me", headers={HEADER: "mallory"})
    assert answer.status_code == 401


def test_socketio_events_are_identified_from_the_sockets_scope(accounts: Accounts) -> None:
    """The socket.io guard asks the same question of the scope that opened the socket."""

    class Sio:
        def __init__(self) -> None:
            self.handlers: dict[str, dict[str, Any]] = {"/": {"event": self.event}}
            self.environ: dict[str, Any] = {}
            self.ran_as: list[str] = []
            self.disconnected: list[str] = []

        def event(self, sid: str, *args: Any) -> None:
            self.ran_as.append(current_identity().name)

        def get_environ(self, sid: str) -> dict[str, Any]:
            return self.environ

        async def disconnect(self, sid: str) -> None:
            self.disconnected.append(sid)

    sio = Sio()
    guard_socketio(sio, lambda scope: identify_scope(accounts, settings("192.0.2.7"), scope))
    handler = sio.handlers["/"]["event"]
    sio.environ = {
        "asgi.scope": {"type": "websocket", "client": ("192.0.2.7", 5), "headers": [(b"x-forwarded-user", b"dan")]}
    }
    asyncio.run(handler("s1", {}))
    sio.environ = {
        "asgi.scope": {"type": "websocket", "client": ("192.0.2.8", 5), "headers": [(b"x-forwarded-user", b"dan")]}
    }
    asyncio.run(handler("s2", {}))
    assert sio.ran_as == ["dan"] and sio.disconnected == ["s2"]


def test_the_proxy_settings_come_from_the_environment() -> None:
    from dagsmith.editor.team.settings import load_settings

    env = {
        "DAGSMITH_DATABASE_URL": "postgresql+psycopg://dagsmith@db/dagsmith",
        "DAGSMITH_SECRET_KEY": "k" * 48,
        "DAGSMITH_TRUSTED_PROXIES": "10.0.0.5, 10.0.0.6",
        "DAGSMITH_PROXY_USER_HEADER": "X-Auth-Request-User",
    }
    loaded = load_settings(environ=env)
    assert loaded.proxies == {"10.0.0.5", "10.0.0.6"} and loaded.proxy_user_header == "X-Auth-Request-User"
    assert load_settings(environ={**env, "DAGSMITH_TRUSTED_PROXIES": ""}).proxies == frozenset()
