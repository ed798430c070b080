"""Opening bad files and bad addresses in the editor: a message that says what is wrong, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nicegui.testing import User

from dagsmith.editor.pages import register_pages
from dagsmith.editor.services import EditorServices, UserError
from dagsmith.nodes import load_example
from dagsmith.nodes.fileformat import dumps

HUGE = 99999999999999999999999


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EditorServices:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSMITH_WORKSPACE", raising=False)
    return EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


def elyra_text(label: str = "Prepare", x: str = "10") -> bytes:
    """A small Elyra (version 8) pipeline; ``x`` is the raw JSON of the step's x position."""
    step = {
        "id": "n1",
        "type": "execution_node",
        "op": "execute-python-node",
        "app_data": {
            "label": label,
            "component_parameters": {"filename": "prep.py", "runtime_image": "python:3.11"},
            "ui_data": {"x_pos": "X", "y_pos": 20},
        },
    }
    data: dict[str, Any] = {
        "doc_type": "pipeline",
        "version": "3.0",
        "id": "p",
        "primary_pipeline": "primary",
        "pipelines": [{"id": "primary", "nodes": [step], "app_data": {"name": "mini", "version": 8}}],
        "schemas": [],
    }
    return json.dumps(data).replace('"X"', x).encode()


def document_text(*, name: str = "kw", x: str | None = None) -> bytes:
    """The keyword example as a file, with its name and (raw JSON) first x position replaced."""
    pipeline = load_example("keyword_recommendation")
    pipeline.settings.name = "NAME"
    text = dumps(pipeline).replace('"NAME"', json.dumps(name))
    if x is not None:
        head, _, tail = text.partition('"x": ')
        text = head + '"x": ' + x + tail[tail.index(",") :]
    return text.encode()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("big.pipeline", elyra_text(x="9" * 5000), "big.pipeline: cannot read the file as JSON"),
        ("nan.pipeline", elyra_text(x="NaN"), "NaN is not a JSON number"),
        ("bad.pipeline", b"\xff\xfe{", "big.pipeline: not a JSON file"),
        ("lone.pipeline", elyra_text(label="a \ud800 b"), "nodes[0] ('n1').label holds a lone surrogate (\\ud800)"),
        ("big.dagsmith.json", document_text(x="9" * 5000), "big.dagsmith.json"),
        ("lone.dagsmith.json", document_text(name="a \ud800 b"), "lone surrogate"),
        ("inf.dagsmith.json", document_text(x="1e999"), "inf.dagsmith.json"),
    ],
)
def test_bad_uploads_are_user_errors(services: EditorServices, name: str, content: bytes, message: str) -> None:
    with pytest.raises(UserError) as raised:
        services.read_upload(name, content)
    assert message.replace("big.pipeline: not", "bad.pipeline: not") in str(raised.value)
    assert name in str(raised.value)


def test_a_good_upload_still_reads(services: EditorServices) -> None:
    assert [node.label for node in services.read_upload("mini.pipeline", elyra_text()).pipeline.nodes] == ["Prepare"]
    assert services.read_upload("kw.dagsmith.json", document_text()).pipeline.settings.name == "kw"


@pytest.mark.parametrize("pipeline_id", [HUGE, -HUGE, 2**63, 2**31, 0, -1])
def test_opening_an_id_no_database_holds_says_not_found(services: EditorServices, pipeline_id: int) -> None:
    with pytest.raises(UserError, match=f"pipeline {pipeline_id} does not exist"):
        services.open_draft(pipeline_id)


def test_a_stored_draft_that_cannot_be_read_is_a_user_error(services: EditorServices) -> None:
    pipeline = load_example("keyword_recommendation")
    pipeline.settings.name = "stored before uploads were checked"
    pipeline.nodes[0].position.x = float("inf")
    info = services.store.create_pipeline(services.local_project().id, pipeline, by="local")
    with pytest.raises(UserError, match=f"the draft of pipeline {info.id} cannot be read"):
        services.open_draft(info.id)


async def test_a_huge_pipeline_id_in_the_address_shows_not_found(user: User, services: EditorServices) -> None:
    register_pages(services)
    await user.open(f"/pipeline/{HUGE}")
    await user.should_see(f"pipeline {HUGE} does not exist")
    await user.should_see("Back to the pipelines")


@pytest.mark.parametrize("branch", ["HEAD", "a..b", "x.lock", "-x"])
def test_git_settings_refuse_a_branch_git_refuses(services: EditorServices, tmp_path: Path, branch: str) -> None:
    project = services.local_project()
    with pytest.raises(UserError, match=f"{branch!r} is not a valid git branch name: "):
        services.set_git(project.id, str(tmp_path / "repo"), branch)
    assert services.store.get_project(project.id).git_branch == "main"
