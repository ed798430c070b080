"""What the desktop app does for its File menu and for a second launch, in the app's process.

Each command works on the window through a small protocol (NiceGUI's window proxy in the app, a fake in
the tests): it opens native dialogs there and loads pages into it. Results and problems are told to the
user as notifications on the window's page; nothing raises to the caller but unexpected errors.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..errors import UserError
from ..open_file import open_file
from ..pages.drafts import saves_settled
from ..services import EditorServices
from ..store import NotFound
from .state import add_recent, recent_files

OPEN_DIALOG, SAVE_DIALOG = 10, 30
"""pywebview's FileDialog.OPEN and FileDialog.SAVE (the same numbers in every backend)."""
PIPELINE_FILES = ("Pipelines (*.dagsmith.json;*.pipeline)", "All files (*.*)")
SETTLE_SECONDS = 10.0

Notify = Callable[[str, str], None]
"""(type, message): tell the user on the window's page."""


class Window(Protocol):
    """The parts of pywebview's window (through NiceGUI's proxy) the commands use."""

    def load_url(self, url: str) -> None: ...

    async def get_current_url(self) -> str: ...

    async def create_file_dialog(
        self,
        dialog_type: int = ...,
        directory: str = ...,
        allow_multiple: bool = ...,
        save_filename: str = ...,
        file_types: tuple[str, ...] = ...,
    ) -> Any: ...


def _chosen(result: Any) -> Path | None:
    """The path a dialog returned (a string, or a sequence of them), or None when it was cancelled."""
    if isinstance(result, (list, tuple)):
        result = result[0] if result else None
    return Path(result) if isinstance(result, str) and result else None


class DesktopCommands:
    """Commands by name: ``open`` (path), ``open-dialog``, ``new``, ``save-version``, ``export``, ``focus``."""

    def __init__(
        self,
        services: EditorServices,
        window: Callable[[], Window | None],
        base_url: str,
        *,
        notify: Notify,
        focus: Callable[[], None],
        more: dict[str, Callable[[], Awaitable[str]]] | None = None,
        notify_next_page: Notify | None = None,
        recent_changed: Callable[[], None] | None = None,
    ) -> None:
        """``more``: further commands by name (e.g. ``setup-runs``, which needs the page's widgets);
        ``notify_next_page``: tell the user on the page the window loads next (default: ``notify``);
        ``recent_changed``: called once a file joined the recent files (the window rebuilds Open recent)."""
        self.services = services
        self.window = window
        self.base_url = base_url.rstrip("/")
        self.notify = notify
        self.focus = focus
        self.more = more or {}
        self.notify_next_page = notify_next_page or notify
        self.recent_changed = recent_changed or (lambda: None)

    async def handle(self, message: dict[str, Any]) -> str:
        """Run the command ``message`` names; a short text saying what happened (for the sender)."""
        name = message.get("command")
        if name == "open" and isinstance(message.get("path"), str):
            return self.open(Path(message["path"]))
        if name == "open-dialog":
            return await self.open_dialog()
        if name == "new":
            return self.new()
        if name == "save-version":
            return await self.save_version()
        if name == "export":
            return await self.export()
        if isinstance(name, str) and name in self.more:
            return await self.more[name]()
        if name == "focus":
            self.focus()
            return "focused"
        raise ValueError(f"unknown desktop command {name!r}")

    @staticmethod
    def dialog_folder() -> str:
        """Where the dialogs start: the folder of the file opened last, else the home folder."""
        recent = recent_files()
        return str(recent[0].parent if recent else Path.home())

    def show(self, path: str) -> None:
        """Load ``path`` (an editor page) into the window and bring the window to the front."""
        window = self.window()
        if window is not None:
            window.load_url(f"{self.base_url}{path}")
        self.focus()

    def open(self, file: Path) -> str:
        """Import ``file`` (or find its earlier import) and show its pipeline."""
        opened = open_file(self.services, file)
        for kind, text in opened.notices:  # import notes land on the pipeline's page, once it loaded
            (self.notify if opened.path == "/" else self.notify_next_page)(kind, text)
        if opened.path == "/":
            self.focus()
            return opened.notices[0][1] if opened.notices else f"{file} did not open"
        add_recent(file)
        self.recent_changed()
        self.show(opened.path)
        return f"opened {file}"

    async def open_dialog(self) -> str:
        window = self.window()
        if window is None:
            return "no window"
        file = _chosen(
            await window.create_file_dialog(OPEN_DIALOG, directory=self.dialog_folder(), file_types=PIPELINE_FILES)
        )
        return self.open(file) if file is not None else "cancelled"

    def new(self) -> str:
        """A new blank pipeline in the local project, shown in the window."""
        info = self.services.create_from_template(self.services.local_project().id, None)
        self.show(f"/pipeline/{info.id}")
        return f"created pipeline {info.id}"

    async def current_pipeline(self) -> int | None:
        """The id of the pipeline the window shows; None (and a notice) on any other page."""
        window = self.window()
        url = await window.get_current_url() if window is not None else None
        found = re.fullmatch(r"/pipeline/(\d+)/?", urlsplit(url or "").path)
        if found is None:
            self.notify("warning", "Open a pipeline first: saving a version and exporting work on the open pipeline.")
            return None
        return int(found[1])

    async def _version(self, pipeline_id: int) -> tuple[str, int] | None:
        """Save a version of the pipeline's draft once its pending saves landed; (dag_id, number)."""
        if not await saves_settled(self.services.store, pipeline_id, timeout=SETTLE_SECONDS):
            self.notify("warning", "The pipeline is still being saved; try again in a moment.")
            return None
        try:
            _, draft, _ = self.services.open_draft(pipeline_id)
            number = self.services.save_version(pipeline_id, draft, "", write_draft=False)
        except (UserError, NotFound) as exc:
            self.notify("negative", f"Could not save a version: {exc}")
            return None
        return draft.dag_id, number

    async def save_version(self) -> str:
        pipeline_id = await self.current_pipeline()
        saved = await self._version(pipeline_id) if pipeline_id is not None else None
        if saved is None:
            return "not saved"
        self.notify("positive", f"Version v{saved[1]} saved")
        return f"saved v{saved[1]}"

    async def export(self) -> str:
        """Save a version and write its DAG file where the native save dialog says."""
        pipeline_id = await self.current_pipeline()
        window = self.window()
        if pipeline_id is None or window is None:
            return "no pipeline"
        saved = await self._version(pipeline_id)
        if saved is None:
            return "not exported"
        dag_id, number = saved
        target = _chosen(
            await window.create_file_dialog(
                SAVE_DIALOG,
                directory=self.dialog_folder(),
                save_filename=f"{dag_id}.py",
                file_types=("Python files (*.py)",),
            )
        )
        if target is None:
            return "cancelled"
        try:
            _, draft, _ = self.services.open_draft(pipeline_id)
            source = self.services.preview(pipeline_id, draft).source
            target.write_text(source, encoding="utf-8")
        except UserError as exc:
            self.notify("negative", f"Could not export: {exc}")
            return "not exported"
        except OSError as exc:
            self.notify("negative", f"Could not write {target}: {exc.strerror or exc}; choose another folder")
            return "not exported"
        self.notify("positive", f"Exported version v{number} to {target}")
        return f"exported {target}"
