"""The desktop app's pieces below the window: the one-instance channel, the remembered state, and the
File menu's commands against a fake window (the real window drives them in test_desktop_native.py)."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from dagsmith.editor.desktop import instance, state
from dagsmith.editor.desktop.commands import OPEN_DIALOG, SAVE_DIALOG, DesktopCommands
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import load_example, save


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def services(tmp_path: Path) -> EditorServices:
    return EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


class FakeWindow:
    """What the commands ask of NiceGUI's window proxy, with the dialogs' answers given in advance."""

    def __init__(self, url: str = "http://127.0.0.1:1/", answers: list[Any] | None = None) -> None:
        self.url = url
        self.answers = answers or []
        self.dialogs: list[dict[str, Any]] = []
        self.loaded: list[str] = []

    def load_url(self, url: str) -> None:
        self.loaded.append(url)
        self.url = url

    async def get_current_url(self) -> str:
        return self.url

    async def create_file_dialog(self, dialog_type: int = OPEN_DIALOG, **options: Any) -> Any:
        self.dialogs.append({"type": dialog_type, **options})
        return self.answers.pop(0)


def commands(services: EditorServices, window: FakeWindow) -> tuple[DesktopCommands, list[tuple[str, str]], list[int]]:
    told: list[tuple[str, str]] = []
    focused: list[int] = []
    made = DesktopCommands(
        services,
        lambda: window,
        "http://127.0.0.1:1",
        notify=lambda kind, text: told.append((kind, text)),
        focus=lambda: focused.append(1),
    )
    return made, told, focused


def pipeline_file(path: Path, name: str) -> Path:
    pipeline = load_example("keyword_recommendation")
    pipeline.settings.name = name
    pipeline.settings.dag_id = name.lower().replace(" ", "_")
    save(pipeline, path)
    return path


def test_the_control_channel_answers_only_with_the_token() -> None:
    async def scenario() -> None:
        server = instance.ControlServer()
        seen: list[dict[str, Any]] = []

        async def handler(message: dict[str, Any]) -> str:
            seen.append(message)
            return "done"

        await server.serve(handler)
        server.publish()
        published = json.loads((state.desktop_dir() / "instance.json").read_text())
        assert published["port"] == server.port and published["token"] == server.token
        assert stat.S_IMODE((state.desktop_dir() / "instance.json").stat().st_mode) == 0o600
        loop = asyncio.get_running_loop()
        reply = await loop.run_in_executor(None, lambda: instance.send(server.port, server.token, {"command": "x"}))
        assert reply == {"ok": True, "message": "done"} and seen == [{"command": "x"}]
        # A wrong token, or no token, gets no answer and runs nothing.
        with pytest.raises(ConnectionError):
            await loop.run_in_executor(None, lambda: instance.send(server.port, "guessed", {"command": "y"}))

        def raw(line: bytes) -> bytes:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
                connection.sendall(line)
                return connection.recv(100)

        assert await loop.run_in_executor(None, raw, b'{"command": "y"}\n') == b""
        assert await loop.run_in_executor(None, raw, b"not json\n") == b""
        assert seen == [{"command": "x"}]
        server.close()
        assert not (state.desktop_dir() / "instance.json").exists()

    asyncio.run(scenario())


def test_only_one_process_holds_the_instance_lock() -> None:
    first = instance.claim()
    assert first is not None
    try:
        assert instance.claim() is None  # another launch: it must hand over instead
    finally:
        first.close()
    again = instance.claim()
    assert again is not None
    again.close()


def test_a_second_launch_without_an_answering_app_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagsmith.editor.desktop import launch
    from dagsmith.editor.errors import UserError

    held = instance.claim()
    monkeypatch.setattr(instance, "hand_over", lambda message: None)
    monkeypatch.setattr(launch, "hand_over", lambda message: None)
    try:
        with pytest.raises(UserError, match="already running but does not answer; close its window"):
            launch.claim_or_hand_over(None)
    finally:
        assert held is not None
        held.close()


def test_geometry_and_recent_files_are_remembered_and_damaged_files_ignored(tmp_path: Path) -> None:
    assert state.load_geometry() is None
    state.save_geometry(state.Geometry(1000, 700, 40, -20))
    assert state.load_geometry() == state.Geometry(1000, 700, 40, -20)
    for junk in ("{", '{"width": 10, "height": 10}', '{"width": true, "height": 700}', "[]"):
        (state.desktop_dir() / "window.json").write_text(junk)
        assert state.load_geometry() is None, junk
    (state.desktop_dir() / "window.json").write_text('{"width": 900, "height": 600, "x": "left"}')
    assert state.load_geometry() == state.Geometry(900, 600)  # the size without a position
    one, two = tmp_path / "one.dagsmith.json", tmp_path / "two.pipeline"
    one.write_text("{}")
    two.write_text("{}")
    state.add_recent(one)
    state.add_recent(two)
    state.add_recent(one)
    assert state.recent_files() == [one, two]
    two.unlink()
    assert state.recent_files() == [one]


def test_open_dialog_opens_the_chosen_file_and_a_cancel_does_nothing(services: EditorServices, tmp_path: Path) -> None:
    file = pipeline_file(tmp_path / "picked.dagsmith.json", "Picked")
    window = FakeWindow(answers=[(str(file),), None])
    run, told, focused = commands(services, window)
    assert asyncio.run(run.handle({"command": "open-dialog"})) == f"opened {file}"
    assert window.dialogs[0]["type"] == OPEN_DIALOG
    assert "Pipelines (*.dagsmith.json;*.pipeline)" in window.dialogs[0]["file_types"]
    assert window.loaded and window.loaded[-1].startswith("http://127.0.0.1:1/pipeline/") and focused
    assert state.recent_files() == [file]
    assert asyncio.run(run.handle({"command": "open-dialog"})) == "cancelled"
    assert len(window.loaded) == 1 and told == []


def test_opening_a_file_that_is_not_a_pipeline_tells_the_user(services: EditorServices, tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    run, told, _ = commands(services, FakeWindow())
    asyncio.run(run.handle({"command": "open", "path": str(bad)}))
    assert told and told[0][0] == "negative" and "notes.txt" in told[0][1] and "*.dagsmith.json" in told[0][1]
    assert state.recent_files() == []


def test_the_window_rebuilds_open_recent_once_an_opened_file_joined_the_recent_files(
    services: EditorServices, tmp_path: Path
) -> None:
    seen: list[list[Path]] = []
    run = DesktopCommands(
        services,
        lambda: FakeWindow(),
        "http://127.0.0.1:1",
        notify=lambda kind, text: None,
        focus=lambda: None,
        recent_changed=lambda: seen.append(state.recent_files()),
    )
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    asyncio.run(run.handle({"command": "open", "path": str(bad)}))
    assert seen == []  # nothing joined the recent files: the menu stays as it is
    file = pipeline_file(tmp_path / "recent.dagsmith.json", "Recent")
    assert asyncio.run(run.handle({"command": "open", "path": str(file)})) == f"opened {file}"
    assert seen == [[file]]  # called after the file was added, so the rebuilt menu lists it


def test_save_version_and_export_work_on_the_pipeline_the_window_shows(
    services: EditorServices, tmp_path: Path
) -> None:
    file = pipeline_file(tmp_path / "shown.dagsmith.json", "Shown pipeline")
    window = FakeWindow()
    run, told, _ = commands(services, window)
    asyncio.run(run.handle({"command": "open", "path": str(file)}))
    pipeline_id = int(window.url.rsplit("/", 1)[1])
    assert asyncio.run(run.handle({"command": "save-version"})) == "saved v1"
    assert told[-1] == ("positive", "Version v1 saved")
    target = tmp_path / "out" / "shown.py"
    target.parent.mkdir()
    window.answers = [str(target)]
    assert asyncio.run(run.handle({"command": "export"})) == f"exported {target}"
    assert window.dialogs[-1]["type"] == SAVE_DIALOG and window.dialogs[-1]["save_filename"] == "shown_pipeline.py"
    source = target.read_text()
    assert 'dag_id="shown_pipeline"' in source and "version 1," in source  # no change since v1: the same version
    assert services.latest_version(pipeline_id) == 1
    # On the start page there is no pipeline to save: the user is told, nothing is saved.
    window.url = "http://127.0.0.1:1/"
    assert asyncio.run(run.handle({"command": "save-version"})) == "not saved"
    assert told[-1][0] == "warning" and "Open a pipeline first" in told[-1][1]


def test_new_creates_a_blank_pipeline_and_shows_it(services: EditorServices) -> None:
    window = FakeWindow()
    run, _, _ = commands(services, window)
    before = {info.id for info in services.pipelines(services.local_project().id)}
    asyncio.run(run.handle({"command": "new"}))
    created = int(window.loaded[-1].rsplit("/", 1)[1])
    assert created not in before
    _, draft, _ = services.open_draft(created)
    assert draft.settings.name == "New pipeline" and draft.nodes == []
    with pytest.raises(ValueError, match="unknown desktop command"):
        asyncio.run(run.handle({"command": "format-disk"}))


def test_import_notes_of_an_opened_file_wait_for_the_page_it_opens(services: EditorServices) -> None:
    elyra = Path(__file__).resolve().parents[1] / "nodes" / "elyra_fixtures" / "v8_kubernetes_settings.pipeline"
    window = FakeWindow()
    now: list[tuple[str, str]] = []
    later: list[tuple[str, str]] = []
    run = DesktopCommands(
        services,
        lambda: window,
        "http://127.0.0.1:1",
        notify=lambda kind, text: now.append((kind, text)),
        focus=lambda: None,
        notify_next_page=lambda kind, text: later.append((kind, text)),
    )
    asyncio.run(run.handle({"command": "open", "path": str(elyra)}))
    assert window.loaded and now == []
    assert later and all(kind == "warning" for kind, _ in later)
