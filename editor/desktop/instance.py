"""One desktop app at a time: a lock file, and an authenticated loopback channel to the running app.

The first ``dagsmith desktop`` takes an exclusive lock on ``<DAGSMITH_HOME>/desktop/instance.lock`` (held
until it exits; the system drops it if the process dies) and listens on a loopback port for commands. It
writes that port and a per-launch random token to ``instance.json`` (mode 0600: readable by the user only).
A later launch cannot take the lock: it reads the file and sends its request (open this file, or just
come to the front) as one JSON line carrying the token, then exits. The app answers a line only when the
token matches (compared in constant time); anything else is dropped without an answer. The window's menu
uses the same channel. No NiceGUI here: handing a file over must stay quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from .state import desktop_dir

try:
    import fcntl
except ImportError:  # Windows: no advisory locks here; every launch then runs its own app
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
MAX_LINE = 64 * 1024
CONTROL_ENV = "DAGSMITH_DESKTOP_CONTROL"
"""The running app's ``PORT:TOKEN``, inherited by its window process (whose menu sends commands)."""

Handler = Callable[[dict[str, Any]], Awaitable[str]]


def claim() -> IO[str] | None:
    """Become the one running app: the held lock file (keep it open), or None when another app holds it."""
    lock = (desktop_dir() / "instance.lock").open("a+", encoding="utf-8")
    if fcntl is None:
        return lock
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return None
    return lock


def send(port: int, token: str, message: dict[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
    """Send ``message`` to the app listening on ``port`` and return its answer; OSError when none comes."""
    line = json.dumps({**message, "token": token}).encode() + b"\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(line)
        with connection.makefile("rb") as reader:
            answer = reader.readline(MAX_LINE)
    if not answer:
        raise ConnectionError("the running dagsmith app closed the connection without answering")
    reply = json.loads(answer)
    if not isinstance(reply, dict):
        raise ConnectionError("the running dagsmith app gave an answer that is not an object")
    return reply


def hand_over(message: dict[str, Any], *, wait: float = 20.0) -> dict[str, Any] | None:
    """Give ``message`` to the running app (waiting up to ``wait`` s for it to publish its port); its answer,
    or None when no app answers."""
    deadline = time.monotonic() + wait
    while True:
        published = read_published()
        if published is not None:
            with contextlib.suppress(OSError, ValueError):
                return send(*published, message)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)


def read_published() -> tuple[int, str] | None:
    """The running app's port and token from instance.json; None when there is no usable one."""
    try:
        data = json.loads((desktop_dir() / "instance.json").read_text(encoding="utf-8"))
        port, token = data["port"], data["token"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (port, token) if isinstance(port, int) and isinstance(token, str) else None


def control_from_env() -> tuple[int, str] | None:
    """The app's port and token as its window process inherited them (CONTROL_ENV)."""
    port, _, token = os.environ.get(CONTROL_ENV, "").partition(":")
    return (int(port), token) if port.isdigit() and token else None


class ControlServer:
    """The running app's end of the channel: a loopback socket bound now, served once the event loop runs."""

    def __init__(self) -> None:
        self.token = secrets.token_urlsafe(32)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.port = int(self.socket.getsockname()[1])
        self._server: asyncio.Server | None = None
        self._file: Path | None = None

    @property
    def address(self) -> str:
        """``PORT:TOKEN`` for CONTROL_ENV."""
        return f"{self.port}:{self.token}"

    def publish(self) -> None:
        """Write instance.json so that later launches find this app."""
        path = desktop_dir() / "instance.json"
        temporary = path.with_name(f".instance.{os.getpid()}.json")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"port": self.port, "token": self.token, "pid": os.getpid()}, out)
        temporary.replace(path)
        self._file = path

    async def serve(self, handler: Handler) -> None:
        """Answer commands with ``handler`` (it returns a short text for the sender) until ``close``."""

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                reply = await self._answer(await reader.readline(), handler)
                if reply is not None:
                    writer.write(json.dumps(reply).encode() + b"\n")
                    await writer.drain()
            except (OSError, ValueError, asyncio.LimitOverrunError):
                pass
            finally:
                writer.close()

        self._server = await asyncio.start_server(connected, sock=self.socket, limit=MAX_LINE)

    async def _answer(self, line: bytes, handler: Handler) -> dict[str, Any] | None:
        try:
            message = json.loads(line)
        except ValueError:
            return None
        if not isinstance(message, dict) or not isinstance(message.get("token"), str):
            return None
        if not hmac.compare_digest(message.pop("token").encode(), self.token.encode()):
            log.warning("a command with a wrong token came to the desktop app's control port; ignored")
            return None
        try:
            return {"ok": True, "message": await handler(message)}
        except Exception as exc:  # the sender gets a line, the log keeps the traceback
            log.exception("desktop command %r failed", message.get("command"))
            return {"ok": False, "message": f"{type(exc).__name__}: {exc}"}

    def close(self) -> None:
        """Stop listening and remove instance.json (if it is still this app's)."""
        if self._server is not None:
            self._server.close()
        self.socket.close()
        if self._file is not None and read_published() == (self.port, self.token):
            with contextlib.suppress(OSError):
                self._file.unlink()
