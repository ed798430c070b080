"""One project's local Airflow 3: its components started detached, found again, stopped.

``supervisor`` starts the API server (with the UI), scheduler (LocalExecutor), DAG processor and triggerer
as ``airflow …`` children at once, on a SQLite database copied from a migrated template with the login
written beforehand (``database``), which is what ``airflow standalone`` does one step after another. It
starts in a process group of its own, with everything it prints in ``standalone.log``; ``instance.json``
records its pid, port and home so that a second ``up``, ``status``, ``logs`` and ``down`` find it. A
running supervisor is the instance, whether or not its API answers in time: ``up`` then waits for it and
never starts a second one on the same home; ``up`` decides and starts under a file lock on the home
(``state.locked``), so that two at once start one. ``down`` stops every process of it (``stopping``). The
API listens on 127.0.0.1 only. The log servers of the scheduler and triggerer listen on every interface
(Airflow 3.3 has no setting for their host), on free ports picked at start, and answer only requests
signed with the instance's own random secret key.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..runs.extras import missing_extras_message
from ..runs.localize import Setup
from ..runs.workspace import Services, worker_environment
from .api import COMPONENTS, USER, ApiError, Client, login
from .database import DATABASE, ensure_login, prepare, sqlite_url
from .project import AirflowUpError, Project, render_dags
from .state import (
    TAIL,
    Ready,
    State,
    _children,
    alive,
    check_port,
    free_port,
    locked,
    port_free,
    read_state,
    since_boot,
    tail,
    write_state,
)
from .stopping import MARKER, processes, stop

__all__ = [
    "DEFAULT_PORT",
    "TAIL",
    "Ready",
    "State",
    "attach",
    "down",
    "free_port",
    "port_free",
    "processes",
    "read_state",
    "status",
    "tail",
    "up",
]

DEFAULT_PORT = 8280
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
STOP_GRACE = 30.0
STARTING = 300.0
"""Seconds after its start during which an instance whose API does not answer is "starting" (then "not
answering")."""


def environment(project: Project, services: Services, port: int) -> dict[str, str]:
    """The instance's environment: the local runs' MLflow/Feast/BentoML settings, Airflow on loopback."""
    base = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW__", "AIRFLOW_HOME"))}
    env = worker_environment(project.workspace, services, project_dir=project.folder, base=base)
    url = f"http://127.0.0.1:{port}"
    env.update(
        {
            "AIRFLOW_HOME": str(project.home),
            MARKER: str(project.home),  # every process of the instance inherits it: `down` finds them all
            "AIRFLOW__CORE__DAGS_FOLDER": str(project.dags),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlite_url(project.home / DATABASE),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": str(max(4, os.cpu_count() or 1)),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": url + "/",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": url + "/execution/",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(48),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",  # a pipeline added to the project shows soon
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",  # and a changed one is parsed again
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "NO_COLOR": "1",
        }
    )
    return env


def _setup_jobs(setup: Setup, home: Path, env: dict[str, str]) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """Start the workspace setup (MLflow database, Feast apply) that the local runs do, where not done."""
    from ..runs.setup import feast_done, mlflow_done

    jobs: list[tuple[str, dict[str, Any]]] = []
    if setup.mlflow and not mlflow_done(setup.mlflow):
        jobs.append(("mlflow", setup.mlflow))
    jobs += [("feast", repo) for repo in setup.feast if not feast_done(repo)]
    started = []
    for kind, spec in jobs:
        log = (home / f"setup-{kind}.log").open("ab")
        command = [sys.executable, "-m", "dagsmith.editor.runs.setup", kind, json.dumps(spec)]
        started.append((kind, subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)))
        log.close()
    return started


