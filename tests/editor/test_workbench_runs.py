"""The Run button, live node states, task logs and the run history, through NiceGUI's simulated user.

The runs are real: the workbench starts them with Airflow in a workspace under a temporary DAGSMITH_HOME;
the steps are two small scripts, the second one failing when asked to.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.canvas import PipelineCanvas
from dagsmith.editor.pages import Workbench
from dagsmith.editor.run_services import RunSettings
from dagsmith.editor.runs import stop_runner
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Node, Pipeline, PipelineSettings, RuntimeParam

pytestmark = pytest.mark.slow
TIMEOUT = 300


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs-home")


@pytest.fixture
def environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The editor's environment: its own home, nothing from the developer's MLflow or Airflow."""
    for key in list(os.environ):
        if key.startswith(("MLFLOW_", "AIRFLOW", "DAGSMITH_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DAGSMITH_HOME", str(home))
    monkeypatch.setenv("DAGSMITH_RUNNER_IDLE", "120")
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")
    monkeypatch.setenv("FEAST_USAGE", "False")
    yield
    for workspace in (home / "workspace").glob("project-*"):
        stop_runner(workspace)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The steps' code: ``a.py`` writes a file and reports; ``b.py`` fails when the parameter says so."""
    (tmp_path / "a.py").write_text(
        "import os, pathlib, time\nprint('step a says hello', flush=True)\ntime.sleep(2)\n"
        "out = pathlib.Path(os.environ['DAGSMITH_OUTPUT_OUT'])\n"
        "out.parent.mkdir(parents=True, exist_ok=True)\nout.write_text('a')\n"
    )
    (tmp_path / "b.py").write_text(
        "import sys, time\nprint('step b got', sys.argv[1:], flush=True)\n"
        "time.sleep(300 if '--slow' in sys.argv else 0)\nsys.exit(3 if '--fail' in sys.argv else 0)\n"
    )
    return tmp_path


def _pipeline() -> Pipeline:
    return Pipeline(
        settings=PipelineSettings(
            name="Two steps",
            default_image="registry.example.com/x:1",
            params=[RuntimeParam(name="mode", type="string", default="ok", enum=["ok", "fail", "slow"])],
        ),
        nodes=[
            Node(id="a", type="script", params={"script": "a.py", "outputs": [{"name": "out", "type": "dataset"}]}),
            Node(
                id="b",
                type="script",
                params={
                    "script": "b.py",
                    "arguments": ["--{{ params.mode }}"],
                    "inputs": [{"name": "data", "type": "dataset"}],
                },
            ),
        ],
        edges=[{"id": "e1", "source": "a", "source_port": "out", "target": "b", "target_port": "data"}],
    )


class Bench:
    def __init__(self, user: User, bench: Workbench) -> None:
        self.user, self.bench = user, bench
        self.states: list[dict[str, str]] = []
        canvas: PipelineCanvas = bench.canvas

        def record(name: str, *args: Any, **_: Any) -> None:
            if name == "setStates":
                self.states.append(dict(args[0]))

        canvas.run_method = record  # type: ignore[method-assign,assignment]
        canvas._handle_ready()

    async def wait(self, condition: Any, what: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; states seen: {self.states}")
            await asyncio.sleep(0.2)


async def open_dialog(user: User, page: Bench) -> None:
    """Wait for the run dialog to be open (it is filled once the pipeline's settings are read)."""
    dialog = next(iter(user.find(marker="run-dialog").elements))
    await page.wait(lambda: dialog.value, "the run dialog to open", timeout=30)


async def open_bench(user: User, services: EditorServices) -> tuple[Bench, int]:
    info = services.create(services.local_project().id, _pipeline())
    holder: dict[str, Workbench] = {}

    @ui.page("/")
    def page() -> None:
        _, document, _ = services.open_draft(info.id)
        holder["bench"] = Workbench(services, info.id, document, info.name)

    await user.open("/")
    return Bench(user, holder["bench"]), info.id


async def test_run_from_the_editor_shows_states_logs_and_history(
    user: User, environment: None, project: Path, tmp_path: Path
) -> None:
    services = EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")
    page, pipeline_id = await open_bench(user, services)

    # The Run button asks where the code is; a missing folder is refused in the dialog, nothing starts.
    await page.wait(lambda: page.bench.run_controls.button.text == "Run", "the Run button")
    user.find(marker="run-pipeline").click()
    await open_dialog(user, page)
    user.find(marker="run-project-dir").type(str(tmp_path / "missing"))
    user.find(marker="run-start").click()
    await user.should_see("does not exist", retries=100)
    assert services.runs.latest(pipeline_id) is None

    # With the folder, the run starts: every node queued, then running, then its end state.
    user.find(marker="run-project-dir").clear().type(str(project))
    user.find(marker="run-start").click()
    await page.wait(lambda: services.runs.latest(pipeline_id) is not None, "the run to start")
    handle = services.runs.latest(pipeline_id)
    assert handle is not None
    await page.wait(lambda: handle.done and page.states and page.states[-1].get("b") == "success", "the run's end")
    assert page.states[0] == {"a": "queued", "b": "queued"}
    assert any(states.get("a") == "running" for states in page.states)
    assert any(states.get("a") == "success" and states.get("b") in ("queued", "running") for states in page.states)
    assert page.states[-1] == {"a": "success", "b": "success"}
    assert handle.record()["state"] == "success"
    assert handle.record()["conf"] == {"mode": "ok"}
    assert services.runs.settings(pipeline_id) == RunSettings(project_dir=str(project), conf={"mode": "ok"})
    await user.should_see(marker=f"run-{handle.id}", retries=50)  # listed in the runs tab

    # Clicking a node's state badge opens its task log.
    user.find(PipelineCanvas).trigger("stateClicked", {"id": "a"})
    await user.should_see("step a says hello", retries=50)

    # A second run with the failing parameter: b fails, the history lists both runs.
    await page.wait(lambda: page.bench.run_controls.button.text == "Run", "the Run button")
    user.find(marker="run-pipeline").click()
    await open_dialog(user, page)
    assert user.find(marker="run-project-dir").elements.pop().value == str(project)
    user.find(marker="run-param-mode").elements.pop().set_value("fail")
    user.find(marker="run-start").click()
    await page.wait(lambda: services.runs.latest(pipeline_id) is not handle, "the second run to start")
    second = services.runs.latest(pipeline_id)
    assert second is not None
    await page.wait(lambda: second.done and page.states[-1].get("b") == "failed", "the failed run's end")
    assert page.states[-1] == {"a": "success", "b": "failed"}
    history = services.runs.history(pipeline_id, page.bench.session.pipeline.dag_id)
    assert [record["id"] for record in history] == [second.id, handle.id]
    await user.should_see(marker=f"run-{second.id}", retries=50)

    # Selecting the first run again shows its states on the canvas; its task log is one click away.
    user.find(marker=f"run-{handle.id}").click()
    await page.wait(lambda: page.states[-1] == {"a": "success", "b": "success"}, "the first run's states")
    user.find(marker="run-log-b").click()
    await user.should_see("step b got ['--ok']", retries=50)

    # A slow run stopped with the header's Stop: the run ends cancelled, its running step failed.
    await page.wait(lambda: page.bench.run_controls.button.text == "Run", "the Run button")
    user.find(marker="run-pipeline").click()
    await open_dialog(user, page)
    user.find(marker="run-param-mode").elements.pop().set_value("slow")
    user.find(marker="run-start").click()
    await page.wait(lambda: services.runs.latest(pipeline_id) not in (handle, second), "the third run to start")
    third = services.runs.latest(pipeline_id)
    assert third is not None
    await page.wait(lambda: page.states[-1].get("b") == "running", "the slow step to run")
    user.find(marker="stop-run").click()
    await page.wait(lambda: third.done, "the stopped run's end", timeout=60)
    assert third.record()["state"] == "cancelled"
    await page.wait(lambda: page.states[-1].get("b") == "failed", "the stopped step's state")
    await user.should_see(marker="run-pipeline", retries=50)  # Stop turned back into Run

    # A run started elsewhere (another tab of this editor) is followed here as well.
    await page.wait(lambda: page.bench.run_controls.button.text == "Run", "the Run button")
    settings = RunSettings(project_dir=str(project), conf={"mode": "ok"})
    fourth = await asyncio.to_thread(services.runs.start, pipeline_id, page.bench.session.pipeline, settings)
    await page.wait(lambda: page.bench.run_controls.handle is fourth, "the page to follow it", timeout=15)
    await page.wait(lambda: fourth.done and page.states[-1] == {"a": "success", "b": "success"}, "its end")
