"""The team server's door: every page, socket.io request and API route needs a signed-in user.

``TeamGuard`` is plain ASGI (like the local editor's ``security.LocalEditorGuard``), so it covers HTTP
requests, socket.io's long polling and the websocket handshake alike:

- ``/login`` (a plain form, no script) and ``/logout`` are its own routes. Signing in rotates the session:
  the browser's previous session, if any, is ended and a new secret is issued (no session fixation).
- The session cookie is ``SECRET.SIGNATURE`` (HMAC-SHA256 with the server's secret key), HttpOnly,
  SameSite=Lax, ``Secure`` behind HTTPS; the database keeps only the secret's SHA-256, so signing out
  (or disabling the user) ends it on every replica.
- With OIDC configured, ``/login/oidc`` and its callback sign in through the provider (``oidc.OidcLogin``);
  the session then starts exactly as after a password.
- ``/api/`` routes also take ``Authorization: Bearer TOKEN`` (a user's API token).
- A request that changes state (not GET/HEAD/OPTIONS) and every websocket must come from the server's own
  origin when the browser names one (CSRF, cross-site websocket hijacking).
- Without a user: a page is redirected to ``/login?next=...``, anything else gets 401, a websocket is
  closed before it opens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .accounts import Accounts, Identity, LoginRefused
from .identity import acting_as, cookie_value
from .oidc_users import OidcRefused
from .proxies import client_address, public_host, strip_untrusted, via_trusted_proxy
from .settings import TeamSettings

if TYPE_CHECKING:
    from .oidc import OidcLogin

log = logging.getLogger("dagsmith.team")
LOGIN, LOGOUT = "/login", "/logout"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dagsmith: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 24em; margin: 5em auto">
<h1>dagsmith</h1>{message}
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<p><label>User name<br><input name="name" autocomplete="username" required autofocus value="{name}"></label></p>
<p><label>Password<br><input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p>
</form>{sso}</body></html>
"""


def sign(secret: str, key: str) -> str:
    """The cookie value for a session secret: ``SECRET.SIGNATURE``."""
    mac = hmac.new(key.encode(), secret.encode(), hashlib.sha256).digest()
    return f"{secret}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def unsign(value: str, key: str) -> str | None:
    """The session secret of a cookie value whose signature holds; None otherwise."""
    secret, _, _ = value.rpartition(".")
    return secret if secret and hmac.compare_digest(sign(secret, key), value) else None


