"""``dagsmith airflow up``: seconds from the command to the UI answering with the project's DAGs parsed.

The project is the keyword workload (its pipeline and its monitor: two DAGs, an embedded MLflow and a
Feast repository to set up). Each repetition measures a cold start (a new workspace: Airflow's database
created, the workspace set up) and a warm one (``down`` then ``up`` again on the same workspace), each
until the command returns, which is when /api/v2/monitor/health reports every component healthy and the
REST API v2 lists both DAGs. Medians are printed with their ratio to the target (20 s).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "nodes" / "examples" / "workloads" / "keyword"
TARGET = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def airflow(action: str, home: Path, env: dict[str, str], *extra: str) -> float:
    """Run ``dagsmith airflow ACTION`` for the workload; its wall time (exits on failure)."""
    command = [sys.executable, "-m", "dagsmith.editor.cli", "airflow", action, "--project-dir", str(PROJECT)]
    began = time.monotonic()
    result = subprocess.run(
        [*command, "--home", str(home), *extra], check=False, env=env, capture_output=True, text=True
    )
    seconds = time.monotonic() - began
    if result.returncode != 0:
        print(result.stdout + result.stderr, file=sys.stderr)
        raise SystemExit(f"dagsmith airflow {action} failed")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="repetitions of cold + warm (default 1)")
    options = parser.parse_args()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AIRFLOW", "DAGSMITH_"))}
    cold: list[float] = []
    warm: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-airflow-up-") as scratch:
        env.update(DAGSMITH_HOME=str(Path(scratch) / "dagsmith-home"), BENTOML_DO_NOT_TRACK="true", FEAST_USAGE="False")
        for index in range(options.repeat):
            home = Path(scratch) / f"workspace-{index}"
            try:
                cold.append(airflow("up", home, env, "--port", str(free_port())))
                airflow("down", home, env)
                warm.append(airflow("up", home, env, "--port", str(free_port())))
            finally:
                airflow("down", home, env)
            print(f"  run {index + 1}: cold {cold[-1]:.1f}s, warm {warm[-1]:.1f}s", flush=True)
    load = os.getloadavg()[0]
    for name, values in (("cold (new workspace)", cold), ("warm (existing workspace)", warm)):
        median = statistics.median(values)
        ratio = median / TARGET
        print(f"airflow up, {name}: median {median:.1f}s over {len(values)}, {ratio:.2f}x the {TARGET:.0f}s target")
    print(f"(load average {load:.1f} on {os.cpu_count()} CPUs at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
