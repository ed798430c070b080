"""Export speed and the cost of the generated DAG to Airflow's parser.

1. Median in-process ``render()`` time for a generated 1,000-node pipeline (target < 1 s).
2. Airflow 3 ``DagBag`` parse time of the generated 1,000-task file divided by that of a minimal
   hand-written DAG with the same operators, arguments and dependencies, each measured in
   fresh subprocesses (each warmed up on a small DAG first, since Airflow imports much of itself on
   the first parse), median of several runs (target <= 1.1). Airflow parses with
   ``sys.dont_write_bytecode``, so each parse compiles the file: that cost is included.

   Two hand-written baselines: "explicit" writes each task out in compact hand style (what a person
   writes for 1,000 distinct steps); "loop" builds the same tasks in a for-loop, which only works
   because the synthetic steps are uniform, and so also saves compiling 1,000 calls.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_pipeline

from dagsmith.codegen import render

SIZE = 1_000

HAND_WRITTEN = """
import datetime

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from airflow.sdk import DAG, Param, timezone
from kubernetes.client import models as k8s

ROOT = "/tmp/dagsmith-artifacts/synthetic_{size}"
SHARED = {{
    "DAGSMITH_DAG_ID": "synthetic_{size}",
    "DAGSMITH_PIPELINE_VERSION": "1",
    "DAGSMITH_RUN_ID": "{{{{ run_id }}}}",
    "DAGSMITH_LOGICAL_DATE": "{{{{ ts if ts is defined else dag_run.run_after | ts }}}}",
    "DAGSMITH_ARTIFACT_ROOT": "/tmp/dagsmith-artifacts",
}}

with DAG(
    dag_id="synthetic_{size}",
    schedule="@daily",
    start_date=timezone.datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={{"owner": "dagsmith", "retries": 0, "retry_delay": datetime.timedelta(seconds=300)}},
    params={{"epochs": Param(3, type="integer")}},
    tags=["dagsmith", "dagsmith-v1"],
    doc_md="Hand-written equivalent.",
) as dag:
    tasks = []
    for i in range({size}):
        ups = [i - b for b in (1, 2) if i - b >= 0 and (i % 7 != 0 or b == 1)]
        env = {{**SHARED, "DAGSMITH_TASK_ID": f"step_{{i}}", "DAGSMITH_NODE_ID": f"n{{i}}",
               "DAGSMITH_NODE_TYPE": "script"}}
        if ups:
            env["DAGSMITH_INPUT_UPSTREAM_COUNT"] = str(len(ups))
        for k, u in enumerate(ups):
            env[f"DAGSMITH_INPUT_UPSTREAM_{{k}}"] = f"{{ROOT}}/{{{{{{{{ run_id }}}}}}}}/n{{u}}/output"
        env["DAGSMITH_OUTPUT_OUTPUT"] = f"{{ROOT}}/{{{{{{{{ run_id }}}}}}}}/n{{i}}/output"
        env.update({{"STEP": str(i), "MODE": "train"}})
        limits = {{"cpu": "2", "memory": "4Gi"}}
        if i % 10 == 0:
            limits["nvidia.com/gpu"] = "1"
        task = KubernetesPodOperator(
            task_id=f"step_{{i}}",
            task_display_name=f"Step {{i}}",
            image="registry.example.com/ml/trainer:1.4",
            namespace="default",
            cmds=["python", f"steps/step_{{i}}.py"],
            arguments=[
                "--date", "{{{{ ds if ds is defined else dag_run.run_after | ds }}}}",
                "--epochs", "{{{{ params.epochs }}}}",
            ],
            env_vars=env,
            secrets=[Secret(deploy_type="env", deploy_target="TOKEN", secret="ml-token", key="token")],
            container_resources=k8s.V1ResourceRequirements(requests={{"cpu": "500m", "memory": "1Gi"}}, limits=limits),
            volumes=[k8s.V1Volume(name="pvc-0", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                claim_name="ml-data"))],
            volume_mounts=[k8s.V1VolumeMount(name="pvc-0", mount_path="/data", read_only=True)],
            node_selector={{"pool": "gpu" if i % 10 == 0 else "cpu"}},
            labels={{"team": "ml"}},
            get_logs=True,
            on_finish_action="delete_pod",
        )
        for u in ups:
            tasks[u] >> task
        tasks.append(task)
