"""The newest draft of a pipeline, shared by the pages open on it in this process: one read per revision.

Every save of a page makes the pipeline's other open pages merge the saved draft (``live_merge``). Each page
reading the draft from the store itself meant, with five users on a pipeline, four reads and four document
parses per save. Here the pages of one pipeline share a ``DraftFeed``:

- the saving page hands over the document it saved with its revision (``offer``): the pages of this process
  merge that, and read nothing;
- news from elsewhere (another replica, another editor process) is read from the store once for all the pages
  that wait for it. Reads do not pile up: while one runs, pages that need a newer revision wait for it and
  then share one more read (revisions 7, 8 and 9 arriving during a read make one more read, not three).

A revision names one content for good (the store counts every save up), so a document known at revision r is
the draft at r. Each page is checked as its own user before it gets the document (``check``): its session
again, when a session check is set for the store (a team server's: ``team.replica_sync.recheck_pages``), then
its role. The pages hearing of one save are checked together, in one worker thread: a page whose user signed
out, was disabled or had the session revoked gets nothing more, and one whose role was removed gets the refusal.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from typing import Any
from weakref import WeakKeyDictionary, WeakValueDictionary

from dagsmith.nodes import Pipeline

from ..services import EditorServices

log = logging.getLogger(__name__)

SessionCheck = Callable[[Any], AbstractContextManager[Any] | None]
"""A page's session, checked again: given the page's context element, the context to act in as its user (e.g.
``identity.acting_as``), or None when the session no longer vouches (signed out, disabled, revoked)."""

_checks: WeakKeyDictionary[object, SessionCheck] = WeakKeyDictionary()
_feeds: WeakKeyDictionary[object, WeakValueDictionary[int, DraftFeed]] = WeakKeyDictionary()


class SignedOut(Exception):  # noqa: N818 (reads as "draft_feed.SignedOut")
    """The page's session no longer vouches for its user: the page gets no more drafts."""


def check_sessions_with(store: object, check: SessionCheck) -> None:
    """Check each page's session again before it gets a draft of ``store``'s pipelines (a team server)."""
    _checks[store] = check


def feed_of(services: EditorServices, pipeline_id: int) -> DraftFeed:
    """The feed of the pipeline's draft for the pages of this process (kept while one of them holds it)."""
    feeds = _feeds.setdefault(services.store, WeakValueDictionary())
    feed = feeds.get(pipeline_id)
    if feed is None:
        feed = feeds[pipeline_id] = DraftFeed(services, pipeline_id)
    return feed


class DraftFeed:
    """The newest draft of one pipeline known in this process, and the one read of the store under way."""

    def __init__(self, services: EditorServices, pipeline_id: int) -> None:
        self.services = services
        self.pipeline_id = pipeline_id
        self.known: tuple[int, Pipeline] | None = None  # (revision, document): the draft at that revision
        self.reads = 0  # reads of the store (for tests and benches)
        self._read: asyncio.Future[tuple[int, Pipeline]] | None = None
        self._batch: list[tuple[Any, contextvars.Context, asyncio.Future[None]]] = []

    def offer(self, revision: int, document: Pipeline) -> None:
        """A page of this process saved ``document`` as ``revision`` (or read it): newer than known, it is kept."""
        if self.known is None or revision > self.known[0]:
            self.known = (revision, document)

    async def draft(self, context: Any, origin: contextvars.Context, at_least: int | None) -> tuple[Pipeline, int]:
        """The draft at revision ``at_least`` or newer (None: as the store holds it now), for a page.

        ``context`` is the page's element and ``origin`` its context variables (its user). Raises ``SignedOut``
        when the page's session ended, the ``UserError`` of its role check, or that of the read.
        """
        await self.check(context, origin)
        revision, document = await self._newest(at_least, origin)
        return document, revision

    # -- checks ------------------------------------------------------------------------------------------------
    async def check(self, context: Any, origin: contextvars.Context) -> None:
        """Check the page's session and role; pages asking in the same turn of the loop are checked together."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.append((context, origin, future))
        if len(self._batch) == 1:
            asyncio.get_running_loop().call_soon(self._check_batch)
        await future

    def _check_batch(self) -> None:
        batch, self._batch = self._batch, []
        pages = [(context, origin) for context, origin, _ in batch]
        checked = asyncio.get_running_loop().run_in_executor(None, self._checks, pages)
        checked.add_done_callback(functools.partial(_settle, [future for _, _, future in batch]))

    def _checks(self, pages: list[tuple[Any, contextvars.Context]]) -> list[Exception | None]:
        """Each page's checks, as its own user (in a worker thread)."""
        session_check = _checks.get(self.services.store)
        outcomes: list[Exception | None] = []
        for context, origin in pages:
            try:
                origin.copy().run(self._check_one, session_check, context)
            except Exception as exc:  # the page's own outcome: a refusal, or the database away
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes

    def _check_one(self, session_check: SessionCheck | None, context: Any) -> None:
        if session_check is None:
            self.services.require(self.pipeline_id, "open")
            return
        acting = session_check(context)
        if acting is None:
            raise SignedOut(f"the session of a page of pipeline {self.pipeline_id} ended")
        with acting:
            self.services.require(self.pipeline_id, "open")

    # -- the shared read ---------------------------------------------------------------------------------------
    async def _newest(self, at_least: int | None, origin: contextvars.Context) -> tuple[int, Pipeline]:
        while True:
            known = self.known
            if known is not None and at_least is not None and known[0] >= at_least:
                return known
            running = self._read is not None and not self._read.done()
            if not running:  # a read that starts now sees the draft as it is now: its answer will do
                loop = asyncio.get_running_loop()
                read = self._read = loop.run_in_executor(None, origin.copy().run, self._read_store)
                read.add_done_callback(self._offer_read)  # first: the pages waiting for it find it known
                revision, document = await asyncio.shield(read)
                known = self.known
                return known if known is not None and known[0] > revision else (revision, document)
            assert self._read is not None
            with suppress(Exception):  # a read that began before this page asked may be too old: wait, look again
                await asyncio.shield(self._read)

    def _offer_read(self, read: asyncio.Future[tuple[int, Pipeline]]) -> None:
        if not read.cancelled() and read.exception() is None:
            self.offer(*read.result())

    def _read_store(self) -> tuple[int, Pipeline]:
        """Read the draft (in a worker thread, as the user of the page that started the read, who has just passed
        the checks; every other page is checked as its own user before it gets the document)."""
        self.reads += 1
        _, document, revision = self.services.open_draft(self.pipeline_id)
        return revision, document


def _settle(futures: list[asyncio.Future[None]], checked: asyncio.Future[list[Exception | None]]) -> None:
    """Give each page its check's outcome (all of them the error, when the checking itself failed)."""
    error: BaseException | None = asyncio.CancelledError() if checked.cancelled() else checked.exception()
    outcomes: list[BaseException | None] = [error] * len(futures) if error is not None else list(checked.result())
    for future, outcome in zip(futures, outcomes, strict=True):
        if future.done():  # the page's pull was cancelled meanwhile
            continue
        if outcome is None:
            future.set_result(None)
        else:
            future.set_exception(outcome)
