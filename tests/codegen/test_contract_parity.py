"""One contract, two targets: every step sees the same thing in a local run as in its Kubernetes pod.

Each sample pipeline (one per node type, the loop, every bundled example) is rendered for Airflow 3 and for
the local target, and both files are loaded in a real Airflow 3. From the Kubernetes DAG each pod task builds
its pod (``build_pod_request_obj(dry_run=True)``; a mapped one from its ``partial`` arguments); from the local
DAG each BashOperator gives its ``env``. Task by task the test compares what the step's process gets: the
environment (names and values as templates, artifact paths included), the command line (the pod's command
and arguments against the launcher's ``DAGSMITH_ARG_<i>``), whether it pushes XCom and with which keys its
values are read, retries and timeouts, and the wiring. A difference fails the test unless CONTRACT.md lists
it as Kubernetes-only (``KUBERNETES_ONLY`` below mirrors that list).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from codegen_support import sample_pipelines

from dagsmith.codegen import render, steps
from dagsmith.codegen.builders import USER_IMAGE_BOOT
from dagsmith.codegen.local import LOCAL_PROGRAMS
from dagsmith.editor.runs.workspace import Services, Workspace, worker_environment

CONTRACT = Path(__file__).resolve().parents[2] / "codegen" / "CONTRACT.md"

LAUNCHER_ENV = re.compile(r"DAGSMITH_(LAUNCHER|ARGC|ARG_\d+|LOCAL_PUSH|LOCAL_EXPAND)")
"""The local launcher's own variables: how the local process is started, not what the step sees."""

KUBERNETES_ONLY = (
    "image",
    "namespace",
    "resources",
    "volumes",
    "tolerations",
    "node_selector",
    "labels",
    "annotations",
    "service_account",
    "security_context",
    "image_pull_policy",
    "startup_timeout",
    "secrets",
)
"""Pod settings that have no local form; each is named in CONTRACT.md's list of Kubernetes-only settings."""

LOADER = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import ApiClient

api = ApiClient()


def xcom_args(value):
    found = []
    for item in value or []:
        operator = getattr(item, "operator", None)
        if operator is not None:
            found.append([operator.task_id, getattr(item, "key", None)])
    return found


def common(task):
    timeout = task.execution_timeout.total_seconds() if task.execution_timeout else None
    return {
        "upstream": sorted(task.upstream_task_ids),
        "trigger_rule": str(task.trigger_rule),
        "retries": task.retries,
        "timeout": timeout,
        "xcom_args": xcom_args(getattr(task, "op_args", None)),
    }


def pod_view(task):
    mapped = hasattr(task, "partial_kwargs")
    if mapped:
        kwargs = {k: v for k, v in task.partial_kwargs.items() if k not in ("task_id", "dag", "task_group")}
        view = {"operator": "pod", "mapped": True, "upstream": sorted(task.upstream_task_ids)}
        view.update(retries=kwargs.get("retries"), timeout=None, trigger_rule=str(kwargs.get("trigger_rule")))
        timeout = kwargs.get("execution_timeout")
        view["timeout"] = timeout.total_seconds() if timeout else None
        view["xcom_args"] = []
        task = KubernetesPodOperator(task_id=task.task_id, arguments=[], **kwargs)
    else:
        view = {"operator": "pod", "mapped": False, **common(task)}
    pod = api.sanitize_for_serialization(task.build_pod_request_obj(dry_run=True))
    container = pod["spec"]["containers"][0]
    env, secrets = {}, []
    for item in container.get("env") or []:
        if "valueFrom" in item:
            secrets.append(item["name"])
        else:
            env[item["name"]] = item.get("value", "")
    view.update(
        env=env,
        secrets=sorted(secrets),
        argv=[*(container.get("command") or []), *(container.get("args") or [])],
        pushes=bool(task.do_xcom_push),
        multiple_outputs=bool(task.multiple_outputs),
    )
    return view


