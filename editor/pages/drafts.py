"""Saving the working copy after every change, off the event loop; the open pages of a pipeline.

Serialising a large pipeline and committing it to SQLite (synchronous=FULL) costs tens of
milliseconds; done inside the change handler, that delay sits between the user's gesture and what the
canvas shows. ``DraftSaver.request`` returns at once. A save takes a snapshot of the document on the
event loop (between changes, so never half of one) and writes it in a worker thread, one save at a
time; when changes arrived meanwhile, one more save follows with the newest document, so the last save
always holds the last change. The app waits for the saves still to do when it shuts down.

The savers of the pages open on one pipeline in this process form a group (``join``). A page that opens
waits for the group's saves still in flight (``saves_settled``) before it reads the draft, so a reload
right after an edit shows that edit and saves against the revision after it; and each save is
announced to the group's other pages at once (``on_saved_elsewhere``). Pages in another editor process
on the same store are not in the group: they learn of a save only when theirs is refused, except the
replicas of a team server on PostgreSQL, which pass each save on to each other's pages (``team.replica_sync``).

Each page hears of a save as its own user: a saver keeps the context it was made in (its page's, which on a
team server holds the page's user, ``team.identity``), and the news of a save reaches it in that context, not
in the saving page's. So the pull that follows (``live_merge``) reads the draft with that page's rights: a user
whose role was removed since is refused, not fed the other user's content with the saver's rights.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from nicegui import Client, background_tasks

Snapshot = TypeVar("Snapshot")
log = logging.getLogger(__name__)

# The savers of the open pages, by store (the object they save to), then pipeline id.
_groups: WeakKeyDictionary[object, dict[int, list[DraftSaver[Any]]]] = WeakKeyDictionary()


def _group(store: object, pipeline_id: int) -> list[DraftSaver[Any]]:
    return _groups.setdefault(store, {}).setdefault(pipeline_id, [])


def page_client(element: Any) -> Client | None:
    """The open page (NiceGUI client) of a context element; None when it has none, or the page closed.

    A page may close while a save's or a merge's database read runs; what comes after must then update nothing.
    """
    try:
        client = getattr(element, "client", None)
    except RuntimeError:  # an element raises this for its client once that was deleted and collected
        return None
    return client if isinstance(client, Client) and not client.is_deleted else None


def open_pages(store: object) -> dict[int, list[DraftSaver[Any]]]:
    """The savers of the pages open in this process, by pipeline id (copies; for news from other replicas)."""
    return {pipeline_id: list(group) for pipeline_id, group in _groups.get(store, {}).items() if group}


async def saves_settled(store: object, pipeline_id: int, *, timeout: float | None = None) -> bool:
    """Wait until no open page of this pipeline (in this process) has a draft save to do or running; False
    when that took longer than ``timeout`` seconds (the saves go on, and are announced when they land)."""

    async def settle() -> None:
        while busy := [saver for saver in _group(store, pipeline_id) if saver.busy]:
            for saver in busy:
                await saver.flush()

    try:
        await asyncio.wait_for(settle(), timeout)
    except TimeoutError:
        return False
    return True


class DraftSaver(Generic[Snapshot]):
    """Saves the document after changes; ``on_saved(revision)`` / ``on_failed(error)`` report the outcome.

    ``snapshot()`` runs on the event loop and returns what ``save(snapshot)`` writes in a worker thread
    (returning the draft revision). Once it joined a pipeline's group, ``on_saved_elsewhere(revision)``
    reports each save of another page of that pipeline, as it lands.
    """

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        save: Callable[[Snapshot], int],
        on_saved: Callable[[int], None],
        on_failed: Callable[[Exception], None],
        *,
        context: AbstractContextManager[Any] | None = None,
        on_saved_elsewhere: Callable[[int], None] | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.save = save
        self.on_saved = on_saved
        self.on_failed = on_failed
        self.on_saved_elsewhere = on_saved_elsewhere
        self.context = context  # where the callbacks run (an element: its client gets their notifications)
        self._wanted = 0  # changes requested
        self._done = 0  # changes covered by the last finished save
        self._task: asyncio.Task[None] | None = None
        self._peers: list[DraftSaver[Any]] | None = None  # the group joined
        self._leaving = False
        self._origin = contextvars.copy_context()  # the page's own (on a team server: its user), see _announce

    @property
    def pending(self) -> bool:
        """True while a change is not saved yet."""
        return self._done < self._wanted

    @property
    def busy(self) -> bool:
        """True while a change is not saved yet or a save is still running."""
        return self.pending or (self._task is not None and not self._task.done())

    def join(self, store: object, pipeline_id: int) -> None:
        """Belong to the open pages of ``pipeline_id`` in ``store``: they wait for this page's saves when they
        open and hear of them as they land; this page hears of theirs."""
        self._peers = _group(store, pipeline_id)
        self._peers.append(self)

    def leave(self) -> None:
        """The page is gone: leave its group once its last save is done (a page opening meanwhile waits for it)."""
        self._leaving = True
        if not self.busy:
            self._remove()

    def _remove(self) -> None:
        if self._peers is not None and self in self._peers:
            self._peers.remove(self)

    def request(self) -> None:
        """A change happened: save soon (coalesced with the changes that follow while a save runs)."""
        self._wanted += 1
        if self._task is None or self._task.done():
            self._task = background_tasks.create(self._drain(), name="dagsmith-save-draft", context=self.context)

    async def flush(self) -> None:
        """Wait until every change requested so far is saved (or its save failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    @background_tasks.await_on_shutdown
    async def _drain(self) -> None:
        try:
            while self._done < self._wanted:
                target = self._wanted
                try:
                    data = self.snapshot()
                    # Not run.io_bound: that skips the call once the app is stopping, and the change would be lost.
                    revision = await asyncio.to_thread(self.save, data)
                except Exception as exc:
                    self._done = target
                    self.on_failed(exc)
                    continue
                self._done = target
                self.on_saved(revision)
                self._announce(revision)
        finally:
            if self._leaving and self._done >= self._wanted:
                self._remove()

    def _announce(self, revision: int) -> None:
        """Tell the group's other pages, each in its own context (its client, and the context variables it was
        made with: its user), that the draft is at ``revision``."""
        for peer in list(self._peers or ()):
            if peer is self or peer._leaving or peer.on_saved_elsewhere is None:
                continue
            try:
                peer._origin.copy().run(peer._hear, revision)
            except Exception as exc:  # e.g. that page's client was deleted meanwhile: it needs no notice then
                log.warning("could not tell another page of pipeline draft revision %s: %s", revision, exc)

    def _hear(self, revision: int) -> None:
        """Another page saved revision ``revision`` (run in this page's own context, see ``_announce``)."""
        assert self.on_saved_elsewhere is not None
        with self.context if self.context is not None else nullcontext():
            self.on_saved_elsewhere(revision)
