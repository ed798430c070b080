"""The DAG side of the artifact store (issue 10): each step's contract variables, and pods that reach the store.

The keyword example is exported with its S3 store, with a shared POSIX volume and with GCS; Airflow 3 builds
every pod (``build_pod_request_obj``), which must pass the Kubernetes schema check and mount or reach the store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_k8s_schema import LOADER, PYTHONS, schema_errors

from dagsmith.codegen import render
from dagsmith.codegen.artifacts import Artifacts, contract_env, shared_env
from dagsmith.codegen.builders import USER_IMAGE_BOOT
from dagsmith.codegen.steps import RUNTIME_VERSION
from dagsmith.nodes import CATALOG, OutputSettings, Pipeline, load_example

RUN_KEY = "{{ run_id | replace(':', '_') | replace('+', '_') | replace('~', '_') }}"
STAGING = "/tmp/dagsmith-staging/" + RUN_KEY


def _keyword(**settings: Any) -> Pipeline:
    pipeline = load_example("keyword_recommendation")
    data = pipeline.model_dump(mode="json")
    data["settings"].update(settings)
    return Pipeline.model_validate(data)


POSIX = {
    "artifact_root": "/mnt/artifacts",
    "artifact_store": {"pvc": "ml-artifacts", "project_gid": 5000, "group_gids": {"analysts": 5001}},
}
GCS = {"artifact_root": "gs://ml-artifacts/dagsmith", "artifact_store": {"credentials_secret": "ml-gcs"}}


def _env(pipeline: Pipeline, node_id: str) -> dict[str, str]:
    artifacts = Artifacts.of(pipeline, 1)
    node = pipeline.node_map()[node_id]
    node_type = CATALOG.get(node.type)
    assert node_type is not None
    incoming = [edge for edge in pipeline.edges if edge.target == node_id]
    return {name: value.final() for name, value in contract_env(artifacts, node, node_type, incoming).items()}


def test_an_object_store_stages_path_outputs_and_gives_the_final_uri() -> None:
    pipeline = load_example("keyword_recommendation")
    env = _env(pipeline, "features")
    uri = "s3://ml-artifacts/dagsmith/keyword_recommendation/" + RUN_KEY + "/features/features"
    assert env["DAGSMITH_OUTPUT_FEATURES"] == STAGING + "/keyword_features/outputs/features"
    assert env["DAGSMITH_OUTPUT_FEATURES_URI"] == uri
    assert env["DAGSMITH_OUTPUT_FEATURES_MODE"] == "path"
    assert json.loads(env["DAGSMITH_OUTPUT_FEATURES_ACCESS"]) == {"level": "private", "groups": []}
    assert env["DAGSMITH_STAGING"] == STAGING + "/keyword_features"
    reader = _env(pipeline, "train")
    (name,) = [key for key in reader if key.startswith("DAGSMITH_INPUT_") and key.endswith("_URI")]
    assert reader[name] == uri  # the downstream step gets the stored location, and a path to download to
    assert reader[name.removesuffix("_URI")].startswith(STAGING + "/train/inputs/")
    shared = {key: value.final() for key, value in shared_env(Artifacts.of(pipeline, 1)).items()}
    assert shared["DAGSMITH_ARTIFACT_ENDPOINT"] == "http://minio.storage.svc:9000"
    assert shared["DAGSMITH_PROJECT"] == "keyword_recommendation"
    assert "DAGSMITH_POSIX_IDS" not in shared


def test_uri_delivery_gives_the_step_the_store_uri() -> None:
    pipeline = load_example("keyword_recommendation")
    pipeline.node_map()["features"].outputs["features"] = OutputSettings(delivery="uri")
    env = _env(pipeline, "features")
    assert env["DAGSMITH_OUTPUT_FEATURES"] == env["DAGSMITH_OUTPUT_FEATURES_URI"]
    assert env["DAGSMITH_OUTPUT_FEATURES_MODE"] == "uri"
    reader = _env(pipeline, "train")
    inputs = {key: value for key, value in reader.items() if key.startswith("DAGSMITH_INPUT_")}
    assert len(set(inputs.values())) == 1  # the reader gets the URI too: no download


def test_a_posix_store_gives_final_paths_and_the_group_ids() -> None:
    pipeline = _keyword(**POSIX)
    env = _env(pipeline, "features")
    assert env["DAGSMITH_OUTPUT_FEATURES"] == env["DAGSMITH_OUTPUT_FEATURES_URI"]
    assert env["DAGSMITH_OUTPUT_FEATURES"].startswith("/mnt/artifacts/keyword_recommendation/")
    assert "DAGSMITH_STAGING" not in env
    shared = {key: value.final() for key, value in shared_env(Artifacts.of(pipeline, 1)).items()}
    assert json.loads(shared["DAGSMITH_POSIX_IDS"]) == {"project_gid": 5000, "groups": {"analysts": 5001}}
    assert "DAGSMITH_ARTIFACT_ENDPOINT" not in shared


def _posix_with_a_group() -> Pipeline:
    """The keyword example on a shared volume, with its deploy node running as the analysts group."""
    data = _keyword(**POSIX).model_dump(mode="json")
    data["settings"]["service_accounts"]["groups"] = {"analysts": "ml-analysts"}
    for node in data["nodes"]:
        if node["id"] == "deploy":
            node["access"] = {"level": "groups", "groups": ["analysts"]}
    return Pipeline.model_validate(data)


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """store -> (task id -> the pod Airflow 3 builds) for the keyword example on each kind of store."""
    folder = tmp_path_factory.mktemp("store_dags")
    variants = {"s3": load_example("keyword_recommendation"), "posix": _posix_with_a_group(), "gcs": _keyword(**GCS)}
    for kind, pipeline in variants.items():
        data = pipeline.model_dump(mode="json")
        data["settings"]["dag_id"] = f"keyword_{kind}"
        (folder / f"{kind}.py").write_text(render(Pipeline.model_validate(data), target="airflow3"), encoding="utf-8")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path_factory.mktemp("home")), "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-c", LOADER, str(folder)], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-4000:]
    loaded = json.loads(lines[0].removeprefix("RESULT "))
    assert loaded["errors"] == {}
    found: dict[str, dict[str, Any]] = {kind: {} for kind in variants}
    for name, pod in loaded["pods"].items():
        dag_id, task_id = name.split(".", 1)
        found[dag_id.removeprefix("keyword_")][task_id] = pod
    return found


def test_every_pod_on_every_store_is_valid_kubernetes(pods: dict[str, dict[str, Any]]) -> None:
    failures = {
        f"{kind}.{task}": err
        for kind, tasks in pods.items()
        for task, pod in tasks.items()
        if (err := schema_errors(pod))
    }
    assert failures == {}
    assert all(len(tasks) > 5 for tasks in pods.values())


def test_every_pod_mounts_the_shared_volume_at_the_root(pods: dict[str, dict[str, Any]]) -> None:
    for task, pod in pods["posix"].items():
        spec = pod["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["dagsmith-artifacts"]["persistentVolumeClaim"] == {"claimName": "ml-artifacts"}, task
        mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
        assert mounts["dagsmith-artifacts"]["mountPath"] == "/mnt/artifacts", task


def _env_of(pod: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in pod["spec"]["containers"][0]["env"]}


def test_every_pod_reaches_the_object_store_with_secret_references_only(pods: dict[str, dict[str, Any]]) -> None:
    for task, pod in pods["s3"].items():
        env = _env_of(pod)
        assert env["DAGSMITH_ARTIFACT_ENDPOINT"] == "http://minio.storage.svc:9000", task
        assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "ml-artifacts-s3", "key": "access_key_id"}}
        assert env["AWS_SECRET_ACCESS_KEY"]["secretKeyRef"]["name"] == "ml-artifacts-s3"
    for task, pod in pods["gcs"].items():
        env = _env_of(pod)
        # A value ending '.json' gets an empty expression (it would be read as a template file); it renders to ''.
        key_file = env["GOOGLE_APPLICATION_CREDENTIALS"].removesuffix("{{ '' }}")
        assert key_file == "/var/run/secrets/dagsmith/gcs/key.json", task
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["dagsmith-artifacts"]["secret"]["secretName"] == "ml-gcs"


def test_a_pod_on_a_shared_volume_runs_in_the_projects_group_and_its_access_groups(
    pods: dict[str, dict[str, Any]],
) -> None:
    """POSIX enforcement needs the pod's processes in the project's group (it owns the root and every artifact)
    and in the group of each access group the node runs as; object stores need neither."""
    for task, pod in pods["posix"].items():
        wanted = [5000, 5001] if task == "deploy" else [5000]  # the deploy node runs as the analysts group
        context = pod["spec"]["securityContext"]
        assert context == {"fsGroup": 5000, "fsGroupChangePolicy": "OnRootMismatch", "supplementalGroups": wanted}
    assert all(not pod["spec"].get("securityContext") for pod in pods["s3"].values())


def test_airflow2_builds_the_same_valid_security_context(tmp_path: Path) -> None:
    """The Airflow 2 target writes the same ``V1PodSecurityContext``; its pods pass the schema check too."""
    python = PYTHONS["airflow2"]
    assert python.exists(), f"{python} is missing: run `make test` (it builds .venv-airflow2)"
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "posix.py").write_text(render(_posix_with_a_group(), target="airflow2"), encoding="utf-8")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"), "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [str(python), "-c", LOADER, str(folder)], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-4000:]
    loaded = json.loads(lines[0].removeprefix("RESULT "))
    assert loaded["errors"] == {} and loaded["pods"]
    for name, pod in loaded["pods"].items():
        assert schema_errors(pod) is None, name
        groups = [5000, 5001] if name.endswith(".deploy") else [5000]
        assert pod["spec"]["securityContext"]["supplementalGroups"] == groups, name
        assert pod["spec"]["securityContext"]["fsGroup"] == 5000


def test_a_script_pod_runs_the_users_command_through_the_step_runtime(pods: dict[str, dict[str, Any]]) -> None:
    """Issue 10: the user's script in its own image, inside the artifact layer (inputs fetched, outputs stored)."""
    train = pods["s3"]["train"]["spec"]["containers"][0]
    command = [*train["command"], *(train.get("args") or [])]
    assert command[:5] == ["python", "-c", USER_IMAGE_BOOT, "exec", "--"]
    pipeline = load_example("keyword_recommendation")
    node = pipeline.node_map()["train"].params
    assert command[5:7] == ["python", node["script"]] and len(command[7:]) == len(node["arguments"])
    assert train["image"] == pipeline.settings.default_image  # the user's image, not the step image
    env = _env_of(pods["s3"]["train"])
    assert env["DAGSMITH_RUNTIME_VERSION"] == RUNTIME_VERSION
    fetched = [name.removesuffix("_URI") for name in env if name.startswith("DAGSMITH_INPUT_") and "_URI" in name]
    assert fetched, "the train step reads the features"
    for name in fetched:  # the runtime downloads each input from the store to the staging path before the command
        assert env[name + "_URI"].startswith("s3://") and env[name].startswith("/tmp/dagsmith-staging/")
    for kind in ("posix", "gcs"):
        container = pods[kind]["train"]["spec"]["containers"][0]
        assert container["command"][:4] == ["python", "-c", USER_IMAGE_BOOT, "exec"], kind


def test_the_local_target_reads_the_gcs_key_from_its_own_environment() -> None:
    local = render(_keyword(**GCS), target="local")
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in local
    assert "/var/run/secrets/dagsmith/gcs/key.json" in render(_keyword(**GCS), target="airflow3")


def test_the_dag_file_holds_no_credential_value() -> None:
    text = render(load_example("keyword_recommendation"), target="airflow3")
    assert "ml-artifacts-s3" in text and "secret_access_key" in text  # the secret's name and key only
