"""Local runs through the real scheduler (``dagsmith run --local --scheduler``), with no mocks.

A small project (a hyper-parameter search of two trials, parallelism 2, each trial logging to MLflow, and
a script step with a typed run-time parameter) runs through the local Airflow that the run starts
(``dagsmith airflow up``'s instance). The trials overlap in time, as Airflow itself recorded them; the
events, logs and record are those of the in-process runs; a typed conf reaches the step; an import error
is Airflow's own message; the editor's Run (``LocalRuns.start``) takes the same way with the setting
``DAGSMITH_LOCAL_RUNS=scheduler``; a monitor's retraining, which the scheduler runs itself, is followed as a
local run of its own. Every instance is stopped at the end.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from dagsmith.editor.airflow_local.api import Client
from dagsmith.editor.airflow_local.database import ensure_login
from dagsmith.editor.airflow_local.follow import wait_parsed
from dagsmith.editor.airflow_local.instance import down, read_state
from dagsmith.editor.airflow_local.scheduled import project_for, start_scheduled_run
from dagsmith.editor.run_services import RunSettings
from dagsmith.editor.runs import TaskEvent, list_runs
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Node, Pipeline, PipelineSettings, RuntimeParam, dumps

pytestmark = pytest.mark.slow
TIMEOUT = 400

TRIAL = """
import argparse, time
import mlflow
parser = argparse.ArgumentParser()
parser.add_argument("--rate", type=float)
args = parser.parse_args()
with mlflow.start_run():
    time.sleep(3)
    mlflow.log_metric("score", 1 - abs(args.rate - 0.5))