def bash_view(task):
    mapped = hasattr(task, "partial_kwargs")
    if mapped:
        kwargs = task.partial_kwargs
        timeout = kwargs.get("execution_timeout")
        view = {"operator": "pod", "mapped": True, "upstream": sorted(task.upstream_task_ids)}
        view.update(retries=kwargs.get("retries"), timeout=timeout.total_seconds() if timeout else None)
        view.update(trigger_rule=str(kwargs.get("trigger_rule")), xcom_args=[])
        env = dict(kwargs["env"])
        pushes, multiple = kwargs.get("do_xcom_push", True), kwargs.get("multiple_outputs", False)
    else:
        view = {"operator": "pod", "mapped": False, **common(task)}
        env = dict(task.env)
        pushes, multiple = task.do_xcom_push, task.multiple_outputs
    count = int(env.get("DAGSMITH_ARGC", "0"))
    view.update(
        env=env,
        secrets=[],
        argv=[env["DAGSMITH_ARG_%d" % index] for index in range(count)],
        pushes=bool(pushes),
        multiple_outputs=bool(multiple),
    )
    return view


def load(folder, pods):
    bag = DagBag(dag_folder=folder)
    assert not bag.import_errors, bag.import_errors
    result = {}
    for dag_id, dag in sorted(bag.dags.items()):
        tasks = {}
        for task in dag.tasks:
            name = task.operator_class.__name__ if hasattr(task, "partial_kwargs") else type(task).__name__
            if name in ("KubernetesPodOperator", "BashOperator"):
                tasks[task.task_id] = pod_view(task) if pods else bash_view(task)
            else:
                tasks[task.task_id] = {"operator": name, **common(task)}
        result[dag_id] = tasks
    return result


print("RESULT " + json.dumps({"kubernetes": load(sys.argv[1], True), "local": load(sys.argv[2], False)}))
"""


def _unsuffixed(value: str) -> str:
    """A templated value without the empty expression either target appends to file-like endings."""
    return value.removesuffix("{{ '' }}")


@pytest.fixture(scope="module")
def both_targets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What every task of every sample DAG sees, under ``kubernetes`` and ``local``; and the pipelines."""
    kubernetes, local = tmp_path_factory.mktemp("k8s_dags"), tmp_path_factory.mktemp("local_dags")
    pipelines = sample_pipelines()
    for stem, pipeline in pipelines.items():
        (kubernetes / f"{stem}.py").write_text(render(pipeline, target="airflow3"), encoding="utf-8")
        (local / f"{stem}.py").write_text(render(pipeline, target="local"), encoding="utf-8")
    home = tmp_path_factory.mktemp("parity_home")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-c", LOADER, str(kubernetes), str(local)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-4000:]
    loaded: dict[str, Any] = json.loads(lines[0].removeprefix("RESULT "))
    loaded["pipelines"] = {pipeline.dag_id: pipeline for pipeline in pipelines.values()}
    return loaded


def step_program(text: str) -> str | None:
    """Which step program an embedded ``python -c`` text runs (its last part), or None."""
    for name in (*steps.STEPS, *steps.LOCAL_STEPS):
        if name != "runtime" and text.endswith("\n\n\n" + steps.source(name)):
            return name
    return None


