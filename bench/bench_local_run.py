"""Local-run overhead: ``dagsmith run --local`` wall time / the same step commands run directly in sequence.

On the keyword workload, in a warm workspace: a first run does the one-time setup (Airflow database,
MLflow database, Feast apply) and is reported but not measured. Before every measured run the champion
alias is removed, so that every run takes the full path (the gate passes, the Bento is built and served).

The direct baseline replays, one after the other in the order Airflow ran them, the exact commands of the
previous Airflow run's step tasks: the launcher line with the environment Airflow rendered for each task
(read back from its metadata database), in the same environment the local runner gives its steps. Both
sides therefore start the same processes on the same data against the same MLflow, Feast and BentoML.
Airflow and direct runs alternate; medians are printed with their ratio (target <= 1.5). Measured runs
find the workspace's warm runner (Airflow already loaded, as after any first run); one more run with
``--cold`` (a fresh runner process: Airflow imported, its API built) is printed for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dagsmith.codegen.compat import LOCAL_BASH
from dagsmith.editor.runs import Services, Workspace, list_runs, stop_runner, stop_serving
from dagsmith.editor.runs.workspace import worker_environment

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "nodes" / "examples" / "workloads" / "keyword" / "pipeline.dagsmith.json"
TARGET = 1.5
RESET = """
import sys
from mlflow import MlflowClient
client = MlflowClient(sys.argv[1], sys.argv[1])
try:
    client.delete_registered_model_alias("keyword-recommender", "champion")
except Exception:
    pass
"""


def environment(workspace: Workspace, home: Path) -> dict[str, str]:
    """Everything in the workspace; Airflow keeps whole rendered fields (the baseline replays them)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AIRFLOW", "DAGSMITH_"))}
    env.update(
        DAGSMITH_HOME=str(home),
        MLFLOW_TRACKING_URI=workspace.mlflow_uri,
        BENTOML_HOME=str(workspace.bentoml_home),
        BENTOML_DO_NOT_TRACK="true",
        FEAST_USAGE="False",
        AIRFLOW__CORE__MAX_TEMPLATED_FIELD_LENGTH="10000000",
    )
    return env


def airflow_run(
    workspace: Workspace, env: dict[str, str], day: int, *, cold: bool = False, scheduler: bool = False
) -> float:
    """Wall time of one ``dagsmith run --local`` (``--scheduler``: through the project's local Airflow;
    logical dates in February then, January else); a failed run stops the benchmark."""
    command = [sys.executable, "-m", "dagsmith.editor.cli", "run", str(PIPELINE), "--local"]
    command += ["--workspace", str(workspace.root), "--logical-date", f"2026-{2 if scheduler else 1:02d}-{day:02d}"]
    command += ["--cold"] if cold else []
    command += ["--scheduler"] if scheduler else []
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    if done.returncode != 0 or "deploy                       success" not in done.stdout:
        what = "scheduled" if scheduler else "local"
        sys.exit(f"the {what} run failed or skipped the deploy:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    return took


def reset(workspace: Workspace, env: dict[str, str]) -> None:
    """Remove the champion alias, so that the next run takes the full path."""
    subprocess.run([sys.executable, "-c", RESET, workspace.mlflow_uri], env=env, check=True)


def step_commands(workspace: Workspace, database: Path | None = None) -> list[tuple[str, dict[str, str]]]:
    """(task, rendered env) of the last run's BashOperator tasks that succeeded, in the order they started,
    read from ``database`` (default: the workspace's local-run Airflow database)."""
    record = list_runs(workspace.runs, "keyword_recommendation")[0]
    with sqlite3.connect(database or workspace.airflow_db) as db:
        rows = db.execute(
            "select ti.task_id, r.rendered_fields from task_instance ti join rendered_task_instance_fields r "
            "on r.dag_id = ti.dag_id and r.task_id = ti.task_id and r.run_id = ti.run_id "
            "and r.map_index = ti.map_index where ti.dag_id = ? and ti.run_id = ? and ti.state = 'success' "
            "order by ti.start_date",
            ("keyword_recommendation", record["airflow_run_id"]),
        ).fetchall()
    commands = []
    for task_id, fields in rows:
        rendered: dict[str, Any] = json.loads(fields)
        if rendered.get("bash_command") == LOCAL_BASH:
            env = rendered["env"]
            assert isinstance(env, dict), f"{task_id}: Airflow truncated the rendered env"
            commands.append((task_id, {key: str(value) for key, value in env.items()}))
    return commands


def direct_run(commands: list[tuple[str, dict[str, str]]], base: dict[str, str]) -> float:
    """Wall time of the step commands run one after the other, as BashOperator runs each."""
    began = time.perf_counter()
    for task_id, env in commands:
        with tempfile.TemporaryDirectory() as cwd:
            done = subprocess.run(
                ["bash", "-c", LOCAL_BASH], env={**base, **env}, cwd=cwd, capture_output=True, check=False
            )
        if done.returncode != 0:
            sys.exit(f"direct step {task_id} failed:\n{done.stdout.decode()[-3000:]}")
    return time.perf_counter() - began


def main() -> None:
    """Warm up, then alternate Airflow and direct runs; print the medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("DAGSMITH_BENCH_LOCAL_RUNS", "3")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dagsmith-bench-") as folder:
        workspace = Workspace.at(Path(folder) / "workspace")
        env = environment(workspace, Path(folder) / "home")
        services = Services.from_env(workspace, env)
        base = worker_environment(workspace, services, project_dir=PIPELINE.parent, base=env)
        try:
            first = airflow_run(workspace, env, 1)
            print(f"first run (one-time setup included, not measured): {first:.1f} s", flush=True)
            airflow_times, direct_times = [], []
            for index in range(args.runs):
                reset(workspace, env)
                airflow_times.append(airflow_run(workspace, env, 2 + index))
                commands = step_commands(workspace)
                reset(workspace, env)
                direct_times.append(direct_run(commands, base))
                print(
                    f"run {index + 1}: dagsmith run --local {airflow_times[-1]:.1f} s, "
                    f"{len(commands)} step commands directly {direct_times[-1]:.1f} s",
                    flush=True,
                )
            reset(workspace, env)
            stop_runner(workspace.root)
            cold = airflow_run(workspace, env, 2 + args.runs, cold=True)
        finally:
            stop_serving(workspace.serving)
            stop_runner(workspace.root)
    local, direct = statistics.median(airflow_times), statistics.median(direct_times)
    ratio = local / direct
    verdict = "OK" if ratio <= TARGET else "SLOW"
    print(f"local run  median {local:.1f} s  ({args.runs} runs, keyword workload, full path, warm runner)")
    print(f"direct     median {direct:.1f} s  (the same step commands in sequence)")
    print(f"ratio      local / direct: {ratio:.2f} (target <= {TARGET})  {verdict}")
    print(
        f"cold run   {cold:.1f} s with --cold (Airflow imported and its API built first): {cold / direct:.2f} x direct"
    )


if __name__ == "__main__":
    main()
