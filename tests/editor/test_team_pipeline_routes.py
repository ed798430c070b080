"""The REST API's run start, task log, and pipeline create/rename/delete routes (issue 13), through the team
server's sign-in guard with API tokens, on a real store.

Who may reach each route is also walked by the access matrix (test_team_access.py); this module checks
what the routes do: a run starts with the pipeline's run settings and a second start while it goes is
refused (409), as on the page; a task's log is read only for a run the history lists and a task its record
names; pipelines are created (blank, from a template, from a document), renamed and deleted with the start
page's rules.
"""

# ruff: noqa: F811
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_team_pipeline_api import TASK, Api, api  # noqa: F401 (the fixture, a parameter below: F811)

from dagsmith.editor.run_services import LocalRuns, RunSettings
from dagsmith.editor.runs.records import write_json
from dagsmith.editor.store import NotFound
from dagsmith.nodes import Pipeline


@dataclass
class FakeHandle:
    """What the route reads of a started run: its id, and whether it ended."""

    id: str
    done: bool = False


def _workspace(api: Api) -> Path:
    return Path(str(api.store.engine.url.database)).parent / "home" / "workspace" / f"project-{api.project}"


def test_a_run_starts_with_the_run_settings_and_a_second_start_is_refused(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the runner itself is replaced: this checks the route (role, settings, one run at a time), not the engine
    started: list[tuple[int, str, RunSettings]] = []
    handles: list[FakeHandle] = []

    def fake_start(self: LocalRuns, pipeline_id: int, pipeline: Pipeline, settings: RunSettings, **_: Any) -> Any:
        started.append((pipeline_id, pipeline.dag_id, settings))
        handles.append(FakeHandle(f"run-{len(handles) + 1}"))
        return handles[-1]

    monkeypatch.setattr(LocalRuns, "_start", fake_start)
    folder = tmp_path / "code"
    folder.mkdir()
    saved = {"project_dir": str(folder), "conf": {"day": "2026-01-01"}}
    write_json(_workspace(api) / "editor" / f"pipeline-{api.pipeline}.json", saved)

    answer = api.call("POST", "/runs", "vic", json={})
    assert answer.status_code == 403 and "run its pipelines" in answer.json()["detail"], answer.text
    assert api.call("POST", "/runs", "eve", json={}).status_code == 404
    assert started == []

    answer = api.call("POST", "/runs", "ed", json={"conf": {"day": "2026-02-02"}})
    assert answer.status_code == 201, answer.text
    dag_id = api.store.get_pipeline(api.pipeline).dag_id
    assert answer.json() == {"id": "run-1", "dag_id": dag_id}
    assert started == [(api.pipeline, dag_id, RunSettings(str(folder), {"day": "2026-02-02"}))]

    answer = api.call("POST", "/runs", "alice")  # the first is still going: refused, as the page's Run
    assert answer.status_code == 409 and "run-1" in answer.json()["detail"], answer.text
    assert len(started) == 1

    handles[0].done = True
    answer = api.call("POST", "/runs", "alice")  # no parameters sent: the saved ones
    assert answer.status_code == 201 and answer.json()["id"] == "run-2", answer.text
    assert started[-1][2] == RunSettings(str(folder), {"day": "2026-01-01"})


def test_a_run_the_pipeline_cannot_start_says_why(api: Api) -> None:
    answer = api.call("POST", "/runs", "ed", json={})  # no project folder chosen, and no checkout
    assert answer.status_code == 400 and "choose the project folder" in answer.json()["detail"], answer.text


def test_a_tasks_log_is_read_only_for_a_listed_run_and_a_recorded_task(api: Api) -> None:
    dag_id = api.store.get_pipeline(api.pipeline).dag_id
    run_id = "20260106T050000Z-bbbb"
    folder = _workspace(api) / "runs" / dag_id / run_id
    write_json(folder / "run.json", {"id": run_id, "dag_id": dag_id, "state": "failed", "tasks": [TASK]})
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "train.log").write_text("loading\nTraceback: boom\n")
    (folder / "run.json").with_name("secret.log").write_text("not a task's log")

    answer = api.call("GET", f"/runs/{run_id}/tasks/train/log", "vic")
    assert answer.status_code == 200 and answer.text == "loading\nTraceback: boom\n", answer.text
    assert api.call("GET", f"/runs/{run_id}/tasks/train/log", "eve").status_code == 404
    answer = api.call("GET", f"/runs/{run_id}/tasks/secret/log", "vic")  # only a task the record names
    assert answer.status_code == 404 and "its tasks: train" in answer.json()["detail"], answer.text
    assert api.call("GET", f"/runs/{run_id}/tasks/train/log?map_index=2", "vic").status_code == 404
    for run in ("20260107T050000Z-cccc", "..", "%2E%2E"):  # only a listed run, never a path
        assert api.call("GET", f"/runs/{run}/tasks/train/log", "vic").status_code == 404, run
    for task in ("..", "%2E%2E", "..%2Fsecret"):
        assert api.call("GET", f"/runs/{run_id}/tasks/{task}/log", "vic").status_code == 404, task
    (folder / "logs" / "train.log").unlink()  # recorded but not started yet: an empty log
    answer = api.call("GET", f"/runs/{run_id}/tasks/train/log", "vic")
    assert (answer.status_code, answer.text) == (200, "")


