"""The team server: a real ``dagsmith serve`` driven over HTTP, socket.io's websocket and the REST API.

It runs once on SQLite (``--trial``) and once on a throw-away PostgreSQL cluster. Users and projects are
made in the same database the way an operator would (``Accounts``, the store): alice owns project Team,
vic is its viewer, eve belongs only to project Other; ``target`` is the victim of a password-guessing test.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from browser import DAGSMITH, ROOT, free_port, server_env
from test_store_postgres import postgres_url  # noqa: F401 (the fixture, started only by the PostgreSQL run)
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from dagsmith.editor.store import Role, open_store
from dagsmith.editor.team.accounts import Accounts
from dagsmith.nodes import CATALOG, load_example

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
SECRET = "k" * 48
ATTEMPTS = 3
COOKIE = "dagsmith-session"


@dataclass
class Team:
    """The running server and the ids the tests use."""

    port: int
    url: str
    log: Path
    pipeline: int
    other_pipeline: int
    exported: int
    """A pipeline of project Team that no test edits (the forged drops leave the other one incomplete)."""
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], str]:
        """One HTTP request (no redirects followed, no cookies kept): status, headers, body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.putrequest(method, path, skip_host=True)
            for name, value in {"Host": f"127.0.0.1:{self.port}", **(headers or {})}.items():
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
        finally:
            connection.close()

    def login(self, name: str, password: str = PASSWORD, *, cookie: str | None = None) -> tuple[int, dict[str, str]]:
        """POST the sign-in form as a browser on this site does; status and headers."""
        body = urlencode({"name": name, "password": password, "next": "/"}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{self.port}"}
        if cookie:
            headers["Cookie"] = f"{COOKIE}={cookie}"
        status, received, _ = self.request("POST", "/login", headers, body)
        return status, received

    def session(self, name: str) -> str:
        """A fresh session cookie value of ``name``."""
        status, headers = self.login(name)
        assert status == 303, (name, status)
        return session_cookie(headers)

    def page(self, path: str, cookie: str | None) -> tuple[int, dict[str, str], str]:
        """GET a page as a browser does (Accept: text/html), with the session cookie when given."""
        headers = {"Accept": "text/html"}
        if cookie:
            headers["Cookie"] = f"{COOKIE}={cookie}"
        return self.request("GET", path, headers)

    def api(self, path: str, *, cookie: str | None = None, token: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        status, _, body = self.request("GET", path, headers)
        return status, body

    def socket(self, cookie: str | None, query: str = "") -> ClientConnection:
        """Open socket.io's websocket as the page's script does (its own origin, the session cookie)."""
        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
        uri = (
            f"ws://127.0.0.1:{self.port}/_nicegui_ws/socket.io/?{query}{'&' if query else ''}EIO=4&transport=websocket"
        )
        return connect(uri, origin=f"http://127.0.0.1:{self.port}", additional_headers=headers, open_timeout=60)  # type: ignore[arg-type]


def session_cookie(headers: dict[str, str]) -> str:
    cookies: SimpleCookie = SimpleCookie()
    cookies.load(headers["set-cookie"])
    return cookies[COOKIE].value


def document_nodes(url: str, pipeline_id: int) -> int:
    store = open_store(url, local_user=False)
    try:
        return len(store.get_draft(pipeline_id).pipeline().nodes)
    finally:
        store.close()


def populate(url: str) -> tuple[int, int, int]:
    """Users, projects and pipelines: the edited one of Team, the one of Other, the exported one of Team."""
    store = open_store(url, local_user=False)
    accounts = Accounts(store)
    try:
        for name in ("alice", "vic", "eve", "target"):
            accounts.add_user(name, PASSWORD)
        team = store.create_project("Team", by="alice")
        store.add_member(team.id, "vic", Role.VIEWER, by="alice")
        other = store.create_project("Other", by="eve")
        pipeline = store.create_pipeline(team.id, load_example("keyword_recommendation"), by="alice")
        other_pipeline = store.create_pipeline(other.id, load_example("user_targeting"), by="eve")
        exported = store.create_pipeline(team.id, load_example("user_targeting"), by="alice")
        return pipeline.id, other_pipeline.id, exported.id
    finally:
        store.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('team-sqlite') / 'team.db'}"
    return str(request.getfixturevalue("postgres_url"))


@contextmanager
def serving(database: str, home: Path, *ids: int) -> Iterator[Team]:
    """``dagsmith serve`` on ``database`` until the block ends; a ``Team`` with ``ids`` (its pipelines)."""
    port = free_port()
    env = server_env(home)
    env.update(
        DAGSMITH_DATABASE_URL=database,
        DAGSMITH_SECRET_KEY=SECRET,
        DAGSMITH_LOGIN_ATTEMPTS=str(ATTEMPTS),
    )
    log = home / "server.log"
    command = [str(DAGSMITH), "serve", "--port", str(port), *(["--trial"] if database.startswith("sqlite") else [])]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Team(port, f"http://127.0.0.1:{port}", log, *ids)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if server.request("GET", "/login")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the team server did not start:\n" + log.read_text(errors="replace")
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def team(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    ids = populate(database)
    with serving(database, tmp_path_factory.mktemp("team-home"), *ids) as server:
        yield server


# ---- no user: every door is shut ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/pipeline/{pipeline}", "/docs"])
def test_pages_redirect_to_sign_in(team: Team, path: str) -> None:
    path = path.format(pipeline=team.pipeline)
    status, headers, _ = team.page(path, None)
    assert status == 303
    assert headers["location"] == "/login?" + urlencode({"next": path})


def test_socketio_and_the_api_refuse_without_a_session(team: Team) -> None:
    assert team.request("GET", "/_nicegui_ws/socket.io/?EIO=4&transport=polling")[0] == 401
    with pytest.raises(InvalidStatus) as refused:
        team.socket(None)
    assert refused.value.response.status_code == 403
    status, body = team.api("/api/v1/projects")
    assert status == 401 and "Bearer" in body
    assert team.api("/api/v1/projects", cookie="forged.signature")[0] == 401


def test_the_sign_in_form_is_served_and_a_foreign_origin_cannot_post_it(team: Team) -> None:
    status, _, page = team.request("GET", "/login?next=/pipeline/1")
    assert status == 200 and 'name="password"' in page and 'value="/pipeline/1"' in page
    body = urlencode({"name": "alice", "password": PASSWORD}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://attacker.example"}
    status, received, _ = team.request("POST", "/login", headers, body)
    assert status == 403 and "set-cookie" not in received


# ---- sessions ---------------------------------------------------------------------------------------


def test_sign_in_sets_a_signed_httponly_samesite_cookie_and_opens_the_pages(team: Team) -> None:
    status, headers = team.login("alice")
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    value = session_cookie(headers)
    assert team.page("/", value)[0] == 200
    secret, _, signature = value.rpartition(".")
    assert team.page("/", f"{secret}.{'A' * len(signature)}")[0] == 303  # a forged signature is no session
    assert team.page(f"/pipeline/{team.pipeline}", value)[0] == 200


def test_sign_in_rotates_the_session(team: Team) -> None:
    """Session fixation: a cookie the browser had before signing in (planted or old) is ended, not kept."""
    before = team.session("alice")
    status, headers = team.login("alice", cookie=before)
    after = session_cookie(headers)
    assert status == 303 and after != before
    assert team.page("/", before)[0] == 303
    assert team.page("/", after)[0] == 200


def test_a_wrong_password_is_refused_and_guessing_is_rate_limited(team: Team) -> None:
    for _ in range(ATTEMPTS):
        status, headers = team.login("target", "wrong password!")
        assert status == 401 and "set-cookie" not in headers
    status, headers = team.login("target", "wrong password!")
    assert status == 429 and int(headers["retry-after"]) > 0
    status, headers = team.login("target")  # even the right password waits now
    assert status == 429 and "set-cookie" not in headers
    assert "failed sign-in for 'target'" in team.log.read_text(errors="replace")
    assert team.login("alice")[0] == 303  # other users are not locked out


def test_logout_ends_the_session_everywhere(team: Team, database: str) -> None:
    cookie = team.session("alice")
    before = document_nodes(database, team.pipeline)
    with page_socket(team, cookie) as (ws, drop):
        headers = {"Cookie": f"{COOKIE}={cookie}", "Origin": f"http://127.0.0.1:{team.port}"}
        assert team.request("POST", "/logout", {**headers, "Origin": "http://attacker.example"})[0] == 403
        assert team.page("/", cookie)[0] == 200  # the refused logout ended nothing
        status, received, _ = team.request("POST", "/logout", headers)
        assert status == 303 and received["location"] == "/login" and "Max-Age=0" in received["set-cookie"]
        # The page opened before, still connected, is refused at its next event and disconnected:
        ws.send("42" + json.dumps(["event", drop]))
        answer = messages_until(ws, lambda message: message.startswith("41"))
        assert answer and answer[-1].startswith("41"), answer
    assert "socket.io 'event' event refused" in team.log.read_text(errors="replace")
    assert document_nodes(database, team.pipeline) == before
    # The same cookie, kept by whoever copied it, opens nothing any more:
    assert team.page("/", cookie)[0] == 303
    assert team.api("/api/v1/me", cookie=cookie)[0] == 401
    with pytest.raises(InvalidStatus):
        team.socket(cookie)


# ---- roles on the server ----------------------------------------------------------------------------


def canvas_listener(page: str, event: str) -> tuple[str, int, str]:
    """(client id, canvas element id, listener id of ``event``) from a pipeline page's HTML."""
    client_id = re.search(r"'client_id': '([0-9a-f-]+)'", page)
    raw = re.search(r"parseElements\(String\.raw`(.*?)`\)", page, re.S)
    assert client_id and raw, "the page has no client id or no elements"
    text = raw.group(1)
    for old, new in (("&#36;", "$"), ("&#96;", "`"), ("&gt;", ">"), ("&lt;", "<"), ("&amp;", "&")):
        text = text.replace(old, new)  # as NiceGUI's parseElements reads it
    for element_id, element in json.loads(text).items():
        for listener in element.get("events", []):
            if listener["type"] == event:
                return client_id.group(1), int(element_id), listener["listener_id"]
    raise AssertionError(f"no element listens to {event}")


@contextmanager
def page_socket(team: Team, cookie: str) -> Iterator[tuple[ClientConnection, dict[str, Any]]]:
    """Load the pipeline page and connect its socket.io client as its script does; (socket, nodeDropped event)."""
    status, _, page = team.page(f"/pipeline/{team.pipeline}", cookie)
    assert status == 200
    client_id, element_id, listener_id = canvas_listener(page, "nodeDropped")
    query = urlencode(
        {"client_id": client_id, "implicit_handshake": "true", "document_id": "d", "tab_id": "t", "next_message_id": 0}
    )
    with team.socket(cookie, query) as ws:
        assert str(ws.recv(timeout=30)).startswith("0{")  # engine.io open
        ws.send("40")  # socket.io connect (with NiceGUI's implicit handshake)
        while not str(ws.recv(timeout=60)).startswith("40"):
            pass
        kind = CATALOG.describe()[0]["type"]
        drop = {"id": element_id, "client_id": client_id, "listener_id": listener_id}
        drop["args"] = [json.dumps({"kind": kind, "x": 10.0, "y": 20.0})]
        yield ws, drop


def messages_until(ws: ClientConnection, done: Callable[[str], bool], *, seconds: float = 60) -> list[str]:
    """What the server sends until ``done`` says stop, the socket closes or ``seconds`` pass (answering pings).

    The deadline is overall: engine.io's pings arrive every few seconds, so a per-message timeout alone
    would wait forever for a message that never comes.
    """
    received: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = str(ws.recv(timeout=left))
        except (TimeoutError, ConnectionClosed):
            return received
        if message == "2":
            ws.send("3")
        received.append(message)
        if done(message):
            return received
    return received


def forge_node_drop(team: Team, cookie: str) -> list[str]:
    """Send the pipeline page's canvas a nodeDropped event over socket.io; what the server sent back."""
    with page_socket(team, cookie) as (ws, drop):
        ws.send("42" + json.dumps(["event", drop]))
        return messages_until(ws, lambda message: "notify" in message or "addNode" in message)


def test_a_viewer_opens_the_pipeline_but_a_forged_edit_is_refused_and_logged(team: Team, database: str) -> None:
    before = document_nodes(database, team.pipeline)
    received = forge_node_drop(team, team.session("vic"))
    assert any("cannot edit its pipelines" in message for message in received), received[-3:]
    assert document_nodes(database, team.pipeline) == before
    assert "refused: 'vic' may not edit" in team.log.read_text(errors="replace")


def test_the_same_forged_event_from_the_owner_edits(team: Team, database: str) -> None:
    """The control: the event the viewer sent is a real edit, so the refusal above is what stopped it.

    No reply is awaited: the page's canvas queues its drawing calls (``addNode``) until the browser reports
    it mounted, which this script-less client never does, so the edit shows only in the store.
    """
    before = document_nodes(database, team.pipeline)
    with page_socket(team, team.session("alice")) as (ws, drop):
        ws.send("42" + json.dumps(["event", drop]))
        deadline = time.monotonic() + 60
        while document_nodes(database, team.pipeline) == before and time.monotonic() < deadline:
            messages_until(ws, lambda _: False, seconds=0.5)  # answer pings while the draft is saved
    assert document_nodes(database, team.pipeline) == before + 1


def test_a_stranger_sees_nothing_of_other_projects(team: Team) -> None:
    cookie = team.session("eve")
    status, _, page = team.page(f"/pipeline/{team.pipeline}", cookie)
    assert status == 200 and "does not exist or you have no access" in page and "Team" not in page
    assert team.page(f"/pipeline/{team.other_pipeline}", cookie)[0] == 200
    status, body = team.api("/api/v1/projects", cookie=cookie)
    assert status == 200 and [p["name"] for p in json.loads(body)] == ["Other"]
    assert team.api(f"/api/v1/pipelines/{team.pipeline}/draft", cookie=cookie)[0] == 404
    assert team.api(f"/api/v1/pipelines/{team.pipeline + 10_000}/draft", cookie=cookie)[0] == 404


# ---- API tokens -------------------------------------------------------------------------------------


def test_api_tokens_work_until_revoked(team: Team, database: str) -> None:
    store = open_store(database, local_user=False)
    accounts = Accounts(store)
    try:
        token, secret = accounts.create_token("vic", "ci")
        assert secret not in repr(accounts.tokens("vic"))  # only its digest is stored
        status, body = team.api("/api/v1/projects", token=secret)
        assert status == 200 and [(p["name"], p["role"]) for p in json.loads(body)] == [("Team", "viewer")]
        status, dag = team.api(f"/api/v1/pipelines/{team.exported}/export", token=secret)
        assert status == 200 and "dag_id='user_targeting'" in dag.replace('"', "'"), (status, dag[:2000])
        assert team.api("/api/v1/projects", token=secret + "x")[0] == 401
        assert team.page("/", None)[0] == 303  # a token opens the API, not the pages
        accounts.revoke_token("vic", token.id)
        assert team.api("/api/v1/projects", token=secret)[0] == 401
    finally:
        store.close()
