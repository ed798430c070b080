"""Elyra import speed: a 10,000-node ``.pipeline`` file read and converted in process (and 1,000 for growth).

Target: < 2 s for 10,000 nodes; cost linear in size. The file repeats labels (as notebooks of the same name do),
has some links without ids and Kubernetes settings on every node: the cases that once made the import quadratic.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dagsmith.nodes.elyra import import_elyra_file


def elyra_node(index: int) -> dict[str, Any]:
    """A version 8 generic node linked to up to two earlier nodes."""
    links = [
        {"node_id_ref": f"n{index - back}", "port_id_ref": "outPort"}
        | ({} if index % 5 == 0 else {"id": f"l{index}-{back}"})
        for back in (1, 2)
        if index - back >= 0
    ]
    notebook = index % 3 == 0
    return {
        "id": f"n{index}",
        "type": "execution_node",
        "op": "execute-notebook-node" if notebook else "execute-python-node",
        "app_data": {
            "label": f"Step {index % 20}",  # 20 labels, each used 500 times
            "component_parameters": {
                "filename": f"steps/step_{index}.{'ipynb' if notebook else 'py'}",
                "runtime_image": "registry.example.com/ml/trainer:1.4",
                "cpu": 1,
                "memory": 2,
                "env_vars": [{"env_var": "STEP", "value": str(index)}, {"env_var": "MODE", "value": "train"}],
                "kubernetes_secrets": [{"env_var": "TOKEN", "name": "ml-token", "key": "token"}],
                "mounted_volumes": [{"path": "/data", "pvc_name": "ml-data", "sub_path": "", "read_only": True}],
                "kubernetes_pod_labels": [{"key": "team", "value": "ml"}],
                "outputs": [f"out/step_{index}.csv"],
                "dependencies": [],
            },
            "ui_data": {"label": f"Step {index % 20}", "x_pos": (index % 50) * 220, "y_pos": (index // 50) * 120},
        },
        "inputs": [{"id": "inPort", "links": links}],
        "outputs": [{"id": "outPort"}],
    }


def elyra_file(size: int) -> dict[str, Any]:
    """An Elyra pipeline of ``size`` nodes, with a comment on every tenth."""
    comments = [
        {"id": f"c{i}", "content": "check", "associated_id_refs": [{"node_ref": f"n{i}"}]} for i in range(0, size, 10)
    ]
    return {
        "doc_type": "pipeline",
        "version": "3.0",
        "id": "bench",
        "primary_pipeline": "main",
        "pipelines": [
            {
                "id": "main",
                "nodes": [elyra_node(i) for i in range(size)],
                "app_data": {"version": 8, "properties": {"name": f"bench-{size}"}, "ui_data": {"comments": comments}},
            }
        ],
        "schemas": [],
    }


def median_seconds(path: Path, repeat: int) -> float:
    """Median wall time of ``repeat`` imports of ``path``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        pipeline, _ = import_elyra_file(path)
        times.append(time.perf_counter() - start)
    assert len({n.task_id() for n in pipeline.nodes}) == len(pipeline.nodes), "task ids must be unique"
    return statistics.median(times)


def main() -> None:
    """Print medians, their ratio to the target and the growth of the per-node cost."""
    per_node = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size, target, repeat in ((1_000, 0.2, 7), (10_000, 2.0, 5)):
            path = Path(tmp) / f"bench-{size}.pipeline"
            path.write_text(json.dumps(elyra_file(size)), encoding="utf-8")
            seconds = median_seconds(path, repeat)
            per_node[size] = seconds / size
            megabytes = path.stat().st_size / 2**20
            print(
                f"import Elyra {size:>6} nodes ({megabytes:.1f} MiB): median {seconds * 1000:8.1f} ms  "
                f"target {target * 1000:.0f} ms  ratio {seconds / target:.2f}"
            )
    print(f"growth: per-node cost at 10,000 / at 1,000 = {per_node[10_000] / per_node[1_000]:.2f} (1.0 = linear)")


if __name__ == "__main__":
    sys.exit(main())
