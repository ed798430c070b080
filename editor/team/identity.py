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
def acting_as(identity: Identity | None) -> Iterator[None]:
    """Run the block (and the tasks it starts, which copy the context) as ``identity``."""
    token = _CURRENT.set(identity)
    try:
        yield
    finally:
        _CURRENT.reset(token)


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
        lock = _ORDER.setdefault(sid, asyncio.Lock())
        async with lock:
            identity = await asyncio.to_thread(identify, _scope(environ))
            if identity is None:
                if event == "connect":
                    raise refused("sign in first")
                log.warning("socket.io %r event refused: its session ended or was never signed in (sid %s)", event, sid)
                await sio.disconnect(sid)
                return None
            with acting_as(identity):
                result = handler(sid, *args)
        if hasattr(result, "__await__"):  # an async handler runs on unlocked: it may wait for this socket's events
            with acting_as(identity):
                result = await result
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
