"""Pipelines the code generation tests export: one per node type and the full MLOps loop."""

from __future__ import annotations

from typing import Any

from dagsmith.nodes import CATALOG, Edge, Node, Pipeline, PipelineSettings

IMAGE = "registry.example.com/ml/steps:1.0"

GPU_POD: dict[str, Any] = {
    "resources": {
        "cpu_request": "2",
        "memory_limit": "32Gi",
        "gpu": 2,
        "gpu_resource": "nvidia.com/gpu",
        "gpu_product": "NVIDIA-A100-SXM4-80GB",
    },
    "shm_size": "8Gi",
    "env": [
        {"name": "EPOCHS", "value": "10"},
        {"name": "RUN_DATE", "value": "{{ ds }}"},
        {"name": "FEATURE_BUCKET", "source": "variable", "variable": "feature_bucket"},
        {"name": "WAREHOUSE_HOST", "source": "connection", "connection": "warehouse_db", "connection_field": "host"},
    ],
    "secrets": [{"env_var": "MLFLOW_TRACKING_TOKEN", "secret_name": "mlflow-credentials", "key": "token"}],
    "volumes": [
        {"pvc": "training-data", "mount_path": "/data", "read_only": True},
        {"pvc": "training-data", "mount_path": "/scratch", "sub_path": "scratch"},
    ],
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "node_selector": {"pool": "gpu"},
    "labels": {"team": "ml"},
    "annotations": {"example.com/cost-center": "ml-research"},
    "retries": 2,
    "timeout_minutes": 120,
    "startup_timeout_seconds": 600,
}

PARAMS: dict[str, dict[str, Any]] = {
    "feature_retrieval": {
        "feast_repo": "/feast/repo",
        "feature_service": "keyword_features",
        "entity_source": "s3://ml/entities/{{ ds }}.parquet",
    },
    "feature_materialize": {"feast_repo": "/feast/repo", "incremental": False},
    "script": {
        "script": "train.py",
        "arguments": ["--epochs", "10", "--date={{ ds }}", "--config=conf.json"],
        "inputs": [{"name": "train_data", "type": "dataset"}],
        "outputs": [{"name": "run", "type": "mlflow_run"}],
        "pod": GPU_POD,
    },
    "notebook": {"notebook": "notebooks/explore.ipynb", "parameters": {"run_date": "{{ ds }}", "sample": 0.1}},
    "hyperparameter_search": {
        "search_space": {
            "lr": {"kind": "loguniform", "low": 0.0001, "high": 0.1},
            "depth": {"kind": "int", "low": 2, "high": 8},
            "optimizer": {"kind": "choice", "values": ["adam", "sgd"]},
        },
        "objective_metric": "val_auc",
        "command": ["python", "train.py"],
        "arguments": ["--data", "/data"],
        "max_trials": 8,
        "parallelism": 3,
        "seed": 7,
        "pod": {"resources": {"gpu": 1, "gpu_resource": "nvidia.com/gpu"}},
    },
    "register_model": {"model_name": "keyword-recommender", "tags": {"source": "dagsmith"}},
    "model_gate": {"metric": "val_auc", "threshold": 0.7, "min_improvement": 0.01},
    "bentoml_build": {
        "bento_name": "keyword_api",
        "service": "service:KeywordService",
        "image_repository": "registry.example.com/ml/keyword-api",
    },
    "bentoml_deploy": {
        "deployment_name": "keyword-api",
        "min_replicas": 2,
        "max_replicas": 6,
        "target_cpu_utilization": 60,
        "replica_resources": {"cpu_request": "1", "gpu": 1, "gpu_resource": "nvidia.com/gpu"},
    },
    "batch_predict": {"id_column": "user_id", "top_k": 1000, "output_format": "csv"},
    "monitor": {
        "metric": "ctr",
        "threshold": 0.02,
        "retrain_dag_id": "keyword_retrain",
        "model_name": "keyword-recommender",
        "retrain_conf": {"reason": "ctr below {{ ds }}", "full": True},
    },
}
KINDS = tuple(PARAMS)


def node(node_id: str, kind: str, label: str = "", **params: Any) -> Node:
    """A node of ``kind`` with the sample parameters, overridden by ``params``."""
    return Node(id=node_id, type=kind, label=label, params={**PARAMS[kind], **params})


