"""The access matrix (issue 13): every row of ``team.matrix.DOORS`` against a real ``dagsmith serve`` on PostgreSQL.

Each door is tried as an anonymous visitor, as a member of project Team with each role, as a member of
another project only and as an organisation admin (``team_walks`` says how each kind of door is tried); the
row says allow or deny, and a deny must be the right refusal (sign-in, no such thing, role too low), never a
leak. The README's table is the same table (checked here too).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import nicegui
import pytest
from browser import DAGSMITH
from team_door_walks import door_passes, download_link, served_routes, walked_here
from team_servers import Replica
from team_walks import (
    RUN_ID,
    TARGET_USER,
    USERS,
    PathPageClient,
    World,
    event_passes,
    http_passes,
    populate,
)
from test_store_postgres import postgres_url  # noqa: F401 (the fixture)
from test_team_server import SECRET, Team, canvas_listener, serving, session_cookie
from websockets.exceptions import InvalidStatus

from dagsmith.editor.canvas.protocol import Event
from dagsmith.editor.store import Store, open_store
from dagsmith.editor.team.accounts import Accounts, Identity
from dagsmith.editor.team.admin import Administration, archived
from dagsmith.editor.team.guard import sign
from dagsmith.editor.team.matrix import DOORS, VISITORS, Door, markdown

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def world(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> World:  # noqa: F811
    return populate(postgres_url, tmp_path_factory.mktemp("access-home"))


@pytest.fixture(scope="module")
def served(world: World) -> Iterator[tuple[Team, str, dict[str, str]]]:
    # Team's fields: the edited pipeline, then (unused here) the project id in the second place, the exported one.
    with serving(world.database, world.home, world.pipeline, world.project, world.exported) as team:
        cookies = {visitor: team.session(name) for visitor, name in USERS.items()}
        yield team, world.database, cookies


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


def _event_passes(door: Door, team: Team, world: World, visitor: str, cookie: str | None) -> bool:
    if cookie is None:
        return team.page(f"/pipeline/{team.pipeline}", None)[0] == 200  # redirected: no page, no canvas
    if visitor in ("stranger", "org-admin"):  # not a member: no pipeline page, so nothing to send an event to
        status, _, page = team.page(f"/pipeline/{team.pipeline}", cookie)
        assert status == 200 and "you have no access" in page
        with pytest.raises(AssertionError):
            canvas_listener(page, "nodeDropped")
        return False
    return event_passes(door, team, world, cookie)


@pytest.mark.parametrize("door", DOORS, ids=lambda door: f"{door.kind}:{door.method}:{door.path}:{door.what[:24]}")
def test_the_access_matrix(served: tuple[Team, str, dict[str, str]], world: World, door: Door) -> None:
    team, _, cookies = served
    outcome: dict[str, bool] = {}
    for visitor in VISITORS:
        cookie = cookies.get(visitor)
        if walked_here(door):  # signing in and out, NiceGUI's files, keyed links, OIDC (team_door_walks)
            outcome[visitor] = door_passes(door, team, world, visitor, cookie)
        elif door.kind == "socket.io" and door.path == "connect":
            outcome[visitor] = _connect_passes(team, cookie)
        elif door.kind == "socket.io":
            outcome[visitor] = _event_passes(door, team, world, visitor, cookie)
        else:
            outcome[visitor] = http_passes(door, team, world, visitor, cookie)
    # a door walked as ``walked_as`` says (a forged key, OIDC not served here) lets nobody through
    assert outcome == {visitor: door.allows(visitor) and not door.walked_as for visitor in VISITORS}


def test_every_page_event_type_has_a_row() -> None:
    """Every event the canvas emits (its protocol) has its own row, and so do a form field and a button."""
    rows = {door.path for door in DOORS if door.kind == "socket.io"}
    assert {event.value for event in Event} | {"connect", "update:value", "click"} <= rows


def _api_routes(team: Team, cookie: str) -> set[tuple[str, str]]:
    """(method, path) of every /api/v1 route the server documents in its OpenAPI."""
    status, _, body = team.request("GET", "/openapi.json", {"Cookie": f"dagsmith-session={cookie}"})
    assert status == 200
    paths = json.loads(body)["paths"]
    return {(method.upper(), path) for path, methods in paths.items() for method in methods if "/api/v1/" in path}


def test_every_reading_api_route_is_in_the_table(served: tuple[Team, str, dict[str, str]]) -> None:
    team, _, cookies = served
    names = {"{pipeline}": "{pipeline_id}", "{project}": "{project_id}", "{spare}": "{project_id}"}
    names |= {"{run}": "{run_id}", "{token}": "{token_id}", "{review}": "{review_id}"}
    in_table = {(door.method, re.sub(r"\{[a-z]+\}", lambda m: names.get(m[0], m[0]), door.path)) for door in DOORS}
    routes = _api_routes(team, cookies["viewer"])
    reading = {route for route in routes if route[0] == "GET"}
    missing = sorted(reading - in_table)
    assert not missing, f"API routes without a row in team.matrix.DOORS: {missing}"
    admin = {route for route in routes if "/admin/" in route[1] or "/members" in route[1]}
    assert admin and not admin - in_table, f"admin routes without a row: {sorted(admin - in_table)}"


NOT_WALKED: set[tuple[str, str]] = set()
"""API routes without a row (none now): a new route needs a row in ``DOORS``, or its name here with the test
that walks its rule instead."""


def test_every_api_route_has_a_row_or_is_named_as_not_walked(served: tuple[Team, str, dict[str, str]]) -> None:
    team, _, cookies = served
    names = {"{pipeline}": "{pipeline_id}", "{project}": "{project_id}", "{spare}": "{project_id}"}
    names |= {"{run}": "{run_id}", "{token}": "{token_id}", "{review}": "{review_id}"}
    in_table = {(door.method, re.sub(r"\{[a-z]+\}", lambda m: names.get(m[0], m[0]), door.path)) for door in DOORS}
    routes = _api_routes(team, cookies["viewer"])
    assert not routes - in_table - NOT_WALKED, sorted(routes - in_table - NOT_WALKED)
    assert routes >= NOT_WALKED, sorted(NOT_WALKED - routes)  # a route gone: take it off the list
    assert not NOT_WALKED & in_table, sorted(NOT_WALKED & in_table)  # a row added: take it off the list


NOT_IN_TABLE: dict[str, str] = {
    "MOUNT /_nicegui_ws": "socket.io: its connection and every event type have rows (kind socket.io)",
    **{
        f"GET /_nicegui/{{version}}/{part}": "NiceGUI's own files under content keys, behind sign-in as its static row"
        for part in ("components/{key}", "dynamic_resources/{name}", "esm/{key}/{path}", "libraries/{key}")
    },
    "GET /_nicegui/{version}/resources/{key}/{path}": "NiceGUI's own files, behind sign-in as its static row",
}
"""Routes the app serves without a row of their own, and why; each is checked here to refuse anonymous (401)."""


def _served_name(route: str) -> str:
    """``METHOD PATH`` as the table spells it: NiceGUI's version and the ids as the rows name them."""
    method, _, path = route.partition(" ")
    path = path.replace(nicegui.__version__, "{version}")
    names = {"pipeline_id": "pipeline", "project_id": "project", "run_id": "run", "token_id": "token"}
    names |= {"review_id": "review"}
    path = re.sub(r"\{([a-z_]+)(:path)?\}", lambda m: "{" + names.get(m[1], m[1]) + "}", path)
    return f"{method} {path}"


