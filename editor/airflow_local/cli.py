"""``dagsmith airflow up|status|logs|down``: a real local Airflow 3 for a project's pipelines.

Registering the commands costs nothing; the instance machinery loads when a command runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from ..terminal import printable

Commands = dict[str, Callable[[argparse.Namespace], int]]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "supervisor", "standalone")


def _out(text: str = "") -> None:
    sys.stdout.write(printable(text) + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(printable(text) + "\n")


def cmd_up(args: argparse.Namespace) -> int:
    """Start (or find) the project's Airflow; print the UI's URL and the login."""
    from .instance import up
    from .project import resolve

    project = resolve(args.project_dir, args.home)
    ready = up(project, port=args.port, timeout=args.timeout, say=_out)
    how = "already running" if ready.reused else f"ready in {ready.seconds:.1f}s"
    _out(f"Airflow is {how}: {ready.state.url}")
    _out(f"  login: {ready.user} / {ready.password}")
    _out(f"  DAGs ({len(ready.dag_ids)}): {', '.join(ready.dag_ids) or 'none (no *.dagsmith.json in the project)'}")
    for name, error in ready.import_errors.items():
        lines = error.strip().splitlines()
        _out(f"  import error in {name}: {lines[-1] if lines else '(no message)'}")
    where = f"--project-dir {project.folder}" + (f" --home {project.workspace.root}" if args.home else "")
    _out(f"  logs: dagsmith airflow logs {where}; stop: dagsmith airflow down {where}")
    return 0 if not ready.import_errors else 1


def cmd_status(args: argparse.Namespace) -> int:
    """Print whether the instance runs, its URL, health, DAG count and import errors; 0 when healthy."""
    from .instance import status
    from .project import resolve

    report = status(resolve(args.project_dir, args.home))
    if not report["running"]:
        _out(f"not running (home {report['home']}); start it with `dagsmith airflow up`")
        return 1
    state = report.get("state", "not healthy")
    _out(f"running: {report['url']} (pid {report['pid']}, {state}, home {report['home']})")
    if state in ("starting", "not answering"):
        _out("  its supervisor runs but its API did not answer: `dagsmith airflow logs` shows why")
    health = report.get("health") or {}
    if health:
        _out("  " + ", ".join(f"{name} {value}" for name, value in health.items()))
    if report.get("error"):
        _out(f"  {report['error']}")
    if "dag_ids" in report:
        _out(f"  DAGs ({len(report['dag_ids'])}): {', '.join(report['dag_ids'])}")
    for name, error in (report.get("import_errors") or {}).items():
        _out(f"  import error in {name}:\n{error.rstrip()}")
    return 0 if report.get("healthy") else 1


def _matches(line: str, component: str | None) -> bool:
    return component is None or line.startswith(f"{component:10} |") or line.startswith(f"{component} |")


def cmd_logs(args: argparse.Namespace) -> int:
    """Print the instance's log (one component's lines with COMPONENT); --follow keeps printing."""
    from .project import resolve

    project = resolve(args.project_dir, args.home)
    if not project.log.exists():
        _err(f"dagsmith airflow logs: no log in {project.home} yet; start Airflow with `dagsmith airflow up`")
        return 1
    with project.log.open(encoding="utf-8", errors="replace") as log:
        lines = [line.rstrip("\n") for line in log if _matches(line, args.component)]
        for line in lines[-args.lines :] if args.lines > 0 else lines:
            _out(line)
        try:
            while args.follow:
                line = log.readline()
                if not line:
                    time.sleep(0.3)
                elif _matches(line, args.component):
                    _out(line.rstrip("\n"))
        except KeyboardInterrupt:
            pass
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop the instance and every process it started (an error, exit status 1, names any left)."""
    from .instance import down
    from .project import resolve

    project = resolve(args.project_dir, args.home)
    _out("stopped Airflow" if down(project) else f"Airflow was not running (home {project.home})")
    return 0


ACTIONS: dict[str, Callable[[argparse.Namespace], int]] = {
    "up": cmd_up,
    "status": cmd_status,
    "logs": cmd_logs,
    "down": cmd_down,
}


def cmd_airflow(args: argparse.Namespace) -> int:
    """Dispatch ``dagsmith airflow ACTION``; the instance's errors are messages, not tracebacks."""
    from .project import AirflowUpError

    try:
        return ACTIONS[args.action](args)
    except AirflowUpError as exc:
        _err(f"dagsmith airflow {args.action}: {exc}")
        return 1


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project-dir", metavar="DIR", help="the project: its *.dagsmith.json files, where steps run (default: .)"
    )
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="the workspace (default $DAGSMITH_WORKSPACE or <DAGSMITH_HOME>/workspace/project-<name>-<hash>)",
    )


def register(sub: Any, commands: Commands) -> None:
    """Add ``airflow up|status|logs|down`` to the CLI."""
    group = sub.add_parser("airflow", help="a real local Airflow 3 for the project (up, status, logs, down)")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("up", help="start Airflow with the project's DAGs (or find it running); print URL, login")
    _common(p)
    p.add_argument("--port", type=int, metavar="P", help="port of the UI and API on 127.0.0.1 (default 8280)")
    p.add_argument("--timeout", type=float, default=300.0, metavar="S", help="seconds to wait for it (default 300)")
    p = actions.add_parser("status", help="is it running: URL, health, DAGs, import errors")
    _common(p)
    p = actions.add_parser("logs", help="print the instance's log")
    _common(p)
    p.add_argument("component", nargs="?", choices=COMPONENTS, help="only this component's lines")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl+C stops)")
    p.add_argument("-n", "--lines", type=int, default=200, metavar="N", help="last N lines (0: all; default 200)")
    p = actions.add_parser("down", help="stop it, with every process it started")
    _common(p)
    commands.update(airflow=cmd_airflow)
