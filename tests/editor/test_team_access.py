"""The access matrix (issue 13): every row of ``team.matrix.DOORS`` against a real ``dagsmith serve`` on PostgreSQL.

Each door is tried as an anonymous visitor, as a member of project Team with each role, and as a member of
another project only; the row says allow or deny, and a deny must be the right refusal (sign-in, no such
thing, role too low), never a leak. The README's table is the same table (checked here too).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from browser import DAGSMITH
from test_store_postgres import postgres_url  # noqa: F401 (the fixture)
from test_team_server import (
    PASSWORD,
    SECRET,
    Team,
    canvas_listener,
    document_nodes,
    messages_until,
    page_socket,
    serving,
)
from websockets.exceptions import InvalidStatus

from dagsmith.editor.store import Role, open_store
from dagsmith.editor.team.accounts import Accounts
from dagsmith.editor.team.guard import sign
from dagsmith.editor.team.matrix import DOORS, VISITORS, Door, markdown
from dagsmith.nodes import load_example

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"
USERS = {"owner": "olga", "maintainer": "mae", "editor": "ed", "viewer": "vic", "stranger": "sam"}


def populate(url: str) -> tuple[int, int, int]:
    store = open_store(url, local_user=False)
    accounts = Accounts(store)
    try:
        for name in USERS.values():
            accounts.add_user(name, PASSWORD)
        team = store.create_project("Team", by=USERS["owner"])
        for role in (Role.MAINTAINER, Role.EDITOR, Role.VIEWER):
            store.add_member(team.id, USERS[role.value], role, by=USERS["owner"])
        other = store.create_project("Other", by=USERS["stranger"])
        pipeline = store.create_pipeline(team.id, load_example("keyword_recommendation"), by=USERS["owner"])
        exported = store.create_pipeline(team.id, load_example("user_targeting"), by=USERS["owner"])
        store.create_pipeline(other.id, load_example("user_targeting"), by=USERS["stranger"])
        return pipeline.id, team.id, exported.id
    finally:
        store.close()


@pytest.fixture(scope="module")
def served(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Team, str, dict[str, str]]]:  # noqa: F811
    pipeline, project, exported = populate(postgres_url)
    # Team's fields: the edited pipeline, then (unused here) the project id in the second place, the exported one.
    with serving(postgres_url, tmp_path_factory.mktemp("access-home"), pipeline, project, exported) as team:
        cookies = {visitor: team.session(name) for visitor, name in USERS.items()}
        yield team, postgres_url, cookies


def _path(door: Door, team: Team) -> str:
    pipeline = team.exported if door.path.endswith("/export") else team.pipeline
    return door.path.format(pipeline=pipeline, project=team.other_pipeline)


def _http_passes(door: Door, team: Team, visitor: str, cookie: str | None) -> bool:
    path = _path(door, team)
    if door.kind == "page":
        status, headers, body = team.page(path, cookie)
        if visitor == "anonymous":
            assert status == 303 and headers["location"].startswith("/login?"), (door, status)
        return status == 200 and "you have no access" not in body
    status, body = team.api(path, cookie=cookie)
    if not door.allows(visitor):
        # anonymous: sign in; a stranger: the same as nothing there; a member: the role it needs
        expected = 401 if visitor == "anonymous" else 404 if visitor == "stranger" else 403
        assert status == expected, (door, visitor, status, body[:300])
        assert "Team" not in body or visitor != "stranger", body[:300]
    return status == 200


def _connect_passes(team: Team, cookie: str | None) -> bool:
    """Connect socket.io as the pipeline list's script does (with its client id when the page was served)."""
    query = ""
    if cookie is not None:
        status, _, page = team.page("/", cookie)
        client_id = re.search(r"'client_id': '([0-9a-f-]+)'", page)
        assert status == 200 and client_id, status
        query = urlencode({"client_id": client_id.group(1), "implicit_handshake": "true", "next_message_id": 0})
    try:
        with team.socket(cookie, query) as ws:
            return str(ws.recv(timeout=30)).startswith("0{")
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return False


