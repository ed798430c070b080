"""Production defaults of the Kubernetes DAGs (issue 9, smaller items), checked in a real Airflow 3.

Failed pods stay for inspection, pods have time to pull their image, tasks time out, GPU pods can take
an Airflow pool, pods can wait in the triggerer, task variables are task ids, cluster DAGs carry no
local-only helpers, run ids become safe object-store keys, values get no artifact path, and a pipeline
without steps is not exported.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from codegen_support import ROOT, RUFF, ruff, sample_pipelines
from hypothesis import given
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from sample_pipelines import mlops_loop, node, pipeline

from dagsmith.codegen import ExportError, render
from dagsmith.codegen.artifacts import RUN_KEY, VALUE_TYPES
from dagsmith.codegen.plan import build_plan
from dagsmith.codegen.steps import STEPS, source
from dagsmith.editor.cli import run
from dagsmith.nodes import CATALOG, Code, Pipeline, PipelineSettings, save, validate

KUBERNETES_TARGETS = ("airflow3", "airflow2")
GPU_TASKS = {"train": 2, "tune__trial": 1}  # the loop's pods that request GPUs, and how many
CPU_TASKS = ("tune__trials", "tune", "register", "gate", "gate__promote", "deploy")


def _bag(folder: Path, files: dict[str, str]) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    for name, text in files.items():
        (folder / f"{name}.py").write_text(text, encoding="utf-8")
    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    return bag


def _unmapped(task: Any) -> Any:
    """The operator a mapped task becomes for one mapped value (what a worker runs)."""
    return task.unmap({"arguments": ["--lr=0.1"]}) if type(task).__name__ == "MappedOperator" else task


@pytest.fixture(scope="module")
def loop_bags(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The loop with its own (default) cluster settings, and with every setting changed."""
    default = mlops_loop()
    chosen = mlops_loop()
    chosen.settings.cluster.on_finish_action = "keep_pod"
    chosen.settings.cluster.startup_timeout_seconds = 900
    chosen.settings.cluster.gpu_pool = "gpu.a100-pool"
    chosen.settings.cluster.deferrable = True
    return {
        "default": _bag(tmp_path_factory.mktemp("default"), {"loop": render(default, version=3)}).dags["keyword_loop"],
        "chosen": _bag(tmp_path_factory.mktemp("chosen"), {"loop": render(chosen, version=3)}).dags["keyword_loop"],
    }


def test_by_default_failed_pods_stay_and_pods_have_time_to_start(loop_bags: dict[str, Any]) -> None:
    dag = loop_bags["default"]
    pods = [
        _unmapped(task)
        for task in dag.tasks
        if "KubernetesPodOperator" in type(task).__name__ or task.task_id in GPU_TASKS
    ]
    assert {task.task_id for task in pods} >= {*GPU_TASKS, *CPU_TASKS}
    for task in pods:
        assert task.on_finish_action.value == "delete_succeeded_pod", task.task_id
        assert task.deferrable is False
        assert task.pool == "default_pool"
    # 600 s to start (an image pull of several GB), unless the step sets its own
    assert {task.task_id: task.startup_timeout_seconds for task in pods if task.task_id != "train"} == {
        task.task_id: 600 for task in pods if task.task_id != "train"
    }


def test_a_new_pipeline_has_a_task_timeout_and_an_emptied_one_has_none(airflow_home: Path, tmp_path: Path) -> None:
    new = pipeline("fresh", [node("a", "script", inputs=[])], [])
    assert new.settings.execution_timeout_minutes == 24 * 60
    none = pipeline("unbounded", [node("a", "script", inputs=[])], [], execution_timeout_minutes=None)
    bag = _bag(tmp_path, {"fresh": render(new), "unbounded": render(none)})
    assert bag.dags["fresh"].default_args["execution_timeout"] == dt.timedelta(days=1)
    assert "execution_timeout" not in bag.dags["unbounded"].default_args


def test_cluster_settings_reach_every_pod_and_the_gpu_pool_only_gpu_pods(loop_bags: dict[str, Any]) -> None:
    dag = loop_bags["chosen"]
    for task_id, gpus in GPU_TASKS.items():
        task = _unmapped(dag.get_task(task_id))
        assert (task.pool, task.pool_slots) == ("gpu.a100-pool", gpus)  # one slot per GPU
        assert (task.on_finish_action.value, task.deferrable) == ("keep_pod", True)
    assert dag.get_task("train").startup_timeout_seconds == 600  # the step's own setting wins
    for task_id in CPU_TASKS:
        task = _unmapped(dag.get_task(task_id))
        assert (task.pool, task.pool_slots) == ("default_pool", 1), task_id
        assert (task.on_finish_action.value, task.deferrable, task.startup_timeout_seconds) == ("keep_pod", True, 900)
        task.build_pod_request_obj(dry_run=True)


