"""The export dialog: the generated DAG with syntax highlighting, a diff against the previous version,
download, and commit to the project's git repository."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import run, ui

from dagsmith.codegen.changes import describe_changes
from dagsmith.codegen.export_notices import export_warnings
from dagsmith.nodes import DocumentError, Pipeline

from ..services import EditorServices, UserError
from ..session import EditorSession
from ..store import NotFound


class ExportPanel:
    """A dialog bound to one pipeline's session."""

    def __init__(
        self,
        services: EditorServices,
        session: EditorSession,
        pipeline_id: int,
        on_saved: Callable[[int], None],
        *,
        before_save: Callable[[], Awaitable[None]] | None = None,
        merge_base: Callable[[], Pipeline] | None = None,
    ) -> None:
        """``before_save``: makes the stored draft hold the session's document (UserError when it cannot);
        without it, saving a version writes the draft itself. ``merge_base``: the draft the page last saved
        or loaded, over which a draft saved meanwhile by another page is merged into the version."""
        self.services = services
        self.before_save = before_save
        self.merge_base = merge_base
        self.session = session
        self.pipeline_id = pipeline_id
        self.on_saved = on_saved
        self.source = ""
        self.dialog = ui.dialog().props("maximized=false full-width").mark("export-dialog")
        with self.dialog, ui.card().classes("w-full"):
            with ui.row().classes("w-full items-center"):
                ui.label("Export").classes("text-h6")
                self.target = ui.toggle(
                    ["airflow3", "airflow2"], value="airflow3", on_change=lambda: self.refresh()
                ).mark("export-target")
                ui.space()
                ui.button(icon="close", on_click=self.dialog.close).props("flat round")
            self.status = ui.label().classes("text-caption").mark("export-status")
            # What would go wrong on the cluster (pod-local artifacts, the default service account): not blocking.
            self.warnings = ui.column().classes("w-full gap-0").mark("export-warnings")
            # What changed since the previous version, in words, above the DAG file and its text diff.
            self.changes = ui.column().classes("w-full gap-0").mark("export-changes")
            with ui.tabs() as tabs:
                code_tab = ui.tab("DAG file")
                diff_tab = ui.tab("Changes since the last version")
            with ui.tab_panels(tabs, value=code_tab).classes("w-full"):
                with ui.tab_panel(code_tab):
                    self.code = ui.code("", language="python").classes("w-full").mark("export-code")
                with ui.tab_panel(diff_tab):
                    self.diff = ui.code("", language="diff").classes("w-full").mark("export-diff")
            with ui.row().classes("w-full items-center"):
                self.message = ui.input("Commit message").classes("grow").mark("export-message")
                ui.button("Download", icon="download", on_click=self.download).mark("export-download")
                ui.button("Save version", icon="bookmark", on_click=self.save_version).mark("export-save")
                ui.button("Commit to git", icon="commit", on_click=self.commit).mark("export-commit")
            self.result = ui.label().mark("export-result")

    async def open(self) -> None:
        """Render the preview and show the dialog."""
        self.refresh()
        self.dialog.open()

    def refresh(self) -> None:
        """Render the DAG of the current working copy."""
        try:
            preview = self.services.preview(self.pipeline_id, self.session.pipeline, target=self.target.value)
        except UserError as exc:
            self.source = ""
            self.code.content = ""
            self.diff.content = ""
            self.changes.clear()
            self.warnings.clear()
            self.status.set_text(f"Cannot export yet: {exc}")
            return
        self.source = preview.source
        self.code.content = preview.source
        self.diff.content = preview.diff or "(no changes since the last version)"
        since = f"; previous version v{preview.previous_version}" if preview.previous_version else "; no version yet"
        lines = len(preview.source.splitlines())
        self.status.set_text(f"{preview.dag_id}.py, version v{preview.version}, {lines} lines{since}")
        self.show_changes(preview.previous_version, preview.version)
        self.show_warnings()

    def show_warnings(self) -> None:
        """The Kubernetes export warnings of the working copy, each naming the setting to fill in."""
        self.warnings.clear()
        with self.warnings:
            for issue in export_warnings(self.session.pipeline):
                with ui.row().classes("items-start no-wrap").props("data-dagsmith=export-warning"):
                    ui.icon("warning", color="warning")
                    ui.label(issue.message).classes("text-body2")

    def show_changes(self, previous: int | None, version: int) -> None:
        """The plain-language list of what changed since the previous saved version's document."""
        self.changes.clear()
        if previous is None:
            return
        try:
            old = self.services.store.get_version(self.pipeline_id, previous).pipeline()
        except (NotFound, DocumentError):
            return  # nothing to compare with: the text diff still says what it can
        lines = describe_changes(old, self.session.pipeline) if version != previous else []
        with self.changes:
            if not lines:
                ui.label(f"No changes since v{previous}").classes("text-caption")
                return
            ui.label(f"Changes since v{previous}:").classes("text-subtitle2")
            with ui.element("ul").classes("q-my-none q-pl-lg").style("max-height: 180px; overflow-y: auto"):
                for line in lines:
                    with ui.element("li").classes("text-body2").props("data-dagsmith=change"):
                        ui.label(line)

    def download(self) -> None:
        """Download the DAG file as shown."""
        if not self.source:
            ui.notify("Fix the problems first: the DAG cannot be generated yet", type="warning")
            return
        ui.download.content(self.source.encode(), f"{self.session.pipeline.dag_id}.py")

    async def _draft_ready(self) -> bool:
        if self.before_save is None:
            return True
        try:
            await self.before_save()
        except UserError as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return False
        return True

    async def save_version(self) -> None:
        """Save an immutable version of the working copy."""
        if not await self._draft_ready():
            return
        try:
            number = self.services.save_version(
                self.pipeline_id,
                self.session.pipeline,
                self.message.value or "",
                write_draft=self.before_save is None,
                base=self.merge_base() if self.merge_base else None,
            )
        except UserError as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        self.result.set_text(f"Saved version v{number}")
        self.on_saved(number)
        self.refresh()

    async def commit(self) -> None:
        """Save a version and commit it to the project's git repository (off the event loop)."""
        if not await self._draft_ready():
            return
        self.result.set_text("Committing…")
        try:
            outcome = await run.io_bound(
                self.services.export_to_project_git,
                self.pipeline_id,
                self.session.pipeline.model_copy(deep=True),  # read in a thread: a copy the page cannot change
                message=self.message.value or "",
                target=self.target.value,
                write_draft=self.before_save is None,
                expected=self.source or None,  # commit exactly the file shown, or refuse
                base=self.merge_base() if self.merge_base else None,
            )
        except UserError as exc:
            self.result.set_text("")
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        if outcome is None:  # the app is shutting down
            return
        number, result = outcome
        commit = (result.commit or "")[:10]
        where = f"branch {result.branch!r} ({commit})"
        if result.unchanged:
            text = f"v{result.version} of {result.dag_id} is already on {where}; nothing to commit"
        else:
            text = f"Committed v{result.version} of {result.dag_id} to {where}"
        note = result.worktree_note()
        self.result.set_text(f"{text}; {note}" if note else text)
        if result.branch != result.checked_out:
            ui.notify(note, type="warning", multi_line=True)
        self.on_saved(number)
        self.refresh()
