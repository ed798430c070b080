"""How the access matrix test tries each door of ``team.matrix.DOORS`` on a real team server, as one visitor.

- **Pages and API routes**: one HTTP request (a state-changing one with its row's JSON body, after putting
  what it acts on in place through the store: a member to change, a token to revoke). A refusal must be
  the right one: 401 for no session, 404 for whoever may not learn that the thing exists, 403 for a role
  too low or a route for organisation admins only.
- **socket.io events**: the pipeline page is loaded and its socket connected as its script does
  (``team_servers.PageClient``); the event is sent as the canvas or the form would send it. An edit passes
  when the working copy in the database changed (or a version was saved); it is refused when it did not
  and the page was told why. Other events pass when the page answers them and keeps answering.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from team_servers import PageClient, Replica, page_elements
from test_team_server import PASSWORD, Team
from websockets.sync.client import connect

from dagsmith.editor.runs.records import log_name, write_json
from dagsmith.editor.store import Role, open_store
from dagsmith.editor.team.accounts import Accounts, Identity
from dagsmith.editor.team.identity import acting_as
from dagsmith.editor.team.matrix import Door
from dagsmith.editor.team.review import ReviewService
from dagsmith.editor.team.services import TeamServices
from dagsmith.nodes import CATALOG, Node, Pipeline, PipelineSettings, load_example, parse

USERS = {
    "owner": "olga",
    "maintainer": "mae",
    "editor": "ed",
    "viewer": "vic",
    "stranger": "sam",
    "org-admin": "ora",
}
TARGET_USER = "tia"
"""The user the admin routes act on (disabled, reset, her tokens revoked): nobody the walk signs in as."""
RUN_ID, AIRFLOW_RUN = "20260105T050000Z-beef", "manual__2026-01-05T05:00:00+00:00"
KIND = CATALOG.describe()[0]["type"]
REFUSED = ("cannot edit", "Nothing to undo", "Nothing to redo")
_counter = itertools.count(1)


@dataclass
class World:
    """What the walk needs besides the server: the ids it fills into the routes, and the database."""

    database: str
    pipeline: int
    project: int
    exported: int
    spare: int
    home: Path


def populate(url: str, home: Path) -> World:
    """Users (each role of project Team, a member of Other only, an organisation admin), projects and a run."""
    store = open_store(url, local_user=False)
    accounts = Accounts(store)
    try:
        for name in [*USERS.values(), TARGET_USER]:
            accounts.add_user(name, PASSWORD, org_admin=name == USERS["org-admin"])
        team = store.create_project("Team", by=USERS["owner"])
        for role in (Role.MAINTAINER, Role.EDITOR, Role.VIEWER):
            store.add_member(team.id, USERS[role.value], role, by=USERS["owner"])
        other = store.create_project("Other", by=USERS["stranger"])
        spare = store.create_project("Spare", by=USERS["owner"])
        pipeline = store.create_pipeline(team.id, load_example("keyword_recommendation"), by=USERS["owner"])
        exported = store.create_pipeline(team.id, load_example("user_targeting"), by=USERS["owner"])
        store.create_pipeline(other.id, load_example("user_targeting"), by=USERS["stranger"])
        store_run(home, team.id, pipeline.dag_id)
        return World(url, pipeline.id, team.id, exported.id, spare.id, home)
    finally:
        store.close()


def store_run(home: Path, project_id: int, dag_id: str) -> None:
    """A finished run of the pipeline with three stored files: private, shared with group Other, public."""
    root = home / "artifact-store"
    for port, access in (
        ("private", {"level": "private", "groups": []}),
        ("grouped", {"level": "groups", "groups": ["Other"]}),
        ("public", {"level": "public", "groups": []}),
    ):
        data = f"{port} bytes".encode()
        uri = root / dag_id / "run" / "score" / port
        uri.parent.mkdir(parents=True, exist_ok=True)
        uri.write_bytes(data)
        manifest = {
            "dag_id": dag_id,
            "run_id": AIRFLOW_RUN,
            "node": "score",
            "port": port,
            "uri": str(uri),
            "kind": "file",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "files": 1,
            "access": access,
            "written_at": "2026-01-05T05:01:02+00:00",
        }
        uri.with_name(port + ".manifest.json").write_text(json.dumps(manifest))
    folder = home / "workspace" / f"project-{project_id}" / "runs" / dag_id / RUN_ID
    log = str(folder / "logs" / log_name("score", -1))  # as a run records it; not written (empty)
    record = {
        "id": RUN_ID,
        "dag_id": dag_id,
        "airflow_run_id": AIRFLOW_RUN,
        "state": "success",
        "artifact_store": {"root": str(root), "endpoint_url": None, "region": None},
        "tasks": [{"task_id": "score", "map_index": -1, "state": "success", "log": log}],
    }
    write_json(folder / "run.json", record)


# ---- HTTP ---------------------------------------------------------------------------------------------


def prepare(door: Door, world: World, visitor: str = "anonymous") -> dict[str, str]:
    """Put in place what a state-changing row acts on (for ``visitor``); the values of the route's parts."""
    pipeline = world.exported if door.path.endswith(("/export", "/commit")) else world.pipeline  # a complete one
    values = {"pipeline": str(pipeline), "project": str(world.project), "spare": str(world.spare)}
    values |= {"run": RUN_ID, "user": TARGET_USER, **dict(door.given)}
    if door.kind == "api" and door.method != "GET" and door.path.endswith(("/pipelines/{pipeline}", "/runs")):
        values["pipeline"] = str(_scratch(world, runnable=not door.path.endswith("/runs")))
    if "{number}" in door.path or "/diff/" in door.path:  # a version to read or compare
        store = open_store(world.database, local_user=False)
        try:
            if not store.list_versions(world.pipeline):
                store.create_version(world.pipeline, by=USERS["owner"], message="for the walk")
        finally:
            store.close()
    if door.path.endswith(("/approve", "/request-changes")):  # a review nobody decided yet, for each visitor
        # approve: the editor wrote and asked, so the reviewers may approve (four eyes); request-changes: the
        # owner asked, so only the reviewer roles may (a requester may withdraw their own request)
        review, values["hash"] = _fresh_review(world, "editor" if door.path.endswith("/approve") else "owner", visitor)
        values["review"] = str(review)
    elif "{review}" in door.path:
        values["review"] = str(_review(world))
    if door.method == "POST" and door.path.endswith("/{pipeline}/reviews"):  # a version not yet in review
        _new_version(world)
    if door.path.endswith("/commit"):  # a repository for the project, and something new to commit
        _commit_ready(world)
    if door.path.endswith("/protected/{kind}/{name}"):  # the protection the row takes off, in place again
        store = open_store(world.database, local_user=False)
        try:
            if not store.is_protected(world.project, "deployment", "walk-gone"):
                store.protect(world.project, "deployment", "walk-gone", by=USERS["owner"])
        finally:
            store.close()
    if door.method == "GET" or door.kind != "api":
        return values
    store = open_store(world.database, local_user=False)
    try:
        accounts = Accounts(store)
        if door.body == "{draft}":  # the working copy as read now, sent back over its revision
            draft = store.get_draft(pipeline)
            values["draft"] = json.dumps(
                {"revision": draft.revision, "document": draft.pipeline().model_dump(mode="json")}
            )
        if "/members/" in door.path:
            store.add_member(world.project, TARGET_USER, Role.EDITOR, by=USERS["owner"])
        if door.path.endswith("/disable"):
            accounts.set_disabled(TARGET_USER, False)
        if door.path.endswith("/enable"):
            accounts.set_disabled(TARGET_USER, True)
        if "{token}" in door.path:  # the user's own route revokes the visitor's own token
            owner = USERS.get(visitor, TARGET_USER) if door.path.startswith("/api/v1/tokens/") else TARGET_USER
            values["token"] = str(accounts.create_token(owner, "walk")[0].id)
    finally:
        store.close()
    return values


