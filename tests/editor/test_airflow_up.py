"""``dagsmith airflow up|status|logs|down`` against the real Airflow 3 it starts (no mocks).

One instance serves the module: a project with one pipeline whose script step runs ``python -c``. The
printed login reaches the REST API v2, a second ``up`` finds the same process, a run triggered through
the API succeeds (its step sees the workspace's MLflow), and ``down`` leaves no process of the group.
The instance's database is a copy of the per-version template and its components start at once, without
``airflow standalone``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from airflow_fixtures import LocalAirflow, airflow_up, dagsmith, free_port

from dagsmith.editor.airflow_local.api import PASSWORDS, Client, login
from dagsmith.editor.airflow_local.database import airflow_version, ensure_login, prepare, sqlite_url
from dagsmith.editor.airflow_local.instance import processes, read_state
from dagsmith.editor.airflow_local.project import resolve
from dagsmith.editor.airflow_local.supervisor import Forked, stop
from dagsmith.nodes import Node, Pipeline, PipelineSettings

pytestmark = pytest.mark.slow

STEP = (
    "import os, pathlib; pathlib.Path('said.json').write_text("
    "__import__('json').dumps({'cwd': os.getcwd(), 'mlflow': os.environ.get('MLFLOW_TRACKING_URI')}))"
)


Started = LocalAirflow


def cli(*args: str, env: dict[str, str], timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return dagsmith("airflow", *args, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    pipeline = Pipeline(
        settings=PipelineSettings(name="Hello local", default_image="registry.example.com/x:1"),
        nodes=[Node(id="say", type="script", params={"command": ["python", "-c", STEP], "outputs": []})],
    )
    with airflow_up(tmp_path_factory, {"hello": pipeline}) as instance:
        yield instance  # down runs after as a safety net; test_down_stops_every_process checks it


def args(started: Started) -> tuple[str, ...]:
    return started.where


def test_up_prints_the_ui_and_every_component_is_healthy(started: Started) -> None:
    assert "DAGs (1): hello_local" in started.output
    with urllib.request.urlopen(started.url + "/api/v2/monitor/health", timeout=10) as response:
        health = json.load(response)
    assert {name: health[name]["status"] for name in ("metadatabase", "scheduler", "triggerer", "dag_processor")} == {
        "metadatabase": "healthy",
        "scheduler": "healthy",
        "triggerer": "healthy",
        "dag_processor": "healthy",
    }
    with urllib.request.urlopen(started.url + "/", timeout=10) as response:
        assert response.status == 200 and "<html" in response.read().decode().lower()


def test_the_rest_api_lists_the_project_dags_with_the_printed_login(started: Started) -> None:
    client = Client(started.url, started.user, started.password)
    assert client.dag_ids() == ["hello_local"]
    assert client.import_errors() == {}
    dag = client.get("/api/v2/dags/hello_local")
    assert Path(dag["fileloc"]).parent == started.workspace / "airflow-server" / "dags"


def test_the_api_listens_on_loopback_only(started: Started) -> None:
    state = read_state(resolve(str(started.project), str(started.workspace)))
    assert state is not None
    listening = {
        conn.laddr.ip
        for pid in processes(state.pid)
        for conn in psutil.Process(pid).net_connections("tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == state.port
    }
    assert listening == {"127.0.0.1"}


def test_a_second_up_reuses_the_running_instance(started: Started) -> None:
    project = resolve(str(started.project), str(started.workspace))
    before = read_state(project)
    result = cli("up", *args(started), env=started.env)
    assert result.returncode == 0, result.stderr
    assert f"Airflow is already running: {started.url}" in result.stdout
    after = read_state(project)
    assert before is not None and after is not None and after.pid == before.pid


def test_status_and_logs(started: Started) -> None:
    status = cli("status", *args(started), env=started.env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"running: {started.url}" in status.stdout and "DAGs (1): hello_local" in status.stdout
    logs = cli("logs", *args(started), "scheduler", "-n", "5", env=started.env)
    lines = logs.stdout.splitlines()
    assert logs.returncode == 0 and 0 < len(lines) <= 5
    assert all(line.startswith("scheduler ") for line in lines)


def test_a_run_triggered_through_the_api_succeeds(started: Started) -> None:
    client = Client(started.url, started.user, started.password)
    client.patch("/api/v2/dags/hello_local", {"is_paused": False})
    run = client.post("/api/v2/dags/hello_local/dagRuns", {"logical_date": None, "conf": {}})
    deadline = time.monotonic() + 150
    state = run["state"]
    while state not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(1)
        state = client.get(f"/api/v2/dags/hello_local/dagRuns/{run['dag_run_id']}")["state"]
    assert state == "success"
    said = json.loads((started.project / "said.json").read_text())
    assert said["cwd"] == str(started.project)  # the step ran on this machine, in the project folder
    assert said["mlflow"] == f"sqlite:///{started.workspace / 'mlflow' / 'mlflow.db'}"  # the local runs' MLflow
    assert (started.workspace / "mlflow" / ".dagsmith-created").exists()  # its database was set up


def test_components_start_at_once_on_a_copied_database(started: Started) -> None:
    home = started.workspace / "airflow-server"
    log = (home / "standalone.log").read_text(encoding="utf-8")
    assert "==== metadata database copied" in log  # not migrated in this workspace
    template = Path(started.env["DAGSMITH_HOME"]) / "airflow-db" / airflow_version() / "airflow.db"
    assert template.is_file() and (home / "airflow.db.version").read_text() == airflow_version()
    assert _alembic(home / "airflow.db") == _alembic(template) != ""
    for name in ("api-server", "dag-processor", "scheduler", "triggerer"):
        assert f"supervisor | started {name} (pid " in log
    state = read_state(resolve(str(started.project), str(started.workspace)))
    assert state is not None
    commands = []
    for pid in processes(state.pid):
        with contextlib.suppress(psutil.Error):  # a finished parse not reaped yet
            commands.append(" ".join(psutil.Process(pid).cmdline()))
    assert not any("standalone" in command for command in commands), commands
    assert re.search(r"==== timeline: .*api [\d.]+s.*dags parsed [\d.]+s", log)


def test_an_older_database_is_migrated_in_place(started: Started, tmp_path: Path) -> None:
    template = Path(started.env["DAGSMITH_HOME"]) / "airflow-db" / airflow_version() / "airflow.db"
    shutil.copyfile(template, tmp_path / "airflow.db")
    (tmp_path / "airflow.db.version").write_text("3.0.0")
    env = {key: value for key, value in started.env.items() if not key.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite_url(tmp_path / "airflow.db"))
    airflow = str(Path(sys.executable).parent / "airflow")
    assert prepare(airflow, tmp_path, tmp_path / "templates", env) == "migrated"
    assert (tmp_path / "airflow.db.version").read_text() == airflow_version()
    assert prepare(airflow, tmp_path, tmp_path / "templates", env) == ""  # current: nothing to do
    assert not (tmp_path / "templates").exists()


def test_the_login_is_written_once_and_private(tmp_path: Path) -> None:
    user, password = ensure_login(tmp_path)
    assert user == "admin" and len(password) >= 12
    path = tmp_path / PASSWORDS
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_login(tmp_path) == (user, password) == login(tmp_path)


def _alembic(database: Path) -> str:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        row = connection.execute("select version_num from alembic_version").fetchone()
    return str(row[0]) if row else ""


def test_down_stops_every_process(started: Started) -> None:
    project = resolve(str(started.project), str(started.workspace))
    state = read_state(project)
    assert state is not None
    members = processes(state.pid)
    assert len(members) >= 5  # standalone, API server, scheduler, DAG processor, triggerer (and more)
    result = cli("down", *args(started), env=started.env, timeout=120)
    assert result.returncode == 0 and "stopped Airflow" in result.stdout
    left = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            in_group = os.getpgid(process.pid) == state.pid
        except OSError:
            continue
        if (in_group or process.pid in members) and process.info["status"] != psutil.STATUS_ZOMBIE:
            left.append(process.pid)
    assert left == []
    assert _with_home(started.workspace / "airflow-server") == []
    assert read_state(project) is None
    again = cli("status", *args(started), env=started.env)
    assert again.returncode == 1 and "not running" in again.stdout


def test_a_port_in_use_is_a_clear_message(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "DAGSMITH_"))}
    env["DAGSMITH_HOME"] = str(tmp_path / "dagsmith-home")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("up", "--project-dir", str(tmp_path), "--home", str(tmp_path / "ws"), "--port", str(port), env=env)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_not_healthy_in_time_stops_it_and_shows_the_log(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "DAGSMITH_"))}
    env["DAGSMITH_HOME"] = str(tmp_path / "dagsmith-home")
    home = tmp_path / "ws"
    result = cli(
        "up", "--project-dir", str(tmp_path), "--home", str(home), "--port", str(free_port()), "--timeout", "1", env=env
    )
    assert result.returncode == 1
    assert "did not become healthy" in result.stderr and "--timeout" in result.stderr
    assert "==== dagsmith airflow up" in result.stderr  # the end of the instance's log
    assert "Traceback" not in result.stderr + result.stdout
    assert read_state(resolve(str(tmp_path), str(home))) is None
    assert _with_home(home / "airflow-server") == []


def _with_home(airflow_home: Path) -> list[int]:
    """Processes whose AIRFLOW_HOME is ``airflow_home`` (the instance's, whatever their group)."""
    found = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if process.environ().get("AIRFLOW_HOME") == str(airflow_home) and process.info["status"] != "zombie":
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


FAKE_AIRFLOW = """#!/bin/sh
echo "$1 says hello"
if [ "$1" = triggerer ]; then sleep 1; echo "$1 gives up"; exit 3; fi
trap 'echo "$1 got SIGTERM"; exit 0' TERM
while true; do sleep 0.1; done
"""


def test_the_supervisor_stops_every_component_when_one_exits(tmp_path: Path) -> None:
    """A component that dies takes the instance down (up and status then see it gone), not half of it."""
    airflow = tmp_path / "airflow"
    airflow.write_text(FAKE_AIRFLOW, encoding="utf-8")
    airflow.chmod(0o755)
    env = dict(os.environ, DAGSMITH_AIRFLOW_FORK="0")  # each component as its own `airflow NAME` process
    done = subprocess.run(
        [sys.executable, "-m", "dagsmith.editor.airflow_local.supervisor", str(airflow)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "triggerer  | triggerer says hello" in lines and "scheduler  | scheduler says hello" in lines
    assert "supervisor | triggerer exited with status 3; stopping the other components" in lines
    for name in ("api-server", "dag-processor", "scheduler"):
        assert f"{name:10} | {name} got SIGTERM" in lines
    assert lines[-1] == "supervisor | stopped"


def test_a_forked_component_that_ignores_sigterm_is_killed() -> None:
    ready, told = os.pipe()
    pid = os.fork()
    if pid == 0:  # a component that will not stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.write(told, b"x")
        time.sleep(60)
        os._exit(0)
    os.close(told)
    assert os.read(ready, 1) == b"x"  # it ignores SIGTERM from here on
    os.close(ready)
    component = Forked(pid)
    stop({"scheduler": component}, grace=0.5)
    assert component.returncode == -signal.SIGKILL
