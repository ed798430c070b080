"""The runs panel: the pipeline's local runs, one run's tasks with their logs, and what it produced.

Selecting a run shows its task states on the canvas. A run's details link to its MLflow runs and
model versions (in the tracking server's UI, or in the workspace's own MLflow UI, started on request),
its gate decisions, the Bentos it built, where it serves, the runs it triggered, and the artifacts it stored
with their manifests, to download (``run_artifacts``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nicegui import run, ui

from ..canvas import PipelineCanvas
from ..run_services import LocalRuns, record_states
from ..runs import RunHandle, Services
from ..runs.mlflow_links import Resolved, resolve, server_base
from ..runs.records import seconds_between, task_key
from ..runs.workspace import redact
from ..services import UserError
from ..session import EditorSession
from .log_dialog import LogDialog
from .run_artifacts import RunArtifacts

STATE_COLORS = {
    "queued": "grey-7",
    "running": "primary",
    "success": "positive",
    "failed": "negative",
    "skipped": "grey-5",
    "cancelled": "warning",
}


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"


def _scores(metrics: Any) -> str:
    """`` (val_auc: candidate 0.8996, champion 0.91)`` from a gate's reported metrics."""
    if not isinstance(metrics, dict):
        return ""
    parts = []
    for who in ("candidate", "champion"):
        value = metrics.get(who)
        parts.append(f"{who} {value:.4g}" if isinstance(value, int | float) else f"{who} none")
    return f" ({metrics.get('metric', 'metric')}: {', '.join(parts)})"


def live_tasks(handle: RunHandle) -> list[dict[str, Any]]:
    """A running run's task instances in the shape of a record's ``tasks``."""
    return [
        {
            "task_id": event.task_id,
            "map_index": event.map_index,
            "node": event.node,
            "state": event.state,
            "duration": seconds_between(event.start, event.end),
            "log": str(event.log),
        }
        for event in sorted(handle.tasks().values(), key=lambda event: (event.start or "~", event.key))
    ]


