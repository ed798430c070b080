"""Monitor: reads the metric a monitoring step logged, keeps a cooldown, never triggers over a running retraining.

The step program runs against a real MLflow store on SQLite; the DAG's side (the count of queued or
running retraining runs, the trigger's run id) is checked on the generated file in a real Airflow 3.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sample_pipelines import node, pipeline

from dagsmith.codegen import render
from dagsmith.codegen.steps import source
from dagsmith.nodes import validate

MONITOR = {"metric": "ctr", "model_name": "rec", "threshold": 0.05, "retrain_dag_id": "retrain"}


def _monitor(**params: Any) -> Any:
    return pipeline("watch", [node("watch", "monitor", **{**MONITOR, **params})], [])


@pytest.mark.parametrize(
    ("value", "field"), [(0, "cooldown_hours"), (721, "cooldown_hours"), ("", "monitoring_experiment")]
)
def test_cooldown_and_experiment_are_bounded(value: object, field: str) -> None:
    errors = [(issue.node, issue.field) for issue in validate(_monitor(**{field: value})) if issue.is_error]
    assert errors == [("watch", field)]


class _TI:
    """The part of Airflow 3's RuntimeTaskInstance the monitor's count uses (it asks the API server)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[str]]] = []

    def get_dr_count(self, dag_id: str, states: list[str]) -> int:
        self.asked.append((dag_id, states))
        return 2

    def xcom_pull(self, task_ids: str, **_: Any) -> Any:
        return None


class _Variables:
    def get(self, key: str, default: str = "") -> str:
        return default


