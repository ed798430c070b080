"""``dagsmith deployments add|list|remove`` and ``dagsmith remote status|runs|trigger|logs|clear|pause|unpause``.

Deployments belong to a project of the store (``--project``, default the local project). ``remote``
commands take a PIPELINE: a dag_id or name of the project's pipelines (its draft is used, and its latest
export says whether a deployment is behind), or a ``*.dagsmith.json`` file. Errors are one line that names
the field or the deployment and says what to do; the exit status is 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagsmith.nodes import DocumentError, Pipeline, load

from ..terminal import printable
from .client import API_VERSIONS, DeploymentError, RunInfo

Commands = dict[str, Callable[[argparse.Namespace], int]]
FINISHED_RUN = {"success", "failed"}
EXIT_ERROR = 2


def _say(text: str = "") -> None:
    sys.stdout.write(printable(text) + "\n")


def _err(text: str) -> None:
    sys.stderr.write(printable(text) + "\n")


class _Context:
    """The store, the project and its deployments for one command."""

    def __init__(self, project: str | None) -> None:
        from ..services import LOCAL_PROJECT, EditorServices
        from ..store import open_store
        from .config import Deployments

        self.store = open_store()
        services = EditorServices(self.store)
        name = project or LOCAL_PROJECT
        found = [p for p in self.store.list_projects() if p.name == name]
        if not found and name != LOCAL_PROJECT:
            names = ", ".join(p.name for p in self.store.list_projects())
            raise DeploymentError(f"project {name!r}: there is no such project (there are: {names}); check --project")
        self.project = found[0] if found else services.local_project()
        self.deployments = Deployments(self.store, services.user)

    def deployment_name(self, name: str | None) -> str:
        if name:
            return name
        known = self.deployments.list(self.project.id)
        if len(known) == 1:
            return known[0].name
        names = ", ".join(d.name for d in known) or "none yet; add one with dagsmith deployments add NAME --url URL"
        raise DeploymentError(f"--deployment: name the deployment (the project {self.project.name!r} has: {names})")

    def pipeline(self, text: str) -> tuple[Pipeline, int | None]:
        """The pipeline and its id in the store (None for a file whose dag_id the project does not have)."""
        infos = self.store.list_pipelines(self.project.id)
        path = Path(text)
        if text.endswith(".json") or path.is_file():
            try:
                pipeline = load(path)
            except DocumentError as exc:
                raise DeploymentError(str(exc)) from None
            same = [i for i in infos if i.dag_id == pipeline.dag_id]
            return pipeline, same[0].id if same else None
        for info in infos:
            if text in (info.dag_id, info.name):
                return self.store.get_draft(info.id).pipeline(), info.id
        names = ", ".join(sorted(i.dag_id for i in infos)) or "none"
        raise DeploymentError(
            f"pipeline {text!r}: not a dag_id or name of the project {self.project.name!r}'s pipelines ({names}), "
            "nor a *.dagsmith.json file"
        )

    def remote(self, args: argparse.Namespace) -> Any:
        from .config import connect
        from .service import RemotePipeline, latest_export, version_hashes

        deployment = self.deployments.get(self.project.id, self.deployment_name(args.deployment))
        pipeline, pipeline_id = self.pipeline(args.pipeline)
        if pipeline_id is None:
            return RemotePipeline(connect(deployment), pipeline)
        latest, hashes = latest_export(self.store, pipeline_id), version_hashes(self.store, pipeline_id)
        return RemotePipeline(connect(deployment), pipeline, latest=latest, hashes=hashes)


# -- deployments ---------------------------------------------------------------------------------------
def cmd_add(args: argparse.Namespace) -> int:
    context = _Context(args.project)
    auth = args.auth or ("password" if args.user else "token" if args.secret else "none")
    deployment = context.deployments.add(
        context.project.id,
        args.name,
        args.url,
        api_version=args.api_version,
        auth=auth,
        user=args.user or "",
        secret_ref=args.secret or "",
        replace=args.replace,
    )
    _say(f"deployment {deployment.describe()}")
    if args.check:
        return _check(deployment)
    return 0


def _check(deployment: Any) -> int:
    from .config import connect

    api = connect(deployment)
    _say(f"  reached: Airflow {api.airflow_version()} (REST API {api.version})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    context = _Context(args.project)
    deployments = context.deployments.list(context.project.id)
    if not deployments:
        _say(f"the project {context.project.name!r} has no deployments; add one with dagsmith deployments add")
    for deployment in deployments:
        _say(deployment.describe())
        if args.check:
            try:
                _check(deployment)
            except DeploymentError as exc:
                _say(f"  not reached: {exc}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    context = _Context(args.project)
    context.deployments.remove(context.project.id, args.name)
    _say(f"removed the deployment {args.name!r} (the Airflow itself is not changed)")
    return 0


# -- remote ----------------------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace) -> int:
    _say(_Context(args.project).remote(args).status().describe())
    return 0


def _run_line(run: RunInfo) -> str:
    return f"{run.run_id}  {run.state}  {run.when}  conf={run.conf}"


def _show_tasks(remote: Any, run_id: str) -> None:
    tasks = remote.tasks(run_id)
    for task in tasks:
        index = f"[{task.map_index}]" if task.map_index >= 0 else ""
        _say(f"  {task.task_id}{index}: {task.state or 'queued'} (try {task.try_number})")


def cmd_runs(args: argparse.Namespace) -> int:
    remote = _Context(args.project).remote(args)
    if args.run:
        _say(_run_line(remote.api.run(remote.dag_id, args.run)))
        _show_tasks(remote, args.run)
        return 0
    runs = remote.runs(args.limit)
    if not runs:
        _say(f"{remote.dag_id} has no runs on {remote.api.name!r} yet; start one with dagsmith remote trigger")
    for index, run in enumerate(runs):
        _say(_run_line(run))
        if index == 0:
            _show_tasks(remote, run.run_id)
    return 0


def _params(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise DeploymentError(f"--param {pair!r}: write NAME=VALUE, e.g. --param rows=3")
        values[name.strip()] = value
    return values


def _wait(remote: Any, run_id: str, timeout: float) -> int:
    """Print each task state change until the run ends; 0 on success, 1 when it failed."""
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while True:
        for task in remote.tasks(run_id):
            state = task.state or "queued"
            if seen.get(task.task_id) != state:
                seen[task.task_id] = state
                _say(f"  {task.task_id}: {state}")
        run = remote.api.run(remote.dag_id, run_id)
        if run.state in FINISHED_RUN:
            _say(f"run {run_id}: {run.state}")
            return 0 if run.state == "success" else 1
        if time.monotonic() > deadline:
            raise DeploymentError(f"run {run_id} still {run.state} after {timeout:.0f}s; follow it with remote runs")
        time.sleep(1.0)


def cmd_trigger(args: argparse.Namespace) -> int:
    remote = _Context(args.project).remote(args)
    run = remote.trigger(_params(args.param))
    _say(f"triggered {run.run_id} on {remote.api.name!r} with conf {run.conf}")
    return _wait(remote, run.run_id, args.timeout) if args.wait else 0


def cmd_logs(args: argparse.Namespace) -> int:
    remote = _Context(args.project).remote(args)
    _say(remote.log(remote.run_id(args.run), args.task, args.try_number))
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    remote = _Context(args.project).remote(args)
    run_id = remote.run_id(args.run)
    cleared = remote.clear(run_id, args.task)
    _say(f"cleared {', '.join(cleared)} in {run_id}; the scheduler runs them again")
    return _wait(remote, run_id, args.timeout) if args.wait else 0


def cmd_pause(args: argparse.Namespace) -> int:
    remote = _Context(args.project).remote(args)
    paused = remote.set_paused(args.action == "pause")
    _say(f"{remote.dag_id} on {remote.api.name!r} is {'paused' if paused else 'active (unpaused)'}")
    return 0


DEPLOYMENT_ACTIONS: Commands = {"add": cmd_add, "list": cmd_list, "remove": cmd_remove}
REMOTE_ACTIONS: Commands = {
    "status": cmd_status,
    "runs": cmd_runs,
    "trigger": cmd_trigger,
    "logs": cmd_logs,
    "clear": cmd_clear,
    "pause": cmd_pause,
    "unpause": cmd_pause,
}


def _dispatch(group: str, actions: Commands) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from ..store import StoreError

        try:
            return actions[args.action](args)
        except (DeploymentError, StoreError) as exc:
            _err(f"dagsmith {group} {args.action}: {exc}")
            return EXIT_ERROR

    return run


def register(sub: Any, commands: Commands) -> None:
    """Add ``deployments`` and ``remote`` to the CLI."""
    group = sub.add_parser("deployments", help="the Airflow deployments that run the project's DAGs")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("add", help="name an Airflow API (the secret is referred to, never stored)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--url", required=True, help="the Airflow API server, e.g. https://airflow.example.com")
    p.add_argument("--api-version", choices=API_VERSIONS, default="auto", help="v2 (Airflow 3), v1 (Airflow 2)")
    p.add_argument("--auth", choices=("token", "password", "none"), help="default: password with --user, else token")
    p.add_argument("--user", help="user name for password sign-in")
    p.add_argument("--secret", metavar="REF", help="where the token or password is: env:NAME or file:PATH")
    p.add_argument("--replace", action="store_true", help="change an existing deployment of that name")
    p.add_argument("--check", action="store_true", help="connect once and print Airflow's version")
    _project(p)
    p = actions.add_parser("list", help="the project's deployments")
    p.add_argument("--check", action="store_true", help="connect to each and print Airflow's version")
    _project(p)
    p = actions.add_parser("remove", help="forget a deployment (Airflow is not changed)")
    p.add_argument("name", metavar="NAME")
    _project(p)
    commands["deployments"] = _dispatch("deployments", DEPLOYMENT_ACTIONS)

    group = sub.add_parser("remote", help="the pipeline's DAG on a deployment: status, runs, trigger, logs, ...")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    helps = {
        "status": "which version the deployment runs, and whether it is behind the latest export",
        "runs": "the DAG's runs, with the task states of the latest (or --run)",
        "trigger": "start a run with typed params (--param NAME=VALUE)",
        "logs": "a task's log (a node id or task id) in the latest run (or --run)",
        "clear": "clear a failed task (default: every failed task) so the scheduler retries it",
        "pause": "pause the DAG",
        "unpause": "unpause the DAG",
    }
    for action, text in helps.items():
        p = actions.add_parser(action, help=text)
        p.add_argument("pipeline", metavar="PIPELINE", help="a dag_id or name of the project, or a *.dagsmith.json")
        if action in ("logs", "clear"):
            p.add_argument("task", nargs="?" if action == "clear" else None, metavar="TASK", help="node or task id")
        p.add_argument("-d", "--deployment", metavar="NAME", help="the deployment (default: the only one)")
        _project(p)
        if action in ("runs", "logs", "clear"):
            p.add_argument("--run", metavar="RUN_ID", help="the run (default: the latest)")
        if action == "runs":
            p.add_argument("--limit", type=int, default=10, metavar="N", help="how many runs (default 10)")
        if action == "logs":
            p.add_argument("--try", dest="try_number", type=int, metavar="N", help="which try (default: the latest)")
        if action == "trigger":
            p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="a run-time param")
        if action in ("trigger", "clear"):
            p.add_argument("--wait", action="store_true", help="follow the task states until the run ends")
            p.add_argument("--timeout", type=float, default=600.0, metavar="S", help="for --wait (default 600)")
    commands["remote"] = _dispatch("remote", REMOTE_ACTIONS)


def _project(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", metavar="NAME", help="the project in the store (default: the local project)")
