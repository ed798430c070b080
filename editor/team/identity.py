"""Who is asking, for the code that serves a request: a context variable the guards set.

The HTTP guard (``guard.TeamGuard``) sets it for each request, so a page is built as its user. Socket.io
events (every click and keystroke of a page after it loaded) do not pass through HTTP middleware once the
websocket is open, so ``guard_socketio`` wraps socket.io's handlers: each connect, handshake and event
looks the session up again (a signed-out or disabled user's open tab is refused at its next event) and
runs as that user.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.cookies import SimpleCookie
from typing import Any

from .accounts import Identity
from .grants import Grants

log = logging.getLogger("dagsmith.team")
_CURRENT: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("dagsmith_identity", default=None)
_ORDER: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
"""A lock per socket (by sid) while its events are being identified; gone when none is (weak values)."""
UNGUARDED_EVENTS = frozenset({"disconnect"})
"""Socket.io events that run without a session: a disconnect only cleans up."""


class NotSignedIn(PermissionError):  # noqa: N818 (reads as "identity.NotSignedIn")
    """Code that needs a user ran without one (a bug in the team server, or a session that ended)."""


def current_identity() -> Identity:
    """The user this request or event runs as; raises ``NotSignedIn`` outside a signed-in context."""
    identity = _CURRENT.get()
    if identity is None:
        raise NotSignedIn("you are not signed in (or your session ended); sign in again")
    return identity


@contextmanager
def acting_as(identity: Identity | None, *, expire: bool = True) -> Iterator[None]:
    """Run the block (and the tasks it starts, which copy the context) as ``identity``.

    The roles its session lookup read (``identity.grants``) hold for the block only: when it ends they expire
    (unless ``expire`` is False: the caller expires them), and the tasks it left running check roles in the
    database again (``grants``).
    """
    token = _CURRENT.set(identity)
    try:
        yield
    finally:
        _CURRENT.reset(token)
        if expire:
            expire_grants(identity)


def expire_grants(identity: Identity | None) -> None:
    """The request or event ``identity`` was looked up for is over: its roles are read again from now on."""
    if identity is not None and identity.grants is not None:
        identity.grants.expire()


def live_grants(name: str | None = None) -> Grants | None:
    """The roles of the user the running request or event acts as (when ``name`` is given: only if that is
    ``name``), as of its session lookup; None when there are none (no user, another user, or the request or
    event is over: then the database is asked)."""
    identity = _CURRENT.get()
    if identity is None or name not in (None, identity.name) or identity.grants is None or not identity.grants.live:
        return None
    return identity.grants


def cookie_value(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header; None when absent or the header is malformed."""
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(header)
    except Exception:  # a malformed header carries no session
        return None
    return cookies[name].value if name in cookies else None


def guard_socketio(sio: Any, identify: Callable[[dict[str, Any]], Identity | None]) -> None:
    """Wrap every handler of ``sio``'s default namespace: the socket's session (or SSO proxy) must vouch.

    ``identify`` maps the ASGI scope of the socket's opening request to its user (None: refused).
    A refused connect raises socket.io's ``ConnectionRefusedError``; a refused event is dropped, logged
    and its socket disconnected.
    """
    import socketio

    handlers: dict[str, Callable[..., Any]] = sio.handlers.setdefault("/", {})
    for event, handler in list(handlers.items()):
        if event in UNGUARDED_EVENTS or getattr(handler, "_dagsmith_guarded", False):
            continue
        handlers[event] = _guarded(sio, event, handler, identify, socketio.exceptions.ConnectionRefusedError)


def _guarded(
    sio: Any,
    event: str,
    handler: Callable[..., Any],
    identify: Callable[[dict[str, Any]], Identity | None],
    refused: type[Exception],
) -> Callable[..., Any]:
    async def guarded(sid: str, *args: Any) -> Any:
        environ = args[0] if event == "connect" and args else sio.get_environ(sid) or {}
        # The session lookup reads the database: in a worker thread, so the event loop serves the other pages
        # meanwhile. A socket's events still reach their handlers in the order they came (a FIFO lock per socket).
        # The lookup also reads the user's roles (grants): the edit guard's checks during the event need no query.
        lock = _ORDER.setdefault(sid, asyncio.Lock())
        identity: Identity | None = None
        try:
            async with lock:
                identity = await asyncio.to_thread(identify, _scope(environ))
                if identity is None:
                    if event == "connect":
                        raise refused("sign in first")
                    log.warning(
                        "socket.io %r event refused: its session ended or was never signed in (sid %s)", event, sid
                    )
                    await sio.disconnect(sid)
                    return None
                with acting_as(identity, expire=False):
                    result = handler(sid, *args)
            if hasattr(result, "__await__"):  # an async handler runs on unlocked: it may wait for this socket's events
                with acting_as(identity, expire=False):
                    result = await result
        finally:
            expire_grants(identity)  # the event is done: its roles are read again from here on
        return result

    guarded._dagsmith_guarded = True  # type: ignore[attr-defined]
    return guarded


def _scope(environ: dict[str, Any]) -> dict[str, Any]:
    """The ASGI scope of the request that opened a socket (engine.io keeps it in its WSGI-style environ)."""
    scope = environ.get("asgi.scope")
    if isinstance(scope, dict):
        return scope
    cookie = str(environ.get("HTTP_COOKIE", ""))
    return {"type": "http", "headers": [(b"cookie", cookie.encode("latin-1"))] if cookie else [], "client": None}
