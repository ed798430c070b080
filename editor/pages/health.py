"""The model health page (``/pipeline/{id}/health``): the monitored metric over versions, from MLflow.

For each model the pipeline's Monitor, Model gate and Register model nodes name: a chart of the metric
the monitoring step logs (one series per version, the Monitor's threshold as a line, the retraining
triggers as markers, and a vertical line where a version took over the Monitor's alias), the status in
words, who held the alias when, and a per-version table (created, the gate's metric, aliases, whether the
gate's rule passes it). MLflow is read off the event loop with a timeout (``decay_reader.read_health``);
an unreachable or unconfigured MLflow shows the message that names it. Opening the page needs what
opening the pipeline needs (a team server: the viewer role in its project).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from typing import Any

from nicegui import run, ui

from dagsmith.nodes import Pipeline

from ..integrations import ComponentUnavailable, Configured, HealthReport, health_location, read_health
from ..integrations.decay import ModelHealth, Panel
from ..integrations.decay_watch import has_monitoring
from ..runs.workspace import redact
from ..services import EditorServices, UserError

NO_MONITOR = (
    "This pipeline has no Monitor or Model gate node, so there is no model health to show. Add a Monitor node "
    "(Monitor family in the palette): set the registered model's name (or connect a Register model or Model gate), "
    "the metric your monitoring step logs, its threshold and the retraining DAG. Its measurements then show here."
)


TOOLTIP = (
    "p => `${p.seriesName}<br>${new Date(p.value[0]).toISOString().slice(0, 16).replace('T', ' ')} UTC: "
    "${p.value[1]}${p.name ? '<br>' + p.name : ''}`"
)
"""A point's tooltip: its series, its time in UTC and its value, and a trigger's run (the point's name)."""


def health_button(pipeline_id: int) -> ui.button:
    """The pipeline page's toolbar button that opens this page."""
    button = ui.button(icon="monitor_heart", on_click=lambda: ui.navigate.to(f"/pipeline/{pipeline_id}/health"))
    return button.props("flat color=white aria-label='Model health'").mark("open-health").tooltip("Model health")


def when(seconds: float) -> str:
    """A moment as ``YYYY-MM-DD HH:MM UTC``."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def chart_options(panel: Panel) -> dict[str, Any]:
    """The ECharts options of a monitor's chart: a line per version, the threshold, triggers and takeovers."""
    watch = panel.watch
    series: list[dict[str, Any]] = [
        {
            "name": f"v{version}",
            "type": "line",
            "showSymbol": True,
            "data": [[round(at * 1000), value] for at, value in points],
        }
        for version, points in panel.series.items()
    ]
    times = [at for points in panel.series.values() for at, _ in points] + [t.time for t in panel.triggers]
    takeovers = [
        {
            "xAxis": round(span.start * 1000),
            "name": f"v{span.version} @{span.alias}",
            "lineStyle": {"color": "#888", "type": "dotted"},
            "label": {"formatter": f"v{span.version} @{span.alias}"},
        }
        for span in panel.spans[1:]
    ]
    if times and not math.isnan(watch.threshold):  # a series, not a mark: the legend can hide it
        series.append(
            {
                "name": f"threshold (retrain {watch.trigger_when} {watch.threshold:g})",
                "type": "line",
                "showSymbol": False,
                "lineStyle": {"color": "#c10015", "type": "dashed"},
                "itemStyle": {"color": "#c10015"},
                "data": [[round(min(times) * 1000), watch.threshold], [round(max(times) * 1000), watch.threshold]],
                "markLine": {"symbol": "none", "silent": True, "data": takeovers},
            }
        )
    series.append(
        {
            "name": "retraining triggered",
            "type": "scatter",
            "symbol": "triangle",
            "symbolSize": 14,
            "itemStyle": {"color": "#f2c037"},
            "data": [
                {
                    "name": f"run {trigger.triggered_run_id or trigger.run_id}",
                    "value": [round(trigger.time * 1000), watch.threshold if trigger.value is None else trigger.value],
                }
                for trigger in panel.triggers
            ],
        }
    )
    return {
        "animation": False,
        "tooltip": {"trigger": "item", ":formatter": TOOLTIP},
        "legend": {"data": [item["name"] for item in series]},
        "xAxis": {"type": "time"},
        "yAxis": {"type": "value", "name": watch.metric, "scale": True},
        "series": series,
    }


class HealthView:
    """The page's content: where MLflow was read, a reload button, and one card per watched model."""

    def __init__(self, services: EditorServices, pipeline_id: int, project_id: int, pipeline: Pipeline) -> None:
        self.services = services
        self.pipeline_id = pipeline_id
        self.project_id = project_id
        self.pipeline = pipeline
        with ui.row().classes("items-center w-full q-px-md q-pt-md"):
            ui.label(f"Model health: {pipeline.settings.name or pipeline.dag_id}").classes("text-h6")
            ui.space()
            ui.link("Back to the pipeline", f"/pipeline/{pipeline_id}").mark("health-back")
            self.reload = ui.button("Reload", icon="refresh", on_click=self.load).props("flat").mark("health-reload")
        self.where = ui.label("").classes("text-caption q-px-md").mark("health-where")
        self.body = ui.column().classes("w-full q-pa-md gap-4")
        self._request = 0

    async def load(self) -> None:
        """Read MLflow (off the event loop, bounded in time) and draw what it holds, or the message."""
        self._request += 1
        request = self._request
        self.body.clear()
        if not has_monitoring(self.pipeline):
            with self.body:
                ui.label(NO_MONITOR).classes("text-body1").mark("health-empty")
            return
        with self.body:
            ui.spinner().mark("health-loading")
        location: Configured | None = None
        try:
            location = await asyncio.to_thread(self._locate)
            self.where.set_text(f"MLflow: {redact(location.location)} (from {location.source})")
            found = await run.io_bound(read_health, location.location, self.pipeline, source=location.source)
            if found is None:  # the app is shutting down
                return
            result: HealthReport | str = found
        except ComponentUnavailable as exc:
            result = exc.message
        except Exception as exc:  # whatever goes wrong in MLflow must not break the page
            result = f"MLflow cannot be read: {str(exc) or type(exc).__name__}"
        if request != self._request:
            return  # a reload asked again meanwhile: its answer draws
        if isinstance(result, str) and location is not None:  # a team's viewers see no password in the URI
            result = result.replace(location.location, redact(location.location))
        self.body.clear()
        with self.body:
            if isinstance(result, str):
                ui.label(result).classes("text-negative").mark("health-error")
                return
            for model in result.models:
                self.model_card(model)

    def _locate(self) -> Configured:
        home = self.services.runs.runs_home(self.project_id)  # a team server: the project's own runs only
        return health_location(self.pipeline, home.workspace, own_only=home.own_only)

    def model_card(self, model: ModelHealth) -> None:
        """A model's card: each monitor's status and chart, who held the alias when, the version table."""
        with ui.card().classes("w-full").mark(f"health-model-{model.name}"):
            ui.label(model.name).classes("text-h6")
            if model.note:
                ui.label(model.note).classes("text-caption").mark(f"health-note-{model.name}")
            for panel in model.panels:
                self.panel(model.name, panel)
            self.versions(model)

    def panel(self, name: str, panel: Panel) -> None:
        """A monitor's status, chart, triggers and alias holders."""
        watch = panel.watch
        colour = "text-positive" if panel.healthy else "text-negative"
        with ui.row().classes("items-center gap-2"):
            ui.icon("check_circle" if panel.healthy else "warning").classes(colour)
            ui.label(panel.status).classes("text-body1").mark(f"health-status-{name}-{watch.node}")
        ui.label(
            f"Monitor {watch.node!r}: {watch.metric} from the experiment {watch.experiment!r}; retrains "
            f"{watch.retrain_dag_id} when {watch.trigger_when} {watch.threshold:g}; cooldown {watch.cooldown_hours:g} h"
        ).classes("text-caption")
        if panel.series or panel.triggers:
            ui.echart(chart_options(panel)).classes("w-full h-72").mark(f"health-chart-{name}-{watch.node}")
        for trigger in panel.triggers:
            ui.label(
                f"Retraining of {trigger.retrain_dag_id} triggered {when(trigger.time)}: "
                f"run {trigger.triggered_run_id or '?'} (MLflow run {trigger.run_id})"
            ).classes("text-caption").mark("health-trigger")
        for span in panel.spans:
            how = (
                "recorded"
                if span.recorded
                else "from the registry"
                if not span.inferred
                else "inferred from the monitoring runs"
            )
            held = f"held @{span.alias} from {when(span.start)} until {when(span.end)}" if span.end is not None else ""
            held = held or f"holds @{span.alias} since {when(span.start)}"
            ui.label(f"v{span.version} {held} ({how})").classes("text-caption").mark("health-alias")

    def versions(self, model: ModelHealth) -> None:
        """The per-version table."""
        if not model.versions:
            return
        metric = model.gate_metric
        columns = [
            {"name": "version", "label": "Version", "field": "version", "align": "left"},
            {"name": "created", "label": "Created", "field": "created", "align": "left"},
            {"name": "metric", "label": metric or "Gate metric", "field": "metric", "align": "right"},
            {"name": "aliases", "label": "Aliases", "field": "aliases", "align": "left"},
            {"name": "gate", "label": "Gate", "field": "gate", "align": "left"},
        ]
        outcome = {True: "passed", False: "failed", None: "no gate" if metric is None else "no metric logged"}
        rows = [
            {
                "version": f"v{row.version}",
                "created": when(row.created),
                "metric": "—" if row.metric is None else f"{row.metric:g}",
                "aliases": ", ".join("@" + alias for alias in row.aliases) or "—",
                "gate": outcome[row.passed],
            }
            for row in reversed(model.versions)
        ]
        ui.table(columns=columns, rows=rows, row_key="version").classes("w-full").mark(f"health-versions-{model.name}")


async def health_page(services: EditorServices, pipeline_id: int) -> None:
    """Build the page for ``pipeline_id`` (what opening it needs, checked off the event loop); MLflow is read after."""
    try:
        info, pipeline, _ = await asyncio.to_thread(services.open_draft, pipeline_id)
    except UserError as exc:
        ui.label(str(exc)).classes("text-negative q-pa-md")
        ui.link("Back to the pipelines", "/")
        return
    ui.page_title(f"{info.name}: model health")
    view = HealthView(services, info.id, info.project_id, pipeline)
    ui.timer(0.0, view.load, once=True)  # the page shows at once; MLflow's answer follows