def test_pipelines_are_created_renamed_and_deleted_with_the_start_pages_rules(api: Api) -> None:
    def call(method: str, path: str, who: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {api.tokens[who]}"}
        return api.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    new = f"/projects/{api.project}/pipelines"
    assert call("POST", new, "vic", json={}).status_code == 403
    assert call("POST", new, "eve", json={}).status_code == 404
    before = len(api.store.list_pipelines(api.project))

    made = call("POST", new, "ed", json={"template": "user_targeting", "name": "Churn scoring"})
    assert made.status_code == 201, made.text
    churn = made.json()
    assert (churn["name"], churn["project_id"]) == ("Churn scoring", api.project)
    assert api.store.get_draft(churn["id"]).pipeline().settings.name == "Churn scoring"
    blank = call("POST", new, "ed", json={}).json()
    assert blank["name"] == "New pipeline" and api.store.get_draft(blank["id"]).pipeline().nodes == []
    document = api.store.get_draft(api.pipeline).pipeline().model_dump(mode="json")
    copy = call("POST", new, "ed", json={"document": document})
    assert copy.status_code == 201, copy.text
    assert copy.json()["dag_id"] == f"{api.store.get_pipeline(api.pipeline).dag_id}_2"  # taken: numbered
    assert len(api.store.list_pipelines(api.project)) == before + 3
    answer = call("POST", new, "ed", json={"template": "no_such_template"})
    assert answer.status_code == 400 and "user_targeting" in answer.json()["detail"], answer.text  # the known ones

    renamed = f"/pipelines/{churn['id']}"
    assert call("PATCH", renamed, "vic", json={"name": "Mine"}).status_code == 403
    assert call("PATCH", renamed, "eve", json={"name": "Mine"}).status_code == 404
    answer = call("PATCH", renamed, "ed", json={"name": "Churn v2"})
    assert answer.status_code == 200 and answer.json()["name"] == "Churn v2", answer.text
    assert api.store.get_draft(churn["id"]).pipeline().settings.name == "Churn v2"
    answer = call("PATCH", renamed, "ed", json={"name": "  "})
    assert answer.status_code == 400, answer.text

    answer = call("DELETE", renamed, "ed")  # deleting needs the maintainer role, as on the start page
    assert answer.status_code == 403 and "maintainer" in answer.json()["detail"], answer.text
    assert call("DELETE", renamed, "eve").status_code == 404
    answer = call("DELETE", renamed, "alice")
    assert answer.status_code == 200 and answer.json() == {"id": churn["id"], "deleted": "Churn v2"}, answer.text
    with pytest.raises(NotFound):
        api.store.get_pipeline(churn["id"])
    assert call("DELETE", renamed, "alice").status_code == 404
