"""The keyword recommendation DAG as a careful Airflow engineer would write it by hand.

The same tasks, pods, environment contract and dependencies as dagsmith's export of the
``keyword_recommendation`` example (bench_export.py checks that Airflow builds the same pods from both),
written the way a person would: shared settings and small helpers instead of repeated literals.
"""

from __future__ import annotations

import datetime
import json
import operator

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.sdk import DAG, Param, timezone
from kubernetes.client import models as k8s

RUN = "{{ run_id | replace(':', '_') | replace('+', '_') | replace('~', '_') }}"
DS = "{{ ds if ds is defined else dag_run.run_after | ds }}"
STAGING = f"/tmp/dagsmith-staging/{RUN}"
STORE = f"s3://ml-artifacts/dagsmith/keyword_recommendation/{RUN}"
ENV = {
    "DAGSMITH_DAG_ID": "keyword_recommendation",
    "DAGSMITH_PIPELINE_VERSION": "1",
    "DAGSMITH_RUN_ID": "{{ run_id }}",
    "DAGSMITH_LOGICAL_DATE": "{{ ts if ts is defined else dag_run.run_after | ts }}",
    "DAGSMITH_ARTIFACT_ROOT": "s3://ml-artifacts/dagsmith",
    "DAGSMITH_PROJECT": "keyword_recommendation",
    "DAGSMITH_ARTIFACT_ENDPOINT": "http://minio.storage.svc:9000",
    "AWS_DEFAULT_REGION": "us-east-1",
}
STEPS_BOOT = (  # starts the step runtime in the user's image, saying what to install when it lacks it
    "import importlib.util, runpy, sys; "
    'importlib.util.find_spec("dagsmith_steps") or sys.exit("[dagsmith] error: this image has no dagsmith step '
    "runtime (Python package dagsmith_steps), which runs the step and stores its artifacts; install it in the "
    "step's image: pip install 'dagsmith-steps==1.1.0' (from the steps/ folder of a dagsmith checkout), or build "
    'the image FROM the step image (dagsmith step-image)"); '
    'runpy.run_module("dagsmith_steps", run_name="__main__", alter_sys=True)'
)
MLFLOW = {"MLFLOW_TRACKING_URI": "{{ var.value.get('dagsmith_mlflow_tracking_uri', '') }}"}
STORE_SECRETS = [
    Secret("env", "AWS_ACCESS_KEY_ID", "ml-artifacts-s3", "access_key_id"),
    Secret("env", "AWS_SECRET_ACCESS_KEY", "ml-artifacts-s3", "secret_access_key"),
]
STEP_POD = {
    "namespace": "ml-pipelines",
    "image": "dagsmith/steps:1.1.0",
    "secrets": STORE_SECRETS,
    "container_resources": k8s.V1ResourceRequirements(
        requests={"cpu": "1", "memory": "2Gi"}, limits={"cpu": "2", "memory": "4Gi"}
    ),
    "get_logs": True,
}


def xcom(task_id: str, key: str) -> str:
    """A value another task pushed, as JSON, rendered when the task runs."""
    return f"{{{{ (ti.xcom_pull(task_ids='{task_id}') or {{}}).get('{key}') | tojson }}}}"


def step(
    task_id: str, node: str, kind: str, config: dict, *, env: dict | None = None, **kwargs
) -> KubernetesPodOperator:
    """A built-in dagsmith step: the step runtime in the step image, its config as JSON."""
    return KubernetesPodOperator(
        task_id=task_id,
        cmds=["python", "-m", "dagsmith_steps", kwargs.pop("program", kind)],
        env_vars={
            **ENV,
            "DAGSMITH_TASK_ID": task_id,
            "DAGSMITH_NODE_ID": node,
            "DAGSMITH_NODE_TYPE": kind,
            "DAGSMITH_CONFIG": json.dumps(config, sort_keys=True),
            "DAGSMITH_RUNTIME_VERSION": "1.1.0",
            **MLFLOW,
            **(env or {}),
        },
        **{**STEP_POD, "service_account_name": "ml-project", **kwargs},
    )