def up(
    project: Project, *, port: int | None = None, timeout: float = 300.0, say: Callable[[str], None] = print
) -> Ready:
    """Start the project's Airflow (or find it running), render its DAGs, wait until they are parsed."""
    began = time.monotonic()
    missing = missing_extras_message(["airflow"])
    executable = Path(sys.executable).parent / "airflow"
    if missing or not executable.exists():
        raise AirflowUpError(missing or f"the airflow command is not installed beside {sys.executable}")
    services = Services.from_env(project.workspace)
    project.workspace.create()
    project.home.mkdir(parents=True, exist_ok=True)
    dag_ids, setup = render_dags(project, services)
    state, reused = claim(project, lambda: _start(project, services, port or DEFAULT_PORT))
    if reused:  # its supervisor runs: waited for below, even when its API does not answer yet
        if port and port != state.port:
            say(f"already running on port {state.port} (not {port}); `dagsmith airflow down` first to move it")
    else:
        say(f"starting Airflow for {project.folder} (home {project.home}, log {project.log})")
    jobs = _setup_jobs(setup, project.home, worker_environment(project.workspace, services, project_dir=project.folder))
    try:
        client = _wait(project, state, dag_ids, began + timeout, reused)
        _finish_setup(jobs, project.home)
    except AirflowUpError as exc:
        if not reused:
            try:
                down(project)
            except AirflowUpError as stopping:
                raise AirflowUpError(f"{exc}\n{stopping}") from None
        raise
    state.dag_ids = dag_ids
    with locked(project):
        current = read_state(project)
        if current is not None and current.pid == state.pid:  # not stopped meanwhile
            write_state(project, state)
    return Ready(
        state=state,
        user=client.user,
        password=client.password,
        dag_ids=dag_ids,
        import_errors=client.import_errors(),
        reused=reused,
        seconds=time.monotonic() - began,
    )


def claim(project: Project, start: Callable[[], State]) -> tuple[State, bool]:
    """The instance whose supervisor runs (True: reused, however slow its API), else the one ``start``
    starts and records (False). Decided under the home's lock: of two ``up`` at once, one starts it and the
    other finds it; the processes of an earlier instance whose supervisor ended are stopped first."""
    with locked(project):
        state = read_state(project)
        if state is not None:
            return state, True
        _stop_leftovers(project)
        return start(), False


def _start(project: Project, services: Services, port: int) -> State:
    import psutil

    from ..store.engine import dagsmith_home

    check_port(port)
    env = environment(project, services, port)
    airflow = str(Path(sys.executable).parent / "airflow")
    began = time.monotonic()
    how = prepare(airflow, project.home, dagsmith_home() / "airflow-db", env)
    ensure_login(project.home)
    with project.log.open("ab") as log:
        log.write(f"\n==== dagsmith airflow up {datetime.now(UTC).isoformat()} port {port}\n".encode())
        if how:
            log.write(f"==== metadata database {how} in {time.monotonic() - began:.1f}s\n".encode())
        log.flush()
        process = subprocess.Popen(
            [sys.executable, "-m", "dagsmith.editor.airflow_local.supervisor", airflow],
            cwd=project.folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `down` stops every part of it
        )
    _children[process.pid] = process
    state = State(
        pid=process.pid,
        port=port,
        home=str(project.home),
        project_dir=str(project.folder),
        workspace=str(project.workspace.root),
        started=datetime.now(UTC).isoformat(),
        create_time=psutil.Process(process.pid).create_time(),
        since_boot=since_boot(process.pid),
    )
    write_state(project, state)
    return state


def _wait(project: Project, state: State, dag_ids: list[str], deadline: float, reused: bool = False) -> Client:
    """Wait for every component to report healthy and for every DAG file to be parsed (or to fail).

    When each milestone was reached (the API answering, each component healthy, the DAGs parsed) goes
    into the log as a ``==== timeline`` line, seconds since the wait began (``bench_airflow_up`` reads it).
    """
    client: Client | None = None
    began = time.monotonic()
    seen: dict[str, float] = {}
    while True:
        if not alive(state.pid, state.create_time, state.since_boot):
            raise AirflowUpError(f"Airflow stopped while starting. The end of {project.log}:\n{tail(project.log)}")
        if time.monotonic() > deadline:
            raise AirflowUpError(
                f"Airflow did not become healthy with the project's DAGs parsed in time "
                f"({'it was already running: left it running' if reused else 'stopped it'}); "
                f"pass a longer --timeout if this machine is busy. The end of {project.log}:\n{tail(project.log)}"
            )
        credentials = login(project.home)
        if client is None and credentials is not None:
            client = Client(state.url, *credentials)
        if client is not None and _healthy(client, seen, began):
            try:
                listed = set(client.dag_ids())
                failed = {name[:-3] for name in client.import_errors()}
            except ApiError:
                listed, failed = set(), set()
            if all(dag_id in listed or dag_id in failed for dag_id in dag_ids):
                seen.setdefault("dags parsed", time.monotonic() - began)
                _timeline(project, seen)
                return client
        time.sleep(0.25)


def _healthy(client: Client, seen: dict[str, float], began: float) -> bool:
    """Whether every component reports healthy; notes in ``seen`` when each first did."""
    try:
        health = client.health()
    except ApiError:
        return False
    now = time.monotonic() - began
    seen.setdefault("api", now)
    for name in COMPONENTS:
        if (health.get(name) or {}).get("status") == "healthy":
            seen.setdefault(name, now)
    return all(name in seen for name in COMPONENTS)


