"""dagsmith.editor.team: the team server (``dagsmith serve``): sign-in, project roles, the REST API.

The local editor (``dagsmith edit``) has one user and listens on loopback; the team server has many,
checks each one's role in each project on the server for every page, socket.io event and API route, and
keeps its state in PostgreSQL. NiceGUI is imported only when the server starts.
"""

from __future__ import annotations

from .access import ACTIONS, authorize
from .accounts import Account, Accounts, ApiToken, Identity, LoginRefused
from .settings import SettingsError, TeamSettings, load_settings

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
