"""How the access matrix tries the doors outside the pages, events and API: signing in and out, NiceGUI's own
files, the Runs tab's keyed download links and the OIDC routes (``team.matrix``'s ``public`` and
``keyed-link`` rows, and the rows with ``walked_as``).

- **public**: every visitor gets the row's answer (200, or its documented status: a wrong password's 401, a
  GET of ``/logout``'s 405, a sign-out's 303 to ``/login``). A sign-out is tried with a session of its own
  for the visitor's user (the shared cookies stay live), which must be dead afterwards.
- **NiceGUI's files**: a real file of the installed NiceGUI; anonymous gets 401, never the file.
- **forged** keyed links: a key the server never made opens nothing (sign-in for anonymous, 404 otherwise).
- **not-served** OIDC routes: the walked server has no OIDC, so they answer as an unknown page.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import nicegui
from browser import free_port, server_env
from team_servers import PageClient, Replica
from team_walks import RUN_ID, USERS, World
from test_team_server import COOKIE, SECRET, Team

from dagsmith.editor.store import open_store
from dagsmith.editor.team.accounts import Accounts
from dagsmith.editor.team.guard import sign
from dagsmith.editor.team.matrix import KEYED_LINK, PUBLIC, Door


def walked_here(door: Door) -> bool:
    """Whether this module tries the door (not ``team_walks``)."""
    return door.rule in (PUBLIC, KEYED_LINK) or door.walked_as != "" or door.path.startswith("/_nicegui/")


def door_passes(door: Door, team: Team, world: World, visitor: str, cookie: str | None) -> bool:
    """Try the door once as ``visitor``; whether it let them through (each refusal checked)."""
    values = {"version": nicegui.__version__, **dict(door.given)}
    path = door.path.format(**values)
    if door.walked_as:
        status, headers, body = team.page(path, cookie)
        if cookie is None:
            assert status == 303 and headers["location"] == "/login?" + urlencode({"next": path}), (door, status)
        elif door.walked_as == "forged":
            assert status == 404 and "expired" in body, (door, visitor, status, body[:200])
        else:
            assert status == 404, (door, visitor, status, body[:200])
        return False
    if door.path.startswith("/_nicegui/"):
        status, _, body = team.request("GET", path, {"Cookie": f"{COOKIE}={cookie}"} if cookie else {})
        if cookie is None:
            assert status == 401 and "Sign in first" in body, (door, status)
        return status == 200 and len(body) > 1000
    if (door.method, door.path) == ("GET", "/login"):
        status, _, body = team.page(path, cookie)
        return status == 200 and '<form method="post" action="/login">' in body
    if (door.method, door.path) == ("POST", "/login"):  # a name nobody has: the failure touches no session
        status, headers = team.login(f"nobody-{visitor}", "wrong password", cookie=cookie)
        return status == door.reached and "set-cookie" not in {key.lower() for key in headers}
    if (door.method, door.path) == ("GET", "/logout"):
        status, _, body = team.request("GET", path, {"Cookie": f"{COOKIE}={cookie}"} if cookie else {})
        return status == door.reached and "POST" in body
    if (door.method, door.path) == ("POST", "/logout"):
        return _signs_out(team, world, visitor)
    raise AssertionError(f"no walk for {door}")


def _signs_out(team: Team, world: World, visitor: str) -> bool:
    own = None
    if visitor in USERS:  # a session of its own, so the walk's shared cookies stay live
        store = open_store(world.database, local_user=False)
        try:
            own = sign(Accounts(store).start_session(USERS[visitor], hours=1), SECRET)
        finally:
            store.close()
        assert team.api("/api/v1/me", cookie=own)[0] == 200
    headers = {"Origin": f"http://127.0.0.1:{team.port}", **({"Cookie": f"{COOKIE}={own}"} if own else {})}
    status, answer, _ = team.request("POST", "/logout", headers, b"")
    if own is not None:
        assert team.api("/api/v1/me", cookie=own)[0] == 401, visitor  # the session ended
    return status == 303 and answer["location"] == "/login"


def download_link(team: Team, pipeline: int, cookie: str, port: str) -> str:
    """The link the Runs tab makes when this user opens the walk's run and presses download on ``score``'s ``port``
    (the pipeline page's own socket, as the browser drives it)."""
    with PageClient(Replica(team.port, team.log), cookie, pipeline) as page:
        panels = next(i for i, e in page.elements.items() if e.get("tag") == "q-tab-panels")  # the Runs tab: built
        page.send("update:modelValue", "runs", element=int(panels))  # when first shown
        if not any(e.get("text") == RUN_ID for e in page.elements.values()):  # (unless the page drew it already)
            page.until(lambda message: RUN_ID in message)
        labels = [int(i) for i, e in page.elements.items() if e.get("text") == RUN_ID]
        assert labels, [e.get("text") for e in page.elements.values() if e.get("tag") == "q-item-label"]
        label = labels[0]
        item = next(i for i, e in page.elements.items() if e.get("tag") == "q-item" and label in _below(page, i))
        page.send("click", element=int(item))
        mark = f"artifact-score-{port}-download"
        page.until(lambda message: mark in message)
        button = next(i for i, e in page.elements.items() if e.get("props", {}).get("data-dagsmith") == mark)
        page.send("click", element=int(button))
        sent = page.until(lambda message: "/_dagsmith/run-artifact/" in message)[-1]
    found = re.search(r"/_dagsmith/run-artifact/[A-Za-z0-9_-]+", sent)
    assert found, sent[:300]
    return found[0]


def _below(page: PageClient, element: str) -> set[int]:
    """The ids of the element's descendants."""
    found: set[int] = set()
    todo = [element]
    while todo:
        for child in page.elements.get(str(todo.pop()), {}).get("children", []):
            found.add(int(child))
            todo.append(str(child))
    return found


_LIST_ROUTES = """
import json, os, sys
from nicegui import app
from starlette.routing import Mount, WebSocketRoute
from dagsmith.editor.team.server import run_team_server
from dagsmith.editor.team.settings import load_settings

def listed() -> None:  # on startup: every route is in place (NiceGUI's favicon, the docs), then stop
    rows = []
    for route in app.routes:
        if isinstance(route, Mount | WebSocketRoute):
            rows.append(("MOUNT" if isinstance(route, Mount) else "WEBSOCKET") + " " + route.path)
        else:
            rows += [method + " " + route.path for method in getattr(route, "methods", None) or ["ANY"]]
    print("ROUTES " + json.dumps(sorted(set(rows))), flush=True)
    os._exit(0)

app.on_startup(listed)
run_team_server(load_settings(overrides={"port": int(sys.argv[1]), "trial": sys.argv[2] == "trial"}))
"""


def served_routes(database: str, home: Path, secret: str = SECRET) -> set[str]:
    """``METHOD PATH`` of every route a real ``dagsmith serve`` on ``database`` serves, as its app lists them once
    started (the routes ``TeamGuard`` answers itself, sign-in and out, are not among them)."""
    env = server_env(home) | {"DAGSMITH_DATABASE_URL": database, "DAGSMITH_SECRET_KEY": secret}
    trial = "trial" if database.startswith("sqlite") else "team"
    command = [sys.executable, "-c", _LIST_ROUTES, str(free_port()), trial]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
    line = next((line for line in done.stdout.splitlines() if line.startswith("ROUTES ")), None)
    assert done.returncode == 0 and line is not None, done.stdout[-2000:] + done.stderr[-3000:]
    return set(json.loads(line.removeprefix("ROUTES ")))
