"""Starting the editor: in the browser (``dagsmith edit``) or in a native window (``dagsmith desktop``)."""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
from pathlib import Path

from nicegui import app, ui

from .pages import register_pages
from .services import EditorServices

log = logging.getLogger("dagsmith.editor")
DEFAULT_PORT = 8080
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


def run_editor(*, host: str = "127.0.0.1", port: int = DEFAULT_PORT, native: bool = False, show: bool = True) -> None:
    """Open the store (SQLite under DAGSMITH_HOME, or DAGSMITH_DATABASE_URL), register the pages, serve."""
    multiprocessing.freeze_support()
    services = EditorServices.open()
    register_pages(services)
    app.on_exception(report_exception)
    app.on_shutdown(services.runs.close)
    app.on_shutdown(services.store.close)
    # Everything loaded so far lives as long as the server: keep the cyclic collector from walking it
    # again and again (a full collection landed in the first page's handlers and cost 250 ms).
    app.on_startup(gc.freeze)
    if native:
        os.environ.setdefault("PYWEBVIEW_GUI", "qt")
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    ui.run(
        host=host,
        port=port,
        title="dagsmith",
        native=native,
        window_size=(1400, 900) if native else None,
        reload=False,
        show=show and not native,
        storage_secret=None,
        favicon=FAVICON if FAVICON.is_file() else "🛠",
    )
