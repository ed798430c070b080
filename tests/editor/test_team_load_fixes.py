"""What the team load bench found (issue 13): closed pages get no updates, and database reads leave the event loop.

Under load, pages closed while a merge for them was under way (``LiveMerge._pull`` reading the draft) and the
merge then updated the deleted page ("The parent slot of List(...) has been deleted", "list.remove(x)"); the
replicas told closed pages of other replicas' saves; and every socket.io event, and every page open, read the
database on the event loop, holding up every other page of that replica meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from nicegui import Client
from nicegui.testing import User

from dagsmith.editor.pages import register_pages
from dagsmith.editor.pages.drafts import DraftSaver, open_pages
from dagsmith.editor.services import EditorServices
from dagsmith.editor.team.accounts import Identity
from dagsmith.editor.team.identity import guard_socketio
from dagsmith.editor.team.replica_sync import ReplicaSync
from dagsmith.nodes import load_example


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EditorServices:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSMITH_WORKSPACE", raising=False)
    return EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


def new_pipeline(services: EditorServices) -> int:
    document = load_example("keyword_recommendation")
    document.settings.dag_id = "team_load"
    return services.store.create_pipeline(services.local_project().id, document).id


async def open_workbench(user: User, services: EditorServices, pipeline_id: int) -> DraftSaver[Any]:
    """Open the pipeline's page; its draft saver (the page's side of the pipeline's open pages)."""
    register_pages(services)
    await user.open(f"/pipeline/{pipeline_id}")
    [saver] = open_pages(services.store)[pipeline_id]
    return saver


def client_of(saver: DraftSaver[Any]) -> Client:
    client = getattr(saver.context, "client", None)
    assert isinstance(client, Client)
    return client


class Collected:
    """A NiceGUI element once its deleted client was garbage-collected: ``client`` raises."""

    @property
    def client(self) -> Client:
        raise RuntimeError("The client this element belongs to has been deleted.")


@pytest.mark.parametrize("gone", ["deleted", "collected"])
async def test_a_merge_whose_page_closed_while_it_read_the_draft_changes_nothing(
    user: User, services: EditorServices, gone: str
) -> None:
    pipeline_id = new_pipeline(services)
    saver = await open_workbench(user, services, pipeline_id)
    live = saver.on_saved_elsewhere.__self__  # type: ignore[union-attr]  # the page's LiveMerge
    other = load_example("keyword_recommendation")
    other.nodes[0].label = "Changed in another tab"
    services.save_draft(pipeline_id, other)  # another page saved: this page's merge would take the label
    reading, closed = threading.Event(), threading.Event()
    read = services.open_draft

    def slow_read(pid: int) -> Any:
        reading.set()
        closed.wait(10)  # the page closes while the draft is being read
        return read(pid)

    services.open_draft = slow_read  # type: ignore[method-assign]  # the read the page's draft feed makes
    before = live.session.pipeline
    live.pull()
    await asyncio.to_thread(reading.wait, 10)
    client_of(saver).delete()
    if gone == "collected":
        live.context = Collected()
    closed.set()
    await asyncio.gather(*live._pulls)  # the app logs no error (the ``user`` fixture fails the test if it does)
    assert live.session.pipeline is before  # nothing was merged into the closed page
    assert live.session.pipeline.nodes[0].label != "Changed in another tab"


async def test_a_page_whose_refused_save_the_draft_already_holds_says_saved(
    user: User, services: EditorServices
) -> None:
    pipeline_id = new_pipeline(services)
    saver = await open_workbench(user, services, pipeline_id)
    live = saver.on_saved_elsewhere.__self__  # type: ignore[union-attr]
    node = live.session.pipeline.nodes[0].id
    same = live.session.frozen().model_copy(deep=True)
    same.node(node).label = "Typed on both pages"
    services.save_draft(pipeline_id, same)  # the draft moves on, holding the very change this page makes next
    failures: list[str] = []

    def failed(error: Exception) -> None:
        failures.append(type(error).__name__)
        live.failed(error)

    live.drafts.on_failed = failed
    live.session.set_node_field(node, ["label"], "Typed on both pages")  # its save is refused (revision moved)
    status = live.context  # the page's save status
    assert status.text == "saving…"
    await live.settled()
    assert failures == ["DraftConflictError"]  # the page's save was refused
    assert status.text == "saved"  # bench_team_load: the page said "saving…" for good, its change saved
    saved = services.open_draft(pipeline_id)[1].node(node)
    assert saved is not None and saved.label == "Typed on both pages"


