"""The REST API's pipeline routes (issue 13: "drafts (with revision checks); validate …; versions and diff;
… runs"), through the team server's sign-in guard with API tokens, on a real store.

Who may reach each route is the access matrix's job (``team.matrix``, walked by test_team_access.py
against a real server); this module checks what the routes do: a draft is written only over the revision
it was read at, a broken document is refused with the reason, validation lists the problems, versions are
listed and read, two versions are compared, and a pipeline's runs are listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from dagsmith.editor.runs.records import write_json
from dagsmith.editor.store import Role, Store, open_store
from dagsmith.editor.team.accounts import Accounts
from dagsmith.editor.team.guard import TeamGuard
from dagsmith.editor.team.pipeline_api import register_pipeline_api
from dagsmith.editor.team.services import TeamServices
from dagsmith.editor.team.settings import TeamSettings
from dagsmith.nodes import load_example

PASSWORD = "correct horse battery"
TASK = {"task_id": "train", "map_index": -1, "state": "failed", "start": "2026-01-06T05:00:01", "end": None}


@dataclass
class Api:
    client: TestClient
    store: Store
    pipeline: int
    project: int
    tokens: dict[str, str]

    def call(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return self.client.request(method, f"/api/v1/pipelines/{self.pipeline}{path}", headers=headers, **kwargs)


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSMITH_WORKSPACE", raising=False)
    store = open_store(f"sqlite:///{tmp_path / 'team.db'}", local_user=False)
    accounts = Accounts(store)
    for name in ("alice", "ed", "vic", "eve"):
        accounts.add_user(name, PASSWORD)
    project = store.create_project("Team", by="alice")
    store.add_member(project.id, "ed", Role.EDITOR, by="alice")
    store.add_member(project.id, "vic", Role.VIEWER, by="alice")
    store.create_project("Other", by="eve")
    pipeline = store.create_pipeline(project.id, load_example("keyword_recommendation"), by="alice")
    app = FastAPI()
    register_pipeline_api(app, TeamServices(store))
    settings = TeamSettings(database_url="sqlite://", secret_key="k" * 48, trial=True)
    guarded = TeamGuard(app, accounts=accounts, settings=settings)
    tokens = {name: accounts.create_token(name, "test")[1] for name in ("alice", "ed", "vic", "eve")}
    with TestClient(guarded, follow_redirects=False) as client:  # type: ignore[arg-type]
        yield Api(client, store, pipeline.id, project.id, tokens)
    store.close()


def _draft(api: Api) -> tuple[int, dict[str, Any]]:
    draft = api.store.get_draft(api.pipeline)
    return draft.revision, draft.pipeline().model_dump(mode="json")


def test_a_draft_is_written_only_over_the_revision_it_was_read_at(api: Api) -> None:
    revision, document = _draft(api)
    document["settings"]["description"] = "ed's change"
    answer = api.call("PUT", "/draft", "ed", json={"revision": revision, "document": document})
    assert answer.status_code == 200, answer.text
    saved = answer.json()["revision"]
    assert saved > revision and _draft(api) == (saved, document)
    # A second client that read the old revision is refused, naming the current one; nothing is overwritten.
    stale = {**document, "settings": {**document["settings"], "description": "a stale write"}}
    answer = api.call("PUT", "/draft", "alice", json={"revision": revision, "document": stale})
    assert answer.status_code == 409 and f"the draft is at revision {saved}, not {revision}" in answer.text
    assert _draft(api)[1]["settings"]["description"] == "ed's change"
    # A viewer may not write; a stranger learns nothing; a broken document says why.
    assert api.call("PUT", "/draft", "vic", json={"revision": saved, "document": document}).status_code == 403
    answer = api.call("PUT", "/draft", "eve", json={"revision": saved, "document": document})
    assert answer.status_code == 404 and "Team" not in answer.text
    broken = {**document, "nodes": [{"id": "x"}]}
    answer = api.call("PUT", "/draft", "ed", json={"revision": saved, "document": broken})
    assert answer.status_code == 400 and "Traceback" not in answer.text
    assert _draft(api)[0] == saved


def test_validate_lists_the_working_copys_problems(api: Api) -> None:
    answer = api.call("GET", "/validate", "vic")
    assert answer.status_code == 200 and answer.json()["valid"] is True and answer.json()["errors"] == 0
    revision, document = _draft(api)
    train = next(node for node in document["nodes"] if node["id"] == "train")
    train["params"]["pod"] = {"resources": {"cpu_limit": "lots"}}
    assert api.call("PUT", "/draft", "ed", json={"revision": revision, "document": document}).status_code == 200
    result = api.call("GET", "/validate", "vic").json()
    assert result["valid"] is False and result["errors"] >= 1
    assert any(i["node"] == "train" and i["field"] == "pod.resources.cpu_limit" for i in result["issues"])
    assert api.call("GET", "/validate", "eve").status_code == 404


def test_versions_are_listed_read_and_compared(api: Api) -> None:
    assert api.call("GET", "/versions", "vic").json() == []
    api.store.create_version(api.pipeline, by="alice", message="first")
    revision, document = _draft(api)
    document["settings"]["description"] = "retrained nightly"
    assert api.call("PUT", "/draft", "ed", json={"revision": revision, "document": document}).status_code == 200
    api.store.create_version(api.pipeline, by="ed", message="second")
    listed = api.call("GET", "/versions", "vic").json()
    assert [(v["number"], v["message"], v["created_by"]) for v in listed] == [
        (1, "first", "alice"),
        (2, "second", "ed"),
    ]
    second = api.call("GET", "/versions/2", "vic").json()
    assert second["document"]["settings"]["description"] == "retrained nightly"
    assert api.call("GET", "/versions/9", "vic").status_code == 404
    diff = api.call("GET", "/diff/1/2", "vic").json()
    assert any("retrained nightly" in line for line in diff["changes"]), diff["changes"]
    assert diff["dag_diff"].startswith("--- v1/") and "+++ v2/" in diff["dag_diff"]
    assert api.call("GET", "/diff/1/2", "eve").status_code == 404
    assert api.call("GET", "/versions", "eve").status_code == 404


def test_runs_are_listed_newest_first(api: Api) -> None:
    assert api.call("GET", "/runs", "vic").json() == []
    dag_id = api.store.get_pipeline(api.pipeline).dag_id
    workspace = Path(str(api.store.engine.url.database)).parent / "home" / "workspace" / f"project-{api.project}"
    for run_id, state in (("20260105T050000Z-aaaa", "success"), ("20260106T050000Z-bbbb", "failed")):
        record = {"id": run_id, "dag_id": dag_id, "state": state, "started": run_id[:8], "tasks": [TASK]}
        record |= {"conf": {"day": "2026-01-06"}, "workspace": "/srv/dagsmith/secret-path"}
        write_json(workspace / "runs" / dag_id / run_id / "run.json", record)
    listed = api.call("GET", "/runs", "vic").json()
    assert "secret-path" not in json.dumps(listed)  # no server paths
    assert [(r["id"], r["state"]) for r in listed] == [
        ("20260106T050000Z-bbbb", "failed"),
        ("20260105T050000Z-aaaa", "success"),
    ]
    assert api.call("GET", "/runs", "eve").status_code == 404
    one = api.call("GET", "/runs/20260106T050000Z-bbbb", "vic").json()
    assert (one["state"], one["conf"], one["tasks"]) == ("failed", {"day": "2026-01-06"}, [TASK])
    assert api.call("GET", "/runs/20260106T050000Z-bbbb", "eve").status_code == 404
    for unknown in ("20260107T050000Z-cccc", "%2E%2E"):  # only a listed run, never a path
        assert api.call("GET", f"/runs/{unknown}", "vic").status_code == 404, unknown
    # '..' is resolved by the client to the pipeline's own path, which only PATCH (rename) and DELETE answer
    assert api.call("GET", "/runs/..", "vic").status_code == 405