def _edit_passes(team: Team, database: str, visitor: str, cookie: str | None) -> bool:
    if cookie is None:
        return team.page(f"/pipeline/{team.pipeline}", None)[0] == 200  # redirected: no page, no canvas
    status, _, page = team.page(f"/pipeline/{team.pipeline}", cookie)
    if visitor == "stranger":
        assert status == 200 and "you have no access" in page
        with pytest.raises(AssertionError):
            canvas_listener(page, "nodeDropped")  # no canvas to send to
        return False
    before = document_nodes(database, team.pipeline)
    with page_socket(team, cookie) as (ws, drop):
        ws.send("42" + json.dumps(["event", drop]))
        deadline = time.monotonic() + 30
        received: list[str] = []
        while document_nodes(database, team.pipeline) == before and time.monotonic() < deadline:
            received += messages_until(ws, lambda message: "cannot edit" in message, seconds=0.5)
            if any("cannot edit" in message for message in received):
                break
    return document_nodes(database, team.pipeline) > before


@pytest.mark.parametrize("door", DOORS, ids=lambda door: f"{door.kind}:{door.path}")
def test_the_access_matrix(served: tuple[Team, str, dict[str, str]], door: Door) -> None:
    team, database, cookies = served
    outcome: dict[str, bool] = {}
    for visitor in VISITORS:
        cookie = cookies.get(visitor)
        if door.kind == "socket.io" and door.path == "connect":
            outcome[visitor] = _connect_passes(team, cookie)
        elif door.kind == "socket.io":
            outcome[visitor] = _edit_passes(team, database, visitor, cookie)
        else:
            outcome[visitor] = _http_passes(door, team, visitor, cookie)
    assert outcome == {visitor: door.allows(visitor) for visitor in VISITORS}


def _api_routes(team: Team, cookie: str) -> set[tuple[str, str]]:
    """(method, path) of every /api/v1 route the server documents in its OpenAPI."""
    status, _, body = team.request("GET", "/openapi.json", {"Cookie": f"dagsmith-session={cookie}"})
    assert status == 200
    paths = json.loads(body)["paths"]
    return {(method.upper(), path) for path, methods in paths.items() for method in methods if "/api/v1/" in path}


def test_every_reading_api_route_is_in_the_table(served: tuple[Team, str, dict[str, str]]) -> None:
    team, _, cookies = served
    in_table = {
        (door.method, door.path.replace("{pipeline}", "{pipeline_id}").replace("{project}", "{project_id}"))
        for door in DOORS
        if door.kind == "api"
    }
    # /reviews/{review_id} needs a review; the review tests cover who may open one
    reading = {route for route in _api_routes(team, cookies["viewer"]) if route[0] == "GET"}
    missing = sorted(reading - in_table - {("GET", "/api/v1/reviews/{review_id}")})
    assert not missing, f"API routes without a row in team.matrix.DOORS: {missing}"


def test_no_state_changing_api_route_accepts_another_sites_request(served: tuple[Team, str, dict[str, str]]) -> None:
    """CSRF: a signed-in owner's cookie, sent by a page of another site, changes nothing on any POST/DELETE route."""
    team, _, cookies = served
    changing = sorted(route for route in _api_routes(team, cookies["owner"]) if route[0] not in ("GET", "HEAD"))
    assert len(changing) >= 5, changing
    for method, path in changing:
        concrete = re.sub(r"\{[a-z_]+\}", "1", path)
        headers = {
            "Cookie": f"dagsmith-session={cookies['owner']}",
            "Origin": "http://attacker.example",
            "Content-Type": "application/json",
        }
        status, _, body = team.request(method, concrete, headers, b"{}")
        assert status == 403 and "Origin not allowed" in body, (method, concrete, status, body[:200])


