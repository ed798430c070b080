"""``dagsmith run FILE --local``: run a pipeline for real on this machine and follow it.

Registering the command costs nothing: the run machinery (and, in its worker process, Airflow) loads
only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .terminal import printable

Commands = dict[str, Callable[[argparse.Namespace], int]]


def _out(text: str = "") -> None:
    sys.stdout.write(printable(text) + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(printable(text) + "\n")


def _seconds(value: Any) -> str:
    return f"{value:.1f}s" if isinstance(value, int | float) else ""


class Progress:
    """Prints one line per task state change (and per setup step and run)."""

    def __init__(self) -> None:
        self.began: dict[str, float] = {}
        self.shown: dict[str, str] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        clock = datetime.fromtimestamp(float(event["time"])).strftime("%H:%M:%S")
        kind = event["kind"]
        if kind == "task":
            key = event["task_id"] if event["map_index"] < 0 else f"{event['task_id']}[{event['map_index']}]"
            mark = f"{event['run']}:{key}"
            if self.shown.get(mark, "queued") == event["state"]:
                return  # not a change of the state shown (a first "queued", or queued -> scheduled)
            self.shown[mark] = event["state"]
            if event["state"] == "running":
                self.began[mark] = float(event["time"])
            took = ""
            if event["state"] in ("success", "failed") and mark in self.began:
                took = _seconds(float(event["time"]) - self.began[mark])
            detail = f" ({event['airflow_state']})" if event["airflow_state"] == "upstream_failed" else ""
            _out(f"  {clock}  {key:<28} {event['state']}{detail} {took}".rstrip())
        elif kind == "setup":
            _out(f"  {clock}  setup {event['step']:<22} {event['state']} {_seconds(event.get('seconds'))}".rstrip())
        elif kind == "run" and event.get("state") != "starting":
            extra = f" ({event['error']})" if event.get("error") else ""
            _out(f"  {clock}  run {event['dag_id']} {event['run']}: {event['state']}{extra}")
        elif kind == "triggered":
            follow = "running it next" if event.get("child") else "not run here"
            _out(f"  {clock}  triggered {event['dag_id']} ({event['airflow_run_id']}): {follow}")
        elif kind == "log":
            _out(f"  {clock}  {event['message']}")


def summary(record: dict[str, Any]) -> list[str]:
    """The lines that sum up a finished run."""
    from .runs.mlflow_links import server_base, version_url  # kept off the CLI's start-up
    from .runs.records import seconds_between

    seconds = seconds_between(record.get("started"), record.get("ended"))
    took = "" if seconds is None else " in " + _seconds(seconds)
    lines = [f"{record['dag_id']} {record['id']}: {record['state']}{took} (Airflow run {record.get('airflow_run_id')})"]
    if record.get("error"):
        lines.append(f"  error: {record['error']}")
    tasks = record.get("tasks") or []
    if tasks:
        lines.append(f"  {'task':<30} {'state':<10} {'duration':>9}")
        for task in tasks:
            key = task["task_id"] if task["map_index"] < 0 else f"{task['task_id']}[{task['map_index']}]"
            lines.append(f"  {key:<30} {task['state']:<10} {_seconds(task.get('duration')):>9}")
    found = record.get("links") or {}
    runs = [item["run_id"] for item in found.get("mlflow_runs", [])]
    if runs:
        lines.append(f"  MLflow runs ({record.get('tracking_uri')}): {', '.join(runs)}")
    base = server_base(str(record.get("tracking_uri") or ""))
    for version in found.get("model_versions", []):
        aliases = " ".join("@" + alias for alias in version["aliases"])
        where = f" {version_url(base, version['name'], version['version'])}" if base else ""
        lines.append(
            f"  model version: {version['name']} v{version['version']} {aliases} (from {version['task']}){where}"
        )
    for gate in found.get("gates", []):
        verdict = "passed: promoted" if gate["passed"] else "failed: the champion stays"
        lines.append(f"  gate {gate['task']}: {verdict} {json.dumps(gate.get('metrics'))}")
    lines.extend(
        f"  serving {item['name']} at {item['url']} ({item['bento']})" for item in found.get("deployments", [])
    )
    for item in record.get("triggered") or []:
        lines.append(f"  triggered {item['dag_id']} ({item['airflow_run_id']}) -> local run {item.get('run')}")
    for monitor in found.get("monitors", []):
        verdict = "retraining triggered" if monitor["trigger"] else "no retraining"
        lines.append(f"  monitor {monitor['task']}: {json.dumps(monitor.get('metrics'))}: {verdict}")
    lines.append(f"  record: {Path(record['workspace']) / 'runs' / record['dag_id'] / record['id']}")
    return lines


def cmd_run(args: argparse.Namespace) -> int:
    """Run the pipeline locally; 0 when the run (and every run it triggered) succeeded."""
    from dagsmith.codegen import ExportError
    from dagsmith.nodes import load

    from .runs import LocalRunError, Workspace, default_workspace, start_local_run, stop_runner, stop_serving

    pipeline = load(args.file)
    root = Workspace.at(args.workspace) if args.workspace else Workspace(default_workspace(pipeline.dag_id))
    if args.stop:
        stopped = stop_serving(root.serving)
        if stop_runner(root.root):
            stopped.append("the warm Airflow runner")
        _out(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        return 0
    if not args.local:
        _err("dagsmith run: only local runs exist so far; add --local (or export the DAG for your Airflow)")
        return 2
    try:
        conf = json.loads(args.conf) if args.conf else {}
    except ValueError as exc:
        _err(f"dagsmith run: --conf is not JSON: {exc}")
        return 2
    if not isinstance(conf, dict):
        _err("dagsmith run: --conf must be a JSON object, e.g. '{\"epochs\": 3}'")
        return 2
    related = tuple(load(path) for path in args.with_pipelines)
    project = Path(args.project_dir) if args.project_dir else Path(args.file).resolve().parent
    began = time.monotonic()
    from .airflow_local.scheduled import through_scheduler

    if args.scheduler or through_scheduler():
        return _run_scheduled(args, pipeline, project, conf, related, began=began)
    _out(f"dagsmith run {pipeline.dag_id} --local (workspace {root.root})")
    try:
        handle = start_local_run(
            pipeline,
            root.root,
            project_dir=project,
            conf=conf,
            logical_date=args.logical_date,
            on_event=Progress(),
            related=related,
            follow_triggers=not args.no_follow,
            parallelism=args.parallelism,
            source="cli",
            warm=not args.cold,
        )
    except (ExportError, LocalRunError) as exc:
        _err(f"{args.file}: {exc}")
        return 1
    keeps = f"(a runner keeps Airflow loaded for the next run here; `dagsmith run {args.file} --stop` stops it)"
    return _wait_and_report(handle, began, "" if args.cold else keeps)


def _run_scheduled(
    args: argparse.Namespace,
    pipeline: Any,
    project: Path,
    conf: dict[str, Any],
    related: tuple[Any, ...],
    *,
    began: float,
) -> int:
    """``--scheduler``: the run goes through the project's local Airflow (``dagsmith airflow up``)."""
    from dagsmith.codegen import ExportError

    from .airflow_local.scheduled import project_for, start_scheduled_run
    from .runs import LocalRunError

    where = project_for(project, args.workspace)
    _out(f"dagsmith run {pipeline.dag_id} --local --scheduler (Airflow of {where.folder}, home {where.home})")
    try:
        handle = start_scheduled_run(
            pipeline,
            args.workspace,
            project_dir=project,
            conf=conf,
            logical_date=args.logical_date,
            on_event=Progress(),
            related=related,
            follow_triggers=not args.no_follow,
            source="cli",
        )
    except (ExportError, LocalRunError) as exc:
        _err(f"{args.file}: {exc}")
        return 1
    return _wait_and_report(
        handle, began, f"(Airflow keeps running: `dagsmith airflow down --project-dir {where.folder}` stops it)"
    )


