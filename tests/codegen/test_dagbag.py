"""The generated files in a real Airflow 3: they load, their graph is the pipeline's, their pods are the form's."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import jinja2
import pytest
from sample_pipelines import KINDS, node, pipeline

from dagsmith.codegen import MACROS, render
from dagsmith.codegen.builders import USER_IMAGE_BOOT
from dagsmith.nodes import OutputSettings

DS = "{{ ds if ds is defined else dag_run.run_after | ds }}"
RUN_KEY = "{{ run_id | replace(':', '_') | replace('+', '_') | replace('~', '_') }}"
"""How ``{run_id}`` is written in an artifact path."""
"""How ``{{ ds }}`` is written (test_templating pins every form)."""

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
    "gate__promote",
    "score__champion",
    "watch__champion",
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
    # score and watch read the champion: after the promotion, whatever the gate and promotion ended as
    ("gate", "score__champion"),
    ("gate__promote", "score__champion"),
    ("score__champion", "score"),
    ("gate", "watch__champion"),
    ("gate__promote", "watch__champion"),
    ("watch__champion", "watch"),
    ("build", "deploy"),
    ("deploy", "gate__promote"),
    ("watch", "watch__should_retrain"),
    ("watch__should_retrain", "watch__retrain"),
}


class _FakeTI:
    def xcom_pull(self, task_ids: str, **_: Any) -> Any:
        return {"run": {"run_id": f"run-of-{task_ids}"}, "model": {"name": "m"}}


class _Variables:
    def get(self, key: str, default: str = "") -> str:
        return f"<variable {key}>"

    def __getitem__(self, key: str) -> str:  # {{ var.value['key'] }}, an env value taken from a Variable
        return f"<variable {key}>"


class _Connection:
    def __init__(self, conn_id: str) -> None:
        self.host = f"<host of {conn_id}>"
        self.login = self.password = self.schema = self.extra = ""
        self.port = None

    def get_uri(self) -> str:
        return f"<uri of {self.host}>"


class _Connections:
    def __getitem__(self, conn_id: str) -> _Connection:  # {{ conn['id'].host }}
        return _Connection(conn_id)


def _context() -> dict[str, Any]:
    return {
        "ds": "2026-01-02",
        "ts": "2026-01-02T00:00:00+00:00",
        "run_id": "scheduled__2026-01-02",
        "ti": _FakeTI(),
        "var": {"value": _Variables()},
        "conn": _Connections(),
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
        "model_gate": {"__passed", "__promote"},
        "monitor": {"__should_retrain", "__retrain"},
    }.get(kind, set())
    assert own == {f"{kind}_step"} | {f"{kind}_step{suffix}" for suffix in extras}


def test_loop_graph_matches_the_pipeline(dagbag: Any) -> None:
    dag = dagbag.dags["keyword_loop"]
    assert set(dag.task_ids) == EXPECTED_LOOP_TASKS
    edges = {(up, task.task_id) for task in dag.tasks for up in task.upstream_task_ids}
    assert edges == EXPECTED_LOOP_EDGES


def test_the_champion_alias_moves_only_after_the_deploy_or_the_gate(dagbag: Any, pipelines: dict[str, Any]) -> None:
    """Promotion waits on the deploy (all_success: a failed or skipped deploy leaves the alias alone)."""
    loop = dagbag.dags["keyword_loop"]
    promote = loop.get_task("gate__promote")
    assert promote.upstream_task_ids == {"deploy"}
    assert str(promote.trigger_rule) in ("all_success", "TriggerRule.ALL_SUCCESS")
    assert "gate__passed" in loop.get_task("deploy").get_flat_relative_ids(upstream=True)
    # A failed Bento build fails the deploy (upstream_failed), so the alias stays too.
    assert "build" in loop.get_task("deploy").upstream_task_ids
    assert str(loop.get_task("deploy").trigger_rule) in ("all_success", "TriggerRule.ALL_SUCCESS")
    gate_only = dagbag.dags[pipelines["only_model_gate"].dag_id]
    assert gate_only.get_task("model_gate_step__promote").upstream_task_ids == {"model_gate_step__passed"}


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
    # An object store in path mode: the step reads a local copy the runtime downloads from the stored URI.
    assert env["DAGSMITH_INPUT_TRAIN_DATA_URI"].value == (
        "s3://ml-artifacts/keyword_loop/" + DS + "/" + RUN_KEY + "/features/features"
    )
    assert env["DAGSMITH_INPUT_TRAIN_DATA"].value == "/tmp/dagsmith-staging/" + RUN_KEY + "/train/inputs/train_data"
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
    assert task.on_finish_action.value == "delete_succeeded_pod"  # a failed pod stays for inspection
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
    # The built-in step runs from the versioned step runtime in the step image, not from embedded source.
    assert register.cmds == ["python", "-m", "dagsmith_steps", "register_model"]
    assert env["DAGSMITH_RUNTIME_VERSION"]


def test_hyperparameter_search_maps_gpu_trials(dagbag: Any) -> None:
    dag = dagbag.dags["keyword_loop"]
    trial = dag.get_task("tune__trial")
    assert type(trial).__name__ == "MappedOperator"
    assert trial.partial_kwargs["max_active_tis_per_dagrun"] == 3
    assert trial.partial_kwargs["container_resources"].limits == {"nvidia.com/gpu": "1"}
    cmds = trial.partial_kwargs["cmds"]
    assert cmds[:4] == ["python", "-c", USER_IMAGE_BOOT, "hpo_trial"]  # the user's image: checks for the runtime
    assert cmds[4:] == ["--", "python", "train.py", "--data", "/data"]
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
    assert {"build"} == passed.downstream_task_ids


def test_monitor_triggers_retraining_only_through_its_short_circuit(dagbag: Any) -> None:
    dag = dagbag.dags["keyword_loop"]
    trigger = dag.get_task("watch__retrain")
    assert type(trigger).__name__ == "TriggerDagRunOperator"
    assert trigger.trigger_dag_id == "keyword_retrain"
    assert trigger.conf == {"reason": "ctr below " + DS, "full": True}
    assert trigger.upstream_task_ids == {"watch__should_retrain"}
    check = dag.get_task("watch__should_retrain")
    assert (check.op_args[0].operator.task_id, check.op_args[0].key) == ("watch", "trigger")


def test_dags_serialize_as_the_scheduler_would(dagbag: Any) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dagbag.dags.values():
        assert DagSerialization.to_dict(dag)["dag"]["dag_id"] == dag.dag_id


# Runs with and without a logical date, in the context Airflow 3's own task runner builds.

RUN_AFTER = dt.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC)
LOGICAL_DATE = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)

WITH_LOGICAL_DATE = {
    "ds": "2026-01-02",
    "ds_nodash": "20260102",
    "ts_nodash": "20260102T000000",
    "ts": "2026-01-02T00:00:00+00:00",
    "logical_date": "2026-01-02 00:00:00+00:00",
    "data_interval_start": "2026-01-02 00:00:00+00:00",
    "data_interval_end": "2026-01-03 00:00:00+00:00",
}
WITHOUT_LOGICAL_DATE = {
    "ds": "2026-03-04",
    "ds_nodash": "20260304",
    "ts_nodash": "20260304T050607",
    "ts": "2026-03-04T05:06:07.890123+00:00",
    "logical_date": "2026-03-04 05:06:07.890123+00:00",
    "data_interval_start": "2026-03-04 05:06:07.890123+00:00",
    "data_interval_end": "2026-03-04 05:06:07.890123+00:00",
}


def _run_context(dag: Any, task: Any, logical_date: dt.datetime | None) -> dict[str, Any]:
    """The template context of ``task`` in a manual run, built by Airflow 3's RuntimeTaskInstance.

    A run triggered with ``logical_date: null`` has no logical date and no data interval; Airflow then
    leaves ``ds``, ``ts``, ``logical_date`` and the data interval out of the context. XCom and Variables
    (which would ask the supervisor) are faked.
    """
    from airflow.sdk.api.datamodels._generated import DagRun, DagRunState, DagRunType, TIRunContext
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    run_id = "manual__" + (logical_date or RUN_AFTER).isoformat()
    run = DagRun(
        dag_id=dag.dag_id,
        run_id=run_id,
        logical_date=logical_date,
        data_interval_start=logical_date,
        data_interval_end=logical_date + dt.timedelta(days=1) if logical_date else None,
        run_after=RUN_AFTER,
        start_date=RUN_AFTER,
        end_date=None,
        run_type=DagRunType.MANUAL,
        state=DagRunState.RUNNING,
        consumed_asset_events=[],
        partition_key=None,
    )
    ti = RuntimeTaskInstance.model_construct(
        id=uuid.uuid4(),
        task_id=task.task_id,
        dag_id=dag.dag_id,
        run_id=run_id,
        try_number=1,
        dag_version_id=uuid.uuid4(),
        map_index=-1,
        task=task,
        _ti_context_from_server=TIRunContext(dag_run=run, max_tries=0),
        max_tries=0,
        start_date=RUN_AFTER,
    )
    context = dict(ti.get_template_context())
    context.update(ti=_FakeTI(), task_instance=_FakeTI(), var={"value": _Variables()}, conn=_Connections())
    return context


def _load(folder: Path) -> Any:
    """A fresh DagBag (rendering templated fields changes the tasks for good)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    return bag