def differences(kubernetes: dict[str, Any], local: dict[str, Any]) -> list[str]:
    """What a step sees differently in the two targets, beyond the documented Kubernetes-only settings."""
    found = []
    k8s_env = {name: _unsuffixed(value) for name, value in kubernetes["env"].items()}
    local_env = {name: _unsuffixed(value) for name, value in local["env"].items() if not LAUNCHER_ENV.fullmatch(name)}
    secrets = set(kubernetes["secrets"])
    for name in sorted(set(k8s_env) | set(local_env)):
        if name not in local_env:
            found.append(f"env {name}: only on Kubernetes")
        elif name not in k8s_env:
            where = "a secret on Kubernetes" if name in secrets else "only local"
            found.append(f"env {name}: {where}")
        elif k8s_env[name] != local_env[name]:
            found.append(f"env {name}: {k8s_env[name]!r} on Kubernetes, {local_env[name]!r} locally")
    k8s_argv, local_argv = kubernetes["argv"], local["argv"]
    starts = (["python", "-m", "dagsmith_steps"], ["python", "-c", USER_IMAGE_BOOT])
    if k8s_argv[:3] in starts and local_argv[:2] == ["python", "-c"]:
        # A pod runs the step runtime installed in its image (in the user's image through a start that names what
        # to install when it is missing); the local target embeds the same module's source (or its documented
        # local form: the BentoML steps), after a runtime that may carry local-only helpers.
        step = k8s_argv[3] if len(k8s_argv) > 3 else None
        local_step = step_program(local_argv[2]) if len(local_argv) > 2 else None
        if step is None or LOCAL_PROGRAMS.get(step, step) != local_step:
            found.append(f"step program: {step!r} on Kubernetes, {local_step!r} locally")
        k8s_argv, local_argv = k8s_argv[4:], local_argv[3:]
    if k8s_argv != local_argv:
        found.append(f"command line: {k8s_argv!r} on Kubernetes, {local_argv!r} locally")
    for key in ("mapped", "pushes", "multiple_outputs", "retries", "timeout", "upstream", "trigger_rule", "xcom_args"):
        if kubernetes[key] != local[key]:
            found.append(f"{key}: {kubernetes[key]!r} on Kubernetes, {local[key]!r} locally")
    return found


def test_every_step_sees_the_same_contract_in_both_targets(both_targets: dict[str, Any]) -> None:
    kubernetes, local = both_targets["kubernetes"], both_targets["local"]
    assert set(kubernetes) == set(local) == set(both_targets["pipelines"])
    problems: dict[str, list[str]] = {}
    compared = 0
    for dag_id, tasks in sorted(kubernetes.items()):
        assert set(tasks) == set(local[dag_id]), f"{dag_id}: the targets have different tasks"
        for task_id, seen in sorted(tasks.items()):
            other = local[dag_id][task_id]
            where = f"{dag_id}.{task_id}"
            if seen["operator"] != "pod":
                if seen != other:
                    problems[where] = [f"{seen!r} on Kubernetes, {other!r} locally"]
                continue
            found = differences(seen, other)
            compared += 1
            if found:
                problems[where] = found
    assert compared > 50  # every pod task of every sample was compared
    assert problems == {}, "steps that see something else locally than on Kubernetes"


def test_every_step_reaches_the_mlflow_server_in_both_targets(both_targets: dict[str, Any], tmp_path: Path) -> None:
    """A script or notebook that trains logs to the same MLflow as the register step reads from.

    A local step also inherits the runner's environment; every MLflow variable the runner gives it must
    reach each pod too (the drift this catches: only the built-in MLflow steps had a tracking URI).
    """
    workspace = Workspace.at(tmp_path)
    runner = worker_environment(workspace, Services.from_env(workspace, {}), project_dir=tmp_path, base={})
    mlflow_names = sorted(name for name in runner if name.startswith("MLFLOW_"))
    assert mlflow_names == ["MLFLOW_TRACKING_URI"]
    missing = [
        f"{target}: {dag_id}.{task_id}"
        for target in ("kubernetes", "local")
        for dag_id, tasks in both_targets[target].items()
        for task_id, seen in tasks.items()
        if seen["operator"] == "pod" and not set(mlflow_names) <= set(seen["env"])
    ]
    assert missing == [], "steps that cannot reach MLflow"
    train = both_targets["kubernetes"]["keyword_loop"]["train"]
    assert train["env"]["MLFLOW_TRACKING_URI"] == (
        "{{ var.value.get('dagsmith_mlflow_tracking_uri', 'http://mlflow.ml.svc:5000') }}"
    )
    # The pipeline's credentials reach every pod as a secret reference; the train step's own secret wins.
    assert "MLFLOW_TRACKING_TOKEN" in both_targets["kubernetes"]["keyword_loop"]["register"]["secrets"]
    assert train["secrets"].count("MLFLOW_TRACKING_TOKEN") == 1


