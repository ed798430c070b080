"""Saving the working copy after every change, off the event loop.

Serialising a large pipeline and committing it to SQLite (synchronous=FULL) costs tens of
milliseconds; done inside the change handler, that delay sits between the user's gesture and what the
canvas shows. ``DraftSaver.request`` returns at once. A save takes a snapshot of the document on the
event loop (between changes, so never half of one) and writes it in a worker thread, one save at a
time; when changes arrived meanwhile, one more save follows with the newest document, so the last save
always holds the last change. The app waits for the saves still to do when it shuts down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from nicegui import background_tasks

Snapshot = TypeVar("Snapshot")


class DraftSaver(Generic[Snapshot]):
    """Saves the document after changes; ``on_saved(revision)`` / ``on_failed(error)`` report the outcome.

    ``snapshot()`` runs on the event loop and returns what ``save(snapshot)`` writes in a worker thread
    (returning the draft revision).
    """

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        save: Callable[[Snapshot], int],
        on_saved: Callable[[int], None],
        on_failed: Callable[[Exception], None],
        *,
        context: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.save = save
        self.on_saved = on_saved
        self.on_failed = on_failed
        self.context = context  # where the callbacks run (an element: its client gets their notifications)
        self._wanted = 0  # changes requested
        self._done = 0  # changes covered by the last finished save
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> bool:
        """True while a change is not saved yet."""
        return self._done < self._wanted

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
