"""dagsmith.editor.team: the team server (``dagsmith serve``): sign-in, project roles, the REST API.

The local editor (``dagsmith edit``) has one user and listens on loopback; the team server has many,
checks each one's role in each project on the server for every page, socket.io event and API route, and
keeps its state in PostgreSQL. NiceGUI is imported only when the server starts.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .access import ACTIONS, authorize
    from .accounts import Account, Accounts, ApiToken, Identity, LoginRefused
    from .settings import SettingsError, TeamSettings, load_settings

# Imported on first use: every CLI command registers the team commands, and most of them must start
# without the store (sqlmodel) or argon2.
_HOMES = {
    "ACTIONS": "access",
    "authorize": "access",
    "Account": "accounts",
    "Accounts": "accounts",
    "ApiToken": "accounts",
    "Identity": "accounts",
    "LoginRefused": "accounts",
    "SettingsError": "settings",
    "TeamSettings": "settings",
    "load_settings": "settings",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ACTIONS",
    "Account",
    "Accounts",
    "ApiToken",
    "Identity",
    "LoginRefused",
    "SettingsError",
    "TeamSettings",
    "authorize",
    "load_settings",
]
