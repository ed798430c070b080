"""Pages open on one replica of a team server see the edits made through the other replicas, live.

Pages of one pipeline in one process hear of each other's draft saves at once (``pages.drafts``). Replicas
behind a load balancer are other processes on the same PostgreSQL database: each draft save there sends a
notice (``store.notify``: ids and revision only, never the document). ``ReplicaSync`` keeps one connection
per replica listening for them, on its own thread, and hands each notice from another replica to the pages
open here on that pipeline, through the same path as a save by a page of this process: the page gets the
draft, read once for all the pages here that wait for it, after its session and role were checked again
(``pages.draft_feed``, with the session check ``recheck_pages`` sets for the team server, same-replica saves
included), and merges it in while keeping what its user is typing (``pages.live_merge``).

A dropped connection (a restarted database, a terminated backend, a network cut) is opened again after a
short wait, growing to ``MAX_RETRY_SECONDS`` while it keeps failing. Saves made while it was down sent
notices that nobody heard: once listening again, it reads the draft revisions of the pipelines open here
and tells every page that is behind. SQLite (a single-process trial) needs none of this.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import psycopg
from sqlalchemy import bindparam, text

from ..pages.draft_feed import check_sessions_with
from ..pages.drafts import DraftSaver, open_pages, page_client
from ..store import Store
from ..store.notify import CHANNEL, REPLICA, DraftSaved
from .identity import Identity, acting_as

log = logging.getLogger("dagsmith.team.replicas")

APPLICATION_NAME = "dagsmith-replica-sync"
"""The listening connection's ``application_name`` (``pg_stat_activity`` shows it)."""
POLL_SECONDS = 1.0  # how often the listening thread looks whether it should stop
MAX_RETRY_SECONDS = 10.0
_REVISIONS = text("SELECT pipeline_id, revision FROM draft WHERE pipeline_id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)

Identify = Callable[[dict[str, Any]], Identity | None]
"""The user of an ASGI scope (the page's request): the team server's session check."""


def recheck_pages(store: Store, identify: Identify) -> None:
    """Before a page open here gets another page's save (of this replica or another), its session is checked
    again: a page whose user signed out, was disabled or had the session revoked gets nothing more."""

    def check(context: Any) -> AbstractContextManager[Any] | None:
        client = page_client(context)
        if client is None:
            return None
        try:
            scope: Any = client.request.scope  # the ASGI scope of the page's own request (its cookie, its address)
        except RuntimeError:  # a client without its request: no session vouches for it
            return None
        identity = identify(scope)
        return None if identity is None else acting_as(identity)

    check_sessions_with(store, check)


class ReplicaSync:
    """Listens for the other replicas' draft saves and tells the pages open here; ``start`` / ``stop`` with the app."""

    def __init__(self, store: Store, identify: Identify) -> None:
        self.store = store
        self.identify = identify
        self.conninfo = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.listening = threading.Event()  # set while a connection listens (tests wait on it)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        recheck_pages(store, identify)  # the pages told of a save check their sessions before they read it

    def start(self) -> None:
        """Start listening (on the app's event loop, at startup)."""
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        self._thread = threading.Thread(target=self._listen, name="dagsmith-replica-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (at shutdown); returns once the thread closed its connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(POLL_SECONDS * 5)
            self._thread = None

    # -- the listening thread ---------------------------------------------------------------------------------
    def _listen(self) -> None:
        wait = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.conninfo, autocommit=True, application_name=APPLICATION_NAME, connect_timeout=10
                ) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    log.info("replica %s listens for the other replicas' draft saves", REPLICA)
                    self.listening.set()
                    wait = 0.5
                    self._soon(self._catch_up)
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=POLL_SECONDS):
                            self._heard(notice.payload)
            except psycopg.Error as exc:
                self.listening.clear()
                if self._stop.is_set():
                    break
                log.warning(
                    "replica %s lost its connection for other replicas' edits (%s); connecting again in %.1f s",
                    REPLICA,
                    str(exc).strip() or type(exc).__name__,
                    wait,
                )
                self._stop.wait(wait)
                wait = min(wait * 2, MAX_RETRY_SECONDS)
        self.listening.clear()

    def _heard(self, payload: str) -> None:
        notice = DraftSaved.parse(payload)
        if notice is None:
            log.warning("ignored a notice on %s that is not a draft save: %.80r", CHANNEL, payload)
            return
        if notice.origin == REPLICA:
            return  # this replica's own save: its pages heard of it already
        self._soon(lambda: self.deliver(notice.pipeline, notice.revision))

    def _soon(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the app's event loop (from the listening thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback)

    # -- on the event loop --------------------------------------------------------------------------------------
    def deliver(self, pipeline_id: int, revision: int) -> None:
        """Tell the pages open here on ``pipeline_id`` that its draft is at ``revision`` (saved elsewhere).

        Pages that closed are skipped. The pages then check their sessions again, all in one worker thread, and
        read the draft once between them (``pages.draft_feed``): a notice never holds up the event loop.
        """
        for saver in open_pages(self.store).get(pipeline_id, []):
            if _listening(saver):
                self._tell(saver, pipeline_id, revision)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _tell(self, saver: DraftSaver[Any], pipeline_id: int, revision: int) -> None:
        assert saver.on_saved_elsewhere is not None  # _listening
        try:
            with saver.context or nullcontext():
                saver.on_saved_elsewhere(revision)
        except Exception as exc:  # the page failed to take the news: it reads the draft at its next save
            log.warning("could not tell a page of pipeline %s of draft revision %s: %s", pipeline_id, revision, exc)

    def _catch_up(self) -> None:
        """Once listening (again): the pages behind the drafts in the database hear of their revisions."""
        pipelines = list(open_pages(self.store))
        if not pipelines:
            return
        self._spawn(self._revisions_then_deliver(pipelines))

    async def _revisions_then_deliver(self, pipelines: list[int]) -> None:
        def read() -> list[tuple[int, int]]:
            with self.store.engine.connect() as connection:
                return [(int(p), int(r)) for p, r in connection.execute(_REVISIONS, {"ids": pipelines})]

        try:
            revisions = await asyncio.to_thread(read)
        except Exception as exc:  # the database is away again: the next connection catches up
            log.warning("could not read the draft revisions of the open pipelines: %s", exc)
            return
        for pipeline_id, revision in revisions:
            self.deliver(pipeline_id, revision)


def _listening(saver: DraftSaver[Any]) -> bool:
    """Whether the saver's page is still open and wants other saves' news (a closed page's saver may still be
    finishing its last save, and so still be in the open pages)."""
    client = page_client(saver.context)
    if saver.on_saved_elsewhere is None or client is None:
        return False
    try:
        client.request  # noqa: B018 (raises RuntimeError when the client has none)
    except RuntimeError:
        return False
    return True
