"""The Run button: a dialog to start a local run, then live task states on the canvas until it ends.

The run goes on in the workspace's runner process; its handle follows the run's events from a thread.
A page timer reads the handle's task states (thread-safe) and shows each node's state on the canvas
and in the runs panel, so the event loop is never blocked and nothing runs on the follower thread.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import run, ui

from dagsmith.nodes import RuntimeParam

from ..canvas import PipelineCanvas
from ..run_services import LocalRuns, RunSettings, handle_states, parse_param, record_states
from ..runs import RunHandle
from ..services import UserError
from ..session import EditorSession

POLL_SECONDS = 0.3
ADOPT_SECONDS = 2.0

_ENDED = {"success": "positive", "failed": "negative", "cancelled": "warning"}


class RunDialog:
    """Where the steps run and the run-time parameters of one run; ``on_start(settings)`` starts it."""

    def __init__(self, on_start: Callable[[RunSettings], Awaitable[str | None]]) -> None:
        self.on_start = on_start
        self.params: list[RuntimeParam] = []
        self.inputs: dict[str, Any] = {}
        self.dialog = ui.dialog().mark("run-dialog")
        with self.dialog, ui.card().style("min-width: 560px"):
            ui.label("Run locally").classes("text-h6")
            ui.label(
                "Runs the pipeline on this machine with Airflow, MLflow, Feast and BentoML "
                "(embedded in the project's workspace unless the environment names real servers)."
            ).classes("text-caption")
            self.folder = (
                ui.input(
                    "Project folder",
                    placeholder="/path/to/the/steps/code",
                )
                .classes("w-full")
                .mark("run-project-dir")
            )
            self.folder.props('hint="The steps run here: their scripts, notebooks and feature repos"')
            self.form = ui.column().classes("w-full gap-1")
            self.error = ui.label().classes("text-negative text-caption").mark("run-error")
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=self.dialog.close).props("flat")
                self.start_button = ui.button("Start", icon="play_arrow", on_click=self._start).mark("run-start")

    def open(self, settings: RunSettings, params: list[RuntimeParam]) -> None:
        """Show the dialog filled with the pipeline's last settings and its parameters' defaults."""
        self.params = params
        self.folder.set_value(settings.project_dir)
        self.error.set_text("")
        self.form.clear()
        self.inputs = {}
        with self.form:
            if params:
                ui.label("Run-time parameters").classes("text-subtitle2 q-mt-sm")
            for param in params:
                value = settings.conf.get(param.name, param.default)
                label = f"{param.name} ({param.type})"
                marker = f"run-param-{param.name}"
                widget: Any
                if param.type == "boolean":
                    widget = ui.checkbox(label, value=bool(value))
                elif param.enum:
                    widget = ui.select([*param.enum], label=label, value=value if value in param.enum else None)
                elif param.type in ("array", "object"):
                    widget = ui.textarea(label, value="" if value is None else json.dumps(value))
                else:
                    widget = ui.input(label, value="" if value is None else str(value))
                widget.classes("w-full").mark(marker)
                if param.description:
                    widget.tooltip(param.description)
                self.inputs[param.name] = widget
        self.dialog.open()

    def settings(self) -> RunSettings:
        """The settings as entered; ValueError names the parameter and says what to enter."""
        conf = {}
        for param in self.params:
            value = parse_param(param, self.inputs[param.name].value)
            if value is not None:
                conf[param.name] = value
        return RunSettings(project_dir=(self.folder.value or "").strip(), conf=conf)

    async def _start(self) -> None:
        try:
            settings = self.settings()
        except ValueError as exc:
            self.error.set_text(str(exc))
            return
        self.start_button.props("loading")
        try:
            message = await self.on_start(settings)
        finally:
            self.start_button.props(remove="loading")
        if message:
            self.error.set_text(message)
        else:
            self.dialog.close()


class RunControls:
    """The header's Run/Stop button and the live following of the pipeline's current run."""

    def __init__(
        self,
        runs: LocalRuns,
        pipeline_id: int,
        session: EditorSession,
        canvas: PipelineCanvas,
        *,
        on_progress: Callable[[RunHandle], None],
        on_end: Callable[[RunHandle, dict[str, Any]], None],
    ) -> None:
        self.runs = runs
        self.pipeline_id = pipeline_id
        self.session = session
        self.canvas = canvas
        self.on_progress = on_progress
        self.on_end = on_end
        self.handle: RunHandle | None = None
        self.shown: dict[str, str] = {}
        with ui.button("Run", icon="play_arrow", on_click=self.clicked).props("flat color=white") as self.button:
            self.tip = ui.tooltip("Run the pipeline on this machine")
        self.button.mark("run-pipeline")
        self.dialog = RunDialog(self.start)
        self.timer = ui.timer(POLL_SECONDS, self.poll, active=False)
        self.watch = ui.timer(ADOPT_SECONDS, self.adopt)
        self.adopt()  # the page was opened again while its run goes on

    def adopt(self) -> None:
        """Follow a run of this pipeline that another page (tab) of this editor started."""
        if self.running:
            return
        current = self.runs.active(self.pipeline_id)
        if current is not None and current is not self.handle:
            self.follow(current)

    @property
    def running(self) -> bool:
        return self.handle is not None and not self.handle.done

    async def clicked(self) -> None:
        if self.running:
            await self.stop()
            return
        settings = await run.io_bound(self.runs.settings, self.pipeline_id)
        if settings is None:  # the app is shutting down
            return
        self.dialog.open(settings, list(self.session.pipeline.settings.params))

    async def start(self, settings: RunSettings) -> str | None:
        """Start the run; the message to show in the dialog when it cannot start."""
        pipeline = self.session.pipeline.model_copy(deep=True)
        try:
            handle = await run.io_bound(self.runs.start, self.pipeline_id, pipeline, settings)
        except UserError as exc:
            return str(exc)
        if handle is None:  # the app is shutting down
            return None
        ui.notify(f"Run {handle.id} started", type="info")
        self.follow(handle)
        return None

    async def stop(self) -> None:
        if self.handle is not None:
            await run.io_bound(self.handle.cancel)
            ui.notify(f"Stopping run {self.handle.id}…")

    def follow(self, handle: RunHandle) -> None:
        """Show this run's states live until it ends."""
        self.handle = handle
        self.shown = {}
        self.canvas.set_states(self._over_queued({}))
        self.button.set_text("Stop")
        self.button.props("icon=stop").mark("stop-run")
        self.tip.set_text("Stop the run (servers already serving keep serving)")
        self.timer.activate()
        self.on_progress(handle)

    def _over_queued(self, states: dict[str, str]) -> dict[str, str]:
        """``states`` over a queued badge on every node (a node without a task event yet waits)."""
        return {**{node.id: "queued" for node in self.session.pipeline.nodes}, **states}

    def poll(self) -> None:
        handle = self.handle
        if handle is None:
            self.timer.deactivate()
            return
        done = handle.done  # read first: every event is handled before done is set
        states = handle_states(handle)
        if states != self.shown:
            self.shown = states
            self.canvas.set_states(self._over_queued(states))
            self.on_progress(handle)
        if done:
            self.timer.deactivate()
            self.ended(handle)

    def ended(self, handle: RunHandle) -> None:
        try:
            record = handle.record()
        except (OSError, ValueError):
            record = {"id": handle.id, "state": handle.state}
        states = record_states(record)
        if states:
            self.canvas.set_states(states)
        state = str(record.get("state"))
        ui.notify(
            f"Run {handle.id}: {state}" + (f" ({record['error']})" if record.get("error") else ""),
            type=_ENDED.get(state, "info"),  # type: ignore[arg-type]
            multi_line=True,
        )
        self.button.set_text("Run")
        self.button.props("icon=play_arrow").mark("run-pipeline")
        self.tip.set_text("Run the pipeline on this machine")
        self.on_end(handle, record)