def test_every_route_the_server_serves_has_a_row_or_a_reason(
    served: tuple[Team, str, dict[str, str]], world: World, tmp_path: Path
) -> None:
    """The routes of a real ``dagsmith serve`` (pages, NiceGUI's own, API): each has a row in ``DOORS`` or is in
    ``NOT_IN_TABLE`` with its reason (HEAD answers as its GET; the admin routes' ``{project}`` is ``{spare}``)."""
    team, _, _ = served
    rows = {f"{door.method} {door.path.replace('{spare}', '{project}')}" for door in DOORS}
    rows |= {f"MOUNT {door.path.rsplit('/', 1)[0]}" for door in DOORS if door.path.endswith("/static/{file}")}
    routes = {_served_name(route) for route in served_routes(world.database, tmp_path)}
    routes = {route for route in routes if not (route.startswith("HEAD ") and "GET" + route[4:] in routes)}
    assert not routes - rows - NOT_IN_TABLE.keys(), sorted(routes - rows - NOT_IN_TABLE.keys())
    assert not NOT_IN_TABLE.keys() - routes, sorted(NOT_IN_TABLE.keys() - routes)  # gone: take it off the list
    assert not NOT_IN_TABLE.keys() & rows, sorted(NOT_IN_TABLE.keys() & rows)  # a row added: take it off the list
    for route in NOT_IN_TABLE:
        method, _, path = route.partition(" ")
        if method == "GET":
            concrete = re.sub(r"\{[a-z_]+\}", "x", path.replace("{version}", nicegui.__version__))
            status, _, body = team.request("GET", concrete)
            assert status == 401 and "Sign in first" in body, (route, status)


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


