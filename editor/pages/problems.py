"""The problems panel: every validation issue; clicking one selects its node and focuses the field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from nicegui import ui

from dagsmith.nodes import Issue, Node, Pipeline

ICONS = {"error": ("error", "negative"), "warning": ("warning", "warning")}
Row = tuple[Issue, str, int]  # an issue, where it is, and which of its repeats


class ProblemsPanel:
    """A list of issues; ``on_pick(issue)`` is called when the user clicks one."""

    def __init__(self, on_pick: Callable[[Issue], None]) -> None:
        self.on_pick = on_pick
        self.summary = ui.label().classes("text-caption").mark("problems-summary")
        self.list = ui.list().props("dense separator").classes("w-full").mark("problems-list")
        self.issues: list[Issue] = []
        self.rows: dict[Row, ui.item] = {}

    def show(self, issues: list[Issue], pipeline: Pipeline) -> None:
        """Show ``issues``, in their order. Only the rows that changed are drawn: a connection that fixes one
        error removes that row and leaves the others as they are. Redrawing the whole list sent every row to
        the page again and made the browser mount it again, on every change of the issues."""
        if issues == self.issues and self.list.default_slot.children:
            return
        self.issues = issues
        errors = sum(issue.is_error for issue in issues)
        warnings = len(issues) - errors
        self.summary.set_text(
            "No problems: ready to export" if not issues else f"{errors} error(s), {warnings} warning(s)"
        )
        nodes = pipeline.node_map()
        seen: Counter[tuple[Issue, str]] = Counter()
        wanted: list[Row] = []
        for issue in issues:
            shown = (issue, _where(issue, nodes))
            wanted.append((*shown, seen[shown]))  # the same issue twice: two rows
            seen[shown] += 1
        kept = set(wanted)
        for row in [row for row in self.rows if row not in kept]:
            self.list.remove(self.rows.pop(row))
        for row in wanted:
            if row not in self.rows:
                with self.list:
                    self.rows[row] = self._row(row[0], row[1])
        for index, row in enumerate(wanted):
            if self.list.default_slot.children[index] is not self.rows[row]:
                self.rows[row].move(self.list, index)

    def _row(self, issue: Issue, where: str) -> ui.item:
        icon, color = ICONS[issue.severity.value]
        with ui.item(on_click=lambda: self.on_pick(issue)).props("clickable").mark("problem") as item:
            with ui.item_section().props("avatar"):
                ui.icon(icon, color=color)
            with ui.item_section():
                ui.item_label(issue.message)
                ui.item_label(where).props("caption")
        return item


def _where(issue: Issue, nodes: dict[str, Node]) -> str:
    """Where the issue is, as the row's caption: the node's name (or the pipeline settings) and the field."""
    node = nodes.get(issue.node) if issue.node else None
    where = node.display_name if node else ("pipeline settings" if issue.node is None else issue.node)
    return f"{where} · {issue.field}" if issue.field else where
