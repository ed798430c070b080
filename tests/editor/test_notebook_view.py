"""The read-only notebook viewer opens only notebooks inside the project's folder and never echoes a file."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.pages.extras import NotebookPathError, NotebookView, resolve_notebook

SECRET = "root:x:0:0:root:/root:/bin/bash"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with one notebook, beside a secret file outside it."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('features ready')")])
    nbformat.write(notebook, root / "notebooks" / "train.ipynb")
    (tmp_path / "passwd").write_text(SECRET + "\n")
    return root


def test_a_notebook_inside_the_project_is_found(project: Path) -> None:
    assert resolve_notebook("notebooks/train.ipynb", [project]) == (project / "notebooks" / "train.ipynb").resolve()


@pytest.mark.parametrize("path", ["/etc/passwd", "{outside}", "../passwd", "notebooks/../../passwd", "link/passwd"])
def test_paths_outside_the_project_are_refused(project: Path, path: str) -> None:
    (project / "link").symlink_to(project.parent)  # a symlinked folder that leads out of the project
    path = path.format(outside=project.parent / "passwd")
    with pytest.raises(NotebookPathError, match="inside the project folder") as refused:
        resolve_notebook(path, [project])
    assert "root:" not in str(refused.value)


def test_a_symlinked_notebook_that_leads_out_is_refused(project: Path) -> None:
    (project / "notebooks" / "evil.ipynb").symlink_to(project.parent / "passwd")
    with pytest.raises(NotebookPathError, match="inside the project folder"):
        resolve_notebook("notebooks/evil.ipynb", [project])


def test_a_missing_notebook_and_a_missing_folder_are_named(project: Path) -> None:
    with pytest.raises(NotebookPathError, match=r"'notebooks/nope.ipynb' was not found in .*project"):
        resolve_notebook("notebooks/nope.ipynb", [project])
    with pytest.raises(NotebookPathError, match="git repository"):
        resolve_notebook("notebooks/train.ipynb", [])


async def open_view(user: User) -> NotebookView:
    holder: dict[str, NotebookView] = {}

    @ui.page("/")
    def page() -> None:
        holder["view"] = NotebookView()

    await user.open("/")
    return holder["view"]


async def test_the_viewer_shows_no_content_of_a_file_outside_the_project(user: User, project: Path) -> None:
    view = await open_view(user)
    await view.show("/etc/passwd", [project])
    await view.show(str(project.parent / "passwd"), [project])
    assert user.notify.messages and all("inside the project folder" in m for m in user.notify.messages)
    assert not any("root:" in message for message in user.notify.messages), user.notify.messages
    assert "srcdoc" not in view.frame.props


async def test_a_file_that_is_not_a_notebook_is_not_echoed(user: User, project: Path) -> None:
    (project / "notes.ipynb").write_text("API_KEY=hunter2, not a notebook\n")
    view = await open_view(user)
    await view.show("notes.ipynb", [project])
    assert len(user.notify.messages) == 1
    assert "not a readable Jupyter notebook" in user.notify.messages[0]
    assert "hunter2" not in user.notify.messages[0]


async def test_a_notebook_inside_the_project_is_rendered(user: User, project: Path) -> None:
    view = await open_view(user)
    await view.show("notebooks/train.ipynb", [project])
    assert "features ready" in view.frame.props["srcdoc"]
    assert not user.notify.messages
