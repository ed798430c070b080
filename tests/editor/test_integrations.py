"""Browsing Feast and MLflow: the catalogs from real components, clear messages, and the inspector's dialog.

A real Feast repository (file offline store, SQLite online store, applied in-process) and a real MLflow
SQLite store are built once per module in a temporary folder; nothing is mocked.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.integrations import (
    CONNECT_TIMEOUT_S,
    ComponentUnavailable,
    feast_catalog,
    feast_location,
    mlflow_catalog,
    mlflow_location,
    within,
)
from dagsmith.editor.pages import Workbench
from dagsmith.editor.pages.browse import MLFLOW_NODES
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import CATALOG, Pipeline

FEATURE_STORE_YAML = """\
project: browse_demo
provider: local
registry: data/registry.db
online_store:
  type: sqlite
  path: data/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""


# -- real components ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder (what the project's git repository would be) with a Feast repo in features/."""
    return tmp_path_factory.mktemp("project")


@pytest.fixture(scope="module")
def feast_repo(project_dir: Path) -> Path:
    """A Feast repository with an entity, two feature views on a parquet file, and a feature service."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FEAST_USAGE", "False")
        import pandas as pd
        from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource
        from feast.types import Float32, Int64
        from feast.value_type import ValueType

        repo = project_dir / "features"
        (repo / "data").mkdir(parents=True)
        (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
        stats = repo / "data" / "user_stats.parquet"
        pd.DataFrame(
            {
                "user_id": [1, 2],
                "clicks_7d": [3, 5],
                "ctr": [0.1, 0.2],
                "keyword_count": [4, 1],
                "event_timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
            }
        ).to_parquet(stats)
        user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
        source = FileSource(path=str(stats), timestamp_field="event_timestamp")
        user_stats = FeatureView(
            name="user_stats",
            entities=[user],
            ttl=timedelta(days=1),
            schema=[Field(name="clicks_7d", dtype=Int64), Field(name="ctr", dtype=Float32)],
            source=source,
        )
        keyword_stats = FeatureView(
            name="keyword_stats",
            entities=[user],
            ttl=timedelta(days=1),
            schema=[Field(name="keyword_count", dtype=Int64)],
            source=source,
        )
        service = FeatureService(name="keyword_features", features=[user_stats[["ctr"]], keyword_stats])
        FeatureStore(repo_path=str(repo)).apply([user, user_stats, keyword_stats, service])
    return repo


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An MLflow SQLite store: an experiment and a registered model with two versions, 'champion' and 'candidate'."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # MLflow's default artifact root is ./mlruns
        client = MlflowClient(tracking_uri=uri)
        client.create_experiment("keyword-training", artifact_location=str(folder / "artifacts"))
        client.create_registered_model("keyword-recommender")
        for number in (1, 2):
            client.create_model_version("keyword-recommender", source=str(folder / "artifacts" / f"m{number}"))
        client.set_registered_model_alias("keyword-recommender", "champion", "1")
        client.set_registered_model_alias("keyword-recommender", "candidate", "2")
        client.create_registered_model("user-targeting")
    return uri


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung tracking server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


# -- the catalogs ------------------------------------------------------------------------------------------
def test_feast_catalog_lists_views_with_features_and_services(feast_repo: Path) -> None:
    catalog = feast_catalog(feast_repo)
    assert catalog.project == "browse_demo"
    assert [(v.name, v.features, v.entities) for v in catalog.feature_views] == [
        ("keyword_stats", ["keyword_count"], ["user"]),
        ("user_stats", ["clicks_7d", "ctr"], ["user"]),
    ]
    assert catalog.feature_views[1].references == ["user_stats:clicks_7d", "user_stats:ctr"]
    assert [(s.name, s.features) for s in catalog.feature_services] == [
        ("keyword_features", ["user_stats:ctr", "keyword_stats:keyword_count"])
    ]


def test_feast_repository_problems_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ComponentUnavailable, match=r"Feast repository at .*missing does not exist: point feast_repo"):
        feast_catalog(tmp_path / "missing")
    with pytest.raises(ComponentUnavailable, match=r"is not a Feast feature repository \(it has no feature_store"):
        feast_catalog(tmp_path)
    never_applied = tmp_path / "fresh"
    never_applied.mkdir()
    (never_applied / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    with pytest.raises(ComponentUnavailable, match=r"has no registry yet .* run `feast apply` in"):
        feast_catalog(never_applied)
    assert not (never_applied / "data").exists()  # browsing writes nothing
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "feature_store.yaml").write_text("project: [unclosed\n")
    with pytest.raises(ComponentUnavailable, match=r"feature_store.yaml cannot be read \(.+\); fix it"):
        feast_catalog(broken)


def test_feast_location_node_folder_then_environment(tmp_path: Path, feast_repo: Path, project_dir: Path) -> None:
    assert feast_location("features", [project_dir], {}).location == str(feast_repo)
    assert feast_location(str(feast_repo), [], {}).source == "feast_repo"
    env = {"DAGSMITH_FEAST_REPO": str(tmp_path)}
    found = feast_location("/feast/keyword", [project_dir], env)  # a path inside the image: not here
    assert (found.location, found.source) == (str(tmp_path), "DAGSMITH_FEAST_REPO")
    with pytest.raises(ComponentUnavailable, match=r"'/feast/keyword' is not a folder on this machine .* set DAG"):
        feast_location("/feast/keyword", [project_dir], {})
    with pytest.raises(ComponentUnavailable, match="No Feast repository is configured"):
        feast_location("", [], {})


def test_mlflow_catalog_lists_experiments_models_and_aliases(mlflow_uri: str) -> None:
    catalog = mlflow_catalog(mlflow_uri)
    assert "keyword-training" in [e.name for e in catalog.experiments]
    model, other = catalog.registered_models
    assert (model.name, model.aliases, model.latest_versions) == (
        "keyword-recommender",
        {"candidate": "2", "champion": "1"},
        ["2"],
    )
    assert (other.name, other.aliases, other.latest_versions) == ("user-targeting", {}, [])


def test_mlflow_location_environment_then_existing_local_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"DAGSMITH_HOME": str(home)}
    with pytest.raises(ComponentUnavailable, match=r"MLflow is not configured: set MLFLOW_TRACKING_URI .* looked for"):
        mlflow_location("kw", env)
    workspace_db = home / "workspace" / "kw" / "mlflow" / "mlflow.db"
    workspace_db.parent.mkdir(parents=True)
    workspace_db.touch()
    assert mlflow_location("kw", env).location == f"sqlite:///{workspace_db}"
    (home / "mlflow.db").touch()
    assert mlflow_location("other", env).location == f"sqlite:///{home / 'mlflow.db'}"
    found = mlflow_location("kw", {**env, "MLFLOW_TRACKING_URI": "http://mlflow:5000"})
    assert (found.location, found.source) == ("http://mlflow:5000", "MLFLOW_TRACKING_URI")
    both = {"MLFLOW_TRACKING_URI": "http://a", "DAGSMITH_MLFLOW_TRACKING_URI": "http://b"}
    assert mlflow_location(None, both).location == "http://b"


def test_mlflow_problems_are_clear_and_quick(tmp_path: Path, silent_server: int) -> None:
    start = time.monotonic()
    uri = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(ComponentUnavailable, match=rf"MLflow at {uri} is not reachable: .*set MLFLOW_TRACKING_URI"):
        mlflow_catalog(uri)
    assert time.monotonic() - start < 3
    missing = tmp_path / "nope.db"
    with pytest.raises(ComponentUnavailable, match=r"is not reachable: the database file .*nope.db does not exist"):
        mlflow_catalog(f"sqlite:///{missing}")
    assert not missing.exists()  # MLflow would have created an empty store
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE things (id INTEGER)")
    with pytest.raises(ComponentUnavailable, match="is not an MLflow database"):
        mlflow_catalog(f"sqlite:///{other}")
    with sqlite3.connect(other) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["things"]
    start = time.monotonic()
    with pytest.raises(ComponentUnavailable, match=r"is not reachable: .*(timed out|no answer)"):
        mlflow_catalog(f"http://127.0.0.1:{silent_server}")
    assert time.monotonic() - start < CONNECT_TIMEOUT_S + 2


def test_within_gives_up_at_the_deadline() -> None:
    start = time.monotonic()
    with pytest.raises(ComponentUnavailable, match=r"MLflow at x did not answer within 0\.2 s"):
        within(0.2, "MLflow at x", lambda: time.sleep(5))
    assert time.monotonic() - start < 1
    with pytest.raises(ZeroDivisionError):
        within(1, "x", lambda: 1 / 0)
    assert within(1, "x", lambda: 42) == 42


def test_mlflow_targets_are_fields_of_their_node_types() -> None:
    for kind, fields in MLFLOW_NODES.items():
        node_type = CATALOG.get(kind)
        assert node_type is not None
        for name in (fields.model, *fields.aliases, fields.experiment):
            assert name is None or name in node_type.model_fields, (kind, name)


# -- the inspector's dialog (NiceGUI's simulated user) ----------------------------------------------------
@pytest.fixture
def services(tmp_path: Path) -> EditorServices:
    return EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


async def open_bench(user: User, services: EditorServices) -> Workbench:
    """The workbench on a blank pipeline; the canvas's browser side is not needed here."""
    project = services.local_project()
    info = services.create(project.id, Pipeline.model_validate({"settings": {"name": "Blank"}}))
    holder: dict[str, Workbench] = {}

    @ui.page("/")
    def page() -> None:
        _, document, _ = services.open_draft(info.id)
        holder["bench"] = Workbench(services, info.id, document, info.name)

    await user.open("/")
    bench = holder["bench"]
    bench.canvas.run_method = lambda *_, **__: None  # type: ignore[method-assign,assignment,return-value]
    return bench


