"""The "Airflow" tab under the canvas: the pipeline being edited on the project's deployments.

For the deployment chosen: which version of the DAG it runs (from the deployed file's header) and whether
that is behind the latest export; the DAG's runs; the selected run's task states on the canvas (the badges
local runs use, refreshed every few seconds while the run goes on); each node's log from its badge;
trigger with the pipeline's typed params; clear the failed tasks; pause or unpause. Every API call runs off
the event loop, and every failure is a message in the panel, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from nicegui import run, ui

from ..canvas import PipelineCanvas
from ..deployments.client import DeploymentError, RunInfo
from ..deployments.config import Deployment, Deployments, connect
from ..deployments.service import RemotePipeline, latest_export, version_hashes
from ..services import EditorServices, UserError
from ..session import EditorSession
from .deployment_dialogs import AddDeploymentDialog, TriggerDialog
from .log_dialog import LogDialog

LIVE_SECONDS = 3.0
FINISHED = {"success", "failed"}
T = TypeVar("T")


class DeploymentsPanel:
    """The pipeline on one deployment at a time."""

    def __init__(
        self, services: EditorServices, pipeline_id: int, session: EditorSession, canvas: PipelineCanvas
    ) -> None:
        self.services = services
        self.pipeline_id = pipeline_id
        self.session = session
        self.canvas = canvas
        self.remote: RemotePipeline | None = None
        self.run_id: str | None = None
        self.run_state: str | None = None
        self.showing = False  # whether the canvas shows this panel's run states (a badge click opens its log)
        project_id = services.store.get_pipeline(pipeline_id).project_id
        self.deployments = Deployments(services.store, services.user)
        self.project_id = project_id
        self.add_dialog: AddDeploymentDialog
        with ui.row().classes("w-full items-center gap-2"):
            self.choice = ui.select([], label="Deployment", on_change=lambda: self.connect()).props("dense")
            self.choice.classes("min-w-[160px]").mark("deployment-choice")
            ui.button(icon="refresh", on_click=self.refresh).props(
                "flat dense round data-dagsmith=deployment-refresh"
            ).tooltip("Refresh")
            ui.button(icon="add", on_click=lambda: self.add_dialog.open()).props(
                "flat dense round data-dagsmith=add-deployment"
            ).mark("add-deployment").tooltip("Add an Airflow deployment to the project")
            self.status = ui.label().classes("text-caption").props("data-dagsmith=deployment-status")
            self.status.mark("deployment-status")
            ui.space()
            self.pause_button = ui.button("Pause", on_click=self.toggle_pause).props("flat dense no-caps")
            self.pause_button.props("data-dagsmith=deployment-pause").mark("deployment-pause")
            self.clear_button = ui.button("Clear failed", icon="restart_alt", on_click=self.clear_failed)
            self.clear_button.props("flat dense no-caps data-dagsmith=deployment-clear").mark("deployment-clear")
            ui.button("Trigger", icon="play_arrow", on_click=self.open_trigger).props(
                "dense no-caps data-dagsmith=deployment-trigger"
            ).mark("deployment-trigger")
        self.error = ui.label().classes("text-negative text-caption").props("role=alert data-dagsmith=deployment-error")
        self.error.mark("deployment-error")
        self.list = ui.list().props("dense separator data-dagsmith=deployment-runs").classes("w-full")
        self.list.mark("deployment-runs")
        self.timer = ui.timer(LIVE_SECONDS, self.follow, active=False)
        self.trigger_dialog = TriggerDialog(self.trigger)
        self.log_dialog = LogDialog("remote-log")
        self.add_dialog = AddDeploymentDialog(self.add)
        self.load_deployments()

    # -- deployments ---------------------------------------------------------------------------------
    def load_deployments(self) -> None:
        try:
            names = [d.name for d in self.deployments.list(self.project_id)]
        except Exception as exc:
            self.error.set_text(str(exc))
            return
        self.choice.set_options(names, value=None)  # connected when the tab is first shown (``activate``)
        if not names:
            project = self.services.store.get_project(self.project_id).name
            self.status.set_text(
                "No Airflow deployment yet. Add one with + or: dagsmith deployments add NAME --url URL "
                f"--secret env:VAR --project {json.dumps(project)}"
            )

    def add(self, name: str, url: str, *, api_version: str, auth: str, user: str, secret_ref: str) -> Deployment:
        """Add a deployment (the dialog shows the error naming the field) and connect to it."""
        added = self.deployments.add(
            self.project_id, name, url, api_version=api_version, auth=auth, user=user, secret_ref=secret_ref
        )
        self.load_deployments()
        self.choice.set_value(added.name)  # its change handler connects
        return added

    async def activate(self) -> None:
        """The tab is shown: connect to the first deployment the first time, else refresh."""
        if self.choice.value is None and self.choice.options:
            self.choice.set_value(self.choice.options[0])  # its change handler connects
        else:
            await self.refresh()

    def deployment(self) -> Deployment | None:
        name = self.choice.value
        return self.deployments.get(self.project_id, name) if name else None

    async def call(self, work: Callable[[], T]) -> T | None:
        """``work`` off the event loop; a failure is shown in the panel and gives None."""
        try:
            result = await run.io_bound(work)
        except DeploymentError as exc:
            self.error.set_text(str(exc))
            return None
        except Exception as exc:
            self.error.set_text(f"{type(exc).__name__}: {exc}")
            return None
        self.error.set_text("")
        return result

    async def connect(self) -> None:
        self.remote, self.run_id = None, None
        self.list.clear()
        try:
            deployment = self.deployment()
        except DeploymentError as exc:
            self.error.set_text(str(exc))
            return
        if deployment is None:
            return
        store, pipeline_id = self.services.store, self.pipeline_id
        latest, hashes = latest_export(store, pipeline_id), version_hashes(store, pipeline_id)
        self.remote = await self.call(
            lambda: RemotePipeline(connect(deployment), self.session.pipeline, latest=latest, hashes=hashes)
        )
        if self.remote is not None:  # else ``call`` showed why (refresh would only connect again)
            await self.refresh()

    async def refresh(self) -> None:
        """The deployed version, paused or not, and the runs."""
        if self.remote is None:
            if self.choice.value:
                await self.connect()
            return
        remote = self.remote
        remote.pipeline = self.session.pipeline  # the nodes as edited now
        status = await self.call(remote.status)
        if status is None:
            self.status.set_text("")
            return
        self.status.set_text(status.describe())
        self.pause_button.set_text("Unpause" if status.paused else "Pause")
        runs = await self.call(lambda: remote.runs(15))
        self.show_runs(runs or [])
        if self.run_id is None and runs:
            await self.select(runs[0].run_id)

    def show_runs(self, runs: list[RunInfo]) -> None:
        self.list.clear()
        with self.list:
            for item in runs:
                with (
                    ui.item(on_click=lambda r=item.run_id: self.select(r))
                    .props("clickable data-dagsmith=deployment-run")
                    .mark("deployment-run")
                ):
                    with ui.item_section():
                        ui.item_label(item.run_id).classes("text-caption")
                        ui.item_label(f"{item.state} · {item.when[:19]} · conf {item.conf}").props("caption")

    # -- a run on the canvas -------------------------------------------------------------------------
    async def select(self, run_id: str) -> None:
        self.run_id = run_id
        await self.follow()

    async def follow(self) -> None:
        """Show the selected run's node states; keep following while it goes on."""
        remote, run_id = self.remote, self.run_id
        if remote is None or run_id is None:
            self.timer.deactivate()
            return
        found = await self.call(lambda: (remote.api.run(remote.dag_id, run_id), remote.tasks(run_id)))
        if found is None:
            self.timer.deactivate()
            return
        info, tasks = found
        self.canvas.set_states(remote.node_states(tasks))
        self.showing = True
        self.run_state = info.state
        if info.state in FINISHED:
            self.timer.deactivate()
        else:
            self.timer.activate()

    async def open_node_log(self, node_id: str) -> None:
        """The logs of a node's tasks in the selected run (its state badge was clicked)."""
        remote, run_id = self.remote, self.run_id
        if remote is None or run_id is None:
            return
        logs = await self.call(lambda: remote.node_logs(run_id, node_id))
        node = self.session.pipeline.node(node_id)
        name = node.display_name if node else node_id
        if logs is None:
            return
        if not logs:
            ui.notify(f"{name} has no task in run {run_id}", type="info")
            return
        self.log_dialog.show(f"Log of {name} on {remote.api.name}", logs)

    # -- actions -------------------------------------------------------------------------------------
    def refused(self, action: str) -> str | None:
        """Why this user may not ``action`` (``run``) the pipeline on a deployment, shown in the panel; None: may.

        Checked on the server for each trigger, clear and pause: a viewer's page hides those buttons, and a
        forged click is refused here (and logged by a team server).
        """
        try:
            self.services.require(self.pipeline_id, action)
        except UserError as exc:
            self.error.set_text(str(exc))
            return str(exc)
        return None

    def open_trigger(self) -> None:
        if self.remote is None:
            self.error.set_text("choose a deployment first (none is connected)")
            return
        self.trigger_dialog.open(self.session.pipeline.settings.params)

    async def trigger(self, values: dict[str, Any]) -> str | None:
        remote = self.remote
        if remote is None:
            return "no deployment is connected"
        if (why := self.refused("run")) is not None:
            return why
        remote.pipeline = self.session.pipeline
        try:
            started = await run.io_bound(lambda: remote.trigger(values))
        except DeploymentError as exc:
            return str(exc)
        if started is None:
            return "the deployment gave no run back; refresh the runs"
        ui.notify(f"Triggered {started.run_id} on {remote.api.name}", type="positive")
        self.run_id = started.run_id
        await self.refresh()
        await self.follow()
        return None

    async def clear_failed(self) -> None:
        remote, run_id = self.remote, self.run_id
        if remote is None or run_id is None:
            self.error.set_text("select a run first")
            return
        if self.refused("run") is not None:
            return
        cleared = await self.call(lambda: remote.clear(run_id))
        if cleared:
            ui.notify(f"Cleared {', '.join(cleared)}: the scheduler runs them again", type="positive")
            await self.follow()

    async def toggle_pause(self) -> None:
        remote = self.remote
        if remote is None or self.refused("run") is not None:
            return
        pause = self.pause_button.text == "Pause"
        paused = await self.call(lambda: remote.set_paused(pause))
        if paused is not None:
            self.pause_button.set_text("Unpause" if paused else "Pause")
            await self.refresh()


