"""Protected deployment targets and the role table's ``export`` entry, over real HTTP (issue 13).

"A project can mark a git branch, or a deployment target, as protected. An export to it needs an
approval": every deployment of a project runs the DAGs of the project's repository, so an export (UI, the
``POST …/commit`` route, ``dagsmith export --server``: all go through ``export_to_project_git``) reaches each
of the project's deployments, and a protected one takes it only with an approval of exactly this content.
The API is the one ``dagsmith serve`` mounts, served by uvicorn on loopback behind the sign-in guard.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_team_review import NOTEBOOK, git, notebook
from test_team_review_http import PASSWORD, Server, serve

from dagsmith.editor.store import Role, open_store
from dagsmith.editor.team.accounts import Accounts
from dagsmith.nodes import load_example


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("protected_deployment")
    repo = root / "repo"
    (repo / "notebooks").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / NOTEBOOK).write_text(notebook("x = 1"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "notebook")
    url = f"sqlite:///{root / 'team.db'}"
    store = open_store(url, local_user=False)
    accounts = Accounts(store)
    tokens = {}
    for name in ("alice", "bob", "vic"):
        accounts.add_user(name, PASSWORD)
        tokens[name] = accounts.create_token(name, "ci")[1]
    project = store.create_project("Team", by="alice", git_repo=str(repo), git_branch="main")
    store.add_member(project.id, "bob", Role.MAINTAINER, by="alice")
    store.add_member(project.id, "vic", Role.VIEWER, by="alice")
    pipeline = store.create_pipeline(project.id, load_example("user_targeting"), by="alice")
    store.create_version(pipeline.id, by="alice")
    with serve(store, accounts, url) as port:
        yield Server(port, tokens, project.id, pipeline.id, repo)
    store.close()


def test_a_protected_deployment_takes_an_export_only_with_an_approval(server: Server) -> None:
    project, pipeline = server.project, server.pipeline
    target = {"kind": "deployment", "name": "prod"}
    assert server.call("POST", f"/api/v1/projects/{project}/protected", "alice", target)[0] == 201
    head = git(server.repo, "rev-parse", "main")

    status, body = server.call("POST", f"/api/v1/pipelines/{pipeline}/commit", "bob", {"message": "ship"})
    assert status == 409, body  # the branch is not protected: only the deployment asks for the approval
    assert "deployment 'prod'" in body["detail"] and "request a review" in body["detail"], body
    assert git(server.repo, "rev-parse", "main") == head  # nothing was committed
    assert server.call("GET", f"/api/v1/pipelines/{pipeline}/exports", "bob")[1] == []

    status, review = server.call("POST", f"/api/v1/pipelines/{pipeline}/reviews", "alice", {})
    assert status == 201, review
    status, opened = server.call("GET", f"/api/v1/reviews/{review['id']}", "bob")
    assert status == 200, opened
    seen = {"content_hash": opened["content"]["content_hash"]}
    assert server.call("POST", f"/api/v1/reviews/{review['id']}/approve", "bob", seen)[0] == 200

    status, made = server.call("POST", f"/api/v1/pipelines/{pipeline}/commit", "bob", {"message": "ship"})
    assert status == 201, made
    assert git(server.repo, "rev-parse", "main") == made["commit"]
    status, log = server.call("GET", f"/api/v1/pipelines/{pipeline}/exports", "alice")
    assert status == 200
    assert [(e["exported_by"], e["review_id"], e["commit"]) for e in log] == [("bob", review["id"], made["commit"])]


def test_a_viewer_is_refused_the_export_by_the_role_tables_export_entry(server: Server) -> None:
    status, body = server.call("POST", f"/api/v1/pipelines/{server.pipeline}/commit", "vic", {"message": "x"})
    assert status == 403, body
    assert "export its pipelines" in body["detail"], body  # the `export` entry, before the commit rule
    status, body = server.call("POST", f"/api/v1/pipelines/{server.pipeline}/commit", "alice", {"message": "x"})
    assert status != 403, body  # control: an owner passes both checks