with DAG(
    dag_id="keyword_recommendation",
    description="Daily retrained keyword recommendation model.",
    schedule="0 3 * * *",
    start_date=timezone.datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "ml-platform",
        "retries": 2,
        "retry_delay": datetime.timedelta(seconds=300),
        "on_finish_action": "delete_succeeded_pod",
        "startup_timeout_seconds": 600,
    },
    params={
        "epochs": Param(5, type="integer", description="Training epochs", minimum=1.0, maximum=100.0),
        "learning_rate": Param(0.01, type="number"),
    },
    tags=["recommendation", "keyword", "dagsmith", "dagsmith-v1"],
    doc_md="Daily retrained keyword recommendation model.",
) as dag:
    features = step(
        "keyword_features",
        "features",
        "feature_retrieval",
        {
            "entity_source": {"$dagsmith_env": "DAGSMITH_CONFIG_0"},
            "event_timestamp_column": "event_timestamp",
            "feast_repo": "/feast/keyword",
            "feature_service": "keyword_ranker_v1",
            "features": [],
            "full_feature_names": False,
        },
        env={
            "DAGSMITH_OUTPUT_FEATURES": f"{STAGING}/keyword_features/outputs/features",
            "DAGSMITH_OUTPUT_FEATURES_URI": f"{STORE}/features/features",
            "DAGSMITH_OUTPUT_FEATURES_MODE": "path",
            "DAGSMITH_OUTPUT_FEATURES_ACCESS": '{"level": "private", "groups": []}',
            "DAGSMITH_STAGING": f"{STAGING}/keyword_features",
            "DAGSMITH_CONFIG_0": f"s3://ml-data/keyword/entities/{DS}.parquet",
        },
        task_display_name="Keyword features",
    )

    train = KubernetesPodOperator(
        task_id="train",
        task_display_name="Train",
        namespace="ml-pipelines",
        image="registry.example.com/ml/runtime:2026.11",
        cmds=["python", "-c", STEPS_BOOT, "exec", "--", "python", "train_keyword.py"],
        arguments=["--epochs", "{{ params.epochs }}", "--lr", "{{ params.learning_rate }}"],
        env_vars={
            **ENV,
            "DAGSMITH_TASK_ID": "train",
            "DAGSMITH_NODE_ID": "train",
            "DAGSMITH_NODE_TYPE": "script",
            "DAGSMITH_INPUT_FEATURES": f"{STAGING}/train/inputs/features",
            "DAGSMITH_INPUT_FEATURES_URI": f"{STORE}/features/features",
            "DAGSMITH_STAGING": f"{STAGING}/train",
            "DAGSMITH_RUNTIME_VERSION": "1.1.0",
            **MLFLOW,
        },
        secrets=[Secret("env", "MLFLOW_TRACKING_TOKEN", "mlflow-credentials", "token"), *STORE_SECRETS],
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "1", "memory": "16Gi"}, limits={"cpu": "2", "memory": "24Gi", "nvidia.com/gpu": "1"}
        ),
        volumes=[k8s.V1Volume(name="dshm", empty_dir=k8s.V1EmptyDirVolumeSource(medium="Memory", size_limit="8Gi"))],
        volume_mounts=[k8s.V1VolumeMount(name="dshm", mount_path="/dev/shm")],
        tolerations=[k8s.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
        node_selector={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
        service_account_name="ml-project",
        do_xcom_push=True,
        get_logs=True,
    )

    register = step(
        "register",
        "register",
        "register_model",
        {"alias": "candidate", "artifact_path": "model", "model_name": "keyword-recommender", "tags": {}},
        env={"DAGSMITH_VALUE_RUN": xcom("train", "run")},
        task_display_name="Register",
        do_xcom_push=True,
    )

    gate = step(
        "gate",
        "gate",
        "model_gate",
        {
            "candidate_alias": "candidate",
            "champion_alias": "champion",
            "compare_to_champion": True,
            "direction": "maximize",
            "metric": "val_ndcg",
            "min_improvement": 0.0,
            "threshold": 0.2,
        },
        env={"DAGSMITH_VALUE_CANDIDATE": xcom("register", "model")},
        task_display_name="Gate",
        do_xcom_push=True,
        multiple_outputs=True,
    )

    passed = ShortCircuitOperator(
        task_id="gate__passed",
        python_callable=operator.truth,
        op_args=[gate.output["passed"]],
        ignore_downstream_trigger_rules=False,
    )

    promote = step(
        "gate__promote",
        "gate",
        "model_gate",
        {"champion_alias": "champion"},
        env={
            "DAGSMITH_TASK_ID": "gate",
            "DAGSMITH_VALUE_CANDIDATE": xcom("register", "model"),
            "DAGSMITH_VALUE_DECISION": xcom("gate", "decision"),
        },
        program="promote_model",
    )

    build = step(
        "build_bento",
        "build",
        "bentoml_build",
        {
            "bento_name": "keyword-recommender",
            "build_context": ".",
            "image_repository": "registry.example.com/ml/keyword-api",
            "image_tag": {"$dagsmith_env": "DAGSMITH_CONFIG_0"},
            "model_alias": "champion",
            "model_name": "",
            "service": "service:KeywordService",
        },
        env={
            "DAGSMITH_VALUE_MODEL": xcom("gate", "approved"),
            "DAGSMITH_CONFIG_0": "{{ ts_nodash if ts_nodash is defined else dag_run.run_after | ts_nodash }}",
        },
        task_display_name="Build Bento",
        do_xcom_push=True,
    )

    deploy = step(
        "deploy",
        "deploy",
        "bentoml_deploy",
        {
            "deployment_name": "keyword-api",
            "max_replicas": 10,
            "min_replicas": 2,
            "namespace": "ml-pipelines",
            "port": 3000,
            "resources": {
                "limits": {"cpu": "2", "memory": "2Gi"},
                "node_selector": {},
                "requests": {"cpu": "500m", "memory": "1Gi"},
            },
            "rollout_timeout_seconds": 600,
            "service_type": "ClusterIP",
            "target_cpu_utilization": 60,
        },
        env={"DAGSMITH_VALUE_BENTO": xcom("build_bento", "bento")},
        service_account_name="ml-deployer",
        task_display_name="Deploy",
        do_xcom_push=True,
    )

    features >> train >> register >> gate >> passed >> build >> deploy >> promote