def _wait_and_report(handle: Any, began: float, note: str) -> int:
    """Wait for the run (Ctrl+C cancels it), print the summary of it and of each run it followed, the wall
    time and ``note`` (when not empty); the exit status: 0 when every run succeeded."""
    try:
        record = handle.wait()
    except KeyboardInterrupt:
        _err("stopping the run ...")
        handle.cancel()
        record = handle.wait()
    _out()
    ok = True
    for run in list(handle.runs):
        current = handle.record(run)
        ok = ok and current.get("state") == "success"
        for line in summary(current):
            _out(line)
    _out(f"wall time {time.monotonic() - began:.1f}s")
    if note:
        _out(note)
    return 0 if ok and record.get("state") == "success" else 1


def cmd_runs(args: argparse.Namespace) -> int:
    """List a pipeline's local runs, newest first; ``--show ID`` prints one run's summary."""
    from dagsmith.nodes import load

    from .runs import Workspace, default_workspace, list_runs
    from .runs.records import seconds_between

    pipeline = load(args.file)
    root = Workspace.at(args.workspace) if args.workspace else Workspace(default_workspace(pipeline.dag_id))
    history = list_runs(root.runs, pipeline.dag_id)
    if args.show:
        found = [record for record in history if str(record.get("id")) == args.show]
        if not found:
            _err(f"dagsmith runs: no run {args.show} of {pipeline.dag_id} in {root.runs}; list them without --show")
            return 1
        for line in summary(found[0]):
            _out(line)
        return 0
    if not history:
        _out(f"no local runs of {pipeline.dag_id} in {root.runs} yet")
        return 0
    _out(f"{'run':<24} {'state':<10} {'started':<20} {'took':>8}  how")
    for record in history:
        started = record.get("started")
        took = _seconds(seconds_between(started, record.get("ended")))
        parent = record.get("triggered_by")
        how = f"triggered by {parent.get('dag_id')} {parent.get('run')}" if isinstance(parent, dict) else "started"
        when = str(started or "")[:19].replace("T", " ")
        _out(f"{record.get('id')!s:<24} {record.get('state')!s:<10} {when:<20} {took:>8}  {how}")
    return 0


