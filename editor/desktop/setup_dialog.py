"""File → Set up local runs: a dialog with a progress bar while runenv.set_up works in a thread."""

from __future__ import annotations

import asyncio
import contextlib

from nicegui import Client, ui

from .runenv import SetupError, default_plan, run_env_dir, run_env_python, set_up

_running: list[bool] = []
"""Non-empty while a setup runs (the menu item chosen twice starts one setup)."""


async def set_up_local_runs() -> str:
    """Show the progress on the window's page and create the run environment (once)."""
    clients = [client for client in Client.instances.values() if client.has_socket_connection]
    if not clients:
        return "no window"
    if _running:
        with clients[0]:
            ui.notify("Local runs are being set up already; see the progress dialog.", type="info")
        return "running already"
    _running.append(True)
    try:
        return await _set_up(clients[0])
    finally:
        _running.clear()


async def _set_up(client: Client) -> str:
    with client:
        with ui.dialog().props("persistent") as dialog, ui.card().classes("w-96"):
            ui.label("Set up local runs").classes("text-h6")
            status = ui.label("Starting…").mark("runenv-status")
            bar = ui.linear_progress(value=0, show_value=False).mark("runenv-progress")
            close = ui.button("Close", on_click=dialog.close).props("flat")
            close.set_visibility(False)
        dialog.open()
        if run_env_python() is not None:
            status.set_text(f"Local runs are set up already ({run_env_dir()}).")
            bar.set_value(1)
            close.set_visibility(True)
            return "already set up"
        loop = asyncio.get_running_loop()

        def progress(fraction: float, text: str) -> None:
            def show() -> None:
                with contextlib.suppress(RuntimeError):  # the page may be gone
                    bar.set_value(round(fraction, 3))
                    status.set_text(text)

            loop.call_soon_threadsafe(show)

        try:
            python = await asyncio.to_thread(lambda: set_up(default_plan(), progress))
        except SetupError as exc:
            status.set_text(f"Local runs could not be set up: {exc}")
            close.set_visibility(True)
            return f"failed: {exc}"
        status.set_text(
            f"Local runs are set up in {python.parents[1]}. Quit and start dagsmith again to run pipelines here."
        )
        close.set_visibility(True)
        return "set up"
