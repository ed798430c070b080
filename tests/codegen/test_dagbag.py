"""The generated files in a real Airflow 3: they load, their graph is the pipeline's, their pods are the form's."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sample_pipelines import KINDS

EXPECTED_LOOP_TASKS = {
    "features",
    "materialize",
    "train",
    "tune__trials",
    "tune__trial",
    "tune",
    "explore",
    "register",
    "gate",
    "gate__passed",
    "build",
    "deploy",
    "score",
    "watch",
    "watch__should_retrain",
    "watch__retrain",
}
EXPECTED_LOOP_EDGES = {
    ("features", "materialize"),
    ("features", "train"),
    ("features", "tune__trials"),
    ("features", "explore"),
    ("features", "score"),
    ("tune__trials", "tune__trial"),
    ("tune__trial", "tune"),
    ("train", "register"),
    ("register", "gate"),
    ("gate", "gate__passed"),
    ("gate__passed", "build"),
    ("gate__passed", "score"),
    ("gate__passed", "watch"),
    ("build", "deploy"),
    ("watch", "watch__should_retrain"),
    ("watch__should_retrain", "watch__retrain"),
}


class _FakeTI:
    def xcom_pull(self, task_ids: str, **_: Any) -> Any:
        return {"run": {"run_id": f"run-of-{task_ids}"}, "model": {"name": "m"}}


class _Variables:
    def get(self, key: str, default: str = "") -> str:
        return f"<variable {key}>"


def _context() -> dict[str, Any]:
    return {
        "ds": "2026-01-02",
        "ts": "2026-01-02T00:00:00+00:00",
        "run_id": "scheduled__2026-01-02",
        "ti": _FakeTI(),
        "var": {"value": _Variables()},
        "params": {},
    }


def test_every_sample_loads_without_import_errors(dagbag: Any, pipelines: dict[str, Any]) -> None:
    assert dagbag.import_errors == {}
    assert {pipeline.dag_id for pipeline in pipelines.values()} == set(dagbag.dag_ids)


@pytest.mark.parametrize("kind", KINDS)
def test_each_node_type_becomes_its_tasks(dagbag: Any, pipelines: dict[str, Any], kind: str) -> None:
    dag = dagbag.dags[pipelines[f"only_{kind}"].dag_id]
    own = {task_id for task_id in dag.task_ids if task_id.startswith(f"{kind}_step")}
    extras = {
        "hyperparameter_search": {"__trials", "__trial"},
        "model_gate": {"__passed"},
        "monitor": {"__should_retrain", "__retrain"},
    }.get(kind, set())
    assert own == {f"{kind}_step"} | {f"{kind}_step{suffix}" for suffix in extras}


def test_loop_graph_matches_the_pipeline(dagbag: Any) -> None:
    dag = dagbag.dags["keyword_loop"]
    assert set(dag.task_ids) == EXPECTED_LOOP_TASKS
    edges = {(up, task.task_id) for task in dag.tasks for up in task.upstream_task_ids}
    assert edges == EXPECTED_LOOP_EDGES


def test_loop_dag_arguments(dagbag: Any) -> None:
    dag = dagbag.dags["keyword_loop"]
    assert dag.start_date == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.dagrun_timeout == dt.timedelta(minutes=720)
    assert {"keywords", "dagsmith", "dagsmith-v3"} <= set(dag.tags)
    assert "version 3" in dag.doc_md
    assert dag.default_args["owner"] == "ml-platform"
    assert dag.default_args["retries"] == 1
    assert dag.default_args["execution_timeout"] == dt.timedelta(minutes=240)
    params = dag.params
    assert params["sample"] == 0.5
    assert params.get_param("sample").schema == {"type": "number", "minimum": 0.0, "maximum": 1.0}
    assert params.get_param("mode").schema["enum"] == ["full", "quick"]
    assert params["note"] is None
    assert params.get_param("note").schema["type"] == ["string", "null"]


def test_gpu_pod_spec_is_what_the_form_said(dagbag: Any) -> None:
    pod = dagbag.dags["keyword_loop"].get_task("train").build_pod_request_obj(dry_run=True)
    spec, container = pod.spec, pod.spec.containers[0]
    assert container.image == "registry.example.com/ml/steps:1.0"
    assert pod.metadata.namespace == "ml"
    assert spec.service_account_name == "ml-runner"
    assert container.resources.limits == {"memory": "32Gi", "nvidia.com/gpu": "2"}
    assert container.resources.requests == {"cpu": "2", "memory": "1Gi"}
    assert spec.node_selector == {"pool": "gpu", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert [(t.key, t.operator, t.effect) for t in spec.tolerations] == [("nvidia.com/gpu", "Exists", "NoSchedule")]
    env = {var.name: var for var in container.env}
    assert env["EPOCHS"].value == "10"
    assert env["DAGSMITH_INPUT_TRAIN_DATA"].value == (
        "s3://ml-artifacts/keyword_loop/{{ ds }}/{{ run_id }}/features/features"
    )
    assert env["MLFLOW_TRACKING_TOKEN"].value_from.secret_key_ref.to_dict() == {
        "name": "mlflow-credentials",
        "key": "token",
        "optional": None,
    }
    volumes = {volume.name: volume for volume in spec.volumes}
    assert volumes["pvc-0"].persistent_volume_claim.claim_name == "training-data"
    assert (volumes["dshm"].empty_dir.medium, volumes["dshm"].empty_dir.size_limit) == ("Memory", "8Gi")
    mounts = [(m.name, m.mount_path, m.sub_path, m.read_only) for m in container.volume_mounts if m.name != "xcom"]
    assert mounts == [
        ("pvc-0", "/data", None, True),
        ("pvc-0", "/scratch", "scratch", None),
        ("dshm", "/dev/shm", None, None),
    ]
    assert pod.metadata.labels["team"] == "ml"
    assert pod.metadata.annotations == {"example.com/cost-center": "ml-research"}
    task = dagbag.dags["keyword_loop"].get_task("train")
    assert (task.retries, task.execution_timeout, task.startup_timeout_seconds) == (2, dt.timedelta(hours=2), 600)
    assert task.get_logs is True
    assert task.on_finish_action.value == "delete_pod"
    assert task.do_xcom_push is True  # the training run id travels to the registry step by XCom


def test_templated_fields_render_to_run_time_values(dagbag: Any) -> None:
    dag = dagbag.dags["keyword_loop"]
    train = dag.get_task("train")
    train.render_template_fields(_context(), dag.get_template_env())
    assert train.arguments == ["--epochs", "10", "--date=2026-01-02", "--config=conf.json"]
    register = dag.get_task("register")
    register.render_template_fields(_context(), dag.get_template_env())
    env = {var.name: var.value for var in register.env_vars}
    assert json.loads(env["DAGSMITH_VALUE_RUN"]) == {"run_id": "run-of-train"}
    assert env["MLFLOW_TRACKING_URI"] == "<variable dagsmith_mlflow_tracking_uri>"
    config = json.loads(env["DAGSMITH_CONFIG"])
    assert config == {"alias": "candidate", "artifact_path": "model", "model_name": "keyword-recommender"} | {
        "tags": {"source": "dagsmith"}
    }
    assert register.cmds[:2] == ["python", "-c"]
    compile(register.cmds[2], "register_model", "exec")  # the embedded program survives rendering intact


def test_hyperparameter_search_maps_gpu_trials(dagbag: Any) -> None:
    dag = dagbag.dags["keyword_loop"]
    trial = dag.get_task("tune__trial")
    assert type(trial).__name__ == "MappedOperator"
    assert trial.partial_kwargs["max_active_tis_per_dagrun"] == 3
    assert trial.partial_kwargs["container_resources"].limits == {"nvidia.com/gpu": "1"}
    cmds = trial.partial_kwargs["cmds"]
    assert cmds[:2] == ["python", "-c"] and cmds[3:] == ["--", "python", "train.py", "--data", "/data"]
    expanded = trial.expand_input.value["arguments"]
    assert expanded.operator.task_id == "tune__trials"
    assert "nvidia.com/gpu" not in str(dag.get_task("tune__trials").container_resources)


def test_gate_skips_the_deploy_branch_through_a_short_circuit(dagbag: Any) -> None:
    dag = dagbag.dags["keyword_loop"]
    gate, passed = dag.get_task("gate"), dag.get_task("gate__passed")
    assert gate.multiple_outputs is True and gate.do_xcom_push is True
    assert type(passed).__name__ == "ShortCircuitOperator"
    flag = passed.op_args[0]
    assert (flag.operator.task_id, flag.key) == ("gate", "passed")
    assert passed.python_callable(True) is True and passed.python_callable(False) is False
    assert {"build", "score", "watch"} == passed.downstream_task_ids


def test_monitor_triggers_retraining_only_through_its_short_circuit(dagbag: Any) -> None:
    dag = dagbag.dags["keyword_loop"]
    trigger = dag.get_task("watch__retrain")
    assert type(trigger).__name__ == "TriggerDagRunOperator"
    assert trigger.trigger_dag_id == "keyword_retrain"
    assert trigger.conf == {"reason": "ctr below {{ ds }}", "full": True}
    assert trigger.upstream_task_ids == {"watch__should_retrain"}
    check = dag.get_task("watch__should_retrain")
    assert (check.op_args[0].operator.task_id, check.op_args[0].key) == ("watch", "trigger")


def test_dags_serialize_as_the_scheduler_would(dagbag: Any) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dagbag.dags.values():
        assert DagSerialization.to_dict(dag)["dag"]["dag_id"] == dag.dag_id