def register(sub: Any, commands: Commands) -> None:
    """Add ``run`` and ``runs`` to the CLI."""
    p = sub.add_parser("run", help="run a pipeline for real on this machine (Airflow, MLflow, Feast, BentoML)")
    p.add_argument("file", metavar="FILE", help="a *.dagsmith.json file")
    p.add_argument("--local", action="store_true", help="run here: local Airflow and embedded services")
    p.add_argument("--workspace", metavar="DIR", help="workspace folder (default <DAGSMITH_HOME>/workspace/<dag_id>)")
    p.add_argument("--conf", metavar="JSON", help="run configuration; overrides the run-time parameters")
    p.add_argument("--logical-date", metavar="DATE", help="logical date, ISO 8601 (default: now)")
    p.add_argument("--project-dir", metavar="DIR", help="where steps run and paths resolve (default: FILE's folder)")
    p.add_argument(
        "--with",
        dest="with_pipelines",
        action="append",
        default=[],
        metavar="FILE",
        help="another pipeline this one triggers (put into the workspace, not run)",
    )
    p.add_argument("--no-follow", action="store_true", help="record triggered runs, do not run them")
    p.add_argument("--parallelism", type=int, metavar="N", help="task instances running at once (default: CPUs)")
    p.add_argument("--cold", action="store_true", help="do not keep Airflow loaded in a runner for the next run")
    p.add_argument(
        "--scheduler",
        action="store_true",
        help="run through the project's local Airflow (`dagsmith airflow up`); also DAGSMITH_LOCAL_RUNS=scheduler",
    )
    p.add_argument(
        "--stop", action="store_true", help="stop the workspace's background processes (BentoML servers, runner)"
    )
    commands.update(run=cmd_run)
    p = sub.add_parser("runs", help="list a pipeline's local runs (or show one) from its workspace")
    p.add_argument("file", metavar="FILE", help="a *.dagsmith.json file")
    p.add_argument("--workspace", metavar="DIR", help="workspace folder (default <DAGSMITH_HOME>/workspace/<dag_id>)")
    p.add_argument("--show", metavar="ID", help="print this run's summary: tasks, MLflow runs and versions, gate")
    commands.update(runs=cmd_runs)
