"""The start page through NiceGUI's simulated user: projects, runnable examples, git settings per project."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.pages import home_page
from dagsmith.editor.pages.home import MAX_UPLOAD_BYTES
from dagsmith.editor.services import EditorServices


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EditorServices:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSMITH_WORKSPACE", raising=False)
    return EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


async def open_home(user: User, services: EditorServices) -> None:
    @ui.page("/")
    def page() -> None:
        home_page(services)

    @ui.page("/pipeline/{pipeline_id}")
    def pipeline(pipeline_id: int) -> None:
        ui.label(f"opened pipeline {pipeline_id}")

    await user.open("/")


async def test_a_runnable_example_becomes_a_project_and_opens(user: User, services: EditorServices) -> None:
    await open_home(user, services)
    await user.should_see("Local")
    user.find(marker="example-keyword").click()
    project = next(p for p in services.projects() if p.name == "Keyword recommendation (runnable)")
    pipelines = {info.dag_id: info.id for info in services.pipelines(project.id)}
    assert set(pipelines) == {"keyword_recommendation", "keyword_monitor"}
    await user.should_see(f"opened pipeline {pipelines['keyword_recommendation']}")  # the main one
    await user.open("/")
    await user.should_see("Keyword recommendation (runnable)")  # listed with its pipelines
    await user.should_see("dag_id keyword_monitor", retries=10)


async def test_git_settings_belong_to_the_project_chosen(user: User, services: EditorServices, tmp_path: Path) -> None:
    services.runs.create_example("article")
    await open_home(user, services)
    local = services.local_project()
    article = next(p for p in services.projects() if p.name != local.name)
    (select,) = user.find(marker="git-project").elements
    assert select.value == local.id
    select.set_value(article.id)
    user.find(marker="git-repo").clear().type(str(tmp_path / "article-repo"))
    user.find(marker="git-branch").clear().type("dags")
    user.find(marker="git-save").click()
    await user.should_see("Git settings of Article recommendation (runnable) saved")
    saved = services.store.get_project(article.id)
    assert (saved.git_repo, saved.git_branch) == (str(tmp_path / "article-repo"), "dags")
    assert services.store.get_project(local.id).git_repo is None
    select.set_value(local.id)
    (repo,) = user.find(marker="git-repo").elements
    assert repo.value == ""


# -- opening a file ----------------------------------------------------------------------------------------

ELYRA_FIXTURES = Path(__file__).resolve().parents[1] / "nodes" / "elyra_fixtures"


async def upload(user: User, name: str, content: bytes) -> None:
    """What the upload route does with a file a browser sent: hand it to the start page's upload element."""
    (element,) = user.find(marker="open-file").elements
    assert isinstance(element, ui.upload)
    with user.client:  # type: ignore[union-attr]
        await element.handle_uploads([ui.upload.SmallFileUpload(name, "application/json", content)])


async def test_an_elyra_upload_is_imported_off_the_event_loop_and_opened(
    user: User, services: EditorServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    read_upload = services.read_upload

    def recording(name: str, content: bytes) -> object:
        threads.append(threading.get_ident())
        return read_upload(name, content)

    monkeypatch.setattr(services, "read_upload", recording)
    await open_home(user, services)
    content = (ELYRA_FIXTURES / "v7_pipeline_defaults.pipeline").read_bytes()
    await upload(user, "scoring.pipeline", content)
    await user.should_see("Not mapped: pipeline defaults: 'cos_object_prefix' has no dagsmith equivalent")
    (info,) = [i for i in services.pipelines(services.local_project().id) if i.name == "scoring-defaults-v7"]
    await user.should_see(f"opened pipeline {info.id}")
    # The import ran in a worker thread, so the event loop kept serving other clients meanwhile.
    assert len(threads) == 1 and threads[0] != threading.get_ident()


async def test_an_upload_over_the_size_limit_is_refused_unread(user: User, services: EditorServices) -> None:
    await open_home(user, services)
    (element,) = user.find(marker="open-file").elements
    assert element.props["max-file-size"] == MAX_UPLOAD_BYTES  # the browser refuses it before sending
    before = len(services.pipelines(services.local_project().id))
    await upload(user, "huge.pipeline", b" " * (MAX_UPLOAD_BYTES + 1))
    await user.should_see("huge.pipeline: The file is larger than 16 MiB")
    assert len(services.pipelines(services.local_project().id)) == before
    user.find(marker="open-file").trigger("rejected")  # what the browser reports when it refuses a file
    await user.should_see("The file is larger than 16 MiB; open it with `dagsmith import` instead")


async def test_a_broken_elyra_upload_says_why(user: User, services: EditorServices) -> None:
    await open_home(user, services)
    await upload(user, "v2.pipeline", (ELYRA_FIXTURES / "malformed" / "version_2.pipeline").read_bytes())
    await user.should_see("v2.pipeline: Elyra pipeline version 2 is too old")