class DeploymentsTab:
    """The "Airflow" tab added beside the problems and runs tabs under the canvas.

    Added after ``beside`` (a tab of the bottom ``ui.tabs``), with its panel in ``panels`` (their
    ``ui.tab_panels``). A state badge clicked on the canvas opens the remote log while this tab is shown and
    its run's states are on the canvas; else ``fallback``.
    """

    def __init__(
        self,
        beside: ui.tab,
        panels: ui.tab_panels,
        *,
        services: EditorServices,
        pipeline_id: int,
        session: EditorSession,
        canvas: PipelineCanvas,
    ) -> None:
        self.panels = panels
        tabs = beside.parent_slot.parent if beside.parent_slot else None
        if not isinstance(tabs, ui.tabs):
            raise TypeError("the Airflow tab goes beside a tab of a ui.tabs")
        with tabs:
            self.tab = ui.tab("airflow", label="Airflow").mark("tab-airflow")
        with panels, ui.tab_panel(self.tab).classes("q-pa-none"):
            with ui.scroll_area().classes("w-full").style("height: 190px"):
                self.panel = DeploymentsPanel(services, pipeline_id, session, canvas)
        panels.on_value_change(lambda e: self.panel.activate() if self.shown(e.value) else None)

    def shown(self, value: Any) -> bool:
        """Whether ``value`` (the panels' value: a tab or its name) is this tab."""
        return value is self.tab or value == "airflow"

    def state_clicked(self, node_id: str, fallback: Callable[[str], Any]) -> Any:
        """A node's state badge was clicked: its log on the deployment, or ``fallback`` (the local run's log)."""
        if self.shown(self.panels.value) and self.panel.showing:
            return self.panel.open_node_log(node_id)
        return fallback(node_id)
