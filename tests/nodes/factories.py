"""Builders for pipeline documents used by the tests in this folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagsmith.nodes import CATALOG, Code, Comment, Edge, Issue, Node, Pipeline, PipelineSettings, Severity

IMAGE = "python:3.11"

# The smallest parameter set each node type accepts without any issue (given its required inputs).
MINIMAL_PARAMS: dict[str, dict[str, Any]] = {
    "feature_retrieval": {
        "feast_repo": "/feast/repo",
        "feature_service": "svc",
        "entity_source": "/data/entities.parquet",
    },
    "feature_materialize": {"feast_repo": "/feast/repo"},
    "script": {"script": "train.py"},
    "notebook": {"notebook": "notebooks/train.ipynb"},
    "hyperparameter_search": {
        "search_space": {"lr": {"kind": "uniform", "low": 0.001, "high": 0.1}},
        "objective_metric": "val_auc",
        "command": ["python", "train.py"],
    },
    "register_model": {"model_name": "keyword-recommender"},
    "model_gate": {"metric": "val_auc"},
    "bentoml_build": {
        "bento_name": "keyword_api",
        "service": "service:KeywordService",
        "image_repository": "registry.example.com/ml/keyword-api",
    },
    "bentoml_deploy": {"deployment_name": "keyword-api"},
    "batch_predict": {"id_column": "user_id"},
    "monitor": {"metric": "ctr", "threshold": 0.1, "retrain_dag_id": "retrain", "model_name": "keyword-recommender"},
}
KINDS = sorted(MINIMAL_PARAMS)


def node(node_id: str, kind: str = "script", params: dict[str, Any] | None = None, **fields: Any) -> Node:
    """A node of ``kind``; ``params`` default to the type's minimal valid parameters."""
    if params is None:
        params = dict(MINIMAL_PARAMS[kind])
    return Node(id=node_id, type=kind, params=params, **fields)


def edge(
    source: str, target: str, source_port: str = "output", target_port: str = "upstream", edge_id: str | None = None
) -> Edge:
    """An edge; the id defaults to ``source-target``."""
    return Edge(
        id=edge_id or f"{source}-{target}",
        source=source,
        source_port=source_port,
        target=target,
        target_port=target_port,
    )


def pipeline(
    *nodes: Node, edges: list[Edge] | tuple[Edge, ...] = (), comments: Sequence[Comment] = (), **settings: Any
) -> Pipeline:
    """A pipeline of these nodes and edges; settings default to a pipeline-wide image."""
    settings.setdefault("name", "test pipeline")
    settings.setdefault("default_image", IMAGE)
    settings.setdefault("service_accounts", {"deployer": "ml-deployer"})  # deploy steps need one
    return Pipeline(
        settings=PipelineSettings(**settings), nodes=list(nodes), edges=list(edges), comments=list(comments)
    )


def source(node_id: str, port_type: str, port: str = "out") -> Node:
    """A script node with one declared output of ``port_type`` (feeds typed inputs)."""
    return node(node_id, "script", {"script": "make.py", "outputs": [{"name": port, "type": port_type}]})


def sink(node_id: str, port_type: str, port: str = "inp", **decl: Any) -> Node:
    """A script node with one declared input of ``port_type``."""
    return node(node_id, "script", {"script": "use.py", "inputs": [{"name": port, "type": port_type, **decl}]})


def valid_pipeline(
    kind: str, params: dict[str, Any] | None = None, *, connect: tuple[str, ...] = (), node_id: str = "n"
) -> Pipeline:
    """One node of ``kind`` with a source script feeding each required input and each input in ``connect``."""
    subject = node(node_id, kind, params)
    node_type = CATALOG.get(kind)
    assert node_type is not None
    inputs, _ = node_type.ports(subject.params)
    nodes, edges = [], []
    for port in inputs:
        if port.required or port.name in connect:
            nodes.append(source(f"src_{port.name}", port.type.value))
            edges.append(edge(f"src_{port.name}", node_id, "out", port.name))
    return pipeline(*nodes, subject, edges=edges)


def chain(count: int) -> Pipeline:
    """``count`` script nodes, each waiting on the one before."""
    nodes = [node(f"n{i}") for i in range(count)]
    edges = [edge(f"n{i}", f"n{i + 1}") for i in range(count - 1)]
    return pipeline(*nodes, edges=edges)


def only(issues: list[Issue], code: Code) -> Issue:
    """The one issue with ``code`` (fails when there are none or several)."""
    found = [i for i in issues if i.code is code]
    assert len(found) == 1, f"expected one {code} issue, got {issues}"
    return found[0]


def codes(issues: list[Issue], severity: Severity | None = None) -> list[Code]:
    """The codes of ``issues`` (of one severity, if given), in order."""
    return [i.code for i in issues if severity is None or i.severity is severity]
