"""Saving drafts off the event loop: the last save holds the last change; failures are reported, not lost."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.pages.drafts import DraftSaver, saves_settled


class Recorder:
    """A save that takes a while and records what it saved, from which thread, and whether saves overlapped."""

    def __init__(self, *, fail_first: int = 0) -> None:
        self.saved: list[str] = []
        self.threads: set[int] = set()
        self.fail_first = fail_first
        self.running = 0
        self.overlapped = False
        self.started = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, snapshot: dict[str, Any]) -> int:
        with self.lock:
            self.running += 1
            self.overlapped = self.overlapped or self.running > 1
        self.started.set()
        try:
            self.threads.add(threading.get_ident())
            time.sleep(0.2)
            if self.fail_first:
                self.fail_first -= 1
                raise OSError("disk full")
            self.saved.append(snapshot["name"])
            return len(self.saved)
        finally:
            with self.lock:
                self.running -= 1


async def open_page(user: User) -> None:
    @ui.page("/")
    def page() -> None:
        pass

    await user.open("/")


async def test_changes_during_a_save_are_saved_by_one_more_save(user: User) -> None:
    await open_page(user)
    document = {"name": "v1"}
    recorder = Recorder()
    revisions: list[int] = []
    saver = DraftSaver(lambda: dict(document), recorder, revisions.append, lambda exc: None)
    saver.request()
    assert saver.pending
    await asyncio.to_thread(recorder.started.wait, 5)  # the first save is running now
    for number in range(2, 6):  # four more changes while it runs
        document["name"] = f"v{number}"
        saver.request()
    await saver.flush()
    assert not saver.pending
    assert recorder.saved == ["v1", "v5"]  # the changes made during the first save: one more save, the newest
    assert not recorder.overlapped
    assert threading.get_ident() not in recorder.threads  # written off the event loop
    assert revisions == [1, 2]


async def test_the_snapshot_is_taken_on_the_event_loop_before_the_save(user: User) -> None:
    await open_page(user)
    document = {"name": "before"}
    where: list[int] = []

    def snapshot() -> dict[str, Any]:
        where.append(threading.get_ident())
        return dict(document)

    recorder = Recorder()
    saver = DraftSaver(snapshot, recorder, lambda revision: None, lambda exc: None)
    saver.request()
    await asyncio.to_thread(recorder.started.wait, 5)
    document["name"] = "changed during the save"  # not in the snapshot being written
    await asyncio.sleep(0.3)
    assert recorder.saved == ["before"]
    assert where == [threading.get_ident()]


async def test_a_failed_save_is_reported_and_the_next_change_saves_again(user: User) -> None:
    await open_page(user)
    document = {"name": "first"}
    recorder = Recorder(fail_first=1)
    failures: list[Exception] = []
    saver = DraftSaver(lambda: dict(document), recorder, lambda revision: None, failures.append)
    saver.request()
    await saver.flush()
    assert [str(error) for error in failures] == ["disk full"]
    assert recorder.saved == []
    document["name"] = "second"
    saver.request()
    await saver.flush()
    assert recorder.saved == ["second"]
    assert len(failures) == 1


# ---- the open pages of one pipeline (issue 11, defect 3) ---------------------------------------------


class Store:
    """Stands for the store the pages save to (the groups are per store object)."""


async def test_a_page_that_opens_waits_for_the_saves_still_running_on_its_pipeline(user: User) -> None:
    await open_page(user)
    store = Store()
    document = {"name": "typed before the reload"}
    recorder = Recorder()
    earlier = DraftSaver(lambda: dict(document), recorder, lambda revision: None, lambda exc: None)
    earlier.join(store, 1)
    other_pipeline = DraftSaver(lambda: {"name": "other"}, Recorder(), lambda revision: None, lambda exc: None)
    other_pipeline.join(store, 2)
    earlier.request()
    await asyncio.to_thread(recorder.started.wait, 5)
    earlier.leave()  # the reload closes the earlier page while its save runs: it is still waited for
    await saves_settled(store, 1)
    assert recorder.saved == ["typed before the reload"]  # what the new page reads now holds it
    assert not earlier.busy
    await saves_settled(store, 2)  # nothing running there
    other_pipeline.request()
    await saves_settled(store, 1)  # another pipeline's save is not waited for
    assert other_pipeline.busy
    await saves_settled(store, 2)
    assert not other_pipeline.busy


async def test_a_save_is_announced_to_the_other_pages_of_its_pipeline_only(user: User) -> None:
    await open_page(user)
    store = Store()
    heard: dict[str, list[int]] = {"a": [], "b": [], "other": [], "gone": []}

    def saver(name: str, pipeline_id: int) -> DraftSaver[dict[str, Any]]:
        page = DraftSaver(
            lambda: {"name": name},
            Recorder(),
            lambda revision: None,
            lambda exc: None,
            on_saved_elsewhere=heard[name].append,
        )
        page.join(store, pipeline_id)
        return page

    a, b, _, gone = saver("a", 1), saver("b", 1), saver("other", 2), saver("gone", 1)
    gone.leave()
    a.request()
    await a.flush()
    assert heard == {"a": [], "b": [1], "other": [], "gone": []}
    b.request()
    await b.flush()
    assert heard == {"a": [1], "b": [1], "other": [], "gone": []}


async def test_waiting_for_a_pipelines_saves_can_be_bounded_and_leaves_them_running(user: User) -> None:
    await open_page(user)
    store = Store()
    recorder = Recorder()
    page = DraftSaver(lambda: {"name": "slow"}, recorder, lambda revision: None, lambda exc: None)
    page.join(store, 1)
    page.request()
    assert not await saves_settled(store, 1, timeout=0.01)  # the save takes 0.2 s
    assert await saves_settled(store, 1, timeout=5)
    assert recorder.saved == ["slow"]  # the bounded wait did not cancel it
