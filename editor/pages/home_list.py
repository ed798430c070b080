"""The start page's pipeline list: search, open, rename and delete (after a confirmation)."""

from __future__ import annotations

from nicegui import ui

from ..services import EditorServices, UserError
from ..store import PipelineInfo


class PipelineList:
    """The pipelines of every project, filtered by a search box; each with rename and delete buttons."""

    def __init__(self, services: EditorServices) -> None:
        self.services = services
        self.query = ""
        ui.input(placeholder="Search pipelines by name or dag_id", on_change=self.search).props(
            'clearable dense outlined aria-label="Search pipelines" debounce=150'
        ).classes("w-full").mark("pipeline-search")
        self.lists = ui.column().classes("w-full gap-2")
        self.dialogs = ui.element("div")  # outside the lists, which each search or change redraws
        self.draw()

    def search(self, event: object) -> None:
        value = getattr(event, "value", "")
        self.query = (value or "").strip().lower()
        self.draw()

    def matches(self, info: PipelineInfo) -> bool:
        return not self.query or self.query in info.name.lower() or self.query in info.dag_id.lower()

    def draw(self) -> None:
        self.lists.clear()
        with self.lists:
            shown = 0
            for project in self.services.projects():
                ui.label(project.name).classes("text-subtitle2 q-mt-sm")
                pipelines = [info for info in self.services.listing(project.id) if self.matches(info)]
                shown += len(pipelines)
                editable = self.services.project_read_only_reason(project.id) is None  # a viewer: no rename, delete
                with ui.list().props("bordered separator").classes("w-full").mark("pipeline-list"):
                    for info in pipelines:
                        self.item(info, editable=editable)
                    if not pipelines:
                        with ui.item(), ui.item_section():
                            ui.item_label("No pipeline matches" if self.query else "No pipelines yet").props("caption")
            if self.query and not shown:
                ui.label(f"No pipeline matches {self.query!r}").classes("text-caption").mark("no-match")

    def item(self, info: PipelineInfo, *, editable: bool = True) -> None:
        with (
            ui.item(on_click=lambda i=info.id: ui.navigate.to(f"/pipeline/{i}"))
            .props("clickable")
            .mark(f"pipeline-{info.id}")
        ):
            with ui.item_section():
                ui.item_label(info.name).mark("pipeline-name")
                ui.item_label(f"dag_id {info.dag_id} · updated {info.updated_at:%Y-%m-%d %H:%M}").props("caption")
            if not editable:
                return
            with ui.item_section().props("side"), ui.row().classes("gap-0 no-wrap"):
                ui.button(icon="edit", on_click=lambda i=info: self.rename(i)).props(
                    f'flat round dense aria-label="Rename {info.name}"'
                ).on("click.stop", js_handler="() => {}").tooltip("Rename").mark(f"rename-{info.id}")
                ui.button(icon="delete", on_click=lambda i=info: self.delete(i)).props(
                    f'flat round dense color=negative aria-label="Delete {info.name}"'
                ).on("click.stop", js_handler="() => {}").tooltip("Delete").mark(f"delete-{info.id}")

    def rename(self, info: PipelineInfo) -> None:
        with self.dialogs, ui.dialog() as dialog, ui.card().classes("q-pa-md").style("min-width: 360px"):
            ui.label(f"Rename {info.name!r}").classes("text-h6")
            name = ui.input("New name", value=info.name).props("autofocus").classes("w-full").mark("rename-input")

            def save() -> None:
                try:
                    renamed = self.services.rename(info.id, name.value or "")
                except UserError as exc:
                    ui.notify(str(exc), type="negative", multi_line=True)
                    return
                ui.notify(f"Renamed to {renamed.name!r} (dag_id {renamed.dag_id})", type="positive")
                self.draw()
                dialog.close()

            name.on("keydown.enter", save)
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Rename", on_click=save).mark("rename-save")
        dialog.on_value_change(lambda e: None if e.value else dialog.delete())
        dialog.open()

    def delete(self, info: PipelineInfo) -> None:
        versions = len(self.services.store.list_versions(info.id))
        saved = f" and its {versions} saved version{'s' if versions != 1 else ''}" if versions else ""
        with self.dialogs, ui.dialog() as dialog, ui.card().classes("q-pa-md").style("max-width: 440px"):
            ui.label(f"Delete {info.name!r}?").classes("text-h6")
            ui.label(
                f"Its draft{saved} are deleted from dagsmith; this cannot be undone. "
                "DAG files already committed to git stay there."
            ).classes("text-body2")

            def confirm() -> None:
                try:
                    name = self.services.delete(info.id)
                except UserError as exc:
                    ui.notify(str(exc), type="negative", multi_line=True)
                else:
                    ui.notify(f"Deleted {name!r}", type="positive")
                    self.draw()
                dialog.close()

            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=dialog.close).props("flat").mark("delete-cancel")
                ui.button("Delete", on_click=confirm).props("color=negative").mark("delete-confirm")
        dialog.on_value_change(lambda e: None if e.value else dialog.delete())
        dialog.open()