def test_the_differences_found_are_reported() -> None:
    """The comparison is not vacuous: a step that misses a variable locally, or runs another command, fails."""
    base = {
        "env": {"DAGSMITH_TASK_ID": "t", "MLFLOW_TRACKING_URI": "{{ x }}"},
        "secrets": ["TOKEN"],
        "argv": ["python", "train.py"],
        "mapped": False,
        "pushes": True,
        "multiple_outputs": False,
        "retries": 0,
        "timeout": None,
        "upstream": [],
        "trigger_rule": "all_success",
        "xcom_args": [],
    }
    local = {**base, "env": {"DAGSMITH_TASK_ID": "t", "DAGSMITH_ARGC": "2"}, "secrets": []}
    assert differences(base, local) == ["env MLFLOW_TRACKING_URI: only on Kubernetes"]
    moved = {**base, "secrets": [], "argv": ["python", "other.py"], "pushes": False}
    assert differences(base, moved) == [
        "command line: ['python', 'train.py'] on Kubernetes, ['python', 'other.py'] locally",
        "pushes: True on Kubernetes, False locally",
    ]


def test_a_user_step_in_its_own_image_is_compared_with_its_local_program() -> None:
    """A script pod starts the runtime's ``exec`` step through the boot text; locally the same step is embedded."""
    pod = {"env": {}, "secrets": [], "mapped": False, "pushes": False, "multiple_outputs": False, "retries": 0}
    pod |= {"timeout": None, "upstream": [], "trigger_rule": "all_success", "xcom_args": []}
    kubernetes = {**pod, "argv": ["python", "-c", USER_IMAGE_BOOT, "exec", "--", "python", "train.py", "--x=1"]}
    program = "\n\n\n".join(("RUNTIME", steps.source("exec")))
    local = {**pod, "argv": ["python", "-c", program, "--", "python", "train.py", "--x=1"]}
    assert differences(kubernetes, local) == []
    notebook = {**local, "argv": ["python", "-c", "RUNTIME\n\n\n" + steps.source("notebook"), *local["argv"][3:]]}
    assert differences(kubernetes, notebook) == ["step program: 'exec' on Kubernetes, 'notebook' locally"]
    bare = {**local, "argv": ["python", "train.py", "--x=1"]}  # a script run without the runtime: no layer
    assert differences(kubernetes, bare) == [
        f"command line: {kubernetes['argv']!r} on Kubernetes, {bare['argv']!r} locally"
    ]


def test_the_kubernetes_only_settings_are_documented() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    section = text.split("### Kubernetes-only settings", 1)
    assert len(section) == 2, "CONTRACT.md has no 'Kubernetes-only settings' section"
    listed = section[1].split("\n## ", 1)[0]
    missing = [name for name in KUBERNETES_ONLY if f"`{name}`" not in listed]
    assert missing == []


def test_every_step_gets_the_artifact_store_contract_in_both_targets(both_targets: dict[str, Any]) -> None:
    """Issue 10: the project, and for each stored output its final URI, delivery mode and access, everywhere."""
    missing = []
    for target in ("kubernetes", "local"):
        for dag_id, tasks in both_targets[target].items():
            for task_id, seen in tasks.items():
                if seen["operator"] != "pod":
                    continue
                env = seen["env"]
                wanted = {"DAGSMITH_PROJECT", "DAGSMITH_ARTIFACT_ROOT"}
                for name in env:
                    if re.fullmatch(r"DAGSMITH_OUTPUT_[A-Z0-9_]+", name) and not name.endswith(
                        ("_URI", "_MODE", "_ACCESS", "_OPTIONAL")
                    ):
                        wanted |= {name + "_URI", name + "_MODE", name + "_ACCESS"}
                missing += [f"{target}: {dag_id}.{task_id}: {name}" for name in sorted(wanted - set(env))]
    assert missing == []
    # The loop's S3 store: its credentials reach every pod as secret references, and a local step reads them from
    # its own environment (the same names); the endpoint-less store gives no endpoint variable.
    features = both_targets["kubernetes"]["keyword_loop"]["features"]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(features["secrets"])
    assert features["env"]["DAGSMITH_OUTPUT_FEATURES"].startswith("/tmp/dagsmith-staging/")
    assert features["env"]["DAGSMITH_OUTPUT_FEATURES_URI"].startswith("s3://ml-artifacts/keyword_loop/")