@pytest.mark.parametrize("action", ["keep_pod", "delete_pod", "delete_succeeded_pod"])
def test_each_on_finish_action_is_one_the_provider_accepts(action: str) -> None:
    from airflow.providers.cncf.kubernetes.utils.pod_manager import OnFinishAction

    assert OnFinishAction(action).value == action
    loop = mlops_loop()
    loop.settings.cluster.on_finish_action = action  # type: ignore[assignment]
    assert not [issue for issue in validate(loop) if issue.is_error]


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        ({"gpu_pool": "gpu pool"}, "settings.cluster.gpu_pool", "not a valid Airflow pool name"),
        ({"gpu_pool": "x" * 257}, "settings.cluster.gpu_pool", "1 to 256 ASCII letters"),
        ({"startup_timeout_seconds": 0}, "settings.cluster.startup_timeout_seconds", "above 0"),
    ],
)
def test_cluster_settings_are_validated_at_their_field(settings: dict[str, object], field: str, message: str) -> None:
    data = mlops_loop().model_dump(mode="json")
    data["settings"]["cluster"] = settings
    issues = [issue for issue in validate(Pipeline.model_validate(data)) if issue.is_error]
    assert [issue.field for issue in issues] == [field]
    assert message in issues[0].message


def test_an_unknown_on_finish_action_is_refused_with_the_choices() -> None:
    data = mlops_loop().model_dump(mode="json")
    data["settings"]["cluster"] = {"on_finish_action": "delete_everything"}
    with pytest.raises(ValueError, match="'delete_succeeded_pod', 'keep_pod' or 'delete_pod'"):
        Pipeline.model_validate(data)


def test_the_local_target_leaves_the_cluster_settings_out() -> None:
    loop = mlops_loop()
    loop.settings.cluster.gpu_pool = "gpu"
    loop.settings.cluster.deferrable = True
    text = render(loop, target="local")
    for word in ("pool=", "pool_slots", "on_finish_action", "startup_timeout_seconds", "deferrable"):
        assert word not in text


# Task variables are task ids (ruff AIR001).


def test_generated_dags_of_every_sample_are_air001_clean(tmp_path: Path) -> None:
    for stem, sample in sample_pipelines().items():
        for target in (*KUBERNETES_TARGETS, "local"):
            (tmp_path / f"{stem}_{target}.py").write_text(render(sample, target=target), encoding="utf-8")
    result = ruff("check", "--select", "AIR001", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list(tmp_path.glob("*.py"))) >= 3 * 10


def test_ruff_knows_air001() -> None:
    """The check above would pass vacuously with a ruff that does not know the rule."""
    bad = "from airflow.providers.standard.operators.empty import EmptyOperator\n\nx = EmptyOperator(task_id='y')\n"
    found = subprocess.run(
        [str(RUFF), "check", "--isolated", "--select", "AIR001", "--no-cache", "--stdin-filename", "bad.py", "-"],
        input=bad,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "AIR001" in found.stdout


@pytest.mark.parametrize("label", ["list", "datetime", "dag", "class", "operator", "k8s", "match"])
def test_a_task_named_like_a_builtin_or_an_import_gets_a_suffix_and_still_matches(
    label: str, airflow_home: Path, tmp_path: Path
) -> None:
    sample = pipeline("names", [node("a", "script", label=label, inputs=[]), node("b", "script", inputs=[])], [])
    sample.nodes[1].label = "after"
    text = render(sample)
    bag = _bag(tmp_path, {"names": text})
    assert set(bag.dags["names"].task_ids) == {f"{label}_task", "after"}
    assigned = {
        item.targets[0].id
        for item in ast.walk(ast.parse(text))
        if isinstance(item, ast.Assign) and isinstance(item.targets[0], ast.Name) and isinstance(item.value, ast.Call)
    }
    assert {f"{label}_task", "after"} <= assigned


# The step runtime's Python version.

CONTRACT = (ROOT / "codegen" / "CONTRACT.md").read_text(encoding="utf-8")
STEP_PACKAGES = ("mlflow", "bentoml", "feast", "kubernetes", "pandas", "pyarrow", "fsspec")


def _runtime_namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "dagsmith_runtime"}
    exec(compile(source("runtime"), "runtime", "exec"), namespace)
    return namespace


def test_the_stated_python_version_is_one_and_the_same() -> None:
    required = _runtime_namespace()["PYTHON_REQUIRES"]
    text = ".".join(map(str, required))
    assert required == (3, 10)
    assert f"Python {text} or newer" in source("runtime")
    assert f"Images need Python {text} or newer" in CONTRACT


@pytest.mark.parametrize("name", ["runtime", *STEPS])
def test_every_step_program_parses_as_the_stated_python(name: str) -> None:
    text = source(name) if name == "runtime" else source("runtime") + "\n\n\n" + source(name)
    ast.parse(text, feature_version=_runtime_namespace()["PYTHON_REQUIRES"])
    newer = ("datetime.UTC", "tomllib", "StrEnum", "ExceptionGroup", "TaskGroup", "typing.Self", "except*")
    assert not [word for word in newer if word in text]  # Python 3.11 and later only


