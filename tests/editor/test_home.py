"""The start page through NiceGUI's simulated user: projects, runnable examples, git settings per project."""

from __future__ import annotations

from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.pages import home_page
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
