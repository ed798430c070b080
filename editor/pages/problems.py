"""The problems panel: every validation issue; clicking one selects its node and focuses the field."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from dagsmith.nodes import Issue, Pipeline

ICONS = {"error": ("error", "negative"), "warning": ("warning", "warning")}


class ProblemsPanel:
    """A list of issues; ``on_pick(issue)`` is called when the user clicks one."""

    def __init__(self, on_pick: Callable[[Issue], None]) -> None:
        self.on_pick = on_pick
        self.summary = ui.label().classes("text-caption").mark("problems-summary")
        self.list = ui.list().props("dense separator").classes("w-full").mark("problems-list")
        self.issues: list[Issue] = []

    def show(self, issues: list[Issue], pipeline: Pipeline) -> None:
        """Replace the listed issues (nothing to redraw when they did not change, e.g. while typing)."""
        if issues == self.issues and self.list.default_slot.children:
            return
        self.issues = issues
        errors = sum(issue.is_error for issue in issues)
        warnings = len(issues) - errors
        self.summary.set_text(
            "No problems: ready to export" if not issues else f"{errors} error(s), {warnings} warning(s)"
        )
        self.list.clear()
        nodes = pipeline.node_map()
        with self.list:
            for issue in issues:
                icon, color = ICONS[issue.severity.value]
                node = nodes.get(issue.node) if issue.node else None
                where = node.display_name if node else ("pipeline settings" if issue.node is None else issue.node)
                if issue.field:
                    where += f" · {issue.field}"
                with ui.item(on_click=lambda i=issue: self.on_pick(i)).props("clickable").mark("problem"):
                    with ui.item_section().props("avatar"):
                        ui.icon(icon, color=color)
                    with ui.item_section():
                        ui.item_label(issue.message)
                        ui.item_label(where).props("caption")
