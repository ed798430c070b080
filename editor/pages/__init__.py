"""The editor's pages: the start page, the pipeline workbench and its model health page."""

from __future__ import annotations

import asyncio

from nicegui import ui

from ..services import EditorServices, UserError
from .drafts import saves_settled
from .health import health_page
from .home import home_page
from .workbench import Workbench

OPEN_SECONDS = 30.0
"""How long a pipeline page may take to build before NiceGUI answers HTTP 500 (its default is 3 s). A team
server under load waits for the database that long (bench_team_load: 500s at 50 users); slow beats broken."""


def register_pages(services: EditorServices) -> None:
    """Declare the editor's routes on NiceGUI's app."""

    @ui.page("/", title="dagsmith")
    def index() -> None:
        home_page(services)

    @ui.page("/pipeline/{pipeline_id}", title="dagsmith editor", response_timeout=OPEN_SECONDS)
    async def pipeline_page(pipeline_id: int) -> None:
        # A save still running in this process (e.g. the page this one reloads) lands first: this page shows it.
        # At most 2 s: a save that takes longer is announced when it lands.
        await saves_settled(services.store, pipeline_id, timeout=2.0)
        try:  # database reads (and, on a team server, the role check): off the event loop, which serves the others
            info, pipeline, revision = await asyncio.to_thread(services.open_draft, pipeline_id)
        except UserError as exc:
            ui.label(str(exc)).classes("text-negative q-pa-md")
            ui.link("Back to the pipelines", "/")
            return
        Workbench(services, info.id, pipeline, info.name, revision)

    @ui.page("/pipeline/{pipeline_id}/health", title="dagsmith model health", response_timeout=OPEN_SECONDS)
    async def pipeline_health(pipeline_id: int) -> None:
        await health_page(services, pipeline_id)  # the same check as opening the pipeline (a viewer may)


__all__ = ["Workbench", "health_page", "home_page", "register_pages"]
