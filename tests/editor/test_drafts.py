"""Saving drafts off the event loop: the last save holds the last change; failures are reported, not lost."""

from __future__ import annotations

import threading
import time

from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.pages.drafts import DraftSaver
from dagsmith.nodes import Pipeline, PipelineSettings


class Recorder:
    """A save function that takes a while and records what it saved, from which thread."""

    def __init__(self, *, fail_first: int = 0) -> None:
        self.saved: list[str] = []
        self.threads: set[int] = set()
        self.fail_first = fail_first
        self.running = 0
        self.overlapped = False
        self.lock = threading.Lock()

    def __call__(self, pipeline: Pipeline) -> int:
        with self.lock:
            self.running += 1
            self.overlapped = self.overlapped or self.running > 1
        try:
            self.threads.add(threading.get_ident())
            time.sleep(0.05)
            if self.fail_first:
                self.fail_first -= 1
                raise OSError("disk full")
            self.saved.append(pipeline.settings.name)
            return len(self.saved)
        finally:
            with self.lock:
                self.running -= 1


async def test_changes_during_a_save_are_saved_by_one_more_save(user: User) -> None:
    document = Pipeline(settings=PipelineSettings(name="v0"))
    recorder = Recorder()
    revisions: list[int] = []

    @ui.page("/")
    def page() -> None:
        pass

    await user.open("/")
    saver = DraftSaver(recorder, lambda: document, revisions.append, lambda exc: None)
    for number in range(1, 6):  # five quick changes
        document.settings.name = f"v{number}"
        saver.request()
    assert saver.pending
    await saver.flush()
    assert not saver.pending
    assert recorder.saved[-1] == "v5"  # the last save holds the last change
    assert len(recorder.saved) <= 2  # the changes made while a save ran were coalesced
    assert not recorder.overlapped
    assert threading.get_ident() not in recorder.threads  # saved off the event loop
    assert revisions == list(range(1, len(recorder.saved) + 1))


async def test_a_failed_save_is_reported_and_the_next_change_saves_again(user: User) -> None:
    document = Pipeline(settings=PipelineSettings(name="first"))
    recorder = Recorder(fail_first=1)
    failures: list[Exception] = []

    @ui.page("/")
    def page() -> None:
        pass

    await user.open("/")
    saver = DraftSaver(recorder, lambda: document, lambda revision: None, failures.append)
    saver.request()
    await saver.flush()
    assert [str(error) for error in failures] == ["disk full"]
    assert recorder.saved == []
    document.settings.name = "second"
    saver.request()
    await saver.flush()
    assert recorder.saved == ["second"]
    assert len(failures) == 1
