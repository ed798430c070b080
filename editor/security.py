"""Who may drive the local editor: what Jupyter does for a local server.

The editor runs commands as its user, so a request is served only when all of these hold:

- the ``Host`` header names this machine's loopback (``localhost``, ``127.x.x.x``, ``[::1]``) or a name
  configured with ``--allow-host`` / DAGSMITH_ALLOWED_HOSTS, which stops DNS rebinding;
- an ``Origin`` header, when present, is the editor's own origin, which stops other web pages from posting
  to it or opening its websocket;
- it carries the per-launch token: the ``dagsmith-token-PORT`` cookie, a ``?token=`` query parameter or an
  ``Authorization: token ...`` header, which stops other users of the machine.

A page opened with ``?token=`` gets the cookie (HttpOnly, SameSite=Strict) and is redirected to the same
address without the token. The guard is plain ASGI, so it covers HTTP requests, socket.io's long polling
and the websocket handshake alike.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_ENV = "DAGSMITH_TOKEN"
ALLOWED_HOSTS_ENV = "DAGSMITH_ALLOWED_HOSTS"
TOKEN_PARAM = "token"
REFUSAL_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>dagsmith: {title}</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>{title}</h1><p>{detail}</p></body></html>
"""
OPEN_PRINTED_URL = (
    "Open the address that <code>dagsmith edit</code> printed in its terminal: it carries this launch's token."
)


def is_loopback_host(name: str) -> bool:
    """Whether a host name or address (without port; IPv6 with or without brackets) is this machine's loopback."""
    name = name.strip().lower().removeprefix("[").removesuffix("]")
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def launch_token() -> str:
    """The token of this launch: DAGSMITH_TOKEN when set (tests, scripts), otherwise a fresh random one."""
    return os.environ.get(TOKEN_ENV, "").strip() or secrets.token_urlsafe(32)


def configured_hosts(extra: Iterable[str] = ()) -> frozenset[str]:
    """Host names accepted besides loopback: ``extra`` (``--allow-host``) and DAGSMITH_ALLOWED_HOSTS (a,b)."""
    names = [*extra, *os.environ.get(ALLOWED_HOSTS_ENV, "").split(",")]
    return frozenset(name.strip().lower() for name in names if name.strip())


def editor_url(host: str, port: int, token: str | None = None) -> str:
    """The address to open: ``http://HOST:PORT/`` with ``?token=`` when given."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/" + (f"?{urlencode({TOKEN_PARAM: token})}" if token else "")


def cookie_name(port: int) -> str:
    """The token cookie's name; cookies ignore ports, so each port gets its own (two editors side by side)."""
    return f"dagsmith-token-{port}"


def _host_name(host_header: str) -> str:
    """``localhost:8080`` → ``localhost``; ``[::1]:8080`` → ``::1``."""
    host_header = host_header.strip().lower()
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else ""
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class LocalEditorGuard:
    """ASGI middleware: refuse requests with a foreign Host or Origin, or without this launch's token."""

    def __init__(self, app: ASGIApp, *, token: str, port: int, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.token = token.encode()
        self.cookie = cookie_name(port)
        self.allowed_hosts = frozenset(name.lower() for name in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        refusal = self._refusal(scope, headers, host)
        if refusal is not None:
            await self._refuse(scope, receive, send, refusal)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        from_query = [value for key, value in query if key == TOKEN_PARAM]
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and from_query:
            # Trade the token in the address for a cookie, and take it out of the address bar.
            rest = urlencode([(key, value) for key, value in query if key != TOKEN_PARAM])
            path = "/" + scope.get("raw_path", scope["path"].encode()).decode("latin-1").lstrip(
                "/"
            )  # never //other.site
            response = RedirectResponse(path + (f"?{rest}" if rest else ""), 303)
            response.set_cookie(self.cookie, from_query[-1], httponly=True, samesite="strict", path="/")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: Headers, host: str) -> Response | None:
        """Why this request is refused, as the response to send; None when it may go on."""
        name = _host_name(host)
        if not name or not (is_loopback_host(name) or name in self.allowed_hosts):
            return _page(
                400 if not name else 403,
                "Host not allowed",
                "The local editor answers only on this machine (localhost, 127.0.0.1, [::1]) and on names "
                "given with --allow-host. To open it from elsewhere, use team mode or an SSH tunnel.",
            )
        origin = headers.get("origin")
        if origin is not None and not self._same_origin(origin, host):
            return _page(403, "Origin not allowed", "Another web site cannot drive the local editor.")
        if not self._has_token(scope, headers):
            return _page(403, "Token required", OPEN_PRINTED_URL)
        return None

    @staticmethod
    def _same_origin(origin: str, host: str) -> bool:
        """Whether ``origin`` is ``http(s)://`` plus exactly the request's Host (already checked above)."""
        parts = urlsplit(origin.strip().lower())
        return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower() and not parts.path

    def _has_token(self, scope: Scope, headers: Headers) -> bool:
        """Whether the request carries this launch's token (cookie, query parameter or Authorization header)."""
        offered: list[str] = []
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header carries no token
            cookies = SimpleCookie()
        if self.cookie in cookies:
            offered.append(cookies[self.cookie].value)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        offered += [value for key, value in query if key == TOKEN_PARAM]
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "token":
            offered.append(credential.strip())
        return any(hmac.compare_digest(value.encode(), self.token) for value in offered)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting makes the server answer the handshake with 403; nothing is opened.
            await receive()  # the websocket.connect message
            await send({"type": "websocket.close", "code": 1008})
            return
        await response(scope, receive, send)


def _page(status: int, title: str, detail: str) -> HTMLResponse:
    return HTMLResponse(REFUSAL_PAGE.format(title=title, detail=detail), status_code=status)
