"""The pipeline editor page: palette, canvas, inspector, problems and export, bound to one session.

Python owns the graph: canvas events become session operations; after every change the canvas,
the problems panel and the inspector are updated and the draft is saved.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nicegui import background_tasks, ui

from dagsmith.nodes import Issue, Pipeline, Position

from ..canvas import (
    EdgeRequested,
    LayoutComputed,
    NodeMoved,
    PipelineCanvas,
    SelectionChanged,
    canvas_edge,
    canvas_node,
    layout,
    needs_layout,
)
from ..canvas.placement import Box, free_point, node_box, relative_boxes
from ..services import EditorServices
from ..session import Change, EditorSession, Refusal
from .bottom_panels import BottomPanels
from .canvas_hint import EmptyCanvasHint
from .deployments_panel import DeploymentsTab
from .export_panel import ExportPanel
from .extras import CommentDialog, NotebookView, download_document
from .health import health_button
from .inspector import Inspector
from .live_merge import LiveMerge
from .palette import Palette
from .read_only import AIRFLOW_ACTIONS, hide_marked, show_read_only
from .run_history import RunsPanel
from .theme import remember_choice, remembered_choice, remembering_dark_mode
from .title import pipeline_title

PALETTE_COOKIE = "dagsmith_palette"
INSPECTOR_COOKIE = "dagsmith_inspector"
"""Cookies keeping whether the side panels are shown (hidden panels give the canvas their width)."""


class Workbench:
    """Everything on the editor page for one pipeline."""

    def __init__(
        self, services: EditorServices, pipeline_id: int, pipeline: Pipeline, name: str, revision: int | None = None
    ) -> None:
        """``revision``: the draft revision ``pipeline`` was loaded at; saves then refuse to overwrite a draft
        another tab or window saved meanwhile (None: no such check)."""
        self.services = services
        self.pipeline_id = pipeline_id
        if needs_layout(pipeline):  # e.g. an imported file without positions: lay it out once
            for node_id, point in layout(pipeline).items():
                node = pipeline.node(node_id)
                if node is not None:
                    node.position = Position(x=point["x"], y=point["y"])
        self.session = EditorSession(pipeline)
        self.session.guard = services.edit_guard(pipeline_id)  # a team server's role check before each change
        self.read_only = services.read_only_reason(pipeline_id)  # a viewer's page offers no editing (read_only.py)
        # A keystroke's work stays small on a large pipeline: validation runs in a worker thread, and the
        # draft saver takes a shallow copy on the event loop and serialises it in its worker thread.
        self.session.validate_in_background(
            lambda work: background_tasks.create(work, name="dagsmith-validate", context=self.saved)
        )
        # Saves the draft against the revision this page knows; another tab's saves are merged in live.
        self.live = LiveMerge(services, pipeline_id, self.session, revision, on_saved=self.draft_saved,
                              on_failed=self.draft_failed)  # fmt: skip
        self.drafts = self.live.drafts
        self.clipboard_boxes: list[Box] = []  # the copied nodes' rectangles, for placing a paste
        self.shown_issues: list[Issue] | None = None  # the issues the canvas and problems panel show
        self.canvas: PipelineCanvas
        self.inspector: Inspector
        self.build(name)
        self.drafts.context = self.live.context = self.saved
        self.live.canvas, self.live.inspector = self.canvas, self.inspector
        self.live.on_merged = self.show_name
        # The other pages of this pipeline here wait for this page's saves when they open, and hear of them.
        self.drafts.join(services.store, pipeline_id)
        ui.context.client.on_delete(self.drafts.leave)
        self.session.subscribe(self.changed)
        self.show_issues()

    # -- layout ----------------------------------------------------------------------------------------
    def build(self, name: str) -> None:
        palette_toggle, inspector_toggle = self.build_header(name)
        self.build_panels(palette_toggle, inspector_toggle)
        with ui.column().classes("w-full no-wrap gap-0").style("height: calc(100vh - 64px)"):
            EmptyCanvasHint(self.session)  # "Drag a step from the palette…" over the canvas while it is empty
            self.canvas = PipelineCanvas(read_only=bool(self.read_only)).classes("w-full").mark("canvas")
            self.canvas.style("flex: 1 1 auto; min-height: 300px")
            self.bottom = BottomPanels(
                self.services,
                self.pipeline_id,
                self.session,
                self.canvas,
                run_slot=self.run_slot,
                on_pick=self.pick_issue,
            )
            self.run_controls = self.bottom.run_controls
            self.remote = DeploymentsTab(  # the "Airflow" tab: this pipeline on the project's deployments
                self.bottom.runs_tab,
                self.bottom.panels,
                services=self.services,
                pipeline_id=self.pipeline_id,
                session=self.session,
                canvas=self.canvas,
            )
            if self.read_only:  # no trigger, pause, clear or new deployment either
                hide_marked(self.bottom.panels, AIRFLOW_ACTIONS)
        self.canvas.on_ready(self.reload_canvas)
        self.canvas.on_node_dropped(lambda e: self.add(e["kind"], e["x"], e["y"]))
        self.canvas.on_node_moved(self.moved)
        self.canvas.on_edge_requested(self.connect)
        self.canvas.on_delete_requested(lambda e: self.session.delete(e.get("node_ids", ()), e.get("edge_ids", ())))
        self.canvas.on_selection_changed(self.selected)
        self.canvas.on_node_clicked(lambda e: self.clicked(e["id"]))
        self.canvas.on_state_clicked(lambda e: self.remote.state_clicked(e["id"], self.runs.open_node_log))
        self.canvas.on_pane_clicked(lambda: self.show_form(None))
        self.canvas.on_copy_requested(lambda e: self.copy(e.get("node_ids", ())))
        self.canvas.on_paste_requested(lambda e: self.paste(e["x"], e["y"]))
        self.canvas.on_undo_requested(self.undo)
        self.canvas.on_layout_computed(self.laid_out)
        self.canvas.on_redo_requested(self.redo)
        self.export = ExportPanel(
            self.services,
            self.session,
            self.pipeline_id,
            self.version_saved,
            before_save=self.draft_current,
            merge_base=lambda: self.live.base,
        )
        self.comments = CommentDialog(self.session)
        self.notebooks = NotebookView()
        self.inspector.on_view_notebook = self.view_notebook
        self.inspector.project_roots = self.project_roots
        self.inspector.browser.run_workspace = self.bottom.run_workspace  # Browse MLflow reads the runs' MLflow
        self.update_buttons()

    def build_header(self, name: str) -> tuple[ui.button, ui.button]:
        """The header's controls (a read-only page hides those that edit); the two panel toggles."""
        dark = remembering_dark_mode()  # the choice survives a reload
        with ui.header().classes("items-center gap-2 q-py-xs"):
            palette_toggle = ui.button(icon="menu").props("flat dense color=white").mark("toggle-palette")
            ui.link("dagsmith", "/").classes("text-white text-bold no-underline")
            self.title = ui.label(name).classes("text-subtitle1").mark("pipeline-name")
            ui.page_title(pipeline_title(name, dirty=False))  # the desktop window's title too
            ui.space()
            self.undo_button = ui.button(icon="undo", on_click=self.undo).props("flat color=white").mark("undo")
            self.undo_button.props("aria-label=Undo").tooltip("Undo (Ctrl+Z)")
            self.redo_button = ui.button(icon="redo", on_click=self.redo).props("flat color=white").mark("redo")
            self.redo_button.props("aria-label=Redo").tooltip("Redo (Ctrl+Shift+Z)")
            layout_button = ui.button(icon="account_tree", on_click=self.auto_layout).props("flat color=white")
            layout_button.tooltip("Auto-layout")
            ui.button(icon="fit_screen", on_click=lambda: self.canvas.fit_view()).props("flat color=white").tooltip(
                "Fit view"
            )
            ui.button(icon="settings", on_click=lambda: self.inspector.select(None)).props("flat color=white").mark(
                "open-settings"
            ).tooltip("Pipeline settings")
            comment_button = ui.button(icon="sticky_note_2", on_click=self.add_comment).props("flat color=white")
            comment_button.mark("add-comment").tooltip("Add a comment (attached to the selected nodes)")
            ui.button(icon="download", on_click=lambda: download_document(self.session.pipeline)).props(
                "flat color=white"
            ).mark("download-document").tooltip("Download the pipeline document (.dagsmith.json)")
            health_button(self.pipeline_id)  # the model health page (monitored metric over versions)
            ui.button(icon="dark_mode", on_click=dark.toggle).props("flat color=white").tooltip("Dark mode")
            self.saved = ui.label("saved").classes("text-caption").mark("save-state")
            self.run_slot = ui.element("div")
            export_button = ui.button("Export", icon="upload", on_click=self.open_export).mark("open-export")
            export_button.props("color=white text-color=primary")
            if self.read_only:
                editing = (self.undo_button, self.redo_button, layout_button, comment_button, self.saved)
                show_read_only(self.read_only, (*editing, self.run_slot, export_button, palette_toggle))
            inspector_toggle = ui.button(icon="vertical_split").props("flat dense color=white").mark("toggle-inspector")
        return palette_toggle, inspector_toggle

    def build_panels(self, palette_toggle: ui.button, inspector_toggle: ui.button) -> None:
        """The palette (left) and the inspector (right), each shown or hidden as this browser last chose."""
        show_palette = remembered_choice(PALETTE_COOKIE, True)
        show_inspector = remembered_choice(INSPECTOR_COOKIE, True)
        with ui.left_drawer(value=show_palette and not self.read_only, bordered=True).props("width=260") as left:
            if not self.read_only:  # a viewer gets no palette (its toggle is hidden too)
                Palette(self.add_at_center)
        with ui.right_drawer(value=show_inspector, bordered=True).props("width=380") as right:
            self.inspector = Inspector(self.session, read_only=bool(self.read_only))
        for button, drawer, cookie, what in (
            (palette_toggle, left, PALETTE_COOKIE, "palette"),
            (inspector_toggle, right, INSPECTOR_COOKIE, "inspector"),
        ):
            button.props(f"aria-label='Show or hide the {what}'").tooltip(f"Show or hide the {what}")
            button.on_click(lambda d=drawer, c=cookie: self.toggle_panel(d, c))

    @property
    def runs(self) -> RunsPanel:
        """The runs tab's content (built the first time it is needed: ``BottomPanels.runs``)."""
        return self.bottom.runs

    # -- canvas requests --------------------------------------------------------------------------------
    def clicked(self, item_id: str) -> None:
        if self.session.pipeline.node(item_id) is not None:
            self.inspector.select(item_id)
        elif not self.read_only:  # a comment's text shows on its card; its dialog edits it
            self.comments.open(item_id)

    def add_comment(self) -> None:
        viewport = self.canvas.viewport or {"x": 0.0, "y": 0.0, "zoom": 1.0}
        zoom = viewport["zoom"] or 1.0
        selected = [n for n in self.canvas.selection.get("nodes", []) if self.session.pipeline.node(n)]
        comment = self.session.add_comment(
            "New comment", (60 - viewport["x"]) / zoom, (60 - viewport["y"]) / zoom, selected
        )
        self.comments.open(comment.id)

    def project_roots(self) -> list[Path]:
        """Where the project's files live locally (notebooks, Feast repositories): its git checkout."""
        checkout = self.services.project_checkout(self.services.store.get_pipeline(self.pipeline_id).project_id)
        return [checkout] if checkout else []

    async def view_notebook(self, notebook: str) -> None:
        await self.notebooks.show(notebook, self.project_roots())

    def add(self, kind: str, x: float, y: float) -> None:
        result = self.session.add_node(kind, x, y)
        if isinstance(result, Refusal):
            ui.notify(result.message, type="warning")
            return
        self.inspector.select(result.id)
        self.canvas.select([result.id])

    def add_at_center(self, kind: str) -> None:
        viewport = self.canvas.viewport or {"x": 0.0, "y": 0.0, "zoom": 1.0}
        zoom = viewport["zoom"] or 1.0
        count = len(self.session.pipeline.nodes)
        self.add(kind, (200 - viewport["x"]) / zoom + 30 * (count % 5), (150 - viewport["y"]) / zoom + 30 * (count % 5))

    def moved(self, payload: NodeMoved) -> None:
        nodes = payload.get("nodes") or [{"id": payload["id"], "x": payload["x"], "y": payload["y"]}]
        self.session.move_nodes({n["id"]: (float(n["x"]), float(n["y"])) for n in nodes})

    def connect(self, payload: EdgeRequested) -> None:
        result = self.session.request_edge(
            payload["source"], payload["source_port"], payload["target"], payload["target_port"]
        )
        if isinstance(result, Refusal):
            self.canvas.reject_connection(result.message)

    def selected(self, payload: SelectionChanged) -> None:
        nodes = payload.get("nodes") or []
        self.show_form(nodes[0] if len(nodes) == 1 else None)

    def show_form(self, node_id: str | None) -> None:
        """Show the form of what the canvas selected, unless it is shown already: a selection event that
        changes nothing (e.g. the canvas's first, empty one after a large pipeline was drawn) must not
        draw the form again under a user who is typing in it."""
        if node_id != self.inspector.node_id or not self.inspector.forms:
            self.inspector.select(node_id)

    def copy(self, node_ids: Iterable[str]) -> None:
        wanted = set(node_ids)
        copied = [n for n in self.session.pipeline.nodes if n.id in wanted]
        if self.session.copy(n.id for n in copied):
            self.clipboard_boxes = relative_boxes(copied)

    def paste(self, x: float, y: float) -> None:
        # Never on top of other nodes: moved down and right until the pasted nodes cover none.
        existing = [node_box(n) for n in self.session.pipeline.nodes]
        x, y = free_point(x, y, self.clipboard_boxes, existing)
        new_ids = self.session.paste(x, y)
        if new_ids:
            self.canvas.select(new_ids)

    def undo(self) -> None:
        if self.session.undo() is None:
            ui.notify("Nothing to undo")

    def redo(self) -> None:
        if self.session.redo() is None:
            ui.notify("Nothing to redo")

    def toggle_panel(self, drawer: ui.left_drawer | ui.right_drawer, cookie: str) -> None:
        """Show or hide a side panel (the canvas takes the room), and remember the choice in this browser."""
        drawer.toggle()
        remember_choice(cookie, bool(drawer.value))

    def auto_layout(self) -> None:
        """ELK's layered layout, computed in the browser from the drawn sizes; ``laid_out`` stores it."""
        self.canvas.request_layout()

    def laid_out(self, payload: LayoutComputed) -> None:
        self.session.apply_layout({n["id"]: (float(n["x"]), float(n["y"])) for n in payload.get("nodes") or []})
        self.canvas.fit_view()

    def pick_issue(self, issue: Issue) -> None:
        if issue.node is not None and self.session.pipeline.node(issue.node) is not None:
            self.canvas.select([issue.node], [issue.edge] if issue.edge else [])
            self.inspector.select(issue.node)
            self.inspector.focus(issue.field)
        elif issue.field and issue.field.startswith("settings."):
            self.inspector.select(None)
            self.inspector.focus(issue.field.removeprefix("settings."))

    async def open_export(self) -> None:
        await self.export.open()

    def version_saved(self, number: int) -> None:
        ui.notify(f"Version v{number} saved", type="positive")
        self.live.pull()  # the version may hold changes another page saved meanwhile (merged): show them

    # -- after every change -----------------------------------------------------------------------------
    def changed(self, change: Change) -> None:
        pipeline = self.session.pipeline
        if change.kind in ("issues", "merge"):  # a background validation finished, or another tab's changes
            # were merged in (``LiveMerge`` showed them, and saves what this page adds to them)
            self.inspector.refresh(rebuild=False)
            self.show_issues()
            return
        if change.kind == "add":
            for node_id in change.node_ids:
                node = pipeline.node(node_id)
                if node is not None:
                    self.canvas.add_node(canvas_node(node))
        elif change.kind == "connect":
            nodes = pipeline.node_map()
            for edge in pipeline.edges:
                if edge.id in change.edge_ids:
                    source = nodes.get(edge.source)
                    self.canvas.add_edge(canvas_edge(edge, canvas_node(source) if source else None))
        elif change.kind == "delete":
            self.canvas.remove_elements(change.node_ids, change.edge_ids)
            self.inspector.refresh(rebuild=False)
        elif change.kind in ("reload", "graph"):
            self.reload_canvas()
            self.inspector.refresh(rebuild=change.kind == "reload")
        elif change.kind == "node":
            nodes = pipeline.node_map()
            for node_id in change.node_ids:
                if node_id in nodes:
                    self.canvas.update_node(canvas_node(nodes[node_id]))
            self.reload_edges_if_ports_changed(change)
            self.inspector.refresh(rebuild=False)
        elif change.kind == "layout":
            nodes = pipeline.node_map()
            self.canvas.apply_layout(
                {i: {"x": nodes[i].position.x, "y": nodes[i].position.y} for i in change.node_ids if i in nodes},
                fit=False,
            )
        elif change.kind == "settings":
            self.title.set_text(pipeline.settings.name)
            self.inspector.refresh(rebuild=False)
        self.show_issues()
        self.update_buttons()
        self.saved.set_text("saving…")
        self.show_title(dirty=True)
        self.drafts.request()

    async def draft_current(self) -> None:
        """Wait for the draft to hold this page's document (before a version is made from it)."""
        await self.live.settled()

    def show_title(self, *, dirty: bool) -> None:
        """The page's (and the desktop window's) title; inside this page's slot, since a change may come
        from a background task (validation, another tab's merge) that has no slot of its own."""
        with self.saved:
            ui.page_title(pipeline_title(self.session.pipeline.settings.name, dirty=dirty))

    def show_name(self) -> None:
        self.title.set_text(self.session.pipeline.settings.name)

    def draft_saved(self, revision: int) -> None:
        if not self.drafts.pending:
            self.saved.set_text("saved")
            self.show_title(dirty=False)

    def draft_failed(self, error: Exception) -> None:
        self.saved.set_text("not saved")
        ui.notify(
            f"The draft could not be saved ({type(error).__name__}: {error}). Your changes stay in this page; "
            "the next change tries again. Download the document to keep a copy.",
            type="negative",
            multi_line=True,
        )

    def reload_edges_if_ports_changed(self, change: Change) -> None:
        self.live.reload_edges(change.node_ids)  # edge colours follow port types

    def reload_canvas(self) -> None:
        # Only the canvas: the problems panel is already current (built in __init__, or by changed()).
        self.canvas.load_pipeline(self.session.pipeline, viewport=self.canvas.viewport)
        self.canvas.show_issues(self.session.issues)

    def show_issues(self) -> None:
        if self.session.issues is self.shown_issues:
            return  # e.g. a keystroke while its validation runs in the background: nothing new to show
        self.shown_issues = self.session.issues
        self.canvas.show_issues(self.session.issues)
        self.bottom.problems.show(self.session.issues, self.session.pipeline)

    def update_buttons(self) -> None:
        self.undo_button.set_enabled(self.session.can_undo)
        self.redo_button.set_enabled(self.session.can_redo)