def _scratch(world: World, *, runnable: bool) -> int:
    """A new pipeline of the project for a row that renames or deletes one (each try its own), or, not
    ``runnable``, one whose run its validation refuses (a script node without a script): no real run starts."""
    pipeline = load_example("user_targeting")
    pipeline.settings.name, pipeline.settings.dag_id = f"Scratch {next(_counter)}", None  # a dag_id of its own
    if not runnable:
        pipeline = Pipeline(
            settings=PipelineSettings(name=f"Cannot run {next(_counter)}"),
            nodes=[Node(id="a", type="script", params={"script": ""})],
        )
    store = open_store(world.database, local_user=False)
    try:
        return store.create_pipeline(world.project, pipeline, by=USERS["owner"]).id
    finally:
        store.close()


_REVIEWS: dict[str, int] = {}


def _new_version(world: World) -> int:
    """A new version of the pipeline, made by its editor from a changed draft; its number."""
    store = open_store(world.database, local_user=False)
    try:
        draft = store.get_draft(world.pipeline).pipeline()
        draft.settings.description = f"walk {next(_counter)}"
        store.save_draft(world.pipeline, draft)
        return store.create_version(world.pipeline, by=USERS["editor"], message="for the walk").number
    finally:
        store.close()


def _commit_ready(world: World) -> None:
    """The project commits to a repository of the walk's own (made once), and the exported pipeline's draft
    differs from what was committed last."""
    repo = world.home / "walk-repo"
    store = open_store(world.database, local_user=False)
    try:
        if not repo.exists():
            subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        store.set_project_git(world.project, repo=str(repo), branch="main", by=USERS["owner"])
        for target in store.protected_targets(world.project):  # other rows protect deployments; an export
            if target.kind == "deployment":  # reaches each of the project's: this row walks the role rule only
                store.unprotect(world.project, target.kind, target.name, by=USERS["owner"])
        draft = store.get_draft(world.exported).pipeline()
        draft.settings.description = f"walk {next(_counter)}"
        store.save_draft(world.exported, draft)
    finally:
        store.close()


