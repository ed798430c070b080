"""The airflow2 target in a real Airflow 2 (its own virtual environment, .venv-airflow2)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from codegen_support import ROOT, sample_pipelines

from dagsmith.codegen import render

AIRFLOW2_PYTHON = ROOT / ".venv-airflow2" / "bin" / "python"

LOADER = """
import json, sys
from airflow.models.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
dags = {dag_id: sorted(dag.task_ids) for dag_id, dag in bag.dags.items()}
edges = {
    dag_id: sorted([up, task.task_id] for task in dag.tasks for up in task.upstream_task_ids)
    for dag_id, dag in bag.dags.items()
}
train = bag.dags["keyword_loop"].get_task("train").build_pod_request_obj(dry_run=True)
limits = train.spec.containers[0].resources.limits
print("RESULT " + json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags,
      "edges": edges, "limits": limits, "selector": train.spec.node_selector}))
"""


def test_airflow2_output_loads_in_airflow2(tmp_path: Path) -> None:
    assert AIRFLOW2_PYTHON.exists(), (
        f"{AIRFLOW2_PYTHON} is missing: run `make test` (it builds .venv-airflow2 from requirements-airflow2.lock)"
    )
    samples = sample_pipelines()
    folder = tmp_path / "dags"
    folder.mkdir()
    for stem, pipeline in samples.items():
        (folder / f"{stem}.py").write_text(render(pipeline, target="airflow2"), encoding="utf-8")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"), "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [str(AIRFLOW2_PYTHON), "-c", LOADER, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-4000:]
    loaded = json.loads(lines[0].removeprefix("RESULT "))
    assert loaded["errors"] == {}
    assert set(loaded["dags"]) == {pipeline.dag_id for pipeline in samples.values()}
    assert "tune__trial" in loaded["dags"]["keyword_loop"]
    assert ["gate__passed", "build"] in loaded["edges"]["keyword_loop"]
    assert loaded["limits"] == {"memory": "32Gi", "nvidia.com/gpu": "2"}
    assert loaded["selector"] == {"pool": "gpu", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