def add_node(bench: Workbench, kind: str, **params: Any) -> str:
    bench.add(kind, 0, 0)
    node_id = bench.session.pipeline.nodes[-1].id
    for name, value in params.items():
        bench.session.set_param(node_id, (name,), value)
    bench.inspector.select(node_id)
    return node_id


def params(bench: Workbench, node_id: str) -> dict[str, Any]:
    node = bench.session.pipeline.node(node_id)
    assert node is not None
    return node.params


async def test_browse_feast_picks_a_service_and_features(
    user: User, services: EditorServices, feast_repo: Path, project_dir: Path
) -> None:
    services.set_git(services.local_project().id, str(project_dir), "main")
    bench = await open_bench(user, services)
    node_id = add_node(bench, "feature_retrieval", feast_repo="features")  # relative to the project folder
    user.find(marker="browse-feast").click()
    await user.should_see(marker="browse-service-keyword_features", retries=300)
    await user.should_see(f"{feast_repo} (from feast_repo)")
    user.find(marker="browse-service-keyword_features").click()
    assert params(bench, node_id)["feature_service"] == "keyword_features"
    assert bench.inspector.forms[1].widgets["feature_service"].value == "keyword_features"  # the form shows it
    user.find(marker="browse-feature-user_stats:clicks_7d").click()
    user.find(marker="browse-feature-keyword_stats:keyword_count").click()
    assert params(bench, node_id)["features"] == ["user_stats:clicks_7d", "keyword_stats:keyword_count"]
    user.find(marker="browse-feature-user_stats:clicks_7d").click()  # a second click removes it
    assert params(bench, node_id)["features"] == ["keyword_stats:keyword_count"]
    await bench.drafts.flush()  # drafts are saved off the event loop
    assert services.open_draft(bench.pipeline_id)[1].node(node_id).params["feature_service"] == "keyword_features"  # type: ignore[union-attr]


