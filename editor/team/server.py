"""Starting the team server (``dagsmith serve``): the editor's pages behind sign-in, for many users.

Unlike ``dagsmith edit`` it listens where it is told (behind a load balancer or a TLS proxy), keeps its
state in PostgreSQL (SQLite only for a trial), and every page, socket.io event and API route needs a
signed-in user whose project role allows the action.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import logging

from ..store import open_store
from .accounts import Accounts
from .settings import TeamSettings

log = logging.getLogger("dagsmith.team")
TRIAL_WARNING = (
    "dagsmith serve runs on SQLite: a trial only (one machine, one replica, one writer at a time); "
    "use PostgreSQL (DAGSMITH_DATABASE_URL=postgresql+psycopg://...) for a team"
)


def report_team_exception(exception: Exception) -> None:
    """A refused action (role, session) is told to the user and logged as a warning; anything else as usual."""
    from nicegui import ui

    from ..app import report_exception
    from ..errors import UserError

    if not isinstance(exception, PermissionError | UserError):
        report_exception(exception)
        return
    log.warning("refused: %s", exception)
    with contextlib.suppress(RuntimeError):  # no client left to tell
        ui.notify(str(exception), type="warning", multi_line=True)


def open_accounts(settings: TeamSettings) -> Accounts:
    """The store (migrated) and its accounts, as the settings say."""
    store = open_store(settings.database_url, local_user=False)
    return Accounts(
        store,
        login_attempts=settings.login_attempts,
        login_window=dt.timedelta(minutes=settings.login_window_minutes),
    )


def run_team_server(settings: TeamSettings) -> None:
    """Open the store, register the pages, the sign-in guard and the API, and serve (loads NiceGUI only now)."""
    from nicegui import app, core, ui

    from ..app import FAVICON
    from ..pages import register_pages, run_artifacts
    from .admin import Administration, enable_audit_log
    from .admin_api import register_admin_api
    from .admin_page import register_admin_page
    from .api import register_api
    from .artifact_api import register_artifact_api
    from .downloads import TeamDownloads
    from .guard import TeamGuard, identify_scope
    from .identity import guard_socketio
    from .oidc import OidcLogin
    from .replica_sync import ReplicaSync, recheck_pages
    from .review_page import register_review_pages
    from .services import TeamServices

    if settings.is_sqlite:
        log.warning("%s", TRIAL_WARNING)
    accounts = open_accounts(settings)
    oidc = OidcLogin(accounts, settings) if settings.oidc_enabled else None  # SettingsError: no secret, no Authlib
    services = TeamServices(accounts.store)
    register_pages(services)
    register_api(app, services, accounts)
    register_review_pages(services)
    administration = Administration(accounts)
    enable_audit_log()  # every admin change, with who made it, in the server's log
    register_admin_api(app, administration)
    register_admin_page(administration)
    register_artifact_api(app, services)
    run_artifacts.gate = TeamDownloads(accounts.store)  # the Runs tab's downloads: the user's access, checked
    app.on_exception(report_team_exception)
    app.on_shutdown(services.runs.close)
    # A page told of another page's save gets it only while its session still vouches for its user.
    recheck_pages(accounts.store, functools.partial(identify_scope, accounts, settings))
    if not settings.is_sqlite:  # other replicas' edits reach the pages open here, live (one process on SQLite)
        replicas = ReplicaSync(accounts.store, functools.partial(identify_scope, accounts, settings))
        app.on_startup(replicas.start)
        app.on_shutdown(replicas.stop)
    app.on_shutdown(accounts.store.close)
    app.on_startup(gc.freeze)
    app.add_middleware(TeamGuard, accounts=accounts, settings=settings, oidc=oidc)
    guard_socketio(core.sio, functools.partial(identify_scope, accounts, settings))
    ui.run(
        host=settings.host,
        port=settings.port,
        title="dagsmith",
        reload=False,
        show=False,
        show_welcome_message=False,
        storage_secret=None,
        fastapi_docs=True,  # /docs and /openapi.json, for signed-in users (the guard stands before them)
        favicon=FAVICON if FAVICON.is_file() else "🛠",
        # uvicorn would believe X-Forwarded-For/-Proto from 127.0.0.1 whatever trusted_proxies says, and would
        # hide the proxy's own address; the guard decides instead (proxies.py), from trusted_proxies only.
        proxy_headers=False,
    )
