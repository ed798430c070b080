"""Issue 13: on a team server a project never reads another project's MLflow through the local fallbacks.

Two projects on one team server: project Red ran its pipeline on the command line, so an MLflow database
with its experiments and registered model lies in a folder the local editor falls back to
(``<DAGSMITH_HOME>/workspace/<dag_id>`` or ``<DAGSMITH_HOME>/mlflow.db``); project Blue has run nothing.
Blue's Browse MLflow dialog and its model-health page show nothing of Red's MLflow: they say how to
configure MLflow for the project. Only the project's own run workspace (and the pipeline's own
``mlflow.tracking_uri`` setting) count there. The local editor keeps the fallbacks. The store is a real
MLflow SQLite database (health_store.py), built once and copied where each test needs it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from health_store import MODEL, build_store, pipeline_document
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.integrations import ComponentUnavailable, health_location, mlflow_location
from dagsmith.editor.pages.health import health_page
from dagsmith.editor.pages.workbench import Workbench
from dagsmith.editor.services import EditorServices
from dagsmith.editor.store import open_store
from dagsmith.editor.team.accounts import Identity
from dagsmith.editor.team.identity import acting_as
from dagsmith.editor.team.services import TeamServices

NOT_CONFIGURED = "MLflow is not configured for this project"


@dataclass(frozen=True, slots=True)
class Server:
    services: TeamServices
    home: Path
    dag_id: str
    red: tuple[str, int, int]
    """Owner, project id and pipeline id of the project whose MLflow lies in the shared fallback."""
    blue: tuple[str, int, int]
    """The project that has run nothing."""


@pytest.fixture(scope="module")
def red_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Red's MLflow database: the registered model, its versions and the experiments of its runs."""
    folder = tmp_path_factory.mktemp("red-mlflow")
    build_store(folder)
    return folder / "mlflow.db"


def _place(database: Path, where: Path) -> None:
    where.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(database, where)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for name in ("MLFLOW_TRACKING_URI", "DAGSMITH_MLFLOW_TRACKING_URI", "DAGSMITH_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSMITH_HOME", str(home))
    store = open_store(f"sqlite:///{tmp_path / 'team.db'}", local_user=False)
    services = TeamServices(store)
    document = pipeline_document()
    assert document.settings.mlflow.tracking_uri is None  # nothing configured: only the fallbacks could find one
    found = []
    for owner, name in (("rita", "Red"), ("bo", "Blue")):
        store.create_user(owner)
        project = store.create_project(name, by=owner)
        pipeline = store.create_pipeline(project.id, document, by=owner)
        found.append((owner, project.id, pipeline.id, pipeline.dag_id))
    (red_owner, red_project, red_pipeline, dag_id), (blue_owner, blue_project, blue_pipeline, blue_dag) = found
    assert dag_id == blue_dag  # the same dag_id: the command line's fallback folder is the same for both
    yield Server(
        services, home, dag_id, (red_owner, red_project, red_pipeline), (blue_owner, blue_project, blue_pipeline)
    )
    store.close()


def _fallbacks(server: Server) -> list[Path]:
    """The local editor's shared fallbacks: the command line's workspace of the dag_id, and DAGSMITH_HOME's."""
    return [server.home / "workspace" / server.dag_id / "mlflow" / "mlflow.db", server.home / "mlflow.db"]


