"""Every pod the generated DAGs build is valid against the Kubernetes API schema of a stated version.

Each node type, the MLOps loop and every bundled example is rendered for both Airflow targets and loaded
in that Airflow (airflow3 here, airflow2 in ``.venv-airflow2``). Each KubernetesPodOperator builds its pod
(``build_pod_request_obj(dry_run=True)``, a mapped one with a sample argument), which is serialised as the
Kubernetes client would send it and validated strictly (unknown fields are errors) with kubernetes-validate
here, so the Airflow 2 environment needs no validator of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from codegen_support import ROOT, sample_pipelines

from dagsmith.codegen import render

K8S_VERSION = "1.33.0"
"""The Kubernetes version whose OpenAPI schema the pods must satisfy."""

PYTHONS = {"airflow3": Path(sys.executable), "airflow2": ROOT / ".venv-airflow2" / "bin" / "python"}

LOADER = """
import json, sys
try:
    from airflow.dag_processing.dagbag import DagBag  # Airflow 3
    bag = DagBag(dag_folder=sys.argv[1])
except ImportError:
    from airflow.models.dagbag import DagBag  # Airflow 2
    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
from kubernetes.client import ApiClient
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

api = ApiClient()
pods = {}
for dag_id, dag in sorted(bag.dags.items()):
    for task in dag.tasks:
        if hasattr(task, "partial_kwargs") and "KubernetesPodOperator" in str(task.operator_class):
            # A mapped pod: the operator its partial() arguments make, with one sample mapped argument.
            kwargs = {k: v for k, v in task.partial_kwargs.items() if k not in ("task_id", "dag", "task_group")}
            task = KubernetesPodOperator(task_id=task.task_id, arguments=["--sample=1"], **kwargs)
        if isinstance(task, KubernetesPodOperator):
            pod = task.build_pod_request_obj(dry_run=True)
            pods[dag_id + "." + task.task_id] = api.sanitize_for_serialization(pod)
errors = {path: str(error) for path, error in bag.import_errors.items()}
print("RESULT " + json.dumps({"errors": errors, "pods": pods}))
"""


def schema_errors(manifest: dict[str, Any]) -> str | None:
    """Why ``manifest`` breaks the Kubernetes schema of ``K8S_VERSION`` (strict), or None."""
    try:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'.'.join(map(str, exc.path))}: {exc.message}"
    return None


@pytest.fixture(scope="module", params=sorted(PYTHONS))
def built_pods(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """target, the dag_ids rendered and the pods Airflow built from them (``dag_id.task_id`` -> manifest)."""
    target: str = request.param
    python = PYTHONS[target]
    assert python.exists(), f"{python} is missing: run `make test` (it builds .venv-airflow2)"
    folder = tmp_path_factory.mktemp(f"dags_{target}")
    pipelines = sample_pipelines()
    for stem, pipeline in pipelines.items():
        (folder / f"{stem}.py").write_text(render(pipeline, target=target), encoding="utf-8")
    home = tmp_path_factory.mktemp(f"home_{target}")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [str(python), "-c", LOADER, str(folder)], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-4000:]
    loaded = json.loads(lines[0].removeprefix("RESULT "))
    assert loaded["errors"] == {}
    return {"target": target, "dag_ids": {p.dag_id for p in pipelines.values()}, "pods": loaded["pods"]}


def test_every_pod_is_valid_kubernetes(built_pods: dict[str, Any]) -> None:
    pods: dict[str, dict[str, Any]] = built_pods["pods"]
    # Every pipeline (one per node type, the loop, each example) built pods, the mapped trials included.
    assert {name.split(".")[0] for name in pods} == built_pods["dag_ids"]
    assert any(name.endswith(".tune__trial") for name in pods)
    failures = {name: problem for name, pod in pods.items() if (problem := schema_errors(pod))}
    assert failures == {}, f"{built_pods['target']}: pods that Kubernetes {K8S_VERSION} would refuse"


def test_the_memory_backed_shm_and_gpus_reach_the_pod(built_pods: dict[str, Any]) -> None:
    train = built_pods["pods"]["keyword_recommendation.train"]["spec"]
    (shm,) = [volume for volume in train["volumes"] if volume.get("emptyDir")]
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    assert train["containers"][0]["resources"]["limits"]["memory"] == "24Gi"
    helper = built_pods["pods"]["article_recommendation.tune__trials"]["spec"]
    assert "nvidia.com/gpu" not in helper["containers"][0]["resources"].get("limits", {})
    assert not any(t.get("key") == "nvidia.com/gpu" for t in helper.get("tolerations") or [])
    deploy = built_pods["pods"]["keyword_recommendation.deploy"]["spec"]
    assert deploy["serviceAccountName"] == "ml-deployer"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda spec: spec.update(unknownField=True), "unknownField"),
        (lambda spec: spec["containers"][0].update(image=7), "image"),
        (lambda spec: spec.update(containers="train"), "containers"),
    ],
)
def test_the_schema_check_refuses_broken_pods(change: Any, where: str) -> None:
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x"},
        "spec": {"containers": [{"name": "base", "image": "python:3.11"}]},
    }
    assert schema_errors(pod) is None
    change(pod["spec"])
    problem = schema_errors(pod)
    assert problem is not None and where in problem
