"""Export work grows linearly with the pipeline: no step of building the plan walks every edge per node."""

from __future__ import annotations

from typing import Any

from sample_pipelines import node, pipeline

from dagsmith.codegen.artifacts import Artifacts, contract_env
from dagsmith.nodes import CATALOG, Edge


class CountingEdges(list[Edge]):
    """The pipeline's edge list, counting how often something walks all of it."""

    walks = 0

    def __iter__(self) -> Any:
        CountingEdges.walks += 1
        return super().__iter__()


def test_the_contract_env_reads_the_edge_list_once_not_per_node() -> None:
    size = 60
    ports = {"inputs": [{"name": "data", "type": "dataset"}], "outputs": [{"name": "data", "type": "dataset"}]}
    nodes = [node(f"n{i}", "script", **ports) for i in range(size)]
    sample = pipeline("chain", nodes, [])
    edges = [
        Edge(id=f"e{i}", source=f"n{i - 1}", source_port="data", target=f"n{i}", target_port="data")
        for i in range(1, size)
    ]
    sample.edges = CountingEdges(edges)
    artifacts = Artifacts.of(sample, 1)
    node_type = CATALOG.get("script")
    assert node_type is not None
    CountingEdges.walks = 0
    envs = [contract_env(artifacts, item, node_type, [e for e in edges if e.target == item.id]) for item in nodes]
    assert CountingEdges.walks <= 1, f"the edges were walked {CountingEdges.walks} times for {size} nodes"
    # The result is still right: every output but the last one's is read by the next step.
    assert all("DAGSMITH_OUTPUT_DATA_OPTIONAL" not in env for env in envs[:-1])
    assert envs[-1]["DAGSMITH_OUTPUT_DATA_OPTIONAL"].final() == "1"


def test_an_export_hashes_the_document_once(monkeypatch: Any) -> None:
    """The header and the DAG's doc both name the content hash: one canonical JSON dump, not two."""
    import importlib

    from dagsmith.nodes import content_hash

    plan, render, versioning = (
        importlib.import_module(f"dagsmith.codegen.{name}") for name in ("plan", "render", "versioning")
    )

    calls: list[int] = []

    def counted(document: Any) -> str:
        calls.append(1)
        return content_hash(document)

    for module in (plan, render, versioning):
        if hasattr(module, "content_hash"):
            monkeypatch.setattr(module, "content_hash", counted)
    sample = pipeline("hashed", [node("n0", "script", inputs=[])], [])
    text = render.render(sample)
    assert len(calls) == 1
    assert f"# content-hash: {content_hash(sample)}" in text and f"content hash {content_hash(sample)}" in text
