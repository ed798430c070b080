"""The log dialog of a node's tasks: a local run's log files (followed) or a deployment's fetched logs.

One dialog serves the Runs tab and the Airflow tab. ``show`` takes the node's logs by task key: a ``Path``
is a local log file, read again every second while the dialog is open (the task may still be writing it);
a ``str`` is a log as a deployment returned it, shown as it is. With more than one task, a select picks it.
"""

from __future__ import annotations

from pathlib import Path

from nicegui import ui

from ..run_services import read_log

LOG_REFRESH_SECONDS = 1.0
NOT_STARTED = "(no log yet: the task has not started)"
EMPTY = "(no log)"


class LogDialog:
    """A node's task logs; the marks (``{mark}-dialog``, ``{mark}-task``, ``{mark}-text``) name its parts."""

    def __init__(self, mark: str = "log") -> None:
        self.logs: dict[str, Path | str] = {}
        self.dialog = ui.dialog().props("full-width").mark(f"{mark}-dialog")
        with self.dialog, ui.card().classes("w-full"):
            with ui.row().classes("w-full items-center"):
                self.title = ui.label().classes("text-h6")
                self.choice = ui.select([], on_change=lambda: self.refresh()).props("dense").mark(f"{mark}-task")
                ui.space()
                ui.button(icon="close", on_click=self.dialog.close).props("flat round")
            with ui.scroll_area().classes("w-full").style("height: 60vh"):
                self.text = ui.label().classes("font-mono text-xs whitespace-pre-wrap").mark(f"{mark}-text")
        self.timer = ui.timer(LOG_REFRESH_SECONDS, self.refresh, active=False)
        self.dialog.on_value_change(
            lambda e: self.timer.activate() if e.value and self.follows() else self.timer.deactivate()
        )

    def follows(self) -> bool:
        """Whether a log shown is a local file that may still grow (fetched logs are not read again)."""
        return any(isinstance(log, Path) for log in self.logs.values())

    def show(self, title: str, logs: dict[str, Path] | dict[str, str]) -> None:
        """Open the dialog on ``logs`` (task key -> log file or fetched text), the first one shown."""
        self.logs = dict(logs)
        self.title.set_text(title)
        self.choice.set_options(list(self.logs), value=next(iter(self.logs), None))
        self.choice.set_visibility(len(self.logs) > 1)
        self.refresh()
        self.dialog.open()

    def refresh(self) -> None:
        log = self.logs.get(self.choice.value or "")
        if isinstance(log, Path):
            self.text.set_text(read_log(log) or NOT_STARTED)
        else:
            self.text.set_text(log or (NOT_STARTED if log is None else EMPTY))