@pytest.mark.parametrize("package", STEP_PACKAGES)
def test_the_packages_the_steps_use_run_on_the_stated_python(package: str) -> None:
    """Stating an older Python than a step's own package needs (3.9 before this fix) would be false."""
    required = ".".join(map(str, _runtime_namespace()["PYTHON_REQUIRES"]))
    requires_python = importlib.metadata.metadata(package).get("Requires-Python") or ""
    assert SpecifierSet(requires_python).contains(required), (package, requires_python)
    if package in ("mlflow", "feast"):
        assert not SpecifierSet(requires_python).contains("3.9")


def test_an_older_python_stops_the_step_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 9, 18, "final", 0))
    with pytest.raises(SystemExit, match=r"needs Python 3\.10 or newer; this image runs Python 3\.9\.18"):
        _runtime_namespace()


# Cluster DAGs carry no local-only helpers.

LOCAL_ONLY = ("stop_server", "process_group_alive", "killpg", "DAGSMITH_LAUNCHER", "bentoml serve", "127.0.0.1")


def test_kubernetes_dags_of_every_sample_hold_no_local_only_helpers() -> None:
    for stem, sample in sample_pipelines().items():
        for target in KUBERNETES_TARGETS:
            text = render(sample, target=target)
            assert [word for word in LOCAL_ONLY if word in text] == [], (stem, target)
    local = render(mlops_loop(), target="local")
    assert "def stop_server" in local  # the local deploy step still has it


# run_id in artifact paths.

RUN_ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~:+-"
"""Airflow's default allowed_run_id_pattern, ^[A-Za-z0-9_.~:+-]+$ (the scheduler's ids fit it too)."""


def _render_key(run_id: str) -> str:
    from airflow.sdk import DAG

    return DAG("key").get_template_env().from_string("{{ " + RUN_KEY + " }}").render(run_id=run_id)


def test_run_id_in_a_path_is_a_safe_object_store_key(airflow_home: Path) -> None:
    assert _render_key("scheduled__2026-01-01T00:00:00+00:00") == "scheduled__2026-01-01T00_00_00_00_00"
    assert _render_key("manual__2026-03-04T05:06:07.890123+00:00") == "manual__2026-03-04T05_06_07.890123_00_00"


@given(st.text(alphabet=RUN_ID_CHARACTERS, min_size=1, max_size=60))
def test_every_allowed_run_id_becomes_a_key_of_safe_characters(run_id: str) -> None:
    key = _render_key(run_id)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", key)
    assert key == re.sub(r"[:+~]", "_", run_id)


@pytest.mark.parametrize("target", [*KUBERNETES_TARGETS, "local"])
def test_every_target_writes_the_same_key_rule(target: str) -> None:
    text = render(mlops_loop(), version=3, target=target)
    assert RUN_KEY.replace("'", "\\'") in text or RUN_KEY in text
    assert "/{{ run_id }}/" not in text


# Ports that carry values get no artifact path.


def test_value_ports_get_no_artifact_path_in_any_sample() -> None:
    checked = 0
    for sample in sample_pipelines().values():
        plan = build_plan(sample, version=1)
        nodes = {item.task_id(): item for item in sample.nodes}
        for task in plan.tasks:
            owner = nodes.get(task.task_id.split("__", 1)[0])
            if task.pod is None or owner is None or CATALOG.get(owner.type) is None:
                continue
            node_type = CATALOG.get(owner.type)
            assert node_type is not None
            outputs = node_type.ports(node_type.model_validate(owner.params).model_dump(mode="json"))[1]
            for port in outputs:
                if port.type in VALUE_TYPES:
                    assert f"DAGSMITH_OUTPUT_{port.name.upper()}" not in task.pod.env, (task.task_id, port.name)
                    checked += 1
            for name in task.pod.env:
                if name.startswith("DAGSMITH_VALUE_"):
                    assert name.replace("DAGSMITH_VALUE_", "DAGSMITH_INPUT_", 1) not in task.pod.env
    assert checked > 10


# A pipeline without steps.


def test_the_cli_refuses_to_export_a_pipeline_without_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.dagsmith.json"
    save(Pipeline(settings=PipelineSettings(name="empty")), path)
    assert run(["export", str(path), "--out", str(tmp_path / "dags")]) == 1
    assert "the pipeline has no steps, so its DAG would run nothing; add a node" in capsys.readouterr().err
    assert not (tmp_path / "dags" / "empty.py").exists()
    assert [issue.code for issue in validate(Pipeline())] == [Code.EMPTY_PIPELINE]
    with pytest.raises(ExportError):
        render(Pipeline())
