"""Choices that survive a reload (dark mode, the side panels): kept in browser cookies, read when a page is built.

The server reads the cookie, so a page starts in the remembered mode (no light flash before dark).
"""

from __future__ import annotations

from nicegui import ui
from nicegui.events import ValueChangeEventArguments

DARK_COOKIE = "dagsmith_dark"
_ONE_YEAR = 365 * 24 * 3600
_DARK_BACKGROUND = "<style>body { background: #121212; }</style>"  # Quasar's dark page colour


def remembered_dark() -> bool:
    """Whether this browser chose dark mode (False outside a page request)."""
    try:
        request = ui.context.client.request
    except (RuntimeError, AttributeError):
        return False
    return request.cookies.get(DARK_COOKIE) == "1"


def remembered_choice(cookie: str, default: bool) -> bool:
    """A yes/no choice this browser kept in ``cookie`` (``default`` when it has none, or outside a page request)."""
    try:
        request = ui.context.client.request
    except (RuntimeError, AttributeError):
        return default
    value = request.cookies.get(cookie)
    return default if value is None else value == "1"


def remember_choice(cookie: str, value: bool) -> None:
    """Keep a yes/no choice in this browser for a year (read back by ``remembered_choice``)."""
    flag = "1" if value else "0"
    ui.run_javascript(f"document.cookie = '{cookie}={flag}; path=/; max-age={_ONE_YEAR}; SameSite=Strict'")


def remembering_dark_mode() -> ui.dark_mode:
    """The page's dark mode, started in the remembered mode; each change is remembered in the browser."""
    dark = remembered_dark()
    if dark:
        ui.add_head_html(_DARK_BACKGROUND)  # painted before Vue mounts and Quasar switches to dark

    def remember(event: ValueChangeEventArguments[bool | None]) -> None:
        remember_choice(DARK_COOKIE, bool(event.value))

    return ui.dark_mode(value=dark, on_change=remember)
