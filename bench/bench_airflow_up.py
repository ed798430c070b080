"""``dagsmith airflow up``: seconds from the command to the UI answering with the project's DAGs parsed.

The project is the keyword workload (its pipeline and its monitor: two DAGs, an embedded MLflow and a
Feast repository to set up). Each repetition measures, with a new ``DAGSMITH_HOME``, a first start (no
migrated database template for this Airflow version yet: ``airflow db migrate`` runs once), a cold one
(a new workspace: the template copied, the workspace's MLflow and Feast set up) and a warm one (``down``
then ``up`` again on that workspace), each until the command returns, which is when
/api/v2/monitor/health reports every component healthy and the REST API v2 lists both DAGs. Each line
shows the phases from the instance's log (database ready, then the API answering and the DAGs parsed,
counted from the components' start). Medians are printed with their ratio to the target (20 s).
"""

from __future__ import annotations

import argparse
import os
import re
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
KINDS = {
    "first": "first on this machine (database template made)",
    "cold": "cold (new workspace, template there)",
    "warm": "warm (existing workspace)",
}


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


def phases(home: Path) -> dict[str, float]:
    """The last start's milestones from the instance's log: database, API answering, DAGs parsed."""
    text = (home / "airflow-server" / "standalone.log").read_text(encoding="utf-8", errors="replace")
    found: dict[str, float] = {}
    database = re.findall(r"==== metadata database \w+ in ([\d.]+)s", text.rsplit("==== dagsmith airflow up", 1)[-1])
    found["database"] = float(database[-1]) if database else 0.0
    timeline = re.findall(r"==== timeline: (.*)", text)
    for name, seconds in re.findall(r"([\w ]+?) ([\d.]+)s", timeline[-1] if timeline else ""):
        found[name.strip(", ")] = float(seconds)
    return found


def up(kind: str, home: Path, env: dict[str, str], results: dict[str, list[float]]) -> str:
    """One ``up``: its wall time into ``results[kind]``; a line with the phases."""
    seconds = airflow("up", home, env, "--port", str(free_port()))
    results[kind].append(seconds)
    found = phases(home)
    return (
        f"{kind} {seconds:.1f}s (database {found.get('database', 0):.1f}s, then API answering "
        f"{found.get('api', float('nan')):.1f}s, DAGs parsed {found.get('dags parsed', float('nan')):.1f}s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of first + cold + warm (default 3)")
    options = parser.parse_args()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AIRFLOW", "DAGSMITH_"))}
    env.update(BENTOML_DO_NOT_TRACK="true", FEAST_USAGE="False")
    results: dict[str, list[float]] = {kind: [] for kind in KINDS}
    loads = []
    with tempfile.TemporaryDirectory(prefix="bench-airflow-up-") as scratch:
        for index in range(options.repeat):
            env["DAGSMITH_HOME"] = str(Path(scratch) / f"dagsmith-home-{index}")  # no database template yet
            loads.append(os.getloadavg()[0])
            lines = []
            for kind, home in (("first", "a"), ("cold", "b"), ("warm", "b")):
                workspace = Path(scratch) / f"workspace-{index}-{home}"
                try:
                    lines.append(up(kind, workspace, env, results))
                finally:
                    airflow("down", workspace, env)
            print(f"  run {index + 1}: " + "; ".join(lines), flush=True)
    for kind, values in results.items():
        median = statistics.median(values)
        print(
            f"airflow up, {KINDS[kind]}: median {median:.1f}s over {len(values)} "
            f"(min {min(values):.1f}, max {max(values):.1f}), {median / TARGET:.2f}x the {TARGET:.0f}s target"
        )
    print(f"(load average {statistics.median(loads):.1f} at the runs' starts, median, on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