"""


def explicit_hand_written(size: int) -> str:
    """The same DAG, every task written out by hand: compact, no shared constants beyond the obvious."""
    head, _, _ = HAND_WRITTEN.format(size=size).partition("    tasks = []")
    lines = [head.replace('doc_md="Hand-written equivalent."', 'doc_md="Hand-written, explicit."')]
    for i in range(size):
        ups = [i - b for b in (1, 2) if i - b >= 0 and (i % 7 != 0 or b == 1)]
        env = {"DAGSMITH_TASK_ID": f"step_{i}", "DAGSMITH_NODE_ID": f"n{i}", "DAGSMITH_NODE_TYPE": "script"}
        if ups:
            env["DAGSMITH_INPUT_UPSTREAM_COUNT"] = str(len(ups))
        for k, u in enumerate(ups):
            env[f"DAGSMITH_INPUT_UPSTREAM_{k}"] = (
                f"/tmp/dagsmith-artifacts/synthetic_{size}/{{{{ run_id }}}}/n{u}/output"
            )
        env["DAGSMITH_OUTPUT_OUTPUT"] = f"/tmp/dagsmith-artifacts/synthetic_{size}/{{{{ run_id }}}}/n{i}/output"
        env.update({"STEP": str(i), "MODE": "train"})
        gpu = ', "nvidia.com/gpu": "1"' if i % 10 == 0 else ""
        lines.append(
            f"""    t{i} = KubernetesPodOperator(
        task_id="step_{i}", task_display_name="Step {i}", image="registry.example.com/ml/trainer:1.4",
        namespace="default", cmds=["python", "steps/step_{i}.py"],
        arguments=[
            "--date", "{{{{ ds if ds is defined else dag_run.run_after | ds }}}}",
            "--epochs", "{{{{ params.epochs }}}}",
        ],
        env_vars={{**SHARED, {", ".join(f'"{k}": "{v}"' for k, v in env.items())}}},
        secrets=[Secret("env", "TOKEN", "ml-token", "token")],
        container_resources=k8s.V1ResourceRequirements(
            requests={{"cpu": "500m", "memory": "1Gi"}}, limits={{"cpu": "2", "memory": "4Gi"{gpu}}}),
        volumes=[k8s.V1Volume(name="pvc-0",
            persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name="ml-data"))],
        volume_mounts=[k8s.V1VolumeMount(name="pvc-0", mount_path="/data", read_only=True)],
        node_selector={{"pool": "{"gpu" if i % 10 == 0 else "cpu"}"}}, labels={{"team": "ml"}},
        get_logs=True, on_finish_action="delete_pod")
"""
        )
        lines.extend(f"    t{u} >> t{i}\n" for u in ups)
    return "".join(lines)


PARSER = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
DagBag(dag_folder=sys.argv[2])  # warm-up: Airflow imports much of itself lazily on the first parse
start = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
seconds = time.perf_counter() - start
dag = next(iter(bag.dags.values()))
edges = sum(len(task.upstream_task_ids) for task in dag.tasks)
print("RESULT " + json.dumps({"seconds": seconds, "errors": len(bag.import_errors), "tasks": len(dag.tasks),
                              "edges": edges}))
"""


def export_median(runs: int) -> float:
    """Median in-process render time of the 1,000-node pipeline (validation and checks included)."""
    pipeline = synthetic_pipeline(SIZE)
    render(pipeline)  # warm the template cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        render(pipeline)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


WARM_UP = HAND_WRITTEN.replace('dag_id="synthetic_{size}"', 'dag_id="warm_up"')


def parse_once(folder: Path, home: Path) -> dict[str, float]:
    """Parse ``folder`` with a DagBag in a fresh interpreter, after a warm-up parse of a 10-task DAG."""
    env = {**os.environ, "AIRFLOW_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    warm = home.parent / "warm"
    if not warm.exists():
        warm.mkdir()
        (warm / "warm.py").write_text(WARM_UP.format(size=10), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", PARSER, str(folder), str(warm)], capture_output=True, text=True, env=env, check=True
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def main() -> None:
    """Print the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (default 5)")
    args = parser.parse_args()
    seconds = export_median(max(args.runs, 3))
    print(f"export  {SIZE} nodes: median {seconds * 1000:.0f} ms (target < 1000 ms)  {'OK' if seconds < 1 else 'SLOW'}")
    with tempfile.TemporaryDirectory(prefix="dagsmith-bench-") as tmp:
        root = Path(tmp)
        sources = {
            "generated": render(synthetic_pipeline(SIZE)),
            "explicit": explicit_hand_written(SIZE),
            "loop": HAND_WRITTEN.format(size=SIZE),
        }
        folders = {}
        for name, text in sources.items():
            folders[name] = root / name
            folders[name].mkdir()
            (folders[name] / "synthetic.py").write_text(text, encoding="utf-8")
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in sources}
        for _ in range(args.runs):  # interleaved, so that load on the machine hits all alike
            for name, folder in folders.items():
                runs[name].append(parse_once(folder, root / "home"))
        for name, results in runs.items():
            assert all(result["errors"] == 0 and result["tasks"] == SIZE for result in results), name
            assert results[0]["edges"] == runs["generated"][0]["edges"], f"{name}: the DAGs must be equivalent"
        medians = {name: statistics.median(r["seconds"] for r in results) for name, results in runs.items()}
    for name, median in medians.items():
        size_kib = len(sources[name].encode()) // 1024
        print(
            f"parse   {name:10} {SIZE} tasks: median {median * 1000:.0f} ms "
            f"({args.runs} fresh processes, {size_kib} KiB)"
        )
    for baseline in ("explicit", "loop"):
        ratio = medians["generated"] / medians[baseline]
        verdict = "OK" if ratio <= 1.1 else "OVER"
        print(f"ratio   generated / hand-written {baseline:8}: {ratio:.2f} (target <= 1.10)  {verdict}")


if __name__ == "__main__":
    main()