def safe_next(target: str) -> str:
    """Where to go after signing in: a path on this server only (never ``//other.site`` or a URL)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def session_secret(settings: TeamSettings, cookie_header: str) -> str | None:
    """The session secret in a ``Cookie`` header when its signature holds; None otherwise."""
    value = cookie_value(cookie_header, settings.cookie_name)
    return unsign(value, settings.secret_key) if value else None


def identify_cookie(accounts: Accounts, settings: TeamSettings, cookie_header: str) -> Identity | None:
    """The user of the session cookie in a ``Cookie`` header; None when there is none or it is not live."""
    secret = session_secret(settings, cookie_header)
    return accounts.session_identity(secret) if secret else None


def identify_proxied(accounts: Accounts, settings: TeamSettings, scope: Scope) -> Identity | None:
    """SSO: the user the authenticating proxy names, when the request comes from a trusted proxy address.

    The header is ignored from any other address (anyone can send it), so only the proxy can vouch. With
    ``proxy_groups_header`` set, the groups it lists (comma-separated) replace the user's stored IdP groups
    whenever the proxy sends that header (written only when they changed).
    """
    if not via_trusted_proxy(settings, scope):
        return None
    headers = Headers(scope=scope)
    name = headers.get(settings.proxy_user_header, "")
    groups = headers.get(settings.proxy_groups_header) if settings.proxy_groups_header else None
    # one query: the user, their roles and stored groups; a write only when the groups changed
    return accounts.proxy_identity(name, None if groups is None else groups.split(",")) if name.strip() else None


def identify_scope(accounts: Accounts, settings: TeamSettings, scope: Scope) -> Identity | None:
    """The user of a request or socket (its trusted proxy's header, else its session cookie)."""
    return identify_proxied(accounts, settings, scope) or identify_cookie(
        accounts, settings, Headers(scope=scope).get("cookie", "")
    )


class TeamGuard:
    """ASGI middleware: sign-in, sign-out, and refusal of every request without a live session or token."""

    def __init__(
        self, app: ASGIApp, *, accounts: Accounts, settings: TeamSettings, oidc: OidcLogin | None = None
    ) -> None:
        self.app = app
        self.accounts = accounts
        self.settings = settings
        self.oidc = oidc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        strip_untrusted(self.settings, scope)  # X-Forwarded-* and the SSO headers: only a trusted proxy's count
        headers = Headers(scope=scope)
        method = scope.get("method", "GET")
        if (scope["type"] == "websocket" or method not in SAFE_METHODS) and not self._same_origin(scope, headers):
            await self._refuse(
                scope, receive, send, _page(403, "Origin not allowed", "Another web site cannot drive dagsmith.")
            )
            return
        path = scope["path"]
        if scope["type"] == "http" and path == LOGIN:
            response = await self._login(Request(scope, receive)) if method == "POST" else self._login_page(scope)
            await response(scope, receive, send)
            return
        if (
            scope["type"] == "http"
            and self.oidc is not None
            and path in (self.oidc.start_path, self.oidc.callback_path)
        ):
            await (await self._oidc(Request(scope, receive), self.oidc))(scope, receive, send)
            return
        if scope["type"] == "http" and path == LOGOUT:
            await (await self._logout(Request(scope, receive), method))(scope, receive, send)
            return
        # The session lookup (with the user's roles, ``grants``) reads the database: not on the event loop.
        identity = await run_in_threadpool(identify_scope, self.accounts, self.settings, scope)
        if identity is not None and scope["type"] == "websocket":  # its events look their roles up each (identity)
            identity = replace(identity, grants=None)
        if identity is None and path.startswith("/api/"):
            identity = self._bearer(headers)
        if identity is None:
            await self._refuse(scope, receive, send, self._anonymous(scope, headers))
            return
        scope.setdefault("state", {})["identity"] = identity
        with acting_as(identity):
            await self.app(scope, receive, send)

    # -- who is asking -----------------------------------------------------------------------------------
    def identify(self, cookie_header: str) -> Identity | None:
        """The user of the session cookie in a ``Cookie`` header; None when there is none or it is not live."""
        return identify_cookie(self.accounts, self.settings, cookie_header)

    def _session_secret(self, cookie_header: str) -> str | None:
        return session_secret(self.settings, cookie_header)

    def _bearer(self, headers: Headers) -> Identity | None:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        return self.accounts.token_identity(credential.strip()) if scheme.lower() == "bearer" and credential else None

    def _same_origin(self, scope: Scope, headers: Headers) -> bool:
        """Whether the browser's ``Origin`` (when it sends one) is this server as the browser addressed it
        (``Host``, or a trusted proxy's ``X-Forwarded-Host``)."""
        origin = headers.get("origin")
        if origin is None:
            return True  # not a browser's cross-site request: browsers send Origin on those
        parts = urlsplit(origin.strip().lower())
        host = public_host(self.settings, scope)
        return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower() and not parts.path

    # -- signing in and out ------------------------------------------------------------------------------
    def _login_page(self, scope: Scope, *, message: str = "", name: str = "", status: int = 200) -> Response:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        target = safe_next(query.get("next", "/"))
        if self.oidc is None:
            return self._form(target, message=message, name=name, status=status)
        if not message and query.get("sso") == "open":
            message = f"Signed out of dagsmith; your SSO session at {self.oidc.label} is still open."
        # back from the provider's end_session_endpoint: only this browser's logout state says it ended there
        cookies = Headers(scope=scope).get("cookie", "")
        notice = ""
        if self.oidc.returned(cookies, query.get("state")):
            notice = f"Signed out of dagsmith and of your SSO session at {self.oidc.label}."
        response = self._form(target, message=message, notice=notice, name=name, status=status)
        if cookie_value(cookies, self.oidc.logout_cookie_name) is not None:
            self.oidc.forget_return(response)
        return response

    def _form(self, target: str, *, message: str = "", notice: str = "", name: str = "", status: int = 200) -> Response:
        shown = f'<p role="alert" style="color: #b00020">{html.escape(message)}</p>' if message else ""
        shown += f'<p role="status">{html.escape(notice)}</p>' if notice else ""
        sso = ""
        if self.oidc is not None:
            start = f"{self.oidc.start_path}?{urlencode({'next': target}, quote_via=quote)}"
            sso = (
                f'<p>or</p><p><a id="oidc" href="{html.escape(start, quote=True)}">'
                f"Sign in with {html.escape(self.oidc.label)}</a></p>"
            )
        page = LOGIN_PAGE.format(
            message=shown, next=html.escape(target, quote=True), name=html.escape(name, quote=True), sso=sso
        )
        return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})

    async def _login(self, request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        target = safe_next(str(form.get("next", "/")))
        address = client_address(self.settings, request.scope)  # X-Forwarded-For only from a trusted proxy
        try:  # argon2 takes tens of milliseconds on purpose: not on the event loop
            identity = await run_in_threadpool(self.accounts.authenticate, name, password, address=address)
        except LoginRefused as exc:
            log.warning("sign-in refused for %r from %s: too many failures", name[:64], address)
            response = self._form(target, message=str(exc), name=name, status=429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        if identity is None:
            log.warning("failed sign-in for %r from %s", name[:64], address)
            return self._form(target, message="Wrong user name or password.", name=name, status=401)
        return await self._signed_in(request, identity, target, how="a password")

    async def _signed_in(
        self, request: Request, identity: Identity, target: str, *, how: str, id_token: str = ""
    ) -> Response:
        """Start the user's session: the browser's previous one ends and a new cookie is issued (no fixation)."""
        previous = self._session_secret(request.headers.get("cookie", ""))
        hours = self.settings.session_hours  # a database write: not on the event loop
        secret = await run_in_threadpool(self.accounts.start_session, identity.name, hours=hours, replacing=previous)
        address = client_address(self.settings, request.scope)
        log.info("%r signed in with %s from %s", identity.name, how, address)
        response = RedirectResponse(target, 303)
        self._set_cookie(response, sign(secret, self.settings.secret_key))
        if id_token and self.oidc is not None:  # for RP-initiated logout; bound to this session only
            self.oidc.remember(request, response, id_token, session=secret)
        return response

    async def _oidc(self, request: Request, oidc: OidcLogin) -> Response:
        """``/login/oidc`` (leave for the provider) or its callback (come back signed in, or with the reason)."""
        target = safe_next(request.query_params.get("next", "/"))
        try:
            if request.url.path == oidc.start_path:
                return await oidc.start(request, target)
            target = oidc.target(request)
            identity, target, id_token = await oidc.finish(request)
        except OidcRefused as exc:
            response = self._form(target, message=str(exc), status=exc.status)
        else:
            response = await self._signed_in(request, identity, safe_next(target), how=oidc.label, id_token=id_token)
        oidc.forget(response)
        return response

    async def _logout(self, request: Request, method: str) -> Response:
        """End dagsmith's session; after an SSO sign-in, send the browser on to end the provider's (RP-initiated)."""
        if method != "POST":
            return _page(405, "Sign out with the button", "Signing out is a POST (a link could sign you out).")
        secret = self._session_secret(request.headers.get("cookie", ""))
        if secret:
            self.accounts.end_session(secret)
        sso = (
            await self.oidc.logout_location(request, LOGIN, session=secret)
            if self.oidc is not None and secret
            else None
        )
        location, state = sso or (LOGIN, "")
        response = RedirectResponse(location, 303)
        if self.oidc is not None:
            self.oidc.forget_id_token(response)
            if state:  # checked when the provider sends the browser back to /login
                self.oidc.expect_return(response, state)
        response.delete_cookie(
            self.settings.cookie_name, path="/", secure=self.settings.cookie_secure, httponly=True, samesite="lax"
        )
        return response

    def _set_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            self.settings.cookie_name,
            value,
            max_age=int(self.settings.session_hours * 3600),
            path="/",
            secure=self.settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )

    # -- refusals ----------------------------------------------------------------------------------------
    @staticmethod
    def _anonymous(scope: Scope, headers: Headers) -> Response:
        path = scope["path"]
        wants_page = (
            scope["type"] == "http"
            and scope.get("method") in ("GET", "HEAD")
            and not path.startswith(("/api/", "/_nicegui"))
        )
        if wants_page and "text/html" in headers.get("accept", "text/html"):
            query = scope.get("query_string", b"").decode("latin-1")
            here = path + (f"?{query}" if query else "")
            return RedirectResponse(f"{LOGIN}?{urlencode({'next': here}, quote_via=quote)}", 303)
        if path.startswith("/api/"):
            return JSONResponse(
                {"detail": "sign in first: send 'Authorization: Bearer TOKEN' with an API token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return _page(401, "Sign in first", f'<a href="{LOGIN}">Sign in</a>, then reload this page.')

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
        if scope["type"] == "websocket":
            await receive()  # the websocket.connect message; closing before accepting answers the handshake 403
            await send({"type": "websocket.close", "code": 1008})
            return
        await response(scope, receive, send)


def _page(status: int, title: str, detail: str) -> HTMLResponse:
    body = f"<!doctype html><title>dagsmith: {title}</title><h1>{title}</h1><p>{detail}</p>"
    return HTMLResponse(body, status_code=status)
