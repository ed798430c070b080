"""Saving the working copy after every change, off the event loop.

Serialising a large pipeline and committing it to SQLite (synchronous=FULL) costs tens of
milliseconds; done inside the change handler, that delay sits between the user's gesture and what the
canvas shows. ``DraftSaver.request`` returns at once; one save at a time runs in a worker thread, and
when changes arrived meanwhile, one more save follows with the newest document, so the last save always
holds the last change. The app waits for a save in progress when it shuts down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from nicegui import background_tasks, run

from dagsmith.nodes import Pipeline

SaveFunction = Callable[[Pipeline], int]
"""Writes the document; returns the draft revision."""


class DraftSaver:
    """Saves ``document()`` after changes; ``on_saved(revision)`` / ``on_failed(error)`` report the outcome."""

    def __init__(
        self,
        save: SaveFunction,
        document: Callable[[], Pipeline],
        on_saved: Callable[[int], None],
        on_failed: Callable[[Exception], None],
        *,
        context: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.save = save
        self.document = document
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
                revision = await run.io_bound(self._save_now)
            except Exception as exc:
                self._done = target
                self.on_failed(exc)
                continue
            self._done = target
            if revision is not None:
                self.on_saved(revision)

    def _save_now(self) -> int:
        # The event loop may change the document while this thread reads it; a read that fails for that
        # reason is retried, and any change that lands during the save is saved again by the next round.
        for attempt in range(3):
            try:
                return self.save(self.document())
            except RuntimeError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
