"""Generated pipelines for benchmarks: realistic GPU training steps in a layered graph."""

from __future__ import annotations

from typing import Any

from dagsmith.nodes import Pipeline


def synthetic_pipeline(size: int, *, fan_in: int = 2) -> Pipeline:
    """A valid pipeline of ``size`` script nodes, each reading up to ``fan_in`` earlier outputs."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for index in range(size):
        node_id = f"n{index}"
        nodes.append(
            {
                "id": node_id,
                "type": "script",
                "label": f"Step {index}",
                "position": {"x": (index % 50) * 220.0, "y": (index // 50) * 120.0},
                "params": {
                    "script": f"steps/step_{index}.py",
                    "arguments": ["--date", "{{ ds }}", "--epochs", "{{ params.epochs }}"],
                    "pod": {
                        "image": "registry.example.com/ml/trainer:1.4",
                        "resources": {
                            "cpu_request": "500m",
                            "cpu_limit": "2",
                            "memory_request": "1Gi",
                            "memory_limit": "4Gi",
                            "gpu": 1 if index % 10 == 0 else 0,
                        },
                        "env": [{"name": "STEP", "value": str(index)}, {"name": "MODE", "value": "train"}],
                        "secrets": [{"env_var": "TOKEN", "secret_name": "ml-token", "key": "token"}],
                        "volumes": [{"pvc": "ml-data", "mount_path": "/data", "read_only": True}],
                        "node_selector": {"pool": "gpu" if index % 10 == 0 else "cpu"},
                        "labels": {"team": "ml"},
                    },
                },
            }
        )
        for back in range(1, fan_in + 1):
            if index - back >= 0 and (index % 7 != 0 or back == 1):
                edges.append(
                    {
                        "id": f"e{index}_{back}",
                        "source": f"n{index - back}",
                        "source_port": "output",
                        "target": node_id,
                        "target_port": "upstream",
                    }
                )
    return Pipeline.model_validate(
        {
            "settings": {
                "name": f"Synthetic {size}",
                "schedule": "@daily",
                "params": [{"name": "epochs", "type": "integer", "default": 3}],
                "default_resources": {"gpu_resource": "nvidia.com/gpu"},
            },
            "nodes": nodes,
            "edges": edges,
        }
    )