class RunsPanel:
    """The run history of one pipeline, and the details of the run selected (or going on)."""

    def __init__(self, runs: LocalRuns, pipeline_id: int, session: EditorSession, canvas: PipelineCanvas) -> None:
        self.runs = runs
        self.pipeline_id = pipeline_id
        self.session = session
        self.canvas = canvas
        self.live: RunHandle | None = None
        self.listed: str | None = None  # the live run's state as the list shows it
        self.shown: dict[str, Any] | None = None  # the record shown (a live run's record has no tasks yet)
        self.tasks: list[dict[str, Any]] = []
        with ui.row().classes("w-full no-wrap items-start gap-4"):
            with ui.column().classes("gap-1").style("min-width: 320px; max-width: 360px"):
                with ui.row().classes("items-center gap-1"):
                    ui.label("Local runs").classes("text-subtitle2")
                    ui.button(icon="refresh", on_click=self.refresh).props("flat dense round").tooltip("Refresh")
                    ui.button(icon="layers_clear", on_click=lambda: self.canvas.set_states({})).props(
                        "flat dense round"
                    ).mark("clear-states").tooltip("Clear the task states from the canvas")
                self.list = ui.list().props("dense separator").classes("w-full").mark("run-list")
            self.detail = ui.column().classes("grow gap-1").mark("run-detail")
        self.logs = LogDialog()
        self.refresh()

    # -- the list -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the history again and redraw the list."""
        try:
            history = self.runs.history(self.pipeline_id, self.session.pipeline.dag_id)
        except (OSError, UserError) as exc:
            history = []
            ui.notify(f"Could not read the run history: {exc}", type="warning")
        self.list.clear()
        self.listed = None
        with self.list:
            if not history:
                ui.item_label("No runs yet: press Run in the header.").props("caption").classes("q-pa-sm")
            for record in history[:50]:
                live = self.live is not None and self.live.id == record.get("id") and not self.live.done
                state = self.live.state if live and self.live is not None else str(record.get("state"))
                if live:
                    self.listed = state
                took = seconds_between(record.get("started"), record.get("ended"))
                with (
                    ui.item(on_click=lambda r=record: self.select(r["dag_id"], r["id"]))
                    .props("clickable")
                    .mark(f"run-{record['id']}")
                ):
                    with ui.item_section().props("side"):
                        ui.badge(state, color=STATE_COLORS.get(state, "grey-7"))
                    with ui.item_section():
                        ui.item_label(str(record["id"]))
                        started = str(record.get("started") or "")[:19].replace("T", " ")
                        how = "triggered" if record.get("triggered_by") else "started"
                        ui.item_label(f"{how} {started}" + (f" · {_seconds(took)}" if took else "")).props("caption")

    def select(self, dag_id: str, run_id: str) -> None:
        """Show a run from the history (on the canvas too when it is this pipeline's)."""
        try:
            record = self.runs.record(self.pipeline_id, dag_id, run_id)
        except UserError as exc:
            ui.notify(str(exc), type="warning")
            return
        if self.live is not None and run_id == self.live.id and not self.live.done:
            self.show_live(self.live)
            return
        self.show_record(record, record.get("tasks") or [])
        if dag_id == self.session.pipeline.dag_id or dag_id in self.runs.ran_as(self.pipeline_id):
            self.canvas.set_states(record_states(record))  # a run of this pipeline (perhaps before a rename)

    # -- a run's details ----------------------------------------------------------------------------
    def show_live(self, handle: RunHandle) -> None:
        """Follow a run in progress (called on every change of its task states)."""
        if self.live is None or self.live.id != handle.id or self.listed != handle.state:
            self.live = handle  # a new run, or its state changed since it was listed (queued -> running)
            self.refresh()
        try:
            record = handle.record()
        except (OSError, ValueError):
            record = {"id": handle.id, "dag_id": handle.dag_id}
        record["state"] = handle.state
        self.show_record(record, live_tasks(handle))

    def ended(self, handle: RunHandle, record: dict[str, Any]) -> None:
        """The run followed live ended: list it, show its record."""
        self.live = None
        self.refresh()
        self.show_record(record, record.get("tasks") or [])

    def show_record(self, record: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
        self.shown, self.tasks = record, tasks
        nodes = self.session.pipeline.node_map()
        state = str(record.get("state"))
        self.detail.clear()
        with self.detail:
            with ui.row().classes("items-center gap-2"):
                ui.badge(state, color=STATE_COLORS.get(state, "grey-7")).mark("run-state")
                ui.label(f"{record.get('dag_id')} · {record.get('id')}").classes("text-subtitle2")
                took = seconds_between(record.get("started"), record.get("ended"))
                if took is not None:
                    ui.label(f"took {_seconds(took)}").classes("text-caption")
                if record.get("conf"):
                    ui.label(f"parameters {record['conf']}").classes("text-caption")
            parent = record.get("triggered_by")
            if isinstance(parent, dict) and parent.get("run"):
                ui.button(
                    f"triggered by {parent.get('dag_id')}: run {parent['run']}",
                    on_click=lambda p=parent: self.select(str(p["dag_id"]), str(p["run"])),
                ).props("flat dense no-caps size=sm").mark("run-triggered-by")
            if record.get("error"):
                ui.label(str(record["error"])).classes("text-negative text-caption whitespace-pre-wrap")
            with ui.grid(columns="auto auto auto auto auto").classes("gap-x-4 gap-y-0 items-center").mark("run-tasks"):
                for task in tasks:
                    key = task_key(str(task["task_id"]), int(task["map_index"]))
                    node = nodes.get(str(task.get("node") or ""))
                    ui.badge(str(task["state"]), color=STATE_COLORS.get(str(task["state"]), "grey-7"))
                    ui.label(key).classes("font-mono text-xs")
                    ui.label(node.display_name if node else "").classes("text-caption")
                    ui.label(_seconds(task.get("duration"))).classes("text-caption")
                    ui.button(
                        "log", on_click=lambda t=key, p=task["log"]: self.logs.show(f"Log of {t}", {t: Path(p)})
                    ).props("flat dense size=sm").mark(f"run-log-{key}")
            self._links(record)
            if record.get("airflow_run_id") and state not in ("queued", "running"):
                RunArtifacts(record, self.pipeline_id)  # what the run stored, from the manifests in its store

    def _links(self, record: dict[str, Any]) -> None:
        found = record.get("links") or {}
        for gate in found.get("gates", []):
            verdict = "passed: the candidate was promoted" if gate["passed"] else "failed: the champion keeps serving"
            ui.label(f"gate {gate['task']}: {verdict}{_scores(gate.get('metrics'))}").classes("text-caption").mark(
                "run-gate"
            )
        for item in found.get("monitors", []):
            verdict = "retraining triggered" if item["trigger"] else "no retraining needed"
            ui.label(f"monitor {item['task']}: {verdict} {item.get('metrics') or ''}").classes("text-caption")
        for bento in found.get("bentos", []):
            ui.label(f"Bento {bento['tag']} (built by {bento['task']})").classes("text-caption")
        for deployment in found.get("deployments", []):
            with ui.row().classes("items-center gap-1 text-caption"):
                ui.label(f"{deployment.get('name')} serves at")
                ui.link(deployment["url"], deployment["url"], new_tab=True).mark("run-deployment")
        for item in record.get("triggered") or []:
            if item.get("run"):
                ui.button(
                    f"triggered {item['dag_id']}: run {item['run']}",
                    on_click=lambda i=item: self.select(i["dag_id"], i["run"]),
                ).props("flat dense no-caps size=sm").mark("run-triggered")
        if found.get("mlflow_runs") or found.get("model_versions"):
            self.mlflow = ui.column().classes("gap-0").mark("run-mlflow")
            ui.timer(0, lambda: self._mlflow(record), once=True)

    # -- MLflow -----------------------------------------------------------------------------------
    def _tracking(self, record: dict[str, Any], project_id: int) -> tuple[str, bool]:
        """The tracking URI to ask (the record's has no password) and whether it is the embedded store."""
        workspace = self.runs.workspace(project_id)
        services = Services.from_env(workspace)
        recorded = str(record.get("tracking_uri") or services.tracking_uri)
        uri = services.tracking_uri if redact(services.tracking_uri) == recorded else recorded
        return uri, uri == workspace.mlflow_uri

    async def _mlflow(self, record: dict[str, Any], *, open_ui: bool = False) -> None:
        container = self.mlflow
        project_id = self.runs.project_of(self.pipeline_id)
        uri, embedded = self._tracking(record, project_id)
        container.clear()
        with container:
            ui.spinner(size="sm")
        base = server_base(uri)
        error = None
        if base is None and embedded:
            try:
                base = await run.io_bound(lambda: self.runs.mlflow_ui(project_id, start=open_ui))
            except (RuntimeError, OSError) as exc:
                error = f"the MLflow UI could not start: {exc}"
        found: Resolved | None = await run.io_bound(resolve, uri, record.get("links") or {}, base)
        if found is None or container.is_deleted:
            return
        container.clear()
        with container:
            ui.label("MLflow").classes("text-subtitle2")
            for problem in (error, found.error):
                if problem:
                    ui.label(problem).classes("text-warning text-caption whitespace-pre-wrap")
            for item in found.runs:
                text = f"run {item.name or item.run_id} ({item.task})"
                metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(item.metrics.items()))
                with ui.row().classes("items-center gap-2 text-caption"):
                    if item.url:
                        ui.link(text, item.url, new_tab=True).mark("mlflow-run-link")
                    else:
                        ui.label(text).mark("mlflow-run")
                    ui.label(metrics)
            for version in found.versions:
                aliases = " ".join("@" + alias for alias in version.aliases)
                text = f"model {version.name} v{version.version} {aliases}".rstrip()
                with ui.row().classes("items-center gap-2 text-caption"):
                    if version.url:
                        ui.link(text, version.url, new_tab=True).mark("mlflow-version-link")
                    else:
                        ui.label(text).mark("mlflow-version")
                    ui.label(f"registered by {version.task}")
            if base is None and embedded:
                ui.button(
                    "Open the MLflow UI", icon="open_in_new", on_click=lambda: self._mlflow(record, open_ui=True)
                ).props("flat dense no-caps size=sm").mark("open-mlflow-ui").tooltip(
                    "Start MLflow's UI over this workspace's store (on 127.0.0.1) to follow these links"
                )

    # -- logs from the canvas -----------------------------------------------------------------------
    def open_node_log(self, node_id: str) -> None:
        """Show the logs of a node's tasks in the run shown (the state badge on the canvas was clicked)."""
        logs = {
            task_key(str(task["task_id"]), int(task["map_index"])): Path(task["log"])
            for task in self.tasks
            if task.get("node") == node_id
        }
        node = self.session.pipeline.node(node_id)
        name = node.display_name if node else node_id
        if node is not None:  # the node's own task first, its helper tasks (joins, gate branches) after
            main = node.task_id()
            logs = dict(sorted(logs.items(), key=lambda item: item[0].split("[", 1)[0] != main))
        if not logs:
            ui.notify(f"{name} has no task in the run shown yet", type="info")
            return
        self.logs.show(f"Log of {name}", logs)
