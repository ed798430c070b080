"""Local runs through the real scheduler: ``dagsmith run --local --scheduler`` against the steps run directly.

The method of ``bench_local_run`` (keyword workload, full path: the champion alias removed before every
run; the direct baseline replays the exact step commands Airflow ran, read back from the metadata
database, one after the other), with the run going through the project's local Airflow (the instance
``dagsmith airflow up`` starts; its first run starts it and is reported, not measured). In-process runs
(``dagsmith run --local``, warm runner) alternate with them on a workspace of their own, so that both
ways are measured under the same load. Medians and their ratio to the direct run are printed (target
<= 1.5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_local_run as local  # the shared method: environment, reset, direct replay

from dagsmith.editor.airflow_local.instance import down
from dagsmith.editor.airflow_local.scheduled import project_for
from dagsmith.editor.runs import Services, Workspace, stop_runner, stop_serving
from dagsmith.editor.runs.workspace import worker_environment

TARGET = 1.5
CONFIG = "[core]\nmax_templated_field_length = 10000000\n"
"""The instance keeps whole rendered fields (the baseline replays the rendered env), as the bench of
in-process runs asks with AIRFLOW__CORE__MAX_TEMPLATED_FIELD_LENGTH (the instance drops AIRFLOW__ vars)."""


def scheduled_run(workspace: Workspace, env: dict[str, str], day: int) -> float:
    """Wall time of one ``dagsmith run --local --scheduler`` (a failed run stops the benchmark)."""
    return local.airflow_run(workspace, env, day, scheduler=True)


def step_commands(workspace: Workspace) -> list[tuple[str, dict[str, str]]]:
    """(task, rendered env) of the last scheduled run's step tasks that succeeded, in start order."""
    return local.step_commands(workspace, workspace.root / "airflow-server" / "airflow.db")


def main() -> None:
    """Start the instance with a first run, then alternate scheduled, in-process and direct runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("DAGSMITH_BENCH_LOCAL_RUNS", "3")))
    args = parser.parse_args()
    # (cleanup errors ignored: an instance's last log lines must not cost the figures)
    with tempfile.TemporaryDirectory(prefix="dagsmith-bench-sched-", ignore_cleanup_errors=True) as folder:
        workspace = Workspace.at(Path(folder) / "workspace")
        inproc = Workspace.at(Path(folder) / "in-process")
        env = local.environment(workspace, Path(folder) / "home")
        inproc_env = local.environment(inproc, Path(folder) / "home")
        base = worker_environment(
            workspace, Services.from_env(workspace, env), project_dir=local.PIPELINE.parent, base=env
        )
        (workspace.root / "airflow-server").mkdir(parents=True, exist_ok=True)
        (workspace.root / "airflow-server" / "airflow.cfg").write_text(CONFIG, encoding="utf-8")
        project = project_for(local.PIPELINE.parent, workspace.root)
        times: dict[str, list[float]] = {"scheduler": [], "in-process": [], "direct": []}
        try:
            first = scheduled_run(workspace, env, 1)
            print(f"first scheduled run (Airflow started, one-time setup; not measured): {first:.1f} s", flush=True)
            first = local.airflow_run(inproc, inproc_env, 1)
            print(f"first in-process run (one-time setup; not measured): {first:.1f} s", flush=True)
            for index in range(args.runs):
                local.reset(workspace, env)
                times["scheduler"].append(scheduled_run(workspace, env, 2 + index))
                commands = step_commands(workspace)
                local.reset(workspace, env)
                times["direct"].append(local.direct_run(commands, base))
                local.reset(inproc, inproc_env)
                times["in-process"].append(local.airflow_run(inproc, inproc_env, 2 + index))
                print(
                    f"run {index + 1}: --scheduler {times['scheduler'][-1]:.1f} s, in-process "
                    f"{times['in-process'][-1]:.1f} s, "
                    f"{len(commands)} step commands directly {times['direct'][-1]:.1f} s",
                    flush=True,
                )
        finally:
            down(project)
            for each in (workspace, inproc):
                stop_serving(each.serving)
                stop_runner(each.root)
    direct = statistics.median(times["direct"])
    print(f"direct        median {direct:.1f} s  (the same step commands in sequence)")
    for kind in ("scheduler", "in-process"):
        median = statistics.median(times[kind])
        verdict = "OK" if median / direct <= TARGET else "SLOW"
        print(f"{kind:<13} median {median:.1f} s  {median / direct:.2f} x direct (target <= {TARGET})  {verdict}")
    print(f"(load average {os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