@pytest.mark.slow
def test_the_dag_counts_running_retraining_and_triggers_with_one_run_id_per_run(
    airflow_home: Path, tmp_path: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    # the call the template makes, as Airflow 3's task SDK spells it
    assert {"dag_id", "states"} <= set(inspect.signature(RuntimeTaskInstance.get_dr_count).parameters)
    (tmp_path / "watch.py").write_text(render(_monitor(cooldown_hours=6)), encoding="utf-8")
    bag = DagBag(dag_folder=str(tmp_path / "watch.py"))
    assert bag.import_errors == {}
    dag = bag.dags["watch"]
    trigger = dag.get_task("watch__retrain")
    assert trigger.trigger_run_id == "dagsmith_retrain__{{ run_id }}"
    watch = dag.get_task("watch")
    context = {
        "ti": _TI(),
        "run_id": "scheduled__2026-01-02",
        "ds": "2026-01-02",
        "ts": "2026-01-02T00:00:00+00:00",
        "var": {"value": _Variables()},
        "params": {},
    }
    watch.render_template_fields(context, dag.get_template_env())
    env = {var.name: var.value for var in watch.env_vars}
    assert env["DAGSMITH_RETRAIN_ACTIVE_RUNS"] == "2"
    assert context["ti"].asked == [("retrain", ["queued", "running"])]
    assert env["DAGSMITH_RETRAIN_RUN_ID"] == "dagsmith_retrain__scheduled__2026-01-02"
    assert json.loads(env["DAGSMITH_CONFIG"])["cooldown_hours"] == 6
    trigger.render_template_fields(context, dag.get_template_env())
    assert trigger.trigger_run_id == env["DAGSMITH_RETRAIN_RUN_ID"]  # what the step records is what runs
    # a task instance without the call (Airflow 2) renders nothing: the step relies on its cooldown
    airflow2 = {**context, "ti": object()}
    fresh = DagBag(dag_folder=str(tmp_path / "watch.py")).dags["watch"].get_task("watch")
    fresh.render_template_fields(airflow2, dag.get_template_env())
    assert {var.name: var.value for var in fresh.env_vars}["DAGSMITH_RETRAIN_ACTIVE_RUNS"] == ""


@pytest.fixture
def store(tmp_path: Path) -> tuple[Any, dict[str, str]]:
    """A SQLite MLflow store with model ``rec`` v1 (its training run logged ctr=0.9) as the champion."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    training = client.create_run(client.create_experiment("training"))
    client.log_metric(training.info.run_id, "ctr", 0.9)
    client.create_registered_model("rec")
    version = client.create_model_version("rec", "runs:/" + training.info.run_id + "/model", training.info.run_id)
    client.set_registered_model_alias("rec", "champion", version.version)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": uri,
        "DAGSMITH_XCOM_FILE": str(tmp_path / "xcom.json"),
        "DAGSMITH_DAG_ID": "watch",
        "DAGSMITH_TASK_ID": "watch",
    }
    return client, env


def _run(env: dict[str, str], run_id: str, active: str = "0", **params: Any) -> tuple[int, str, dict[str, Any]]:
    cfg = {
        "source": "mlflow",
        "model_alias": "champion",
        "trigger_when": "below",
        "monitoring_experiment": "monitoring",
        "cooldown_hours": 24,
        **MONITOR,
        **params,
    }
    step_env = {
        **env,
        "DAGSMITH_CONFIG": json.dumps(cfg),
        "DAGSMITH_RUN_ID": run_id,
        "DAGSMITH_RETRAIN_ACTIVE_RUNS": active,
        "DAGSMITH_RETRAIN_RUN_ID": "dagsmith_retrain__" + run_id,
    }
    program = source("runtime") + "\n\n\n" + source("monitor")
    done = subprocess.run(
        [sys.executable, "-c", program], env=step_env, capture_output=True, text=True, timeout=300, check=False
    )
    xcom = Path(env["DAGSMITH_XCOM_FILE"])
    reported = json.loads(xcom.read_text()) if done.returncode == 0 else {}
    xcom.unlink(missing_ok=True)
    return done.returncode, done.stdout + done.stderr, reported


def _evaluate(client: Any, value: float, version: str = "1") -> None:
    """What a monitoring step does (the contract): a finished run in the experiment, tagged with the model."""
    found = client.get_experiment_by_name("monitoring")
    experiment = found.experiment_id if found else client.create_experiment("monitoring")
    run = client.create_run(experiment, tags={"dagsmith.model_name": "rec", "dagsmith.model_version": version})
    client.log_metric(run.info.run_id, "ctr", value)
    client.set_terminated(run.info.run_id, "FINISHED")


@pytest.mark.slow
def test_the_metric_comes_from_the_monitoring_run_not_the_training_run(store: tuple[Any, dict[str, str]]) -> None:
    client, env = store
    code, log, _ = _run(env, "r0")
    assert code == 1
    assert "no finished run in the MLflow experiment 'monitoring' tagged dagsmith.model_name=rec" in log
    _evaluate(client, 0.01, version="2")  # another version's measurement does not count
    assert _run(env, "r0")[0] == 1
    _evaluate(client, 0.01)  # the champion (training ctr 0.9) does badly online
    code, log, reported = _run(env, "r1")
    assert code == 0, log
    assert reported["metrics"]["value"] == 0.01 and reported["trigger"] is True


@pytest.mark.slow
def test_a_trigger_is_recorded_and_none_follows_within_the_cooldown(store: tuple[Any, dict[str, str]]) -> None:
    client, env = store
    _evaluate(client, 0.01)
    assert _run(env, "r1")[2]["trigger"] is True
    (record,) = client.search_runs(
        [client.get_experiment_by_name("monitoring").experiment_id], "tags.`dagsmith.kind` = 'retrain-trigger'"
    )
    assert record.data.tags["dagsmith.retrain_dag_id"] == "retrain"
    assert record.data.tags["dagsmith.triggered_run_id"] == "dagsmith_retrain__r1"
    code, log, reported = _run(env, "r2")
    assert code == 0, log
    assert reported["trigger"] is False and reported["crossed"] is True
    assert "within the cooldown of 24 h" in reported["refused"] and "dagsmith_retrain__r1" in reported["refused"]
    assert "within the cooldown" in log
    # a trigger recorded two hours ago no longer blocks a one-hour cooldown
    old = client.create_run(
        client.get_experiment_by_name("monitoring").experiment_id,
        start_time=int((time.time() - 7200) * 1000),
        tags={"dagsmith.kind": "retrain-trigger", "dagsmith.retrain_dag_id": "other"},
    )
    client.set_terminated(old.info.run_id, "FINISHED")
    assert _run(env, "r3", retrain_dag_id="other", cooldown_hours=1)[2]["trigger"] is True


@pytest.mark.slow
def test_no_trigger_while_a_retraining_run_is_still_going(store: tuple[Any, dict[str, str]]) -> None:
    client, env = store
    _evaluate(client, 0.01)
    code, log, reported = _run(env, "r1", active="1")
    assert code == 0, log
    assert reported["trigger"] is False and reported["refused"] == "retrain has 1 run(s) queued or running"
    assert (
        client.search_runs(
            [client.get_experiment_by_name("monitoring").experiment_id], "tags.`dagsmith.kind` = 'retrain-trigger'"
        )
        == []
    )
    # Airflow 2 cannot count: the cooldown still applies, and the step says so
    code, log, reported = _run(env, "r2", active="")
    assert reported["trigger"] is True and "cannot count the runs of retrain" in log
    assert _run(env, "r3", active="")[2]["trigger"] is False
