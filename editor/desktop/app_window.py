"""Wiring the running desktop app: its control channel, the window's menu, geometry and title hooks."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from nicegui import Client, app, ui
from nicegui.native import native

from ..services import EditorServices
from .commands import DesktopCommands
from .instance import CONTROL_ENV, ControlServer
from .setup_dialog import set_up_local_runs
from .state import add_recent, load_geometry, recent_files
from .window import FOCUS_METHOD, RECENT_METHOD, file_menu, window_started


def focus_window() -> None:
    """Ask the window's process to bring the window to the front."""
    if native.method_queue is not None:
        native.method_queue.put((FOCUS_METHOD, (), {}))


def refresh_recent_menu() -> None:
    """Ask the window's process to rebuild File → Open recent (a file was opened)."""
    if native.method_queue is not None:
        native.method_queue.put((RECENT_METHOD, (), {}))


def notify_open_pages(kind: str, message: str) -> None:
    """Show ``message`` on every page connected now (the desktop app has its one window)."""
    for client in list(Client.instances.values()):
        if client.has_socket_connection:
            with contextlib.suppress(RuntimeError), client:
                ui.notify(message, type=kind, multi_line=True, close_button=True)  # type: ignore[arg-type]


_next_page: list[tuple[str, str]] = []


def notify_next_page(kind: str, message: str) -> None:
    """Show ``message`` on the next page that connects (the one the window is loading)."""
    _next_page.append((kind, message))


def _tell_waiting(client: Client) -> None:
    with client:
        while _next_page:
            kind, message = _next_page.pop(0)
            ui.notify(message, type=kind, multi_line=True, timeout=0, close_button=True)  # type: ignore[arg-type]


def prepare_window(services: EditorServices, host: str, port: int, *, opened_file: Path | None = None) -> None:
    """Before ``ui.run(native=True)``: the File menu, the remembered geometry, the window process's start
    function, and the control channel (served once the app runs) that the menu and later launches use."""
    if opened_file is not None:
        add_recent(opened_file)
    control = ControlServer()
    os.environ[CONTROL_ENV] = control.address  # the window process inherits it
    args = app.native.window_args
    args["menu"] = file_menu(recent_files())
    geometry = load_geometry()
    if geometry is not None:
        args.update(width=geometry.width, height=geometry.height)
        if geometry.x is not None and geometry.y is not None:
            args.update(x=geometry.x, y=geometry.y)
    app.native.start_args["func"] = window_started
    commands = DesktopCommands(
        services,
        lambda: app.native.main_window,
        f"http://{host}:{port}",
        notify=notify_open_pages,
        focus=focus_window,
        more={"setup-runs": set_up_local_runs},
        notify_next_page=notify_next_page,
        recent_changed=refresh_recent_menu,
    )
    app.on_connect(_tell_waiting)

    async def start() -> None:
        await control.serve(commands.handle)
        control.publish()

    app.on_startup(start)
    app.on_shutdown(control.close)