"""
SLOW = "import pathlib, time; time.sleep(90); pathlib.Path('slow-done').touch()"
SAY = "import json, pathlib, sys; pathlib.Path('said.json').write_text(json.dumps({'times': sys.argv[1]}))\n"


def search() -> Pipeline:
    return Pipeline(
        settings=PipelineSettings(name="Tiny search", default_image="registry.example.com/x:1"),
        nodes=[
            Node(
                id="search",
                type="hyperparameter_search",
                params={
                    "search_space": {"rate": {"kind": "uniform", "low": 0.1, "high": 0.9}},
                    "objective_metric": "score",
                    "max_trials": 2,
                    "parallelism": 2,
                    "seed": 3,
                    "command": ["python", "trial.py"],
                    "experiment": "tiny-search",
                },
            )
        ],
    )


def typed() -> Pipeline:
    return Pipeline(
        settings=PipelineSettings(
            name="Typed say",
            default_image="registry.example.com/x:1",
            params=[RuntimeParam(name="times", type="integer", default=1)],
        ),
        nodes=[
            Node(
                id="say",
                type="script",
                params={"script": "say.py", "arguments": ["{{ params.times }}"], "outputs": []},
            )
        ],
    )


WRITE = (
    "import os, sys, pandas as pd; shift = float(sys.argv[1]); "
    "pd.DataFrame({'x': [i / 100 + shift for i in range(200)]}).to_parquet(os.environ['DAGSMITH_OUTPUT_DATA'])"
)


def drift_watch() -> Pipeline:
    """A monitor that sees its current data drift far from the reference: it triggers ``drift_retrain``."""

    def writer(node_id: str, shift: float) -> Node:
        params = {"command": ["python", "-c", WRITE, str(shift)], "outputs": [{"name": "data", "type": "dataset"}]}
        return Node(id=node_id, type="script", params=params)

    watch = {"source": "drift", "metric": "x", "threshold": 0.2, "trigger_when": "above"}
    watch.update(retrain_dag_id="drift_retrain", retrain_conf={"reason": "drift"})
    return Pipeline(
        settings=PipelineSettings(name="Drift watch", default_image="registry.example.com/x:1"),
        nodes=[writer("reference", 0.0), writer("current", 1.5), Node(id="watch", type="monitor", params=watch)],
        edges=[
            {"id": "e1", "source": "reference", "source_port": "data", "target": "watch", "target_port": "reference"},
            {"id": "e2", "source": "current", "source_port": "data", "target": "watch", "target_port": "current"},
        ],
    )


def drift_retrain() -> Pipeline:
    return Pipeline(
        settings=PipelineSettings(name="Drift retrain", default_image="registry.example.com/x:1"),
        nodes=[Node(id="retrain", type="script", params={"command": ["python", "-c", "print('retraining')"]})],
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("project")
    (folder / "trial.py").write_text(TRIAL, encoding="utf-8")
    (folder / "say.py").write_text(SAY, encoding="utf-8")
    (folder / "search.dagsmith.json").write_text(dumps(search()), encoding="utf-8")
    workspace = tmp_path_factory.mktemp("workspace")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AIRFLOW", "DAGSMITH_"))}
    env.update(
        DAGSMITH_HOME=str(tmp_path_factory.mktemp("dagsmith-home")), BENTOML_DO_NOT_TRACK="true", FEAST_USAGE="False"
    )
    yield {"folder": folder, "workspace": workspace, "env": env}
    down(project_for(folder, workspace))


@pytest.fixture(scope="module")
def searched(project: dict[str, Any]) -> dict[str, Any]:
    """The search run through the CLI with --scheduler."""
    command = [sys.executable, "-m", "dagsmith.editor.cli", "run", str(project["folder"] / "search.dagsmith.json")]
    command += ["--local", "--scheduler", "--workspace", str(project["workspace"])]
    done = subprocess.run(command, env=project["env"], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = list_runs(Path(project["workspace"]) / "runs", "tiny_search")[0]
    return {"stdout": done.stdout, "record": record}


def _spans(rows: list[tuple[str, str]]) -> list[tuple[datetime, datetime]]:
    return sorted((datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in rows)


def _overlap(rows: list[tuple[str, str]]) -> bool:
    return any(later < earlier_end for (_, earlier_end), (later, _) in itertools.pairwise(_spans(rows)))


def test_the_run_goes_through_the_real_scheduler(searched: dict[str, Any], project: dict[str, Any]) -> None:
    record = searched["record"]
    assert record["state"] == "success", record.get("error")
    assert record["through"] == "scheduler" and record["airflow_run_id"].startswith("manual__")
    home = Path(project["workspace"]) / "airflow-server"
    state = read_state(project_for(project["folder"], project["workspace"]))
    assert state is not None  # the instance the run started keeps running, as `dagsmith airflow up` leaves it
    with sqlite3.connect(home / "airflow.db") as db:  # the instance's own metadata database
        run_type, state_of_run = db.execute(
            "select run_type, state from dag_run where dag_id = 'tiny_search' and run_id = ?",
            (record["airflow_run_id"],),
        ).fetchone()
    assert (run_type, state_of_run) == ("manual", "success")
    assert "search__trial[0]             success" in searched["stdout"]
    assert "MLflow runs" in searched["stdout"]


def test_the_trials_overlap_in_time(searched: dict[str, Any], project: dict[str, Any]) -> None:
    record = searched["record"]
    trials = [task for task in record["tasks"] if task["task_id"] == "search__trial"]
    assert sorted(task["map_index"] for task in trials) == [0, 1]
    assert _overlap([(task["start"], task["end"]) for task in trials])
    home = Path(project["workspace"]) / "airflow-server"
    with sqlite3.connect(home / "airflow.db") as db:  # as Airflow itself recorded them
        rows = db.execute(
            "select start_date, end_date from task_instance where dag_id = 'tiny_search' and run_id = ? "
            "and task_id = 'search__trial'",
            (record["airflow_run_id"],),
        ).fetchall()
    assert len(rows) == 2 and _overlap([(start, end) for start, end in rows])


def test_events_logs_and_values_are_those_of_local_runs(searched: dict[str, Any], project: dict[str, Any]) -> None:
    record = searched["record"]
    folder = Path(project["workspace"]) / "runs" / "tiny_search" / record["id"]
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    seen = {(event["task_id"], event["map_index"], event["state"]) for event in events if event["kind"] == "task"}
    assert {("search__trial", 0, "running"), ("search__trial", 0, "success"), ("search", -1, "success")} <= seen
    assert events[-1]["kind"] == "end" and events[-1]["code"] == 0
    log = Path(next(task["log"] for task in record["tasks"] if task["task_id"] == "search__trial"))
    assert "Command exited with return code 0" in log.read_text()
    assert len(record["links"]["mlflow_runs"]) >= 2  # each trial's MLflow run, from the tasks' XComs


def test_a_typed_conf_reaches_the_step_through_the_api(searched: dict[str, Any], project: dict[str, Any]) -> None:
    folder = Path(project["folder"])
    env = project["env"]
    handle = start_scheduled_run(
        typed(), project["workspace"], project_dir=folder, conf={"times": 3}, environ=env, source="cli"
    )
    record = handle.wait(TIMEOUT)
    assert record["state"] == "success", record.get("error")
    assert json.loads((folder / "said.json").read_text()) == {"times": "3"}
    with sqlite3.connect(Path(project["workspace"]) / "airflow-server" / "airflow.db") as db:
        (conf,) = db.execute("select conf from dag_run where run_id = ?", (record["airflow_run_id"],)).fetchone()
    assert json.loads(conf) == {"times": 3}  # typed as the parameter says (Airflow refuses "3" for an integer)
    assert handle.tasks()["say"].state == "success"


def test_an_import_error_is_airflows_own_message(searched: dict[str, Any], project: dict[str, Any]) -> None:
    where = project_for(project["folder"], project["workspace"])
    state = read_state(where)
    assert state is not None
    client = Client(state.url, *ensure_login(where.home))
    broken = where.dags / "broken_on_purpose.py"
    since = time.time() - 1
    broken.write_text("from airflow.sdk import DAG\nraise ValueError('broken on purpose')\n", encoding="utf-8")
    try:
        with pytest.raises(RuntimeError, match=r"(?s)could not import broken_on_purpose.py.*broken on purpose"):
            wait_parsed(client, "broken_on_purpose", broken, since)
    finally:
        broken.unlink()


def test_the_editors_run_goes_through_the_scheduler_with_the_setting(
    searched: dict[str, Any], project: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSMITH_HOME", project["env"]["DAGSMITH_HOME"])  # the database template is there
    monkeypatch.delenv("DAGSMITH_WORKSPACE", raising=False)
    services = EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")
    info = services.create(services.local_project().id, typed())
    seen: list[TaskEvent] = []
    settings = RunSettings(project_dir=str(project["folder"]), conf={"times": 2})
    environ = dict(project["env"], DAGSMITH_LOCAL_RUNS="scheduler")
    workspace = services.runs.workspace(info.project_id).root
    try:
        handle = services.runs.start(info.id, typed(), settings, on_state=seen.append, environ=environ)
        record = handle.wait(TIMEOUT)
        assert record["state"] == "success", record.get("error")
        assert record["through"] == "scheduler" and Path(record["workspace"]) == workspace
        assert ("say", "success") in {(event.node, event.state) for event in seen}  # the canvas's node states
        assert json.loads((Path(project["folder"]) / "said.json").read_text()) == {"times": "2"}
    finally:
        down(project_for(project["folder"], workspace))


def test_a_run_can_be_cancelled(searched: dict[str, Any], project: dict[str, Any]) -> None:
    slow = Pipeline(
        settings=PipelineSettings(name="Slow say", default_image="registry.example.com/x:1"),
        nodes=[Node(id="wait", type="script", params={"command": ["python", "-c", SLOW], "outputs": []})],
    )
    handle = start_scheduled_run(slow, project["workspace"], project_dir=project["folder"], environ=project["env"])
    deadline = time.monotonic() + TIMEOUT
    while "wait" not in handle.tasks() or handle.tasks()["wait"].state != "running":
        assert time.monotonic() < deadline and not handle.done, handle.record()
        time.sleep(0.2)
    handle.cancel()
    record = handle.wait(120)
    assert record["state"] == "cancelled"
    database = Path(project["workspace"]) / "airflow-server" / "airflow.db"
    with sqlite3.connect(database) as db:
        (state,) = db.execute("select state from dag_run where run_id = ?", (record["airflow_run_id"],)).fetchone()
    assert state == "failed"  # Airflow's own run stopped too
    deadline = time.monotonic() + 60
    while _sleeping() and time.monotonic() < deadline:  # Airflow tells the task to stop at its next heartbeat
        time.sleep(0.5)
    assert not _sleeping()


def test_a_run_the_monitor_triggers_is_followed_as_its_own_local_run(
    searched: dict[str, Any], project: dict[str, Any]
) -> None:
    """The monitor's retraining, which the scheduler runs itself, is followed as the in-process runs follow
    it: a local run of its own, linked both ways, with its states, log and conf."""
    folder, workspace = Path(project["folder"]), Path(project["workspace"])
    (folder / "drift_watch.dagsmith.json").write_text(dumps(drift_watch()), encoding="utf-8")
    (folder / "drift_retrain.dagsmith.json").write_text(dumps(drift_retrain()), encoding="utf-8")
    command = [sys.executable, "-m", "dagsmith.editor.cli", "run", str(folder / "drift_watch.dagsmith.json")]
    command += ["--local", "--scheduler", "--workspace", str(workspace)]
    command += ["--with", str(folder / "drift_retrain.dagsmith.json")]
    done = subprocess.run(command, env=project["env"], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = list_runs(workspace / "runs", "drift_watch")[0]
    assert record["state"] == "success" and record["links"]["monitors"][0]["trigger"] is True
    (triggered,) = record["triggered"]
    assert triggered["dag_id"] == "drift_retrain" and triggered["run"]
    assert f"triggered drift_retrain ({triggered['airflow_run_id']}): running it next" in done.stdout
    (retrain,) = list_runs(workspace / "runs", "drift_retrain")
    assert retrain["id"] == triggered["run"] and retrain["state"] == "success"
    assert retrain["triggered_by"] == {
        "dag_id": "drift_watch",
        "run": record["id"],
        "airflow_run_id": record["airflow_run_id"],
    }
    assert retrain["conf"] == {"reason": "drift"} and retrain["airflow_run_id"] == triggered["airflow_run_id"]
    (task,) = retrain["tasks"]
    assert (task["task_id"], task["node"], task["state"]) == ("retrain", "retrain", "success")
    assert "retraining" in Path(task["log"]).read_text()
    events = (workspace / "runs" / "drift_watch" / record["id"] / "events.jsonl").read_text().splitlines()
    retrain_states = {
        (event["task_id"], event["state"])
        for event in map(json.loads, events)
        if event["kind"] == "task" and event["run"] == retrain["id"]
    }
    assert ("retrain", "success") in retrain_states  # what the editor's canvas and the CLI follow
    assert f"drift_retrain {retrain['id']}: success" in done.stdout
    with sqlite3.connect(workspace / "airflow-server" / "airflow.db") as db:  # the scheduler ran it
        run_type, state = db.execute(
            "select run_type, state from dag_run where dag_id = 'drift_retrain' and run_id = ?",
            (triggered["airflow_run_id"],),
        ).fetchone()
        (paused,) = db.execute("select is_paused from dag where dag_id = 'drift_retrain'").fetchone()
    assert (run_type, state) == ("operator_triggered", "success")
    assert paused  # paused again after the run, as it was


def _sleeping() -> list[int]:
    """The processes of the slow step still running."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        if process.info["status"] != psutil.STATUS_ZOMBIE and SLOW in " ".join(process.info["cmdline"] or []):
            found.append(process.info["pid"])
    return found
