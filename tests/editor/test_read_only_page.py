"""A page that may not edit (a team server's viewer) offers no editing; the local editor's page offers all of it.

NiceGUI's simulated user: the services say why the page is read-only, as ``TeamServices`` does for a viewer
(the real team server in a real browser: test_team_viewer_browser.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nicegui import ui
from nicegui.elements.mixins.disableable_element import DisableableElement
from nicegui.testing import User
from test_workbench import Page, open_bench

from dagsmith.editor.pages.home import home_page
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import load_example

REASON = "Read-only: you are a viewer in project Team; ask its admin for the editor role to edit"


class ViewerServices(EditorServices):
    """The local services, for a user who may only read (what ``TeamServices`` says for a viewer)."""

    def read_only_reason(self, pipeline_id: int) -> str | None:
        return REASON

    def project_read_only_reason(self, project_id: int) -> str | None:
        return REASON


class AdminServices(EditorServices):
    def is_org_admin(self) -> bool:
        return True


@pytest.fixture
def local(tmp_path: Path) -> EditorServices:
    return EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


@pytest.fixture
def viewer(tmp_path: Path) -> EditorServices:
    return ViewerServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


def _exists(user: User, marker: str) -> bool:
    """Whether an element with ``marker`` is on the page (``User.find`` raises when there is none)."""
    try:
        user.find(marker=marker)
    except AssertionError:
        return False
    return True


def shown(user: User, marker: str) -> bool:
    """Whether an element with ``marker`` is on the page and visible."""
    return _exists(user, marker) and any(element.visible for element in user.find(marker=marker).elements)


def form_fields(page: Page) -> list[DisableableElement]:
    """The inspector's fields and buttons (not its sections, which open and close in any case), with every
    section opened first: a section's fields are built when it is first opened."""
    while closed := [
        element
        for element in page.bench.inspector.container.descendants()
        if isinstance(element, ui.expansion) and not element.value
    ]:
        for section in closed:
            section.set_value(True)
    return [
        element
        for element in page.bench.inspector.container.descendants()
        if isinstance(element, DisableableElement) and not isinstance(element, ui.expansion)
    ]


async def test_the_local_editor_offers_every_edit(user: User, local: EditorServices) -> None:
    page = await open_bench(user, local, load_example("keyword_recommendation"))
    assert local.can_edit(page.bench.pipeline_id)
    assert not page.canvas.read_only
    assert _exists(user, "palette-script")
    for marker in ("undo", "add-comment", "open-export", "save-state", "toggle-palette", "deployment-trigger"):
        assert shown(user, marker), marker
    assert not _exists(user, "read-only")
    node = page.pipeline.nodes[0]
    page.trigger("selectionChanged", {"nodes": [node.id], "edges": []})
    fields = form_fields(page)
    assert fields and all(field.enabled for field in fields)
    page.trigger("nodeMoved", {"id": node.id, "x": 999, "y": 888})
    assert (page.pipeline.node(node.id).position.x, page.pipeline.node(node.id).position.y) == (999, 888)


async def test_a_viewer_reads_the_forms_but_is_offered_no_edit(user: User, viewer: EditorServices) -> None:
    page = await open_bench(user, viewer, load_example("keyword_recommendation"))
    assert not viewer.can_edit(page.bench.pipeline_id)
    assert page.canvas.read_only  # no dragging, connecting, deleting, pasting or dropping in the browser
    assert not _exists(user, "palette-script")
    for marker in ("undo", "redo", "add-comment", "open-export", "save-state", "toggle-palette"):
        assert not shown(user, marker), marker
    await user.should_see(REASON)
    for marker in ("open-settings", "download-document", "toggle-inspector"):
        assert shown(user, marker), marker
    assert not page.bench.run_slot.visible  # the Run button lives there
    for marker in ("deployment-trigger", "deployment-pause", "deployment-clear", "add-deployment"):  # Airflow tab
        assert not shown(user, marker), marker
    assert shown(user, "deployment-choice")  # its runs can still be read
    # Selecting a node still shows its form, with every field disabled.
    node = page.pipeline.nodes[0]
    page.trigger("selectionChanged", {"nodes": [node.id], "edges": []})
    await user.should_see(f"id: {node.id}")
    fields = form_fields(page)
    assert fields and not any(field.enabled for field in fields)
    assert not user.find(marker="field-label").elements.pop().enabled
    # The settings form too.
    page.bench.inspector.select(None)
    await user.should_see("Pipeline settings")
    fields = form_fields(page)
    assert fields and not any(field.enabled for field in fields)


async def test_a_viewer_is_offered_no_rename_or_delete_in_the_list(user: User, viewer: EditorServices) -> None:
    info = viewer.create(viewer.local_project().id, load_example("keyword_recommendation"))

    @ui.page("/")
    def page() -> None:
        home_page(viewer)

    await user.open("/")
    await user.should_see(info.name)
    assert not _exists(user, f"rename-{info.id}")
    assert not _exists(user, f"delete-{info.id}")
    assert not _exists(user, "admin-link")


@pytest.mark.parametrize("admin", [True, False])
async def test_the_admin_link_is_for_organisation_admins(user: User, tmp_path: Path, admin: bool) -> None:
    services = (AdminServices if admin else EditorServices).open(f"sqlite:///{tmp_path / 'editor.db'}")
    info = services.create(services.local_project().id, load_example("keyword_recommendation"))

    @ui.page("/")
    def page() -> None:
        home_page(services)

    await user.open("/")
    await user.should_see(info.name)
    assert _exists(user, f"rename-{info.id}")  # the local editor's list offers rename and delete
    assert _exists(user, "admin-link") is admin