@pytest.fixture(scope="module")
def every_macro_folder(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-step DAG that uses every allowed macro in its arguments and every date placeholder in its path."""
    arguments = [f"--{name}={{{{ {name} }}}}" for name in MACROS]
    outputs = [{"name": "run", "type": "dataset"}]  # a file output: values (XCom) get no path
    step = node("step", "script", arguments=arguments, inputs=[], outputs=outputs)
    step.outputs["run"] = OutputSettings(
        path="{pipeline}/{ds}/{run_id}", naming="{output}-{ds_nodash}-{ts_nodash}-{logical_date}"
    )
    folder = tmp_path_factory.mktemp("every-macro")
    (folder / "every_macro.py").write_text(render(pipeline("every macro", [step], [])), encoding="utf-8")
    return folder


@pytest.mark.parametrize(("logical_date", "values"), [(LOGICAL_DATE, WITH_LOGICAL_DATE), (None, WITHOUT_LOGICAL_DATE)])
def test_every_macro_renders_in_a_run_with_and_without_a_logical_date(
    every_macro_folder: Path, logical_date: dt.datetime | None, values: dict[str, str]
) -> None:
    dag = _load(every_macro_folder).dags["every_macro"]
    task = dag.get_task("step")
    context = _run_context(dag, task, logical_date)
    env = dag.get_template_env()
    run_id = context["run_id"]
    if logical_date is None:
        with pytest.raises(jinja2.UndefinedError):  # what the bare macro does in such a run
            env.from_string("{{ ds }}").render(**context)
    else:  # the values are exactly Airflow's own
        assert values == {name: env.from_string("{{ " + name + " }}").render(**context) for name in values}
    task.render_template_fields(context, env)
    assert task.arguments == [f"--{name}={values.get(name, run_id)}" for name in MACROS]
    pod = task.build_pod_request_obj(dry_run=True)
    assert pod.spec.containers[0].args == task.arguments
    variables = {var.name: var.value for var in pod.spec.containers[0].env}
    assert variables["DAGSMITH_RUN_ID"] == run_id
    assert variables["DAGSMITH_LOGICAL_DATE"] == values["ts"]
    key = run_id.replace(":", "_").replace("+", "_")  # {run_id} in a path: an object-store key
    safe_ts = values["ts"].replace(":", "_").replace("+", "_")  # {logical_date} in a path: the same rule
    name = f"run-{values['ds_nodash']}-{values['ts_nodash']}-{safe_ts}"
    assert variables["DAGSMITH_OUTPUT_RUN"] == f"/tmp/dagsmith-artifacts/every_macro/{values['ds']}/{key}/{name}"


def test_every_sample_task_renders_in_a_run_without_a_logical_date(dag_folder: Path) -> None:
    bag = _load(dag_folder)
    rendered = 0
    for dag in bag.dags.values():
        for task in dag.tasks:
            if type(task).__name__ == "MappedOperator":
                continue  # its templated fields are the same forms; expanding needs a real XCom
            task.render_template_fields(_run_context(dag, task, None), dag.get_template_env())
            if type(task).__name__ == "KubernetesPodOperator":
                task.build_pod_request_obj(dry_run=True)
            rendered += 1
    assert rendered > 30
    loop = bag.dags["keyword_loop"]
    run_id = "manual__" + RUN_AFTER.isoformat()
    train = loop.get_task("train")
    assert train.arguments == ["--epochs", "10", "--date=2026-03-04", "--config=conf.json"]
    env = {var.name: var.value for var in train.env_vars}
    assert env["RUN_DATE"] == "2026-03-04"
    key = run_id.replace(":", "_").replace("+", "_")
    assert env["DAGSMITH_INPUT_TRAIN_DATA_URI"] == f"s3://ml-artifacts/keyword_loop/2026-03-04/{key}/features/features"
    assert env["DAGSMITH_INPUT_TRAIN_DATA"] == f"/tmp/dagsmith-staging/{key}/train/inputs/train_data"
    assert env["DAGSMITH_LOGICAL_DATE"] == "2026-03-04T05:06:07.890123+00:00"
    materialize = {var.name: var.value for var in loop.get_task("materialize").env_vars}
    assert (materialize["DAGSMITH_CONFIG_0"], materialize["DAGSMITH_CONFIG_1"]) == (
        "2026-03-04 05:06:07.890123+00:00",
        "2026-03-04 05:06:07.890123+00:00",
    )
    build = {var.name: var.value for var in loop.get_task("build").env_vars}
    assert build["DAGSMITH_CONFIG_0"] == "20260304T050607"
    assert loop.get_task("watch__retrain").conf == {"reason": "ctr below 2026-03-04", "full": True}
