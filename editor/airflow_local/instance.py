"""One project's local Airflow 3: its components started detached, found again, stopped.

``supervisor`` starts the API server (with the UI), scheduler (LocalExecutor), DAG processor and triggerer
as ``airflow …`` children at once, on a SQLite database copied from a migrated template with the login
written beforehand (``database``), which is what ``airflow standalone`` does one step after another. It
starts in a process group of its own, with everything it prints in ``standalone.log``; ``instance.json``
records its pid, port and home so that a second ``up``, ``status``, ``logs`` and ``down`` find it. The
API listens on 127.0.0.1 only. The log servers of the scheduler and triggerer listen on every interface
(Airflow 3.3 has no setting for their host), on free ports picked at start, and answer only requests
signed with the instance's own random secret key.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
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
    port_free,
    read_state,
    tail,
    write_state,
)

__all__ = [
    "DEFAULT_PORT",
    "TAIL",
    "Ready",
    "State",
    "down",
    "free_port",
    "port_free",
    "read_state",
    "status",
    "tail",
    "up",
]

DEFAULT_PORT = 8280
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
STOP_GRACE = 30.0


def environment(project: Project, services: Services, port: int) -> dict[str, str]:
    """The instance's environment: the local runs' MLflow/Feast/BentoML settings, Airflow on loopback."""
    base = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW__", "AIRFLOW_HOME"))}
    env = worker_environment(project.workspace, services, project_dir=project.folder, base=base)
    url = f"http://127.0.0.1:{port}"
    env.update(
        {
            "AIRFLOW_HOME": str(project.home),
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
    state = read_state(project)
    reused = state is not None
    if state is not None:
        if port and port != state.port:
            say(f"already running on port {state.port} (not {port}); `dagsmith airflow down` first to move it")
    else:
        state = _start(project, services, port or DEFAULT_PORT)
        say(f"starting Airflow for {project.folder} (home {project.home}, log {project.log})")
    jobs = _setup_jobs(setup, project.home, worker_environment(project.workspace, services, project_dir=project.folder))
    try:
        client = _wait(project, state, dag_ids, began + timeout)
        _finish_setup(jobs, project.home)
    except AirflowUpError:
        if not reused:
            down(project)
        raise
    state.dag_ids = dag_ids
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
    )
    write_state(project, state)
    return state


def _wait(project: Project, state: State, dag_ids: list[str], deadline: float) -> Client:
    """Wait for every component to report healthy and for every DAG file to be parsed (or to fail).

    When each milestone was reached (the API answering, each component healthy, the DAGs parsed) goes
    into the log as a ``==== timeline`` line, seconds since the wait began (``bench_airflow_up`` reads it).
    """
    client: Client | None = None
    began = time.monotonic()
    seen: dict[str, float] = {}
    while True:
        if not alive(state.pid, state.create_time):
            raise AirflowUpError(f"Airflow stopped while starting. The end of {project.log}:\n{tail(project.log)}")
        if time.monotonic() > deadline:
            raise AirflowUpError(
                f"Airflow did not become healthy with the project's DAGs parsed in time (stopped it); "
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


def status(project: Project) -> dict[str, Any]:
    """Whether the instance runs; its URL, health, DAGs and import errors when it answers."""
    state = read_state(project)
    if state is None:
        return {"running": False, "home": str(project.home)}
    report: dict[str, Any] = {"running": True, "pid": state.pid, "url": state.url, "home": state.home}
    credentials = login(project.home)
    client = Client(state.url, *(credentials or ("", "")))
    try:
        report["health"] = {name: (value or {}).get("status") for name, value in client.health().items()}
        report["healthy"] = client.healthy()
        if credentials:
            report["dag_ids"] = client.dag_ids()
            report["import_errors"] = client.import_errors()
    except ApiError as exc:
        report.update(healthy=False, error=str(exc))
    return report


def processes(pid: int) -> list[int]:
    """The instance's processes: its process group and every descendant (alive ones)."""
    import psutil

    found: set[int] = set()
    try:
        root = psutil.Process(pid)
        found.update(child.pid for child in root.children(recursive=True))
        found.add(pid)
    except psutil.Error:
        pass
    for process in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(process.pid) == pid:
                found.add(process.pid)
        except OSError:
            continue
    return sorted(found)


def down(project: Project, grace: float = STOP_GRACE) -> bool:
    """Stop the instance: SIGTERM to its process group, then SIGKILL what is left; False if none ran."""
    import psutil

    state = read_state(project)
    if state is None:
        return False
    members = processes(state.pid)
    with contextlib.suppress(OSError):
        os.killpg(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _living(members):
        _reap(state.pid)
        time.sleep(0.2)
    left = _living(members)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    if left:
        psutil.wait_procs(_handles(left), timeout=10)
    _reap(state.pid)
    project.state.unlink(missing_ok=True)
    return True


def _living(pids: list[int]) -> list[int]:
    import psutil

    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.Error:
            continue
    return alive


def _handles(pids: list[int]) -> list[Any]:
    import psutil

    handles = []
    for pid in pids:
        try:
            handles.append(psutil.Process(pid))
        except psutil.Error:
            continue
    return handles


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        _children.pop(pid, None)
