"""Deployments against a real Airflow 3 (``dagsmith airflow up``'s instance, REST API v2; no mocked API).

One instance serves the module: a project whose pipeline has a typed run-time param ``rows`` and a step
``flaky`` that fails on its first try and succeeds on the next. The tests name the instance as a
deployment (password from an environment variable), read which version it runs from the deployed file's
header, trigger with typed params, follow task states into node states, read a log, clear the failed task
and see it succeed, pause and unpause; and check the errors (unreachable, refused login, a DAG not
deployed, a DAG with import errors) are messages. ``down`` runs at the end whatever happened.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.codegen import render
from dagsmith.editor.deployments.client import AirflowApi, Credentials, DeploymentError, NotDeployedError
from dagsmith.editor.deployments.config import Deployment, Deployments, connect
from dagsmith.editor.deployments.service import RemotePipeline, latest_export
from dagsmith.editor.pages import Workbench
from dagsmith.editor.services import EditorServices
from dagsmith.editor.store import DB_FILENAME, Store, open_store
from dagsmith.nodes import Node, Pipeline, PipelineSettings, dumps
from dagsmith.nodes.document import RuntimeParam

pytestmark = pytest.mark.slow

FLAKY = (
    "import pathlib, sys; m = pathlib.Path('flaky.marker'); first = not m.exists(); m.touch(); "
    "print('first try' if first else 'second try'); sys.exit(1 if first else 0)"
)
SECRET_ENV = "DAGSMITH_TEST_AIRFLOW_PASSWORD"
WAIT = 240.0


@dataclass
class Started:
    project: Path
    dags: Path
    env: dict[str, str]
    url: str
    user: str
    password: str
    store_url: str


def pipeline(name: str = "Remote demo") -> Pipeline:
    return Pipeline(
        settings=PipelineSettings(
            name=name,
            default_image="registry.example.com/x:1",
            params=[RuntimeParam(name="rows", type="integer", default=3, minimum=1)],
        ),
        nodes=[
            Node(id="say", type="script", params={"command": ["python", "-c", "print('hello')"], "outputs": []}),
            Node(id="flaky", type="script", params={"command": ["python", "-c", FLAKY], "outputs": []}),
        ],
    )


def dagsmith(*args: str, env: dict[str, str], timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagsmith.editor.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    project = tmp_path_factory.mktemp("project")
    workspace = tmp_path_factory.mktemp("workspace")
    home = tmp_path_factory.mktemp("dagsmith-home")
    (project / "remote.dagsmith.json").write_text(dumps(pipeline()), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AIRFLOW", "DAGSMITH_"))}
    env.update(DAGSMITH_HOME=str(home), BENTOML_DO_NOT_TRACK="true")
    where = ("--project-dir", str(project), "--home", str(workspace))
    try:
        result = dagsmith("airflow", "up", *where, "--port", str(free_port()), env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        url = re.search(r"(http://127\.0\.0\.1:\d+)", result.stdout)
        login = re.search(r"login: (\S+) / (\S+)", result.stdout)
        assert url and login, result.stdout
        env[SECRET_ENV] = login.group(2)
        dags = workspace / "airflow-server" / "dags"
        yield Started(
            project, dags, env, url.group(1), login.group(1), login.group(2), f"sqlite:///{home / DB_FILENAME}"
        )
    finally:
        dagsmith("airflow", "down", *where, env=env, timeout=120)


@pytest.fixture(scope="module")
def store(airflow: Started) -> Iterator[Store]:
    with open_store(airflow.store_url) as opened:
        yield opened


@pytest.fixture(scope="module")
def deployment(airflow: Started, store: Store) -> Deployment:
    project = store.create_project("ML")
    info = store.create_pipeline(project.id, pipeline())
    store.create_version(info.id)
    moved = pipeline().model_copy(update={"settings": pipeline().settings.model_copy(update={"description": "v2"})})
    store.create_version(info.id, document=moved)
    store.record_export(
        info.id, 2, by="local", target="airflow3", production=False, location="/git/dags", dag_path="dags/x.py"
    )
    return Deployments(store).add(
        project.id, "local", airflow.url, auth="password", user=airflow.user, secret_ref=f"env:{SECRET_ENV}"
    )


@pytest.fixture(scope="module")
def remote(airflow: Started, store: Store, deployment: Deployment) -> Iterator[RemotePipeline]:
    os.environ[SECRET_ENV] = airflow.password  # the deployment refers to it; it is never stored
    info = store.list_pipelines(deployment.project_id)[0]
    yield RemotePipeline(connect(deployment), pipeline(), latest=latest_export(store, info.id))
    os.environ.pop(SECRET_ENV, None)


def wait_until(what: str, check: object, timeout: float = WAIT) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check() if callable(check) else None
        if value:
            return value
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_secret_is_stored_only_as_a_reference(airflow: Started, deployment: Deployment) -> None:
    assert deployment.secret_ref == f"env:{SECRET_ENV}"
    database = Path(airflow.store_url.removeprefix("sqlite:///"))
    assert airflow.password.encode() not in database.read_bytes()


def test_status_reads_the_deployed_version_from_the_header_and_says_it_is_behind(remote: RemotePipeline) -> None:
    status = remote.status()
    assert (status.version, status.latest_export, status.behind) == (1, 2, True)
    assert remote.api.version == "v2"
    assert "behind the latest export v2" in status.describe()


def test_a_generated_dag_put_into_the_dag_folder_is_found_at_its_version(airflow: Started) -> None:
    other = pipeline("Versioned demo")
    (airflow.dags / "versioned_demo.py").write_text(render(other, version=3, target="local"), encoding="utf-8")
    api = AirflowApi(airflow.url, Credentials("password", airflow.user, airflow.password), name="local")
    remote = RemotePipeline(api, other, latest=3)

    def parsed() -> bool:
        try:
            remote.dag(fresh=True)
        except NotDeployedError:
            return False
        return True

    wait_until("the DAG processor to parse versioned_demo.py", parsed)
    status = remote.status()
    assert (status.version, status.behind) == (3, False)
    assert "v3 (the latest export)" in status.describe()


def test_trigger_follow_log_clear_retry_and_pause(airflow: Started, remote: RemotePipeline) -> None:
    (airflow.project / "flaky.marker").unlink(missing_ok=True)
    with pytest.raises(DeploymentError, match=r"param rows: .*below the minimum"):
        remote.trigger({"rows": "0"})  # checked against the pipeline's params before Airflow is asked
    remote.set_paused(False)
    run = remote.trigger({"rows": "5"})
    assert run.conf == {"rows": 5}

    def ended() -> dict[str, str] | None:
        states = remote.node_states(remote.tasks(run.run_id))
        return states if set(states.values()) <= {"success", "failed"} and len(states) == 2 else None

    states = wait_until("the run's tasks to end", ended)
    assert states == {"say": "success", "flaky": "failed"}
    assert "first try" in remote.log(run.run_id, "flaky")
    assert "first try" in remote.node_logs(run.run_id, "flaky")["flaky"]

    assert remote.clear(run.run_id) == ["flaky"]  # every failed task of the run
    wait_until(
        "the cleared task to succeed",
        lambda: remote.node_states(remote.tasks(run.run_id)).get("flaky") == "success",
    )
    assert remote.api.run(remote.dag_id, run.run_id).state in ("success", "running")
    assert "second try" in remote.log(run.run_id, "flaky")
    assert "first try" in remote.log(run.run_id, "flaky", try_number=1)

    assert remote.set_paused(True) is True
    assert remote.dag(fresh=True).is_paused is True
    assert remote.set_paused(False) is False


def test_the_cli_triggers_with_typed_params_and_reports_errors_without_tracebacks(
    airflow: Started, deployment: Deployment
) -> None:
    env = airflow.env
    common = ("-d", "local", "--project", "ML", "Remote demo")
    result = dagsmith("remote", "trigger", *common, "--param", "rows=many", env=env, timeout=120)
    assert result.returncode == 2 and "param rows: enter a whole number" in result.stderr
    (airflow.project / "flaky.marker").touch()  # this run's flaky step succeeds at once
    result = dagsmith("remote", "unpause", *common, env=env, timeout=120)
    assert result.returncode == 0 and "is active (unpaused)" in result.stdout, result.stderr
    result = dagsmith("remote", "trigger", *common, "--param", "rows=2", "--wait", env=env, timeout=WAIT + 60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "with conf {'rows': 2}" in result.stdout and "flaky: success" in result.stdout
    result = dagsmith("remote", "logs", *common, "flaky", env=env, timeout=120)
    assert result.returncode == 0 and "second try" in result.stdout
    result = dagsmith("remote", "status", *common, env=env, timeout=120)
    assert "remote_demo v1, behind the latest export v2" in result.stdout

    wrong = {**env, SECRET_ENV: "not-the-password"}
    result = dagsmith("remote", "runs", *common, env=wrong, timeout=120)
    assert result.returncode == 2 and "refused the user 'admin'" in result.stderr
    assert "Traceback" not in result.stderr
    unset = {key: value for key, value in env.items() if key != SECRET_ENV}
    result = dagsmith("remote", "runs", *common, env=unset, timeout=120)
    assert result.returncode == 2 and f"the environment variable {SECRET_ENV}" in result.stderr


def test_errors_name_the_deployment_and_say_what_to_do(airflow: Started) -> None:
    login = Credentials("password", airflow.user, airflow.password)
    api = AirflowApi(airflow.url, login, name="local")
    with pytest.raises(NotDeployedError, match="'never_deployed' is not deployed there"):
        RemotePipeline(api, pipeline("Never deployed")).status()

    broken = "from airflow.sdk import DAG\nimport this_module_does_not_exist\n"  # "DAG", "airflow": safe mode reads it
    (airflow.dags / "broken_demo.py").write_text(broken, encoding="utf-8")

    def import_error() -> str | None:
        try:
            RemotePipeline(api, pipeline("Broken demo")).status()
        except NotDeployedError as exc:
            return exc.import_error and str(exc)
        return None

    message = str(wait_until("Airflow's import error of broken_demo.py", import_error))
    assert "failed to import there" in message and "this_module_does_not_exist" in message

    unreachable = AirflowApi(f"http://127.0.0.1:{free_port()}", login, name="gone")
    with pytest.raises(DeploymentError, match="deployment 'gone': cannot reach the Airflow API"):
        RemotePipeline(unreachable, pipeline()).status()
    bad_token = AirflowApi(airflow.url, Credentials("token", secret="not-a-token"), name="local")
    with pytest.raises(DeploymentError, match=r"refused GET /api/v2/dags/remote_demo \(HTTP 40[13]"):
        RemotePipeline(bad_token, pipeline()).status()


async def test_the_airflow_tab_shows_the_version_run_states_on_the_canvas_and_node_logs(
    airflow: Started, store: Store, deployment: Deployment, user: User
) -> None:
    os.environ[SECRET_ENV] = airflow.password
    services = EditorServices(store)
    info = store.list_pipelines(deployment.project_id)[0]
    holder: dict[str, Workbench] = {}

    @ui.page("/")
    def page() -> None:
        _, document, revision = services.open_draft(info.id)
        holder["bench"] = Workbench(services, info.id, document, info.name, revision)

    await user.open("/")
    bench = holder["bench"]
    tab = bench.remote
    bench.bottom.panels.set_value(tab.tab)  # shows the tab: it connects to the only deployment

    async def until(what: str, check: Callable[[], object]) -> None:
        for _ in range(int(WAIT)):
            if check():
                return
            await asyncio.sleep(1.0)
        raise AssertionError(f"timed out waiting for {what}; panel error: {tab.panel.error.text!r}")

    await until("the deployed version", lambda: "behind the latest export v2" in tab.panel.status.text)
    assert tab.panel.status.text.startswith("local: remote_demo v1")
    await until("the latest run's states on the canvas", lambda: tab.panel.showing)
    assert bench.canvas.states == {"say": "success", "flaky": "success"}  # the badges local runs use

    tab.panel.trigger_dialog.open(bench.session.pipeline.settings.params)
    tab.panel.trigger_dialog.inputs["rows"].set_value("0")
    await tab.panel.trigger_dialog.submit()
    assert "param rows:" in tab.panel.trigger_dialog.error.text and "minimum" in tab.panel.trigger_dialog.error.text

    await tab.state_clicked("flaky", lambda node: pytest.fail(f"the local log of {node} was opened"))
    assert "second try" in tab.panel.log_dialog.text.text