def edge(source: str, source_port: str, target: str, target_port: str) -> Edge:
    """An edge between two ports."""
    return Edge(
        id=f"{source}.{source_port}->{target}.{target_port}",
        source=source,
        source_port=source_port,
        target=target,
        target_port=target_port,
    )


def pipeline(name: str, nodes: list[Node], edges: list[Edge], **settings: Any) -> Pipeline:
    """A pipeline with a default image and the given settings."""
    settings.setdefault("service_accounts", {"deployer": "ml-deployer"})  # deploy steps need one
    return Pipeline(
        settings=PipelineSettings(name=name, default_image=IMAGE, **settings),
        nodes=nodes,
        edges=edges,
    )


def _source(node_id: str, port_type: str) -> Node:
    return Node(
        id=node_id,
        type="script",
        params={"script": "make.py", "outputs": [{"name": "out", "type": port_type}]},
    )


def single(kind: str) -> Pipeline:
    """A pipeline around one node of ``kind``: a source script feeds each of its required inputs."""
    subject = node("subject", kind, label=f"{kind} step")
    node_type = CATALOG.get(kind)
    assert node_type is not None
    nodes, edges = [], []
    for port in node_type.ports(subject.params)[0]:
        if port.required:
            nodes.append(_source(f"src_{port.name}", port.type.value))
            edges.append(edge(f"src_{port.name}", "out", "subject", port.name))
    return pipeline(f"only {kind}", [*nodes, subject], edges)


def mlops_loop() -> Pipeline:
    """Features, training on a GPU, search, registry, gate, BentoML build and deploy, scoring, monitoring."""
    nodes = [
        node("features", "feature_retrieval", label="Features"),
        node("materialize", "feature_materialize", label="Materialize"),
        node("train", "script", label="Train"),
        node("tune", "hyperparameter_search", label="Tune"),
        node("explore", "notebook", label="Explore"),
        node("register", "register_model", label="Register"),
        node("gate", "model_gate", label="Gate"),
        node("build", "bentoml_build", label="Build"),
        node("deploy", "bentoml_deploy", label="Deploy"),
        node("score", "batch_predict", label="Score"),
        node("watch", "monitor", label="Watch", model_name=""),
    ]
    edges = [
        edge("features", "features", "materialize", "upstream"),
        edge("features", "features", "train", "train_data"),
        edge("features", "features", "tune", "dataset"),
        edge("features", "features", "explore", "upstream"),
        edge("train", "run", "register", "run"),
        edge("register", "model", "gate", "candidate"),
        edge("gate", "approved", "build", "model"),
        edge("build", "bento", "deploy", "bento"),
        edge("gate", "approved", "score", "model"),
        edge("features", "features", "score", "dataset"),
        edge("gate", "approved", "watch", "model"),
    ]
    settings: dict[str, Any] = {
        "description": "Keyword recommendation: the whole loop.",
        "owner": "ml-platform",
        "tags": ["keywords"],
        "schedule": "0 3 * * *",
        "retries": 1,
        "execution_timeout_minutes": 240,
        "dagrun_timeout_minutes": 720,
        "params": [
            {"name": "sample", "type": "number", "default": 0.5, "minimum": 0, "maximum": 1},
            {"name": "mode", "type": "string", "default": "full", "enum": ["full", "quick"]},
            {"name": "note", "type": "string", "description": "Free text"},
        ],
        "artifact_root": "s3://ml-artifacts",
        "artifact_store": {"credentials_secret": "ml-artifacts-s3"},  # issue 10: an object store needs credentials
        "path_template": "{pipeline}/{ds}/{run_id}/{node}",
        "default_resources": {"cpu_request": "500m", "memory_request": "1Gi"},
        "namespace": "ml",
        "service_accounts": {"private": "ml-runner", "public": "ml-public", "deployer": "ml-deployer"},
        "mlflow": {
            "tracking_uri": "http://mlflow.ml.svc:5000",
            "credentials_secret": "mlflow-credentials",
            "token_key": "token",
        },
    }
    return pipeline("Keyword loop", nodes, edges, **settings)
