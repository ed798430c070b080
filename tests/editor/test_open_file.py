"""`dagsmith desktop FILE`: the file is imported into the local project and the window opens its pipeline page."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagsmith.editor.open_file import open_file
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import load_example, save

ELYRA = Path(__file__).resolve().parents[1] / "nodes" / "elyra_fixtures" / "v8_kubernetes_settings.pipeline"


@pytest.fixture
def services(tmp_path: Path) -> EditorServices:
    return EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


def test_a_pipeline_file_opens_its_imported_pipeline(services: EditorServices, tmp_path: Path) -> None:
    pipeline = load_example("keyword_recommendation")
    pipeline.settings.name = "Opened from the file manager"
    pipeline.settings.dag_id = "opened_from_files"
    file = tmp_path / "mine.dagsmith.json"
    save(pipeline, file)
    before = {info.id for info in services.pipelines(services.local_project().id)}
    opened = open_file(services, file)
    assert opened.notices == []
    pipeline_id = int(opened.path.removeprefix("/pipeline/"))
    assert pipeline_id not in before
    _, draft, _ = services.open_draft(pipeline_id)
    assert draft == pipeline
    # Opening the same file again opens the same pipeline; a changed file is a new one.
    assert open_file(services, file).path == opened.path
    pipeline.settings.description = "changed on disk"
    save(pipeline, file)
    assert open_file(services, file).path not in (opened.path, "/")


def test_an_elyra_file_opens_with_its_import_notes(services: EditorServices) -> None:
    opened = open_file(services, ELYRA)
    assert opened.path.startswith("/pipeline/")
    assert all(kind == "warning" for kind, _ in opened.notices)
    assert opened.notices and all(
        message.startswith(("Not mapped: ", "pipeline: Elyra kept the output files")) for _, message in opened.notices
    )


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.dagsmith.json", None, "no such file"),
        ("notes.txt", b"{}", "opens *.dagsmith.json pipelines and Elyra *.pipeline files"),
        ("broken.dagsmith.json", b"{not json", "broken.dagsmith.json"),
    ],
)
def test_a_file_that_cannot_open_shows_the_start_page_with_why(
    services: EditorServices, tmp_path: Path, name: str, content: bytes | None, expected: str
) -> None:
    file = tmp_path / name
    if content is not None:
        file.write_bytes(content)
    opened = open_file(services, file)
    assert opened.path == "/"
    [(kind, message)] = opened.notices
    assert kind == "negative"
    assert message.startswith("Could not open ")
    assert expected in message


def test_the_desktop_command_passes_the_file_to_the_window(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dagsmith.editor import app
    from dagsmith.editor.cli import run

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(app, "run_editor", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))  # the desktop's instance lock goes there
    monkeypatch.chdir(tmp_path)
    assert run(["desktop", "mine.dagsmith.json", "--port", "9999"]) == 0
    assert run(["desktop"]) == 0
    assert [(call["file"], call["port"]) for call in calls] == [
        (tmp_path / "mine.dagsmith.json", 9999),
        (None, calls[1]["port"]),
    ]
