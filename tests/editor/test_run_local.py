"""Local runs end to end, with the real components: Airflow 3 on SQLite, MLflow, Feast, BentoML.

One workspace (one Airflow database, one MLflow database) serves the whole module. The keyword workload
runs twice (a champion is promoted, built and served; then a worse candidate is dropped while the
champion keeps serving), its monitor sees the metric degrade and triggers a retraining run, the article
workload runs its trials in parallel and serves the best, and user targeting writes its list. Every
BentoML server started here is stopped at the end.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dagsmith.editor.runs import (
    STATES,
    RunHandle,
    TaskEvent,
    Workspace,
    list_runs,
    servers,
    start_local_run,
    stop_runner,
    stop_serving,
)
from dagsmith.nodes import load

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ROOT / "nodes" / "examples" / "workloads"
KEYWORD = WORKLOADS / "keyword" / "pipeline.dagsmith.json"
MONITOR = WORKLOADS / "keyword" / "monitor.dagsmith.json"
ARTICLE = WORKLOADS / "article" / "pipeline.dagsmith.json"
TARGETING = WORKLOADS / "user_targeting" / "pipeline.dagsmith.json"
TIMEOUT = 420


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The module's workspace; its BentoML servers are stopped (and checked gone) at the end."""
    root = Workspace.at(tmp_path_factory.mktemp("run-workspace"))
    yield root
    stop_serving(root.serving)
    stop_runner(root.root)
    assert not any(record["running"] for record in servers(root.serving))
    assert not stop_runner(root.root)  # nothing left running


