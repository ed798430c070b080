"""What runs in the native window's process (NiceGUI starts pywebview there): the File menu, its keyboard
shortcuts, the title, the remembered geometry, and coming to the front.

The menu's actions send their command to the app over the control channel (instance.py); the app does the
work (dialogs included, through NiceGUI's window proxy). Everything here is picklable by reference (module
functions and ``functools.partial``), as the window process is spawned. The Qt parts (shortcuts, the title
following the page's ``document.title``, raising the window) need pywebview's Qt backend, the one the app
uses on Linux; with another backend they are left out and the menu still works.
"""

from __future__ import annotations

import json
import logging
import os
from functools import partial
from pathlib import Path
from threading import Thread
from typing import Any

from .instance import control_from_env, send
from .state import Geometry, recent_files, save_geometry

log = logging.getLogger(__name__)
SHORTCUTS = {"New": "Ctrl+N", "Open…": "Ctrl+O", "Save version": "Ctrl+S", "Export…": "Ctrl+E", "Quit": "Ctrl+Q"}
MENU_DUMP_ENV = "DAGSMITH_DESKTOP_MENU_DUMP"
"""Tests: a file to write the File menu to, as Qt shows it (titles and shortcuts), once the window is up."""
FOCUS_METHOD = "dagsmith_focus"
"""A method the window process adds to its pywebview window; the app calls it through NiceGUI's queue."""
RECENT_METHOD = "dagsmith_recent"
"""Likewise: rebuild File → Open recent from the recent files (the app calls it after opening a file)."""
RECENT_MENU = "Open recent"
NO_RECENT = "(no recent files)"


def command(name: str, **args: Any) -> None:
    """A menu action: send ``name`` to the app (which opens dialogs and pages itself)."""
    control = control_from_env()
    if control is None:
        log.warning("the desktop menu cannot reach the app (%s is not set)", "DAGSMITH_DESKTOP_CONTROL")
        return
    try:
        reply = send(*control, {"command": name, **args}, timeout=600)  # a dialog may stay open for a while
    except (OSError, ValueError) as exc:
        log.warning("the desktop menu's %s did not reach the app: %s", name, exc)
        return
    if not reply.get("ok"):
        log.warning("the desktop menu's %s failed: %s", name, reply.get("message"))


def quit_app() -> None:
    """Quit: close the window; the app stops with it (NiceGUI ends the server when its window closes)."""
    import webview

    for window in list(webview.windows):
        window.destroy()


def file_menu(recent: list[Path]) -> list[Any]:
    """The window's menu bar: File with New, Open…, Open recent, Save version, Export…, Set up local runs…,
    Quit."""
    from webview.menu import Menu, MenuAction, MenuSeparator

    recent_items: list[Any] = [
        MenuAction(path.name.removesuffix(".json"), partial(command, "open", path=str(path))) for path in recent
    ]
    items: list[Any] = [
        MenuAction("New", partial(command, "new")),
        MenuAction("Open…", partial(command, "open-dialog")),
        Menu(RECENT_MENU, recent_items or [MenuAction(NO_RECENT, partial(command, "focus"))]),
        MenuSeparator(),
        MenuAction("Save version", partial(command, "save-version")),
        MenuAction("Export…", partial(command, "export")),
        MenuSeparator(),
        MenuAction("Set up local runs…", partial(command, "setup-runs")),
        MenuSeparator(),
        MenuAction("Quit", quit_app),
    ]
    return [Menu("File", items)]


def window_started() -> None:
    """pywebview's start function (in its own thread once the GUI loop runs): wire the window up."""
    import webview

    if not webview.windows:
        return
    window = webview.windows[0]
    last: dict[str, int] = {}

    def remember_size(width: int, height: int) -> None:
        last.update(width=int(width), height=int(height))

    def remember_place(x: int, y: int) -> None:
        last.update(x=int(x), y=int(y))

    def store() -> None:
        width, height = last.get("width", window.width), last.get("height", window.height)
        x, y = last.get("x", window.x), last.get("y", window.y)
        if not isinstance(width, int) or not isinstance(height, int):
            return  # the window is gone already (closed after "closing" stored it)
        geometry = Geometry(width, height, x if isinstance(x, int) else None, y if isinstance(y, int) else None)
        try:
            save_geometry(geometry)
        except OSError as exc:
            log.warning("the window's size and position could not be remembered: %s", exc)

    window.events.resized += remember_size
    window.events.moved += remember_place
    window.events.closing += store
    window.events.closed += store  # closed by the app (SIGTERM, Quit): "closing" may not fire
    setattr(window, FOCUS_METHOD, partial(_on_gui_thread, window, "focus"))
    setattr(window, RECENT_METHOD, partial(_on_gui_thread, window, "recent"))
    if window.events.shown.wait(120):
        _on_gui_thread(window, "setup")