def _timeline(project: Project, seen: dict[str, float]) -> None:
    line = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in sorted(seen.items(), key=lambda item: item[1]))
    with project.log.open("a", encoding="utf-8") as log:
        log.write(f"==== timeline: {line}\n")


def _finish_setup(jobs: list[tuple[str, subprocess.Popen[bytes]]], home: Path) -> None:
    failed = [kind for kind, job in jobs if job.wait() != 0]
    if failed:
        logs = "\n".join(f"{home / f'setup-{kind}.log'}:\n{tail(home / f'setup-{kind}.log')}" for kind in failed)
        raise AirflowUpError(f"the workspace setup failed ({', '.join(failed)}); its log:\n{logs}")


def attach(project: Project, timeout: float, api_timeout: float = 5.0) -> Client | None:
    """A client of the project's running instance, once it answers healthy; None when none runs.

    An instance whose supervisor runs is waited for (up to ``timeout`` seconds) rather than taken for
    stopped when its API is slow, as on a loaded machine: starting another one beside it is never right.
    """
    state = read_state(project)
    deadline = time.monotonic() + timeout
    while state is not None:
        credentials = login(project.home)
        if credentials is not None:
            client = Client(state.url, *credentials, timeout=api_timeout)
            if client.healthy():
                return client
        if time.monotonic() > deadline:
            raise AirflowUpError(
                f"the project's Airflow (pid {state.pid}, {state.url}) runs but did not answer healthy within "
                f"{timeout:.0f}s; it was left running: see `dagsmith airflow status` and {project.log}, or "
                "stop it with `dagsmith airflow down`"
            )
        time.sleep(0.5)
        state = state if alive(state.pid, state.create_time, state.since_boot) else read_state(project)
    return None


def status(project: Project) -> dict[str, Any]:
    """Whether the instance runs; its URL, health, DAGs and import errors when it answers.

    ``state``: ``healthy``; ``not healthy`` (it answers, a component does not report healthy); ``starting``
    (its supervisor runs, its API has not answered yet, it started less than ``STARTING`` seconds ago);
    ``not answering`` (the same, later); ``down`` (no supervisor runs).
    """
    state = read_state(project)
    if state is None:
        return {"running": False, "state": "down", "home": str(project.home)}
    report: dict[str, Any] = {"running": True, "pid": state.pid, "url": state.url, "home": state.home}
    credentials = login(project.home)
    client = Client(state.url, *(credentials or ("", "")))
    try:
        report["health"] = {name: (value or {}).get("status") for name, value in client.health().items()}
        report["healthy"] = client.healthy()
        report["state"] = "healthy" if report["healthy"] else "not healthy"
        if credentials:
            report["dag_ids"] = client.dag_ids()
            report["import_errors"] = client.import_errors()
    except ApiError as exc:
        report.update(healthy=False, error=str(exc))
        report.setdefault("state", "starting" if _age(state) < STARTING else "not answering")
    return report


def _age(state: State) -> float:
    """Seconds since the instance started (0 when its record's time does not read)."""
    try:
        return (datetime.now(UTC) - datetime.fromisoformat(state.started)).total_seconds()
    except (ValueError, TypeError):
        return 0.0


def down(project: Project, grace: float = STOP_GRACE) -> bool:
    """Stop every process of the instance: SIGTERM, then SIGKILL after ``grace`` seconds; False if none ran.

    Its record is removed only when all of them are gone; ``AirflowUpError`` names the ones that are not.
    Processes of an instance whose supervisor already ended (still marked with its home) are stopped too.
    """
    with locked(project):
        state = read_state(project)
        if state is None:
            return _stop_leftovers(project, grace)
        left = stop(state.pid, str(project.home), grace)
        if left:
            raise AirflowUpError(
                f"these processes of the project's Airflow are still running after SIGKILL: "
                f"{', '.join(map(str, left))}; stop them with `kill -9` and run `dagsmith airflow down` again"
            )
        project.state.unlink(missing_ok=True)
    return True


def _stop_leftovers(project: Project, grace: float = STOP_GRACE) -> bool:
    """Stop the processes of an instance of this home whose supervisor ended (no record names them);
    whether there were any. (A component that outlived its supervisor may still hold the port.)"""
    home = str(project.home)
    if not processes(None, home):
        return False
    left = stop(None, home, grace)
    if left:
        raise AirflowUpError(
            f"processes of an earlier Airflow of {home} are still running after SIGKILL: "
            f"{', '.join(map(str, left))}; stop them with `kill -9` and try again"
        )
    return True