@pytest.mark.parametrize("fallback", [0, 1], ids=["command-line-workspace", "dagsmith-home"])
def test_a_team_project_never_finds_another_projects_mlflow_in_a_shared_fallback(
    server: Server, red_mlflow: Path, fallback: int
) -> None:
    _place(red_mlflow, _fallbacks(server)[fallback])
    _, blue_project, _ = server.blue
    home = server.services.runs.runs_home(blue_project)
    assert home.own_only and home.workspace == server.services.runs.workspace(blue_project).root
    with pytest.raises(ComponentUnavailable, match=NOT_CONFIGURED) as refused:
        mlflow_location(server.dag_id, workspace=home.workspace, own_only=home.own_only)
    assert "set MLFLOW_TRACKING_URI" in refused.value.message
    assert str(server.home) not in refused.value.message  # the server's folders are not shown to a member
    with pytest.raises(ComponentUnavailable, match=NOT_CONFIGURED):
        health_location(pipeline_document(), home.workspace, own_only=home.own_only)
    # The local editor on the same machine keeps today's fallback.
    local = EditorServices(server.services.store).runs.runs_home(blue_project)
    assert not local.own_only
    found = mlflow_location(server.dag_id, workspace=local.workspace)
    assert found.location == f"sqlite:///{_fallbacks(server)[fallback]}"


def test_a_team_project_reads_its_own_workspaces_mlflow_and_its_own_setting(server: Server, red_mlflow: Path) -> None:
    _, red_project, _ = server.red
    home = server.services.runs.runs_home(red_project)
    assert home.workspace is not None
    _place(red_mlflow, home.workspace / "mlflow" / "mlflow.db")
    found = health_location(pipeline_document(), home.workspace, own_only=True)
    own = home.workspace / "mlflow" / "mlflow.db"
    assert (found.location, found.source) == (f"sqlite:///{own}", "local MLflow database")
    # Blue has no database of its own; its pipeline's own tracking URI is its project's configuration.
    _, blue_project, _ = server.blue
    blue = server.services.runs.runs_home(blue_project)
    document = pipeline_document()
    document.settings.mlflow.tracking_uri = "http://mlflow.blue.svc:5000"
    found = health_location(document, blue.workspace, own_only=blue.own_only)
    assert (found.location, found.source) == ("http://mlflow.blue.svc:5000", "the pipeline's MLflow setting")


def _texts(user: User, marker: str) -> list[str]:
    return [element.text for element in user.find(marker=marker).elements]  # type: ignore[attr-defined]


async def test_the_health_page_of_a_project_without_mlflow_shows_nothing_of_anothers(
    user: User, server: Server, red_mlflow: Path
) -> None:
    for where in _fallbacks(server):
        _place(red_mlflow, where)
    owner, _, pipeline = server.blue

    @ui.page("/pipeline/{pipeline_id}/health")
    async def page(pipeline_id: int) -> None:
        with acting_as(Identity(owner, False)):
            await health_page(server.services, pipeline_id)

    await user.open(f"/pipeline/{pipeline}/health")
    await user.should_see(marker="health-error", retries=300)
    (message,) = _texts(user, "health-error")
    assert message.startswith(NOT_CONFIGURED) and "set MLFLOW_TRACKING_URI" in message
    await user.should_not_see(marker=f"health-status-{MODEL}-watch", retries=1)  # none of Red's model
    assert _texts(user, "health-where") == [""]


async def test_browse_mlflow_of_a_project_without_mlflow_shows_nothing_of_anothers(
    user: User, server: Server, red_mlflow: Path
) -> None:
    for where in _fallbacks(server):
        _place(red_mlflow, where)
    owner, _, pipeline = server.blue
    holder: dict[str, Workbench] = {}

    @ui.page("/")
    def page() -> None:
        with acting_as(Identity(owner, False)):
            info, document, _ = server.services.open_draft(pipeline)
            holder["bench"] = Workbench(server.services, info.id, document, info.name)

    await user.open("/")
    bench = holder["bench"]
    bench.canvas.run_method = lambda *_, **__: None  # type: ignore[method-assign,assignment,return-value]
    bench.inspector.select("register")
    user.find(marker="browse-mlflow").click()
    await user.should_see(marker="browse-error", retries=300)
    (message,) = _texts(user, "browse-error")
    assert message.startswith(NOT_CONFIGURED)
    for marker in (
        f"browse-model-{MODEL}",
        "browse-experiment-keyword-training",
        "browse-experiment-keyword-monitoring",
    ):
        await user.should_not_see(marker=marker, retries=1)