async def test_a_page_open_reads_the_draft_off_the_event_loop(user: User, services: EditorServices) -> None:
    pipeline_id = new_pipeline(services)
    threads: list[int] = []
    read = services.open_draft

    def recording(pid: int) -> Any:
        threads.append(threading.get_ident())
        return read(pid)

    services.open_draft = recording  # type: ignore[method-assign,assignment]
    await open_workbench(user, services, pipeline_id)
    assert len(threads) == 1  # the page reads the draft once
    assert threads[0] != threading.get_ident()  # and not on the event loop


async def test_a_page_whose_draft_takes_longer_than_nicegui_s_3_s_to_read_still_opens(
    user: User, services: EditorServices
) -> None:
    pipeline_id = new_pipeline(services)
    read = services.open_draft

    def slow(pid: int) -> Any:  # a team server under load: the database answers late
        time.sleep(3.5)
        return read(pid)

    services.open_draft = slow  # type: ignore[method-assign,assignment]
    await open_workbench(user, services, pipeline_id)  # no HTTP 500 ("not ready after 3.0 seconds")
    await user.should_see(marker="canvas")


async def test_another_replicas_save_reaches_open_pages_only_with_their_sessions_checked_off_the_loop(
    user: User, services: EditorServices
) -> None:
    pipeline_id = new_pipeline(services)
    saver = await open_workbench(user, services, pipeline_id)
    live = saver.on_saved_elsewhere.__self__  # type: ignore[union-attr]  # the page's LiveMerge
    checked: list[int] = []
    signed_in = True

    def identify(scope: dict[str, Any]) -> Identity | None:
        assert scope["type"] in ("http", "websocket")  # the page's own request
        checked.append(threading.get_ident())
        return Identity("alice", False) if signed_in else None

    replicas = ReplicaSync(services.store, identify)

    async def saved_elsewhere(label: str) -> None:
        other = services.store.get_draft(pipeline_id).pipeline()
        other.nodes[0].label = label
        replicas.deliver(pipeline_id, services.save_draft(pipeline_id, other))
        await live.settled()

    await saved_elsewhere("From another replica")
    assert live.session.pipeline.nodes[0].label == "From another replica"
    assert checked and threading.get_ident() not in checked  # the session check read nothing on the loop

    signed_in = False  # the page's session was revoked: the next save elsewhere reaches it no more
    await saved_elsewhere("After the sign-out")
    assert live.session.pipeline.nodes[0].label == "From another replica"

    told: list[int] = []
    saver.on_saved_elsewhere = told.append
    replicas.deliver(pipeline_id, 7)
    assert told == [7]
    client_of(saver).delete()  # the page closed; its saver may stay in the open pages until its last save ends
    saver.join(services.store, pipeline_id)
    replicas.deliver(pipeline_id, 8)  # raises nothing
    assert told == [7]  # the closed page was skipped

    saver.context = Collected()  # type: ignore[assignment]
    replicas.deliver(pipeline_id, 9)  # raises nothing
    assert told == [7]


class FakeSocketIO:
    """The part of socket.io's server that ``guard_socketio`` wraps."""

    def __init__(self) -> None:
        self.handlers: dict[str, dict[str, Any]] = {"/": {}}
        self.disconnected: list[str] = []

    def get_environ(self, sid: str) -> dict[str, Any]:
        return {"HTTP_COOKIE": f"session={sid}"}

    async def disconnect(self, sid: str) -> None:
        self.disconnected.append(sid)


async def test_socket_events_are_identified_off_the_loop_and_handled_in_the_order_they_came() -> None:
    sio = FakeSocketIO()
    handled: list[tuple[str, str | None]] = []
    sio.handlers["/"]["event"] = lambda sid, message: handled.append((message, threading.current_thread().name))
    lookups: list[int] = []
    first = threading.Event()

    def identify(scope: dict[str, Any]) -> Identity | None:
        lookups.append(threading.get_ident())
        if not first.is_set():  # the first event's lookup is the slow one
            first.set()
            threading.Event().wait(0.3)
        return Identity("alice", False)

    guard_socketio(sio, identify)
    guarded = sio.handlers["/"]["event"]
    await asyncio.gather(*(guarded("s1", f"keystroke {n}") for n in range(5)))
    assert [message for message, _ in handled] == [f"keystroke {n}" for n in range(5)]
    assert len(lookups) == 5 and threading.get_ident() not in lookups
    assert {thread for _, thread in handled} == {threading.current_thread().name}  # handlers: on the loop
