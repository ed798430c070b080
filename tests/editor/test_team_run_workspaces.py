"""Issue 13, "workspaces and run history are per project": ``$DAGSMITH_WORKSPACE`` on a team server.

Two projects on one team server each have a pipeline with the same dag_id, and each has run it with the
same Airflow run id (a run's logical date can be set by hand). With the variable set, the team server keeps
each project's runs, artifacts and logs in ``$DAGSMITH_WORKSPACE/project-<id>`` (the project's id, never
its editable name). Each project's run history, the run routes' lookups (``runs.history``), the artifact
routes (``visible_artifacts``) and the Runs tab's downloads (``RunStore`` of a run's record) see only the
project's own runs and files; before, both projects shared the one folder and listed each other's runs,
and a run's artifact store was the other project's too. The local editor keeps the variable as the
workspace itself (existing local workspaces still work), and the MLflow lookup follows the project's
workspace rather than the shared parent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import HTTPException
from test_run_services import _script_pipeline

from dagsmith.editor.integrations import local_mlflow_databases
from dagsmith.editor.runs.artifacts import ArtifactAccessError, RunStore, check_download, run_artifacts, stream
from dagsmith.editor.runs.records import write_json
from dagsmith.editor.services import EditorServices
from dagsmith.editor.store import open_store
from dagsmith.editor.team.accounts import Identity
from dagsmith.editor.team.artifact_api import visible_artifacts
from dagsmith.editor.team.identity import acting_as
from dagsmith.editor.team.services import TeamServices

DAG_ID = "two_steps"
AIRFLOW_RUN = "manual__2026-01-05T05:00:00+00:00"


@dataclass(frozen=True, slots=True)
class Project:
    owner: str
    id: int
    pipeline: int
    run: str


@dataclass(frozen=True, slots=True)
class Server:
    services: TeamServices
    shared: Path
    red: Project
    blue: Project


def _store_run(services: TeamServices, project: Project) -> None:
    """A finished run of the project's pipeline as a local run records it: one private file in its workspace's store."""
    workspace = services.runs.workspace(project.id)
    data = f"{project.owner}'s scores".encode()
    uri = workspace.artifacts / DAG_ID / AIRFLOW_RUN / "score" / "scores"
    uri.parent.mkdir(parents=True, exist_ok=True)
    uri.write_bytes(data)
    manifest = {
        "dag_id": DAG_ID,
        "run_id": AIRFLOW_RUN,
        "node": "score",
        "port": "scores",
        "uri": str(uri),
        "kind": "file",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "files": 1,
        "access": {"level": "private", "groups": []},
        "written_at": "2026-01-05T05:01:02+00:00",
    }
    uri.with_name("scores.manifest.json").write_text(json.dumps(manifest))
    record = {
        "id": project.run,
        "dag_id": DAG_ID,
        "airflow_run_id": AIRFLOW_RUN,
        "state": "success",
        "workspace": str(workspace.root),
        "artifact_store": {"root": str(workspace.artifacts), "endpoint_url": None, "region": None},
        "tasks": [],
    }
    write_json(workspace.runs / DAG_ID / project.run / "run.json", record)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    shared = tmp_path / "shared"
    monkeypatch.setenv("DAGSMITH_WORKSPACE", str(shared))
    store = open_store(f"sqlite:///{tmp_path / 'team.db'}", local_user=False)
    services = TeamServices(store)
    projects = []
    for owner, name, run in (("rita", "Red", "20260105T050000-red"), ("bo", "Blue", "20260105T050000-blue")):
        store.create_user(owner)
        project = store.create_project(name, by=owner)
        pipeline = store.create_pipeline(project.id, _script_pipeline(), by=owner)
        assert pipeline.dag_id == DAG_ID
        projects.append(Project(owner, project.id, pipeline.id, run))
    red, blue = projects
    for project in projects:
        _store_run(services, project)
    yield Server(services, shared.resolve(), red, blue)
    store.close()


def test_each_project_runs_in_its_own_folder_beneath_the_configured_workspace(server: Server) -> None:
    runs = server.services.runs
    assert runs.workspace(server.red.id).root == server.shared / f"project-{server.red.id}"
    assert runs.workspace(server.blue.id).root == server.shared / f"project-{server.blue.id}"
    assert sorted(path.name for path in server.shared.iterdir()) == sorted(
        f"project-{project.id}" for project in (server.red, server.blue)
    )  # nothing of a run lands in the shared folder itself


def test_each_project_lists_only_its_own_runs_of_the_same_dag_id(server: Server) -> None:
    runs = server.services.runs
    for project, other in ((server.red, server.blue), (server.blue, server.red)):
        with acting_as(Identity(project.owner, False)):
            assert [record["id"] for record in runs.history(project.pipeline, DAG_ID)] == [project.run]
            with pytest.raises(HTTPException) as refused:
                visible_artifacts(server.services, project.pipeline, other.run)  # the artifact routes' lookup
            assert refused.value.status_code == 404


def test_a_runs_artifacts_and_downloads_are_its_own_projects_files(server: Server) -> None:
    runs = server.services.runs
    found = {}
    for project in (server.red, server.blue):
        with acting_as(Identity(project.owner, False)):
            store, visible = visible_artifacts(server.services, project.pipeline, project.run)
        assert [artifact.port for artifact in visible] == ["scores"]
        assert b"".join(stream(store, visible[0])) == f"{project.owner}'s scores".encode()
        assert Path(store.root) == runs.workspace(project.id).artifacts
        found[project.owner] = (store, visible[0])
    red_store, red_file = found[server.red.owner]
    blue_store, blue_file = found[server.blue.owner]
    for store, other in ((red_store, blue_file), (blue_store, red_file)):
        with pytest.raises(ArtifactAccessError, match="outside the run's artifact store"):
            check_download(store, other)  # the Runs tab's and the API's check before a file is streamed
    # The Runs tab lists a run's artifacts from its record: the red run's store holds no blue file.
    record = runs.record(server.red.pipeline, DAG_ID, server.red.run)
    assert [artifact.uri for artifact in run_artifacts(record, RunStore.of(record))] == [red_file.uri]


def test_the_local_editor_keeps_the_configured_workspace_as_the_workspace(server: Server) -> None:
    local = EditorServices(server.services.store).runs
    assert local.workspace(server.red.id).root == server.shared
    assert local.workspace(server.blue.id).root == server.shared


def test_the_mlflow_lookup_follows_the_projects_workspace_not_the_shared_folder(server: Server) -> None:
    workspace = server.services.runs.workspace(server.red.id).root
    environ = {"DAGSMITH_WORKSPACE": str(server.shared), "DAGSMITH_HOME": str(server.shared.parent / "home")}
    candidates = local_mlflow_databases(DAG_ID, environ, workspace=workspace)
    assert candidates[0] == workspace / "mlflow" / "mlflow.db"
    assert server.shared / "mlflow" / "mlflow.db" not in candidates
    # Without the editor's workspace (the command line), the variable is the workspace, as before.
    assert local_mlflow_databases(DAG_ID, environ)[0] == server.shared / "mlflow" / "mlflow.db"