def _fresh_review(world: World, requester: str, visitor: str) -> tuple[int, str]:
    """A review of a new version (by the editor) that ``requester`` asked for: its id and content hash.

    The visitor has opened it (an approval needs the approver's own opening of the content, ``review_opening``).
    """
    _new_version(world)
    store = open_store(world.database, local_user=False)
    try:
        reviews = ReviewService(TeamServices(store))
        with acting_as(Identity(USERS[requester], False)):
            review = reviews.request(world.pipeline).id
        with acting_as(Identity(USERS["owner"], False)):
            seen = reviews.open(review).content.content_hash
        if visitor in USERS:
            store.record_opening(review, by=USERS[visitor], content_hash=seen)
        return review, seen
    finally:
        store.close()


def _review(world: World) -> int:
    """A review of the pipeline's newest version, requested by its editor (made once per database)."""
    if world.database in _REVIEWS:
        return _REVIEWS[world.database]
    store = open_store(world.database, local_user=False)
    try:
        with acting_as(Identity(USERS["editor"], False)):
            services = TeamServices(store)
            if not store.list_versions(world.pipeline):
                services.save_version(world.pipeline, services.open_draft(world.pipeline)[1], "for the walk")
            _REVIEWS[world.database] = ReviewService(services).request(world.pipeline).id
    finally:
        store.close()
    return _REVIEWS[world.database]


def http_passes(door: Door, team: Team, world: World, visitor: str, cookie: str | None) -> bool:
    """Try a page or API row once as ``visitor``; whether it let them through (refusals checked)."""
    values = prepare(door, world, visitor)
    path = door.path.format(**values)
    if door.kind == "page":
        status, headers, body = team.page(path, cookie)
        if visitor == "anonymous":
            assert status == 303 and headers["location"].startswith("/login?"), (door, status)
        return status == 200 and "you have no access" not in body
    headers = {"Cookie": f"dagsmith-session={cookie}"} if cookie else {}
    text = door.body.replace("{visitor}", visitor)
    for key in ("draft", "hash"):
        text = text.replace("{" + key + "}", values.get(key, ""))
    body = text.encode() if door.method != "GET" else None
    if body is not None:
        headers["Content-Type"] = "application/json"
    status, _, answer = team.request(door.method, path, headers, body)
    if not door.allows(visitor):
        if visitor == "anonymous":
            expected = 401
        elif door.rule == "org-admin":
            expected = 403  # the same for everyone: such a route names no project
        elif visitor in ("stranger", "org-admin"):
            expected = 404  # not a member: the same as nothing there
        else:
            expected = 403  # a member whose role is too low
        assert status == expected, (door, visitor, status, answer[:300])
        assert visitor not in ("stranger", "org-admin") or "Team" not in answer, answer[:300]
    return status in (200, 201, 204) or (door.reached != 0 and status == door.reached)


