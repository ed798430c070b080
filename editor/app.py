"""Starting the editor: in the browser (``dagsmith edit``) or in a native window (``dagsmith desktop``)."""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from nicegui import Client, app, ui

from .open_file import open_file
from .pages import register_pages
from .security import LocalEditorGuard, configured_hosts, editor_url, is_loopback_host, launch_token
from .services import EditorServices

log = logging.getLogger("dagsmith.editor")
DEFAULT_PORT = 8080
WINDOW_CLOSE_GRACE = 5.0
"""Seconds the native window gets to close when the server stops, before its process is ended."""
FAVICON = Path(__file__).resolve().parents[1] / "assets" / "dagsmith.svg"
"""The logo in a source checkout (editable install); installed elsewhere, an emoji stands in."""


def report_exception(exception: Exception) -> None:
    """An unexpected error in a handler: the user sees a short message, the log keeps the traceback.

    The document is untouched (every change goes through the session, which validates before it
    commits), and the draft saved before the error is still there.
    """
    log.exception("unexpected error in the editor", exc_info=exception)
    with contextlib.suppress(RuntimeError):  # no client left to tell (e.g. the tab was closed)
        ui.notify(
            f"Something went wrong ({type(exception).__name__}); your work is saved. "
            "Reload the page if the editor looks out of date.",
            type="negative",
            multi_line=True,
        )


def run_editor(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    native: bool = False,
    show: bool = True,
    token: str | None = None,
    allow_hosts: Sequence[str] = (),
    file: Path | None = None,
) -> None:
    """Open the store (SQLite under DAGSMITH_HOME, or DAGSMITH_DATABASE_URL), register the pages, serve.

    Serves on loopback only, to requests that carry ``token`` (see security.py) and name loopback or one of
    ``allow_hosts`` (and DAGSMITH_ALLOWED_HOSTS) as their Host; the browser tab or the native window opens the
    address with the token, which the editor trades for a cookie. ``file`` (a ``*.dagsmith.json`` or Elyra
    ``*.pipeline``) is imported into the local project and its pipeline page is the one opened.
    """
    if not is_loopback_host(host):
        raise ValueError(f"the local editor listens on loopback only, not on {host!r}")
    token = token or launch_token()
    multiprocessing.freeze_support()
    services = EditorServices.open()
    register_pages(services)
    app.on_exception(report_exception)
    app.on_shutdown(services.runs.close)
    app.on_shutdown(services.store.close)
    # Everything loaded so far lives as long as the server: keep the cyclic collector from walking it
    # again and again (a full collection landed in the first page's handlers and cost 250 ms).
    app.on_startup(gc.freeze)
    app.add_middleware(LocalEditorGuard, token=token, port=port, allowed_hosts=configured_hosts(allow_hosts))
    start = editor_url(host, port, token)
    opened_file = None
    if file is not None:
        opened = open_file(services, file)
        start = urlunsplit(urlsplit(start)._replace(path=opened.path))
        _notify_first_page(opened.notices)
        opened_file = file if opened.path != "/" else None
    if native:
        from .desktop.app_window import prepare_window

        os.environ.setdefault("PYWEBVIEW_GUI", "qt")
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
        app.native.window_args["url"] = start  # NiceGUI would open http://HOST:PORT, which has no token
        prepare_window(services, host, port, opened_file=opened_file)  # File menu, geometry, one instance
        app.on_shutdown(close_window)
    ui.run(
        host=host,
        port=port,
        title="dagsmith",
        native=native,
        window_size=(1400, 900) if native else None,
        reload=False,
        show=f"{urlsplit(start).path}?{urlsplit(start).query}" if show and not native else False,
        show_welcome_message=False,  # it would print the address without the token; the CLI prints the right one
        storage_secret=None,
        favicon=FAVICON if FAVICON.is_file() else "🛠",
    )


def close_window() -> None:
    """Close the native window with the server (SIGTERM, logout, Ctrl+C), so that no process outlives the app.

    NiceGUI leaves the window's process (and Qt WebEngine's, and multiprocessing's resource tracker, which
    waits for it) running when the server stops for any reason but the window being closed: ask the window
    to close, give it WINDOW_CLOSE_GRACE seconds, then end whatever is left.
    """
    window = app.native.main_window
    if window is not None:
        with contextlib.suppress(Exception):  # the window may be gone already (the user closed it)
            window.destroy()
    deadline = time.monotonic() + WINDOW_CLOSE_GRACE
    for child in multiprocessing.active_children():
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            log.warning("the window process %s did not close; ending it", child.pid)
            child.terminate()
            child.join(2)
        if child.is_alive():
            child.kill()


def _notify_first_page(notices: Sequence[tuple[str, str]]) -> None:
    """Show ``notices`` (type, message) on the first page that connects; the log (terminal) keeps them too."""
    pending = list(notices)
    for _, message in pending:
        log.warning("%s", message)

    def tell(client: Client) -> None:
        with client:
            while pending:
                kind, message = pending.pop(0)
                ui.notify(message, type=kind, multi_line=True, timeout=0, close_button=True)  # type: ignore[arg-type]

    if pending:
        app.on_connect(tell)
