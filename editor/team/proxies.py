"""Which requests came through a trusted proxy, and what that proxy says about them.

A proxy in front of the team server tells it, in headers, who the browser is and what it addressed:
``X-Forwarded-For`` (the client's address), ``X-Forwarded-Host`` and ``X-Forwarded-Proto`` (the host and
scheme the browser used), and with SSO the signed-in user (``proxy_user_header``) and their groups. Anyone
can send those headers, so they are believed only when the TCP peer is one of ``trusted_proxies``:

- ``strip_untrusted`` removes every forwarding header (``X-Forwarded-*``, ``Forwarded``, ``X-Real-IP``) and the
  SSO proxy's headers from any other peer's request, before anything behind the guard (NiceGUI reads
  ``X-Forwarded-Prefix``) can see them;
- ``via_trusted_proxy``, ``client_address``, ``public_host`` and ``public_scheme`` are the one place that
  decides, for the SSO header, the failed-login rate limit and the logs, the same-origin (CSRF) check and
  the OIDC redirect URI.

``dagsmith serve`` turns uvicorn's own proxy-header handling off: it would believe ``X-Forwarded-For`` from
127.0.0.1 whatever the settings say, and it replaces the peer's address, which is what the trust check needs.
``Forwarded`` (RFC 7239) is never read; proxies that send only it are treated as sending nothing.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Scope

from .settings import TeamSettings, canonical_address

FORWARDING_PREFIX = b"x-forwarded-"
FORWARDING_HEADERS = frozenset({b"forwarded", b"x-real-ip"})
SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def peer(scope: Scope) -> str:
    """The address of the TCP peer that sent the request ("" when the server does not know it)."""
    client = scope.get("client")
    return canonical_address(str(client[0])) if client else ""


def via_trusted_proxy(settings: TeamSettings, scope: Scope) -> bool:
    """Whether the request's TCP peer is one of the configured trusted proxies."""
    address = peer(scope)
    return bool(address) and address in settings.proxies


def strip_untrusted(settings: TeamSettings, scope: Scope) -> None:
    """Remove the forwarding and SSO headers from a request that did not come through a trusted proxy."""
    if via_trusted_proxy(settings, scope):
        return
    own = {
        name.lower().encode("latin-1", "replace") for name in (settings.proxy_user_header, settings.proxy_groups_header)
    }
    dropped = FORWARDING_HEADERS | (own - {b""})
    headers = scope.get("headers") or []
    kept = [(name, value) for name, value in headers if not name.startswith(FORWARDING_PREFIX) and name not in dropped]
    if len(kept) != len(headers):
        scope["headers"] = kept


def client_address(settings: TeamSettings, scope: Scope) -> str:
    """The client's address: the one the nearest trusted proxy names in ``X-Forwarded-For``, else the peer's.

    ``X-Forwarded-For`` is read from the right (each proxy appends the address it saw), skipping the trusted
    proxies, so what a client put there itself is never reached when a proxy appended after it.
    """
    address = peer(scope) or "unknown"
    if not via_trusted_proxy(settings, scope):
        return address
    hops = [_host(hop) for hop in _values(Headers(scope=scope), "x-forwarded-for")]
    for hop in reversed(hops):
        address = hop
        if hop not in settings.proxies:
            break
    return address[:64]


def public_host(settings: TeamSettings, scope: Scope) -> str:
    """The host (and port) the browser addressed: the trusted proxy's ``X-Forwarded-Host``, else ``Host``."""
    headers = Headers(scope=scope)
    if via_trusted_proxy(settings, scope):
        forwarded = _values(headers, "x-forwarded-host")
        if forwarded:
            return forwarded[-1]  # the nearest proxy's (one that appends leaves a client's value before it)
    host = headers.get("host", "").strip()
    if host:
        return host
    server = scope.get("server")
    return f"{server[0]}:{server[1]}" if server else ""


def public_scheme(settings: TeamSettings, scope: Scope) -> str:
    """``http`` or ``https``, as the browser addressed the server: the trusted proxy's ``X-Forwarded-Proto``,
    else the connection's own scheme."""
    if via_trusted_proxy(settings, scope):
        forwarded = _values(Headers(scope=scope), "x-forwarded-proto")
        if forwarded and forwarded[-1].lower() in SCHEMES:
            return SCHEMES[forwarded[-1].lower()]
    return SCHEMES.get(str(scope.get("scheme", "http")), "http")


def _values(headers: Headers, name: str) -> list[str]:
    """A header's comma-separated values, over all its lines, in order."""
    return [part.strip() for line in headers.getlist(name) for part in line.split(",") if part.strip()]


def _host(hop: str) -> str:
    """An ``X-Forwarded-For`` entry without a port (``1.2.3.4:5678``, ``[2001:db8::1]:443``), canonical."""
    if hop.startswith("[") and "]" in hop:
        return canonical_address(hop[1 : hop.index("]")])
    if hop.count(":") == 1:
        return canonical_address(hop.rsplit(":", 1)[0])
    return canonical_address(hop)