# ---- socket.io events ---------------------------------------------------------------------------------


@cache
def _engine(database: str) -> sa.Engine:
    return sa.create_engine(database)


def document(database: str, pipeline: int) -> str:
    """The working copy's text in the database."""
    with _engine(database).connect() as connection:
        return str(connection.execute(sa.text(f"SELECT document FROM draft WHERE pipeline_id = {pipeline}")).scalar())


def versions(database: str, pipeline: int) -> int:
    """How many versions the pipeline has."""
    with _engine(database).connect() as connection:
        return int(connection.execute(sa.text(f"SELECT count(*) FROM version WHERE pipeline_id = {pipeline}")).scalar())


def changed(page: PageClient, now: Callable[[], object], before: object, *, seconds: float = 30) -> bool:
    """Whether ``now()`` moves away from ``before``: polled until it does, the page is told it was refused
    (or had nothing to do), or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if now() != before:
            return True
        try:
            page.until(lambda message: any(word in message for word in REFUSED), seconds=0.5)
        except AssertionError:
            continue
        return now() != before
    return False


def add_loose_copy(world: World) -> tuple[str, dict[str, Any]]:
    """Add, through the store, a copy of an edge's target with no edges; (its id, that edge)."""
    store = open_store(world.database, local_user=False)
    try:
        pipeline: Pipeline = parse(store.get_draft(world.pipeline).document)
        edge = pipeline.edges[0]
        target = pipeline.node(edge.target)
        assert target is not None
        copy_id = f"walk_{next(_counter)}"
        pipeline.nodes.append(target.model_copy(update={"id": copy_id}))
        store.save_draft(world.pipeline, pipeline)
        return copy_id, edge.model_dump()
    finally:
        store.close()


def touch(world: World, pipeline_id: int, label: str) -> None:
    """Relabel the pipeline's first node through the store, so that its next version has new content."""
    store = open_store(world.database, local_user=False)
    try:
        pipeline: Pipeline = parse(store.get_draft(pipeline_id).document)
        pipeline.nodes[0] = pipeline.nodes[0].model_copy(update={"label": label})
        store.save_draft(pipeline_id, pipeline)
    finally:
        store.close()


def _edit(page: PageClient, world: World, send: Callable[[], None]) -> bool:
    before = document(world.database, world.pipeline)
    send()
    return changed(page, lambda: document(world.database, world.pipeline), before)


def _answered(page: PageClient, event: str, payload: Any, answer: str | None = None) -> bool:
    """A viewing event: the page answers it (``answer`` in a message, when given) and keeps answering."""
    mark = len(page.received)
    page.send(event, payload)
    if answer is not None:
        page.until(lambda message: answer in message)
    page.graph()  # still served: the canvas's graph comes back
    return not any("cannot" in message for message in page.received[mark:])


