"""Under the canvas: the problems and runs tabs; and the Run button (in the header's slot) wired to them.

A run's progress switches to the runs tab the first time it reports, and its end lands in the runs list.
The runs tab's content (which reads the run history) is built the first time the tab is shown or a run needs it,
not with every page: most page opens never look at it.
"""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from dagsmith.nodes import Issue

from ..canvas import PipelineCanvas
from ..integrations import RunsHome
from ..runs import RunHandle
from ..services import EditorServices
from ..session import EditorSession
from .problems import ProblemsPanel
from .run_history import RunsPanel
from .run_panel import RunControls


class BottomPanels:
    """The problems and runs tabs under the canvas, and the Run button built into ``run_slot``."""

    def __init__(
        self,
        services: EditorServices,
        pipeline_id: int,
        session: EditorSession,
        canvas: PipelineCanvas,
        *,
        run_slot: ui.element,
        on_pick: Callable[[Issue], None],
    ) -> None:
        self.services = services
        self.pipeline_id = pipeline_id
        with (
            ui.tabs()
            .props("dense align=left")
            .classes("w-full")
            .style("border-top: 1px solid rgba(128,128,128,.3)") as tabs
        ):
            problems_tab = ui.tab("problems", label="Problems").mark("tab-problems")
            self.runs_tab = ui.tab("runs", label="Runs").mark("tab-runs")
        with ui.tab_panels(tabs, value=problems_tab).classes("w-full") as self.panels:
            with ui.tab_panel(problems_tab).classes("q-pa-none"):
                with ui.scroll_area().classes("w-full").style("height: 190px"):
                    self.problems = ProblemsPanel(on_pick)
            with ui.tab_panel(self.runs_tab).classes("q-pa-none"):
                self.runs_area = ui.scroll_area().classes("w-full").style("height: 190px")
        self._runs: RunsPanel | None = None
        self._runs_of = (services.runs, pipeline_id, session, canvas)
        self.panels.on_value_change(lambda e: self._shown(e.value))
        with run_slot:
            self.run_controls = RunControls(
                services.runs,
                pipeline_id,
                session,
                canvas,
                on_progress=self.run_progress,
                on_end=lambda handle, record: self.runs.ended(handle, record),
            )

    @property
    def runs(self) -> RunsPanel:
        """The runs tab's content, built the first time it is shown or needed."""
        if self._runs is None:
            with self.runs_area:
                self._runs = RunsPanel(*self._runs_of)
        return self._runs

    def _shown(self, tab: object) -> None:
        if tab in ("runs", self.runs_tab):
            self.runs  # noqa: B018  (built now: the tab shows it)

    def run_progress(self, handle: RunHandle) -> None:
        """A run goes on: show it in the runs tab."""
        if self.runs.live is None:
            self.panels.set_value(self.runs_tab)
        self.runs.show_live(handle)

    def run_workspace(self) -> RunsHome:
        """Where the Run button's runs live (their MLflow database; a team server's project: that folder only)."""
        runs = self.services.runs
        return runs.runs_home(runs.project_of(self.pipeline_id))