def test_the_readme_shows_the_same_table() -> None:
    assert markdown() in README.read_text(encoding="utf-8"), "run python -m dagsmith.editor.team.matrix into README"


# ---- security: expired sessions, path traversal -------------------------------------------------------


def test_an_expired_session_opens_nothing(served: tuple[Team, str, dict[str, str]]) -> None:
    team, database, _ = served
    store = open_store(database, local_user=False)
    try:
        secret = Accounts(store).start_session(USERS["owner"], hours=-1 / 60)  # ended a minute ago
    finally:
        store.close()
    cookie = sign(secret, SECRET)
    assert team.page("/", cookie)[0] == 303
    assert team.api("/api/v1/me", cookie=cookie)[0] == 401
    with pytest.raises(InvalidStatus):
        team.socket(cookie)


@pytest.mark.parametrize(
    "path",
    [
        "/_dagsmith/run-artifact/../../../../etc/passwd",
        "/_dagsmith/run-artifact/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/_dagsmith/run-artifact/%2Fetc%2Fpasswd",
        "/_nicegui/static/../../../../../etc/passwd",
        "/_nicegui/static/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/v1/pipelines/..%2F..%2F..%2Fetc%2Fpasswd/export",
        "/api/v1/pipelines/1/export?target=..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_no_download_route_serves_a_file_named_by_the_request(
    served: tuple[Team, str, dict[str, str]], path: str
) -> None:
    """Path traversal: a signed-in owner asking a download route for a path gets a refusal, never the file."""
    team, _, cookies = served
    for cookie in (None, cookies["owner"]):
        headers = {"Cookie": f"dagsmith-session={cookie}"} if cookie else {}
        status, _, body = team.request("GET", path, headers)
        assert status in (303, 400, 401, 404, 422), (path, status)
        assert "root:" not in body and "/bin/" not in body, (path, body[:200])


# ---- the CLI against the server -------------------------------------------------------------------------


def test_the_cli_exports_through_the_server_with_a_token_from_the_environment(
    served: tuple[Team, str, dict[str, str]], tmp_path: Path
) -> None:
    team, database, _ = served
    repo = tmp_path / "dags-repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    store = open_store(database, local_user=False)
    accounts = Accounts(store)
    try:
        store.set_project_git(team.other_pipeline, repo=str(repo), branch="main", by=USERS["owner"])
        tokens = {who: accounts.create_token(USERS[who], "cli")[1] for who in ("owner", "viewer", "stranger")}
    finally:
        store.close()

    def export(token: str | None, project: str = "Team") -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "DAGSMITH_SERVER_TOKEN"}
        env.update({"DAGSMITH_SERVER_TOKEN": token} if token else {})
        command = [str(DAGSMITH), "export", "--server", team.url, "--project", project, "user_targeting"]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    done = export(tokens["owner"])
    assert done.returncode == 0, done.stderr
    assert "committed" in done.stdout and "user_targeting.py" in done.stdout
    files = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "--name-only", "main"], capture_output=True, text=True, check=True
    )
    assert "user_targeting.py" in files.stdout  # the commit is in the project's repository

    refused = export(tokens["viewer"])  # the server's role check, not the CLI's
    assert refused.returncode == 2 and "refused (403)" in refused.stderr and "Traceback" not in refused.stderr
    stranger = export(tokens["stranger"])
    assert stranger.returncode == 2 and "you have no project 'Team'" in stranger.stderr
    assert "Team" not in stranger.stderr.replace("'Team'", "")  # and learns nothing else about it
    wrong = export(tokens["owner"] + "x")
    assert wrong.returncode == 2 and "did not accept the token in DAGSMITH_SERVER_TOKEN" in wrong.stderr
    missing = export(None)
    assert missing.returncode == 2 and "set DAGSMITH_SERVER_TOKEN" in missing.stderr