def event_passes(door: Door, team: Team, world: World, cookie: str) -> bool:
    """Send the row's event from a member's pipeline page; whether the server did it."""
    event, k = door.path, next(_counter)
    loose: tuple[str, dict[str, Any]] | None = None
    if event in ("edgeRequested", "deleteRequested"):
        loose = add_loose_copy(world)
    # a version is saved of the pipeline no walk edits: the edited one has dropped nodes with empty fields
    pid = world.exported if event == "click" else world.pipeline
    if event == "click":
        touch(world, pid, f"Walk {k}")  # a version of unchanged content is not saved again
    with PageClient(Replica(team.port, team.log), cookie, pid) as page:
        node = next(iter(page.graph()["nodes"]))
        db = world.database
        drop = {"kind": KIND, "x": 10.0 * k, "y": 20.0}
        if event == "nodeDropped":
            return _edit(page, world, lambda: page.send(event, drop))
        if event == "nodeMoved":
            moved = {"id": node, "x": 3000.0 + k, "y": 0.0}
            return _edit(page, world, lambda: page.send(event, {**moved, "nodes": [moved]}))
        if event == "layoutComputed":
            return _edit(page, world, lambda: page.send(event, {"nodes": [{"id": node, "x": 5000.0 + k, "y": 9.0}]}))
        if event == "edgeRequested" and loose is not None:
            copy_id, edge = loose
            wanted = {"source": edge["source"], "source_port": edge["source_port"], "target": copy_id}
            return _edit(page, world, lambda: page.send(event, {**wanted, "target_port": edge["target_port"]}))
        if event == "deleteRequested" and loose is not None:
            return _edit(page, world, lambda: page.send(event, {"node_ids": [loose[0]], "edge_ids": []}))
        if event == "pasteRequested":
            page.send("copyRequested", {"node_ids": [node]})
            return _edit(page, world, lambda: page.send(event, {"x": 4000.0 + k, "y": 4000.0}))
        if event in ("undoRequested", "redoRequested"):
            _edit(page, world, lambda: page.send("nodeDropped", drop))
            if event == "redoRequested":
                _edit(page, world, lambda: page.send("undoRequested"))
            return _edit(page, world, lambda: page.send(event))
        if event == "update:value":
            page.send("nodeClicked", {"id": node})
            page.until(lambda message: '"data-field":"label"' in message)
            field = page.element(**{"data-field": "label"})
            return _edit(page, world, lambda: page.send(event, f"Walked {k}", element=field))
        if event == "click":
            before = versions(db, pid)
            page.send(event, element=page.element(label="Save version"))
            return changed(page, lambda: versions(db, pid), before)
        form = '"data-field":"label"'
        payloads: dict[str, tuple[Any, str | None]] = {
            "canvasReady": (None, "loadGraph"),
            "selectionChanged": ({"nodes": [node], "edges": []}, form),
            "nodeClicked": ({"id": node}, form),
            "paneClicked": (None, None),
            "copyRequested": ({"node_ids": [node]}, None),
            "stateClicked": ({"id": node}, None),
            "viewportChanged": ({"x": 1.0, "y": 2.0, "zoom": 0.5}, None),
        }
        assert event in payloads, f"no walk for the event {event!r}: add one to {__name__}"
        payload, answer = payloads[event]
        return _answered(page, event, payload, answer)


class PathPageClient(PageClient):
    """A ``PageClient`` of any page of the server (``PageClient`` opens a pipeline's)."""

    def __init__(self, server: Replica, cookie: str, path: str) -> None:
        super().__init__(server, cookie, 0)
        self.path = path

    def open(self) -> None:
        status, _, page = self.server.request("GET", self.path, self._headers("text/html"))
        assert status == 200, status
        self.client_id, self.elements = page_elements(page)
        query = urlencode(
            {"client_id": self.client_id, "implicit_handshake": "true", "document_id": "d", "tab_id": "t"}
            | {"next_message_id": 0}
        )
        port = self.server.port
        uri = f"ws://127.0.0.1:{port}/_nicegui_ws/socket.io/?{query}&EIO=4&transport=websocket"
        headers = {"Cookie": f"dagsmith-session={self.cookie}"}
        self.ws = connect(uri, origin=f"http://127.0.0.1:{port}", additional_headers=headers, open_timeout=60)  # type: ignore[arg-type]
        assert str(self.ws.recv(timeout=60)).startswith("0{")
        self.ws.send("40")
        self.until(lambda message: message.startswith("40"))

    def texts(self) -> list[str]:
        """The texts and labels of the page's elements."""
        found = [str(e.get("text") or "") for e in self.elements.values()]
        return found + [str(e.get("props", {}).get("label") or "") for e in self.elements.values()]