def _on_gui_thread(window: Any, what: str) -> None:
    """Run a Qt step (``setup``, ``focus`` or ``recent``) on the GUI thread; nothing without the Qt backend."""
    try:
        from qtpy.QtCore import QCoreApplication, QObject, Signal, Slot
    except ImportError:
        return
    native = getattr(window, "native", None)
    application = QCoreApplication.instance()
    if native is None or application is None or not hasattr(native, "menuBar"):
        return

    class Runner(QObject):
        run = Signal(str)

        @Slot(str)
        def act(self, step: str) -> None:
            try:
                {"setup": _setup, "focus": _focus, "recent": _refresh_recent}[step](native)
            except Exception:  # a cosmetic step must not take the window down
                log.exception("desktop window: %s failed", step)

    runner = Runner()
    runner.moveToThread(application.thread())
    runner.run.connect(runner.act)
    runner.run.emit(what)
    _keep.append(runner)  # alive until the queued call ran


_keep: list[Any] = []


def _setup(native: Any) -> None:
    """Shortcuts on the File menu's actions; Open recent rebuilt whenever it opens; the window title follows
    the page's title."""
    from qtpy.QtGui import QKeySequence

    for top in native.menuBar().actions():
        menu = top.menu()
        for action in menu.actions() if menu is not None else []:
            if action.text() in SHORTCUTS:
                action.setShortcut(QKeySequence(SHORTCUTS[action.text()]))
            if action.text() == RECENT_MENU and action.menu() is not None:
                action.menu().aboutToShow.connect(partial(_refresh_recent, native))
    view = getattr(native, "webview", None)
    if view is not None:
        view.titleChanged.connect(native.setWindowTitle)
        if view.title():
            native.setWindowTitle(view.title())
    _dump_menu(native)


def _refresh_recent(native: Any) -> None:
    """File → Open recent from the recent files now (the menu is built once with the window; files opened
    since, in this session or by another launch, would be missing)."""
    for top in native.menuBar().actions():
        menu = top.menu()
        for action in menu.actions() if menu is not None else []:
            recent = action.menu() if action.text() == RECENT_MENU else None
            if recent is None:
                continue
            recent.clear()
            files = recent_files()
            for path in files:
                item = recent.addAction(path.name.removesuffix(".json"))
                item.triggered.connect(partial(_in_thread, partial(command, "open", path=str(path))))
            if not files:
                recent.addAction(NO_RECENT).triggered.connect(partial(_in_thread, partial(command, "focus")))
    _dump_menu(native)


def _in_thread(action: Any, *_: Any) -> None:
    """Run a menu action off the GUI thread (it waits for the app's reply), as pywebview does."""
    Thread(target=action, daemon=True).start()


def _dump_menu(native: Any) -> None:
    """Tests: the File menu and its Open recent submenu as Qt shows them, to DAGSMITH_DESKTOP_MENU_DUMP."""
    if not os.environ.get(MENU_DUMP_ENV):
        return
    dump = []
    for top in native.menuBar().actions():
        menu = top.menu()
        for action in menu.actions() if menu is not None else []:
            dump.append({"menu": top.text(), "title": action.text(), "shortcut": action.shortcut().toString()})
            for item in action.menu().actions() if action.menu() is not None else []:
                dump.append({"menu": f"{top.text()}/{action.text()}", "title": item.text(), "shortcut": ""})
    Path(os.environ[MENU_DUMP_ENV]).write_text(json.dumps(dump), encoding="utf-8")


def _focus(native: Any) -> None:
    """Bring the window to the front (un-minimized), as a second launch asks."""
    if native.isMinimized():
        native.showNormal()
    native.show()
    native.raise_()
    native.activateWindow()