async def test_browse_feast_picks_views_to_materialize(user: User, services: EditorServices, feast_repo: Path) -> None:
    bench = await open_bench(user, services)
    node_id = add_node(bench, "feature_materialize", feast_repo=str(feast_repo))
    user.find(marker="browse-feast").click()
    await user.should_see(marker="browse-view-user_stats", retries=300)
    await user.should_not_see(marker="browse-service-keyword_features")  # services are for retrieval
    user.find(marker="browse-view-user_stats").click()
    assert params(bench, node_id)["feature_views"] == ["user_stats"]


async def test_browse_feast_unconfigured_shows_the_message(
    user: User, services: EditorServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSMITH_FEAST_REPO", raising=False)
    bench = await open_bench(user, services)
    add_node(bench, "feature_retrieval", feast_repo="/feast/keyword")
    user.find(marker="browse-feast").click()
    await user.should_see(marker="browse-error", retries=100)
    await user.should_see("Feast repository '/feast/keyword' is not a folder on this machine", retries=1)


async def test_browse_mlflow_picks_models_and_aliases(
    user: User, services: EditorServices, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    monkeypatch.delenv("DAGSMITH_MLFLOW_TRACKING_URI", raising=False)
    bench = await open_bench(user, services)
    node_id = add_node(bench, "batch_predict")
    user.find(marker="browse-mlflow").click()
    await user.should_see(marker="browse-model-keyword-recommender", retries=300)
    await user.should_see(marker="browse-experiment-keyword-training", retries=1)
    user.find(marker="browse-model-keyword-recommender").click()
    user.find(marker="browse-alias-model_alias-keyword-recommender-candidate").click()
    assert (params(bench, node_id)["model_name"], params(bench, node_id)["model_alias"]) == (
        "keyword-recommender",
        "candidate",
    )
    assert bench.inspector.forms[1].widgets["model_alias"].value == "candidate"
    bench.inspector.browser.dialog.close()
    gate = add_node(bench, "model_gate")
    user.find(marker="browse-mlflow").click()
    await user.should_see(marker="browse-alias-champion_alias-keyword-recommender-champion", retries=300)
    user.find(marker="browse-alias-candidate_alias-keyword-recommender-candidate").click()
    user.find(marker="browse-alias-champion_alias-keyword-recommender-champion").click()
    assert (params(bench, gate)["candidate_alias"], params(bench, gate)["champion_alias"]) == ("candidate", "champion")
    register = add_node(bench, "register_model")
    user.find(marker="browse-mlflow").click()
    await user.should_see(marker="browse-alias-alias-keyword-recommender-champion", retries=300)
    user.find(marker="browse-model-keyword-recommender").click()
    user.find(marker="browse-alias-alias-keyword-recommender-champion").click()
    assert (params(bench, register)["model_name"], params(bench, register)["alias"]) == (
        "keyword-recommender",
        "champion",
    )


async def test_browse_mlflow_unconfigured_or_unreachable_shows_the_message(
    user: User, services: EditorServices, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("MLFLOW_TRACKING_URI", "DAGSMITH_MLFLOW_TRACKING_URI", "DAGSMITH_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    bench = await open_bench(user, services)
    add_node(bench, "monitor")
    user.find(marker="browse-mlflow").click()
    await user.should_see(marker="browse-error", retries=100)
    await user.should_see("MLflow is not configured: set MLFLOW_TRACKING_URI", retries=1)
    uri = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    user.find(marker="browse-reload").click()
    await user.should_see(f"MLflow at {uri} is not reachable", retries=100)