@pytest.fixture(scope="module")
def environ(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the runs: every service in the workspace, nothing from the developer's setup.

    No cloud credentials or settings of this machine reach a step. The store is chosen as by default (no
    ``DAGSMITH_LOCAL_STORE``): ``test_run_local_store.py`` runs with this environment on real stores.
    """
    dropped = ("MLFLOW_", "AIRFLOW", "DAGSMITH_", "AWS_", "GOOGLE_", "STORAGE_EMULATOR_HOST")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    env.update(
        DAGSMITH_HOME=str(tmp_path_factory.mktemp("dagsmith-home")),
        MLFLOW_TRACKING_URI=workspace.mlflow_uri,
        BENTOML_HOME=str(workspace.bentoml_home),
        BENTOML_DO_NOT_TRACK="true",
        FEAST_USAGE="False",
        DAGSMITH_RUNNER_IDLE="300",  # the module stops it; this is the safety net
    )
    return env


@pytest.fixture(scope="module")
def workspace_environ(environ: dict[str, str]) -> dict[str, str]:
    """This module's runs: the examples name a bucket (``s3://ml-artifacts``), and whatever this machine can
    reach (a developer's own AWS profile or gcloud login included), their artifacts stay in the workspace."""
    return {**environ, "DAGSMITH_LOCAL_STORE": "workspace"}


def run(path: Path, workspace: Workspace, environ: dict[str, str], **options: Any) -> tuple[RunHandle, list[TaskEvent]]:
    """Run a workload through the Python API, collecting the state changes; wait for the end."""
    seen: list[TaskEvent] = []
    handle = start_local_run(
        load(path), workspace.root, project_dir=path.parent, environ=environ, on_state=seen.append, **options
    )
    handle.wait(TIMEOUT)
    return handle, seen


def client(workspace: Workspace) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=workspace.mlflow_uri, registry_uri=workspace.mlflow_uri)


def post(url: str, payload: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def states(record: dict[str, Any]) -> dict[str, str]:
    return {
        task["task_id"] + ("" if task["map_index"] < 0 else f"[{task['map_index']}]"): task["state"]
        for task in record["tasks"]
    }


def serving(workspace: Workspace, name: str) -> dict[str, Any]:
    return next(record for record in servers(workspace.serving) if record["name"] == name)


ROW_HIGH = {"clicks_7d": 35.0, "searches_7d": 30.0, "ctr_7d": 0.11, "popularity": 0.5}
ROW_LOW = {"clicks_7d": 1.0, "searches_7d": 30.0, "ctr_7d": 0.02, "popularity": 0.5}


@pytest.fixture(scope="module")
def keyword_first(
    workspace: Workspace, workspace_environ: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """The first keyword run, through the CLI: no champion yet, so the candidate is promoted and served."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagsmith.editor.cli",
            "run",
            str(KEYWORD),
            "--local",
            "--workspace",
            str(workspace.root),
            "--logical-date",
            "2026-01-01",
        ],
        env=workspace_environ,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    records = list_runs(workspace.runs, "keyword_recommendation")
    return done, records[0]


@pytest.fixture(scope="module")
def keyword_second(
    keyword_first: Any, workspace: Workspace, workspace_environ: dict[str, str]
) -> tuple[RunHandle, list[TaskEvent], dict[str, Any]]:
    """The second keyword run with a deliberately worse candidate (45% of its labels flipped)."""
    before = serving(workspace, "keyword-api")
    handle, seen = run(KEYWORD, workspace, workspace_environ, conf={"label_noise": 0.45}, logical_date="2026-01-02")
    return handle, seen, before


def test_cli_prints_progress_and_a_summary(keyword_first: Any) -> None:
    done, record = keyword_first
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for line in ("train                        running", "deploy                       success", "gate gate: passed"):
        assert line in out
    assert "model version: keyword-recommender v1 @candidate @champion (from register)" in out
    assert "serving keyword-api at http://127.0.0.1:" in out
    assert record["state"] == "success" and record["logical_date"].startswith("2026-01-01")


def test_the_artifacts_stay_in_the_workspace_whatever_this_machine_can_reach(
    keyword_first: Any, workspace: Workspace
) -> None:
    _, record = keyword_first
    assert record["artifact_store"]["root"] == str(workspace.artifacts)
    assert record["notices"] == [], "the workspace is chosen (DAGSMITH_LOCAL_STORE), not a fallback from the bucket"
    assert list(workspace.artifacts.rglob("*.manifest.json")), "the run's outputs were stored in the workspace"


def test_first_run_registers_promotes_and_serves(keyword_first: Any, workspace: Workspace) -> None:
    _, record = keyword_first
    mlflow = client(workspace)
    champion = mlflow.get_model_version_by_alias("keyword-recommender", "champion")
    assert str(champion.version) == "1"
    assert str(mlflow.get_model_version_by_alias("keyword-recommender", "candidate").version) == "1"
    run = mlflow.get_run(champion.run_id)
    assert run.data.metrics["val_ndcg"] > 0.5
    assert [item["run_id"] for item in record["links"]["mlflow_runs"]] == [champion.run_id]
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(workspace.mlflow)
    assert set(states(record).values()) == {"success"}
    assert not (KEYWORD.parent / "mlruns").exists()


def test_the_served_champion_answers_http(keyword_first: Any, workspace: Workspace) -> None:
    _, record = keyword_first
    url = record["links"]["deployments"][0]["url"]
    assert url == serving(workspace, "keyword-api")["url"]
    high, low = post(url + "/predict", {"rows": [ROW_HIGH, ROW_LOW]})
    assert 0 <= low < high <= 1
    keywords = {"shoes": {"ctr_7d": 0.11, "popularity": 0.5}, "hats": {"ctr_7d": 0.02, "popularity": 0.5}}
    assert post(url + "/recommend", {"user": ROW_HIGH, "keywords": keywords, "k": 1}) == ["shoes"]


def test_a_worse_candidate_is_dropped_and_the_champion_keeps_serving(keyword_second: Any, workspace: Workspace) -> None:
    handle, _, before = keyword_second
    record = handle.record()
    assert record["state"] == "success"
    found = states(record)
    assert found["gate"] == "success" and found["gate__passed"] == "success"
    assert found["build_bento"] == "skipped" and found["deploy"] == "skipped"
    gate = record["links"]["gates"][0]
    assert gate["passed"] is False and gate["metrics"]["candidate"] < gate["metrics"]["champion"]
    mlflow = client(workspace)
    assert str(mlflow.get_model_version_by_alias("keyword-recommender", "champion").version) == "1"
    assert str(mlflow.get_model_version_by_alias("keyword-recommender", "candidate").version) == "2"
    after = serving(workspace, "keyword-api")
    assert after["running"] and (after["pid"], after["url"]) == (before["pid"], before["url"])
    assert post(after["url"] + "/predict", {"rows": [ROW_HIGH]})[0] > 0.5


def test_states_and_logs_reach_the_caller(keyword_second: Any) -> None:
    handle, seen, _ = keyword_second
    assert {event.state for event in seen} <= set(STATES)
    final = handle.tasks()
    assert final["train"].state == "success" and final["deploy"].state == "skipped"
    assert final["train"].node == "train" and final["gate__passed"].node == "gate"
    running = [event.task_id for event in seen if event.state == "running"]
    assert running[:4] == ["impressions", "keyword_features", "train", "register"]
    log = handle.log_path("gate").read_text()
    assert "decision: KEEP CHAMPION" in log
    assert handle.log_path("train") == final["train"].log and "val_ndcg" in final["train"].log.read_text()


@pytest.fixture(scope="module")
def monitored(keyword_second: Any, workspace: Workspace, workspace_environ: dict[str, str]) -> RunHandle:
    """The monitor sees today's traffic drift (preferences inverted): the online NDCG falls, it retrains."""
    handle, _ = run(MONITOR, workspace, workspace_environ, conf={"drift": 1.0}, logical_date="2026-01-03")
    return handle


def test_the_monitor_triggers_a_retraining_run(monitored: RunHandle, workspace: Workspace) -> None:
    record = monitored.record()
    assert record["state"] == "success", record.get("error")
    monitor = record["links"]["monitors"][0]
    assert monitor["trigger"] is True and monitor["metrics"]["value"] < monitor["metrics"]["threshold"]
    assert states(record)["online_ndcg_monitor__retrain"] == "success"
    (triggered,) = record["triggered"]
    assert triggered["dag_id"] == "keyword_recommendation"
    with sqlite3.connect(workspace.airflow_db) as db:
        row = db.execute(
            "select run_type, conf, state from dag_run where dag_id = ? and run_id = ?",
            ("keyword_recommendation", triggered["airflow_run_id"]),
        ).fetchone()
    assert row[0] == "operator_triggered" and json.loads(row[1]) == {"reason": "online-ndcg-degraded"}
    assert row[2] == "success"  # the local run of the retraining pipeline ran it
    retrain = monitored.record(triggered["run"])
    assert retrain["state"] == "success" and retrain["triggered_by"]["run"] == record["id"]
    assert states(retrain)["train"] == "success"
    assert retrain["id"] in [item["id"] for item in list_runs(workspace.runs, "keyword_recommendation")]


@pytest.fixture(scope="module")
def article(workspace: Workspace, workspace_environ: dict[str, str]) -> RunHandle:
    handle, _ = run(ARTICLE, workspace, workspace_environ, logical_date="2026-01-04", parallelism=4)
    return handle


def _overlap(tasks: list[tuple[str, str]]) -> bool:
    spans = sorted((datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in tasks)
    return any(later_start < earlier_end for (_, earlier_end), (later_start, _) in itertools.pairwise(spans))


def _most_at_once(tasks: list[tuple[str, str]]) -> int:
    moments = [(datetime.fromisoformat(start), 1) for start, _ in tasks]
    moments += [(datetime.fromisoformat(end), -1) for _, end in tasks]
    level = most = 0
    for _, change in sorted(moments):
        level += change
        most = max(most, level)
    return most


def test_article_trials_run_in_parallel(article: RunHandle, workspace: Workspace) -> None:
    record = article.record()
    assert record["state"] == "success", record.get("error")
    trials = [task for task in record["tasks"] if task["task_id"] == "tune__trial"]
    assert sorted(task["map_index"] for task in trials) == [0, 1, 2, 3]
    assert _overlap([(task["start"], task["end"]) for task in trials])
    with sqlite3.connect(workspace.airflow_db) as db:  # as Airflow itself recorded them
        rows = db.execute(
            "select start_date, end_date from task_instance where dag_id = ? and run_id = ? and task_id = ?",
            ("article_recommendation", record["airflow_run_id"], "tune__trial"),
        ).fetchall()
    assert len(rows) == 4 and _overlap([(start, end) for start, end in rows])
    assert _most_at_once([(task["start"], task["end"]) for task in trials]) == 2  # the node's parallelism


def test_the_best_trial_is_registered_and_served(article: RunHandle, workspace: Workspace) -> None:
    record = article.record()
    mlflow = client(workspace)
    experiment = mlflow.get_experiment_by_name("article-recommendation")
    runs = mlflow.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`dagsmith.run_id` = '{record['airflow_run_id']}'"
    )
    assert len(runs) == 4 and all("val_auc" in item.data.metrics for item in runs)
    best = max(runs, key=lambda item: item.data.metrics["val_auc"])
    champion = mlflow.get_model_version_by_alias("article-recommender", "champion")
    assert champion.run_id == best.info.run_id
    linked = {item["run_id"] for item in record["links"]["mlflow_runs"]}
    assert {item.info.run_id for item in runs} <= linked
    url = record["links"]["deployments"][0]["url"]
    articles = {"kernels": {"views_7d": 500.0, "ctr_7d": 0.099}, "gardening": {"views_7d": 500.0, "ctr_7d": 0.051}}
    reader = {"tech_affinity": 0.95, "sessions_7d": 5.0}
    assert post(url + "/recommend", {"reader": reader, "articles": articles, "k": 2}) == ["kernels", "gardening"]


def test_user_targeting_writes_the_list_where_the_pipeline_says(
    workspace: Workspace, workspace_environ: dict[str, str]
) -> None:
    handle, _ = run(TARGETING, workspace, workspace_environ, logical_date="2026-01-05")
    record = handle.record()
    assert record["state"] == "success", record.get("error")
    listing = workspace.artifacts / "targeting" / "2026-01-05" / "target-users-20260105"
    lines = listing.read_text().splitlines()
    assert lines[0] == "user_id,score" and len(lines) == 51
    scores = [float(line.split(",")[1]) for line in lines[1:]]
    assert scores == sorted(scores, reverse=True)
    assert all(1 <= int(line.split(",")[0]) <= 500 for line in lines[1:])
    assert str(client(workspace).get_model_version_by_alias("user-targeting", "champion").version) == "1"


def test_a_run_can_be_cancelled(workspace: Workspace, workspace_environ: dict[str, str], tmp_path: Path) -> None:
    from dagsmith.nodes import Node, Pipeline, PipelineSettings

    (tmp_path / "wait.py").write_text(
        "import os, pathlib, time\npathlib.Path('pid').write_text(str(os.getpid()))\ntime.sleep(120)\n"
    )
    pipeline = Pipeline(
        settings=PipelineSettings(name="Cancel me", default_image="registry.example.com/x:1"),
        nodes=[Node(id="wait", type="script", params={"script": "wait.py", "outputs": []})],
    )
    started: list[TaskEvent] = []
    handle = start_local_run(
        pipeline, workspace.root, project_dir=tmp_path, environ=workspace_environ, on_state=started.append
    )
    deadline = time.monotonic() + TIMEOUT
    running = False
    while not (running and (tmp_path / "pid").exists()) and time.monotonic() < deadline:
        running = any(event.state == "running" and event.task_id == "wait" for event in started)
        time.sleep(0.2)
    handle.cancel()
    record = handle.wait(60)
    assert record["state"] == "cancelled"
    assert handle.tasks()["wait"].state == "failed"
    assert handle.pid is not None
    for pid in (handle.pid, int((tmp_path / "pid").read_text())):  # the run's process and the step's
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"process {pid} is still there after the run was cancelled")
