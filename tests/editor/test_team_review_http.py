"""The review rules over real HTTP: the v1 API behind the team server's door (``TeamGuard``), on loopback.

The app is the one ``dagsmith serve`` mounts (``register_api``: the v1 routes with the review routes and the
export gate), served by uvicorn in a thread, without NiceGUI's pages (``test_team_server.py`` starts the
whole server). Users call it with their API tokens.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from browser import free_port
from fastapi import FastAPI
from test_team_review import NOTEBOOK, git, notebook

from dagsmith.editor.store import Role, Store, open_store
from dagsmith.editor.team.accounts import Accounts
from dagsmith.editor.team.api import register_api
from dagsmith.editor.team.guard import TeamGuard
from dagsmith.editor.team.services import TeamServices
from dagsmith.editor.team.settings import TeamSettings
from dagsmith.nodes import load_example

PASSWORD = "correct horse battery"


@contextmanager
def serve(store: Store, accounts: Accounts, url: str) -> Iterator[int]:
    """The v1 API as ``dagsmith serve`` mounts it (with the review routes and the export gate), behind the
    sign-in guard, served by uvicorn in a thread on a free loopback port (yielded)."""
    app = FastAPI()
    register_api(app, TeamServices(store), accounts)
    port = free_port()
    settings = TeamSettings(database_url=url, secret_key="k" * 48, port=port, trial=True)
    app.add_middleware(TeamGuard, accounts=accounts, settings=settings)
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        running.should_exit = True
        thread.join(timeout=30)


@dataclass
class Server:
    """The running API, each user's token and the ids the test uses."""

    port: int
    tokens: dict[str, str]
    project: int
    pipeline: int
    repo: Path

    def call(self, method: str, path: str, user: str | None, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """One request as ``user`` (None: anonymous): the status and the decoded JSON body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        if user is not None:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        return response.status, json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("review_http")
    repo = root / "repo"
    (repo / "notebooks").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / NOTEBOOK).write_text(notebook("x = 1"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "notebook")
    (repo / NOTEBOOK).write_text(notebook("x = 2"))
    url = f"sqlite:///{root / 'team.db'}"
    store = open_store(url, local_user=False)
    accounts = Accounts(store)
    tokens = {}
    for name in ("alice", "bob", "ed", "eve"):
        accounts.add_user(name, PASSWORD)
        tokens[name] = accounts.create_token(name, "ci")[1]
    project = store.create_project("Team", by="alice", git_repo=str(repo), git_branch="main")
    store.add_member(project.id, "bob", Role.MAINTAINER, by="alice")
    store.add_member(project.id, "ed", Role.EDITOR, by="alice")
    store.create_project("Other", by="eve")
    pipeline = store.create_pipeline(project.id, load_example("user_targeting"), by="alice")
    store.create_version(pipeline.id, by="alice")
    with serve(store, accounts, url) as port:
        yield Server(port, tokens, project.id, pipeline.id, repo)
    store.close()


def test_the_review_routes_enforce_the_rules_over_http(server: Server) -> None:
    project, pipeline = server.project, server.pipeline
    assert server.call("GET", f"/api/v1/pipelines/{pipeline}/reviews", None)[0] == 401
    status, body = server.call("POST", f"/api/v1/projects/{project}/protected", "bob", {"kind": "branch", "name": "m"})
    assert status == 403, body  # owners only
    assert (
        server.call("POST", f"/api/v1/projects/{project}/protected", "alice", {"kind": "branch", "name": "main"})[0]
        == 201
    )
    status, body = server.call("POST", f"/api/v1/pipelines/{pipeline}/commit", "bob", {"message": "ship"})
    assert status == 409 and "is protected" in body["detail"], body

    status, review = server.call("POST", f"/api/v1/pipelines/{pipeline}/reviews", "alice", {})
    assert status == 201 and review["state"] == "requested", review
    rid = review["id"]
    assert server.call("GET", f"/api/v1/reviews/{rid}", "eve")[0] == 404  # another project's member
    status, opened = server.call("GET", f"/api/v1/reviews/{rid}", "bob")
    assert status == 200 and opened["content"]["files"][0]["kind"] == "notebook", opened
    seen = {"content_hash": opened["content"]["content_hash"]}
    status, body = server.call("POST", f"/api/v1/reviews/{rid}/approve", "ed", seen)
    assert status == 403, body  # not a reviewer
    status, body = server.call("POST", f"/api/v1/reviews/{rid}/approve", "alice", seen)
    assert status == 403 and "four-eyes" in body["detail"], body  # her own change
    status, note = server.call("POST", f"/api/v1/reviews/{rid}/comments", "bob", {"body": "ok", "node_id": "train"})
    assert status == 201 and note["node_id"] == "train", note
    status, body = server.call("POST", f"/api/v1/reviews/{rid}/approve", "bob", seen)
    assert status == 200 and body["state"] == "approved", body

    status, made = server.call("POST", f"/api/v1/pipelines/{pipeline}/commit", "bob", {"message": "ship"})
    assert status == 201, made
    assert git(server.repo, "rev-parse", "main") == made["commit"]
    status, log = server.call("GET", f"/api/v1/pipelines/{pipeline}/exports", "ed")
    assert status == 200
    assert [(e["exported_by"], e["review_id"], e["commit"]) for e in log] == [("bob", rid, made["commit"])]
    assert server.call("GET", f"/api/v1/pipelines/{pipeline}/exports", "eve")[0] == 404
    status, notes = server.call("GET", "/api/v1/notifications?unread=true", "alice")
    assert [n["message"] for n in notes] == [
        "bob approved version 1",
        "bob commented on node 'train' on the review of version 1",
    ]
