"""The pages open on one pipeline share the saved draft: a save costs the other pages no store read each.

``LiveMerge`` pages of one pipeline in one process (``pages.draft_feed``): the saving page hands over the
document it saved, and news from elsewhere (another replica or editor process) is read once for all the pages,
with a burst of revisions arriving during a read making one more read, not one per revision.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.pages.live_merge import LiveMerge
from dagsmith.editor.services import EditorServices
from dagsmith.editor.session import EditorSession
from dagsmith.nodes import Pipeline, load_example

PAGES = 5


class Counting(EditorServices):
    """The editor's services, counting the draft's reads and saves in the store."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads = 0
        self.saves = 0
        self.gate: threading.Event | None = None  # a read's answer waits for it (a slow database)
        self.away = False  # the database does not answer the pages' checks

    def require(self, pipeline_id: int, action: str) -> None:
        if self.away:
            raise ConnectionError("the database does not answer")

    def open_draft(self, pipeline_id: int) -> Any:
        self.reads += 1
        found = super().open_draft(pipeline_id)
        if self.gate is not None:
            self.gate.wait(10)  # what was read is older than the draft by the time it arrives
        return found

    def save_draft(self, pipeline_id: int, pipeline: Pipeline | str, *, expected_revision: int | None = None) -> int:
        self.saves += 1
        return super().save_draft(pipeline_id, pipeline, expected_revision=expected_revision)


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Counting, int]]:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSMITH_WORKSPACE", raising=False)
    services = Counting.open(f"sqlite:///{tmp_path / 'editor.db'}")
    assert isinstance(services, Counting)
    document = load_example("keyword_recommendation")
    document.settings.dag_id = "shared_reads"
    pipeline = services.store.create_pipeline(services.local_project().id, document)
    yield services, pipeline.id
    services.store.close()


async def start(user: User) -> None:
    @ui.page("/")
    def page() -> None:
        pass

    await user.open("/")  # the app's event loop, for the pages' background tasks


def open_pages(services: Counting, pipeline_id: int, failures: list[Exception]) -> list[LiveMerge]:
    """``PAGES`` pages of the pipeline, each with its session and live merge, in the group of open pages."""
    pages = []
    for _ in range(PAGES):
        _, pipeline, revision = services.open_draft(pipeline_id)
        live = LiveMerge(
            services, pipeline_id, EditorSession(pipeline), revision, on_saved=lambda _: None, on_failed=failures.append
        )
        live.drafts.join(services.store, pipeline_id)
        pages.append(live)
    services.reads = services.saves = 0
    return pages


def description(live: LiveMerge, node: str) -> Any:
    found = live.session.pipeline.node(node)
    assert found is not None
    return found.params.get("description")


async def all_settled(pages: list[LiveMerge]) -> None:
    for _ in range(2):  # a merge may ask one page for one more save, which the others then merge
        for live in pages:
            await live.settled()


async def test_one_save_costs_the_other_pages_of_this_process_no_read_and_no_save(
    user: User, editor: tuple[Counting, int]
) -> None:
    await start(user)
    services, pipeline_id = editor
    failures: list[Exception] = []
    pages = open_pages(services, pipeline_id, failures)
    node = pages[0].session.pipeline.nodes[0].id

    pages[0].session.set_param(node, ["description"], "from the first page")
    pages[0].drafts.request()
    await all_settled(pages)

    assert [description(live, node) for live in pages] == ["from the first page"] * PAGES
    assert services.reads == 0  # the saved document was handed over, not read again by each page
    assert services.saves == 1  # a merge that adds nothing of a page's own saves nothing
    revision = pages[0].revision
    assert revision is not None and all(live.revision == revision for live in pages)
    _, stored, stored_revision = services.open_draft(pipeline_id)
    assert stored_revision == revision and description_of(stored, node) == "from the first page"
    assert failures == []


async def test_a_burst_of_saves_from_elsewhere_is_read_once_per_read_under_way_for_all_pages(
    user: User, editor: tuple[Counting, int]
) -> None:
    await start(user)
    services, pipeline_id = editor
    failures: list[Exception] = []
    pages = open_pages(services, pipeline_id, failures)
    node = pages[0].session.pipeline.nodes[0].id
    other = services.store.get_draft(pipeline_id).pipeline()

    def elsewhere(text: str) -> int:  # another replica saves; its notice reaches every page here
        other.node(node).params["description"] = text  # type: ignore[union-attr]
        revision = EditorServices.save_draft(services, pipeline_id, other)
        for live in pages:
            live.saved_elsewhere(revision)
        return revision

    services.gate = threading.Event()  # the first read is slow: revisions arrive while it runs
    elsewhere("seven")
    await asyncio.sleep(0)
    while services.reads == 0:  # the pages' shared read has begun
        await asyncio.sleep(0.01)
    elsewhere("eight")
    last = elsewhere("nine")
    services.gate.set()
    await all_settled(pages)

    assert services.reads == 2  # one read under way, then one more for the two revisions that came meanwhile
    assert [description(live, node) for live in pages] == ["nine"] * PAGES
    assert all(live.revision == last for live in pages)
    assert services.saves == 0  # nothing of the pages' own to add
    assert failures == []


async def test_a_page_whose_save_was_refused_merges_the_newer_draft_and_saves_its_own_change_on_top(
    user: User, editor: tuple[Counting, int]
) -> None:
    await start(user)
    services, pipeline_id = editor
    failures: list[Exception] = []
    first, second = open_pages(services, pipeline_id, failures)[:2]
    x, y = (node.id for node in first.session.pipeline.nodes[:2])
    other = services.store.get_draft(pipeline_id).pipeline()
    other.node(x).params["description"] = "from another process"  # type: ignore[union-attr]
    EditorServices.save_draft(services, pipeline_id, other)  # unannounced: another editor process saved

    first.session.set_param(y, ["description"], "mine")
    first.drafts.request()
    await all_settled([first, second])

    _, stored, _ = services.open_draft(pipeline_id)
    assert description_of(stored, x) == "from another process"  # no update is lost
    assert description_of(stored, y) == "mine"
    assert description(second, x) == "from another process" and description(second, y) == "mine"
    assert failures == []


async def test_a_page_whose_check_could_not_reach_the_database_merges_at_the_next_save(
    user: User, editor: tuple[Counting, int], caplog: pytest.LogCaptureFixture
) -> None:
    await start(user)
    services, pipeline_id = editor
    failures: list[Exception] = []
    first, second = open_pages(services, pipeline_id, failures)[:2]
    x, y = (node.id for node in first.session.pipeline.nodes[:2])

    services.away = True
    first.session.set_param(x, ["description"], "while the database was away")
    first.drafts.request()
    await all_settled([first, second])
    assert description(second, x) != "while the database was away"  # not merged, and no error reached the page
    assert "could not read pipeline" in caplog.text

    services.away = False
    first.session.set_param(y, ["description"], "once it was back")
    first.drafts.request()
    await all_settled([first, second])
    assert description(second, x) == "while the database was away" and description(second, y) == "once it was back"
    assert failures == []


def description_of(pipeline: Pipeline, node: str) -> Any:
    found = pipeline.node(node)
    assert found is not None
    return found.params.get("description")