# ---- the admin routes and page, the artifact routes: what they do --------------------------------------


def _call(team: Team, cookie: str, method: str, path: str, body: dict[str, object] | None = None) -> tuple[int, str]:
    headers = {"Cookie": f"dagsmith-session={cookie}", "Content-Type": "application/json"}
    status, _, answer = team.request(method, path, headers, json.dumps(body).encode() if body is not None else None)
    return status, answer


def test_an_organisation_admin_resets_disables_and_manages_members_through_the_api(
    served: tuple[Team, str, dict[str, str]], world: World
) -> None:
    team, _, cookies = served
    admin = cookies["org-admin"]
    assert _call(team, admin, "POST", f"/api/v1/admin/users/{TARGET_USER}/enable")[0] == 204  # as the walk left her
    reset = f"/api/v1/admin/users/{TARGET_USER}/reset-password"
    first = json.loads(_call(team, admin, "POST", reset)[1])["password"]
    tia = session_cookie(team.login(TARGET_USER, first)[1])
    assert team.api("/api/v1/me", cookie=tia)[0] == 200
    status, answer = _call(team, admin, "POST", reset)
    assert status == 200, answer
    password = json.loads(answer)["password"]
    assert team.api("/api/v1/me", cookie=tia)[0] == 401  # her sessions ended
    assert team.login(TARGET_USER, first)[0] == 401 and team.login(TARGET_USER, password)[0] == 303
    tia = session_cookie(team.login(TARGET_USER, password)[1])
    assert _call(team, admin, "POST", f"/api/v1/admin/users/{TARGET_USER}/disable")[0] == 204
    assert team.api("/api/v1/me", cookie=tia)[0] == 401 and team.login(TARGET_USER, password)[0] == 401
    assert _call(team, admin, "POST", f"/api/v1/admin/users/{TARGET_USER}/enable")[0] == 204
    assert team.login(TARGET_USER, password)[0] == 303
    users = {user["name"]: user for user in json.loads(_call(team, admin, "GET", "/api/v1/admin/users")[1])}
    assert users[USERS["org-admin"]]["org_admin"] and not users[TARGET_USER]["disabled"]

    owner = cookies["owner"]  # the project's own admin manages its members, as reviewer etc.
    member = f"/api/v1/projects/{world.project}/members/{TARGET_USER}"
    status, answer = _call(team, owner, "PUT", member, {"role": "reviewer"})
    assert status == 200 and json.loads(answer)["role"] == "reviewer", answer
    listed = {m["user"]: m["role"] for m in json.loads(_call(team, owner, "GET", member.rsplit("/", 1)[0])[1])}
    assert listed[TARGET_USER] == "reviewer" and listed[USERS["owner"]] == "admin"
    status, answer = _call(team, owner, "PUT", f"/api/v1/projects/{world.project}/members/olga", {"role": "viewer"})
    assert status == 409 and "last admin" in answer
    assert _call(team, cookies["editor"], "PUT", member, {"role": "admin"})[0] == 403
    log = team.log.read_text(errors="replace")
    assert "'ora' reset the password of 'tia'" in log and "'olga' set 'tia''s role" in log
    assert "refused: 'ed' may not manage members" in log


