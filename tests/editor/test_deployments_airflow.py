"""Deployments against a real Airflow 3 (``dagsmith airflow up``'s instance, REST API v2; no mocked API).

One instance serves the module: a project whose pipeline has a typed run-time param ``rows`` and a step
``flaky`` that fails on its first try and succeeds on the next. The tests name the instance as a
deployment (password from an environment variable), read which version it runs from the deployed file's
header, trigger with typed params, follow task states into node states, read a log, clear the failed task
and see it succeed, pause and unpause; and check the errors (unreachable, refused login, a DAG not
deployed, a DAG with import errors) are messages. Last, a person in real Chromium adds the instance in the
Airflow tab of another project, key by key, and triggers, follows and clears a run there. The instance is
started by ``airflow_fixtures.airflow_up`` (shared with ``test_airflow_up.py``); ``down`` runs at the end
whatever happened.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from airflow_fixtures import LocalAirflow, airflow_up, dagsmith, free_port
from browser import count, screenshot_on_failure, show_tab, wait_for, with_token
from nicegui import ui
from nicegui.testing import User
from sqlite_dump import sqlite_dump
from test_export_browser import type_into

from dagsmith.codegen import render
from dagsmith.editor.deployments.client import AirflowApi, Credentials, DeploymentError, NotDeployedError
from dagsmith.editor.deployments.config import Deployment, Deployments, connect
from dagsmith.editor.deployments.service import RemotePipeline, latest_export
from dagsmith.editor.pages import Workbench
from dagsmith.editor.services import EditorServices
from dagsmith.editor.store import Store, open_store
from dagsmith.nodes import Node, Pipeline, PipelineSettings
from dagsmith.nodes.document import RuntimeParam

pytestmark = pytest.mark.slow

FLAKY = (
    "import pathlib, sys; m = pathlib.Path('flaky.marker'); first = not m.exists(); m.touch(); "
    "print('first try' if first else 'second try'); sys.exit(1 if first else 0)"
)
SECRET_ENV = "DAGSMITH_TEST_AIRFLOW_PASSWORD"
WAIT = 240.0


Started = LocalAirflow


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


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    with airflow_up(tmp_path_factory, {"remote": pipeline()}) as instance:
        instance.env[SECRET_ENV] = instance.password
        yield instance


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


def stored(airflow: Started) -> str:
    """Everything the editor's store holds, as SQL, read through SQLite (never the file's bytes: sqlite_dump)."""
    return sqlite_dump(airflow.store_url)


@pytest.fixture(scope="module")
def home(airflow: Started) -> Path:
    """The browser test's editor server uses the instance's DAGSMITH_HOME, so it opens the same store."""
    return airflow.dagsmith_home


def test_the_secret_is_stored_only_as_a_reference(airflow: Started, deployment: Deployment) -> None:
    assert deployment.secret_ref == f"env:{SECRET_ENV}"
    assert f"env:{SECRET_ENV}" in stored(airflow)  # the dump holds the deployment's row
    assert airflow.password not in stored(airflow)


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


def test_a_person_adds_the_deployment_in_the_airflow_tab_sees_its_version_and_triggers_a_run(
    airflow: Started, store: Store, driver: Any, server: str, tmp_path: Path
) -> None:
    """Real Chromium: the Airflow tab of a project with no deployment; the person types the deployment in key
    by key (password from a file), sees the version it runs, triggers with a typed param and sees the run's
    states on the canvas and in the runs list. It may run in any order (see ``stored`` for why it once had
    to run first)."""
    from selenium.webdriver.common.by import By

    project = store.create_project(f"Browser {tmp_path.name}")  # a new one if the test is rerun
    info = store.create_pipeline(project.id, pipeline())
    store.create_version(info.id)
    store.record_export(
        info.id, 1, by="local", target="airflow3", production=False, location="/git/dags", dag_path="dags/x.py"
    )
    secret = tmp_path / "airflow-password"
    secret.write_text(airflow.password + "\n", encoding="utf-8")

    def marked(name: str) -> Any:
        return driver.find_element(By.CSS_SELECTOR, f"[data-dagsmith='{name}']")

    def click(name: str) -> None:
        """Click the element once it takes the click (a tab or dialog may still be sliding in)."""

        def clicked() -> bool:
            marked(name).click()
            return True

        wait_for(clicked, f"{name} to take the click")

    def text_of(name: str) -> str:
        try:
            return str(marked(name).get_attribute("textContent") or "")
        except Exception:  # re-rendered between find and read
            return ""

    with screenshot_on_failure(driver, "deployments-airflow-tab"):
        driver.get(with_token(f"{server}/pipeline/{info.id}"))
        wait_for(lambda: count(driver, ".vue-flow__node") == 2, "the pipeline on the canvas", timeout=60)
        show_airflow_tab(driver)
        wait_for(lambda: "No Airflow deployment yet" in text_of("deployment-status"), "the empty tab's hint")

        open_dialog(driver, "add-deployment", "Name")
        type_in(driver, "Name", "laptop")
        type_in(driver, "API URL", airflow.url)
        choose(driver, "Sign in with", "password")
        type_in(driver, "User (for password)", airflow.user)
        type_in(driver, "Token or password from", f"file:{secret}")
        click("add-deployment-save")

        status = wait_for(
            lambda: (text := text_of("deployment-status")).startswith("laptop:") and text,
            "the deployed version",
            timeout=WAIT,
        )
        # (``airflow up`` serves the pipeline localized for this machine, so its content hash differs from
        # the saved version's and the line goes on to say so.)
        assert status.startswith("laptop: remote_demo v1 (the latest export)"), text_of("deployment-error")
        assert airflow.password not in stored(airflow)

        if text_of("deployment-pause").strip() == "Unpause":  # new DAGs start paused
            click("deployment-pause")
            wait_for(lambda: text_of("deployment-pause").strip() == "Pause", "the DAG unpaused", timeout=60)
        (airflow.project / "flaky.marker").unlink(missing_ok=True)  # flaky fails on its first try
        click("deployment-trigger")
        type_in(driver, "rows (integer)", "4")
        click("trigger-start")
        wait_for(lambda: "conf {'rows': 4}" in text_of("deployment-runs"), "the triggered run in the list", timeout=60)
        # The module's earlier runs all ended in success: a failed badge is this run's.
        wait_for(
            lambda: (count(driver, ".dagsmith-state--success"), count(driver, ".dagsmith-state--failed")) == (1, 1),
            "say's success and flaky's failure on the canvas",
            timeout=WAIT,
        )
        click("deployment-clear")  # the scheduler retries flaky, which succeeds on its second try
        wait_for(
            lambda: count(driver, ".dagsmith-state--success") == 2, "both tasks' success on the canvas", timeout=WAIT
        )

        def finished_row() -> bool:
            click("deployment-refresh")
            rows = driver.find_elements(By.CSS_SELECTOR, "[data-dagsmith='deployment-run']")
            return any(
                "success ·" in (t := str(row.get_attribute("textContent"))) and "conf {'rows': 4}" in t for row in rows
            )

        wait_for(finished_row, "the run listed as a success", timeout=60, interval=2)
        assert text_of("deployment-error") == ""


def choose(driver: Any, label: str, option: str) -> None:
    """Open the select labelled ``label`` and click ``option`` in its menu, as a person does."""
    from selenium.webdriver.common.by import By

    xpath = f"//label[.//div[contains(@class,'q-field__label') and normalize-space()='{label}']]"
    field = wait_for(lambda: driver.find_element(By.XPATH, xpath), f"the select {label!r}")
    field.click()
    item = f"//div[contains(@class,'q-menu')]//div[contains(@class,'q-item')][normalize-space()='{option}']"
    wait_for(lambda: driver.find_element(By.XPATH, item), f"the option {option!r}").click()
    wait_for(
        lambda: option in str(driver.find_element(By.XPATH, xpath).get_attribute("textContent")), f"{option!r} chosen"
    )


def show_airflow_tab(driver: Any) -> None:
    """Click the Airflow tab under the canvas and wait until its panel has slid in.

    The tab panels are animated: a click on the panel's + while it still slid in was taken by the browser
    (no error) and opened no dialog, which failed this module's browser test when it ran after the others
    (the machine was busier then); the screenshot showed the right page with the dialog missing.
    """
    from selenium.webdriver.common.by import By

    show_tab(driver, "Airflow", timeout=60)
    wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, "[data-dagsmith='add-deployment']").is_displayed(),
        "the Airflow panel",
    )


def open_dialog(driver: Any, button: str, field: str) -> None:
    """Click the button marked ``button`` until its dialog shows the input ``field``.

    A click lost all the same (a re-render under load) is clicked again, as a person would.
    """
    from selenium.webdriver.common.by import By

    def opened() -> bool:
        with suppress(Exception):  # not there yet, or re-rendered between find and click
            driver.find_element(By.CSS_SELECTOR, f"[data-dagsmith='{button}']").click()
        return dialog_input(driver, field, timeout=3) is not None  # raises if it did not open: click again

    wait_for(opened, f"the dialog of {button} to open", timeout=60, interval=0.5)


def dialog_input(driver: Any, label: str, timeout: float = 15) -> Any:
    """The input labelled ``label`` in the open dialog (the inspector has fields of the same names)."""
    from selenium.webdriver.common.by import By

    xpath = (
        "//div[contains(@class,'q-dialog')]"
        f"//label[.//div[contains(@class,'q-field__label') and normalize-space()='{label}']]//input"
    )
    return wait_for(lambda: driver.find_element(By.XPATH, xpath), f"the input {label!r} in the dialog", timeout)


def type_in(driver: Any, label: str, text: str) -> None:
    """Type ``text`` key by key into the dialog's input ``label`` once it takes the click (it may still open)."""

    def typed() -> bool:
        type_into(driver, dialog_input(driver, label), text)
        return True

    wait_for(typed, f"the input {label!r} to take the typing")