def test_the_admin_page_lists_projects_and_users_and_archives_a_project(
    served: tuple[Team, str, dict[str, str]], world: World
) -> None:
    team, database, cookies = served
    with PathPageClient(Replica(team.port, team.log), cookies["org-admin"], "/admin") as page:
        shown = page.texts()
        assert {"Team", "Other", "Spare", "Organisation admin"} <= set(shown), shown
        store = open_store(database, local_user=False)
        names = [p.name for p in store.list_projects()]  # by name, as the page shows them: a button each
        store.close()
        buttons = sorted(
            int(i) for i, e in page.elements.items() if e.get("props", {}).get("label") in ("Archive", "Restore")
        )
        assert len(buttons) == len(names), (names, buttons)
        page.send("click", element=buttons[names.index("Other")])
        page.until(lambda message: "archived" in message)
    store = open_store(database, local_user=False)
    try:
        assert archived(store.engine, _other(store)) is not None
        assert '"Other"' not in _call(team, cookies["stranger"], "GET", "/api/v1/projects")[1]  # out of her list
        Administration(Accounts(store)).set_archived(Identity("ora", True), _other(store), False)
    finally:
        store.close()
    assert '"Other"' in _call(team, cookies["stranger"], "GET", "/api/v1/projects")[1]
    with PathPageClient(Replica(team.port, team.log), cookies["owner"], "/admin") as page:
        assert any("you have no access" in text for text in page.texts())  # a project admin, not the organisation's


def _other(store: Store) -> int:
    return next(p.id for p in store.list_projects() if p.name == "Other")


def test_run_artifacts_through_the_api_by_role_access_level_and_group(
    served: tuple[Team, str, dict[str, str]], world: World
) -> None:
    team, _, cookies = served
    run = f"/api/v1/pipelines/{world.pipeline}/runs/{RUN_ID}/artifacts"
    seen = {
        who: sorted(a["port"] for a in json.loads(team.api(run, cookie=cookies[who])[1]))
        for who in ("viewer", "stranger", "org-admin")
    }
    assert seen == {
        "viewer": ["grouped", "private", "public"],
        "stranger": ["grouped", "public"],
        "org-admin": ["public"],
    }
    assert team.api(f"{run}/score/private", cookie=cookies["viewer"]) == (200, "private bytes")
    refused = team.api(f"{run}/score/private", cookie=cookies["stranger"])
    missing = team.api(f"{run}/score/no-such-port", cookie=cookies["stranger"])
    assert refused[0] == missing[0] == 404 and refused[1] == missing[1]  # the refusal tells nothing more
    assert team.api(f"{run}/score/grouped", cookie=cookies["stranger"]) == (200, "grouped bytes")
    other_run = team.api(f"/api/v1/pipelines/{world.pipeline}/runs/..%2F..%2Fetc/artifacts", cookie=cookies["owner"])
    assert other_run[0] == 404 and "root:" not in other_run[1]


def test_a_runs_tab_download_link_opens_only_for_the_user_it_was_made_for(
    served: tuple[Team, str, dict[str, str]], world: World
) -> None:
    """The ``keyed-link`` row as the product means it: the viewer presses download in the Runs tab of the real
    server; the link serves the file to her session only (another member, even the owner, gets 404; anonymous
    is sent to sign in), and the key with one character changed opens nothing."""
    team, _, cookies = served
    link = download_link(team, world.pipeline, cookies["viewer"], "private")
    status, headers, body = team.page(link, cookies["viewer"])
    assert (status, body) == (200, "private bytes") and "attachment" in headers["content-disposition"]
    status, _, body = team.page(link, cookies["owner"])
    assert status == 404 and "private bytes" not in body  # her link, in another member's hands
    status, headers, _ = team.page(link, None)
    assert status == 303 and headers["location"].startswith("/login?")
    tampered = link[:-1] + ("A" if link[-1] != "A" else "B")
    status, _, body = team.page(tampered, cookies["viewer"])
    assert status == 404 and "expired" in body
    assert team.page(link, cookies["viewer"])[0] == 200  # the link keeps working for her (until it expires)


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
