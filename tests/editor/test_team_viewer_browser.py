"""A viewer's pipeline page in a real browser against a real ``dagsmith serve``: read-only, and the editor's not.

Headless Chromium signs in as vic (a viewer of project Team), olga (its owner) and ora (an organisation
admin). The server refuses a viewer's edits in any case (test_team_server, the access matrix); here the
page must not offer them: no palette, a card that does not move, disabled fields, no Save, Run or Export,
and a banner saying why. The home page links to /admin for organisation admins only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from browser import BrowserCheckError, count, node_selector, screenshot_on_failure, wait_for
from test_team_server import COOKIE, PASSWORD, Team, serving

from dagsmith.editor.store import Role, open_store
from dagsmith.editor.team.accounts import Accounts
from dagsmith.nodes import Pipeline, load_example

pytestmark = pytest.mark.slow
BANNER = "Read-only: you are a viewer in project Team"
MIDDLE = "register"
"""A card in the middle of the pipeline: in view with or without the palette beside the canvas."""


@dataclass
class World:
    team: Team
    database: str
    pipeline: int
    name: str
    document: Pipeline


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A trial team server (SQLite): project Team owned by olga, vic its viewer, ora an organisation admin."""
    database = f"sqlite:///{tmp_path_factory.mktemp('viewer-db') / 'team.db'}"
    store = open_store(database, local_user=False)
    try:
        accounts = Accounts(store)
        for name in ("olga", "vic", "ora"):
            accounts.add_user(name, PASSWORD, org_admin=name == "ora")
        project = store.create_project("Team", by="olga")
        store.add_member(project.id, "vic", Role.VIEWER, by="olga")
        store.add_member(project.id, "ora", Role.VIEWER, by="olga")  # so that her home page lists pipelines
        document = load_example("keyword_recommendation")
        info = store.create_pipeline(project.id, document, by="olga")
    finally:
        store.close()
    with serving(database, tmp_path_factory.mktemp("viewer-home"), info.id, info.id, info.id) as team:
        yield World(team, database, info.id, info.name, document)


def sign_in(driver: Any, team: Team, name: str) -> None:
    """The browser holds a fresh session of ``name`` (signed in over HTTP as the sign-in form does)."""
    cookie = team.session(name)
    driver.get(f"{team.url}/login")
    driver.delete_all_cookies()
    driver.add_cookie({"name": COOKIE, "value": cookie, "path": "/"})


def open_page(driver: Any, world: World, name: str) -> None:
    sign_in(driver, world.team, name)
    driver.get(f"{world.team.url}/pipeline/{world.pipeline}")
    cards = len(world.document.nodes) + len(world.document.comments)
    wait_for(lambda: count(driver, ".vue-flow__node") == cards, "the pipeline's cards on the canvas", timeout=60)


def page_text(driver: Any) -> str:
    """What the page shows (not its scripts, nor hidden elements)."""
    return str(driver.execute_script("return document.body.innerText"))


def visible_buttons(driver: Any) -> list[str]:
    """The texts of the header's buttons that are shown."""
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll('header button')]"
            ".filter(b => b.offsetParent !== null).map(b => b.textContent.trim())"
        )
    )


def card_position(driver: Any, node_id: str) -> str:
    return str(
        driver.execute_script("return document.querySelector(arguments[0]).style.transform", node_selector(node_id))
    )


def drag_card(driver: Any, node_id: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    label = driver.find_element(By.CSS_SELECTOR, f"{node_selector(node_id)} .dagsmith-node__label")
    chain = ActionChains(driver).click_and_hold(label)
    for _ in range(6):  # Vue Flow follows mouse moves, not a jump
        chain.move_by_offset(10, 8)
    chain.release().perform()


def select(driver: Any, node_id: str) -> None:
    """Click the card (unless its form shows already: each click draws the form again); wait for its form."""
    from selenium.webdriver.common.by import By

    def form_shown() -> bool:
        drawer = "return document.querySelector('.q-drawer--right')?.innerText ?? ''"
        return f"id: {node_id}" in str(driver.execute_script(drawer))

    for attempt in range(3):  # a click taken while the page was busy may do nothing: click again, as a person does
        if form_shown():
            return
        driver.find_element(By.CSS_SELECTOR, f"{node_selector(node_id)} .dagsmith-node__label").click()
        try:
            wait_for(form_shown, f"the form of {node_id}", timeout=20)
            return
        except BrowserCheckError:
            if attempt == 2:
                raise


def label_field(driver: Any) -> dict[str, Any] | None:
    """The label field's state, read in one call (the form may be drawn again meanwhile): value, disabled."""
    return driver.execute_script(
        """
        const el = document.querySelector('[data-field="label"] input, input[data-field="label"]');
        return el && {value: el.value, disabled: el.disabled};
        """
    )


def type_into_label(driver: Any, letter: str) -> None:
    """Press ``letter`` in the label field (again with the field found anew if it was drawn again)."""
    from selenium.common.exceptions import ElementNotInteractableException, InvalidElementStateException

    def typed() -> bool:
        field = driver.execute_script(
            'return document.querySelector(\'[data-field="label"] input, input[data-field="label"]\')'
        )
        with contextlib.suppress(ElementNotInteractableException, InvalidElementStateException):
            field.send_keys(letter)  # focuses the field first; a disabled one refuses the keys outright
        return True

    wait_for(typed, "typing into the label field")


def stored_position(world: World, node_id: str) -> tuple[float, float]:
    """Where the draft in the server's database has the node."""
    store = open_store(world.database, local_user=False)
    try:
        node = store.get_draft(world.pipeline).pipeline().node(node_id)
    finally:
        store.close()
    assert node is not None
    return node.position.x, node.position.y


def test_a_viewer_sees_the_pipeline_read_only(driver: Any, world: World) -> None:
    node_id = MIDDLE
    with screenshot_on_failure(driver, "team-viewer"):
        open_page(driver, world, "vic")
        wait_for(lambda: BANNER in page_text(driver), "the read-only banner")
        assert count(driver, "[data-dagsmith-node]") == 0  # no palette
        buttons = visible_buttons(driver)
        assert not [b for b in buttons if "Export" in b or "Run" in b], buttons
        assert "Save version" not in page_text(driver)
        before, stored = card_position(driver, node_id), stored_position(world, node_id)
        drag_card(driver, node_id)
        select(driver, node_id)  # selecting still shows the form (and follows the drag's events)
        assert card_position(driver, node_id) == before
        field = wait_for(lambda: label_field(driver), "the label field")
        assert field["disabled"], field
        type_into_label(driver, "X")
        assert wait_for(lambda: label_field(driver), "the label field")["value"] == field["value"]
        assert stored_position(world, node_id) == stored


def test_an_editor_can_edit_the_same_page(driver: Any, world: World) -> None:
    node_id = MIDDLE
    with screenshot_on_failure(driver, "team-editor"):
        open_page(driver, world, "olga")
        wait_for(lambda: count(driver, "[data-dagsmith-node]") > 0, "the palette")
        assert BANNER not in page_text(driver)
        buttons = " ".join(visible_buttons(driver))
        assert "Export" in buttons and "Run" in buttons, buttons
        before, stored = card_position(driver, node_id), stored_position(world, node_id)
        drag_card(driver, node_id)
        wait_for(lambda: card_position(driver, node_id) != before, "the dragged card to move")
        wait_for(lambda: stored_position(world, node_id) != stored, "the move saved", timeout=30, interval=0.3)
        select(driver, node_id)
        field = wait_for(lambda: label_field(driver), "the label field")
        assert not field["disabled"], field
        type_into_label(driver, "X")
        wait_for(lambda: (label_field(driver) or {}).get("value") == field["value"] + "X", "the typed letter")


@pytest.mark.parametrize(("name", "admin"), [("ora", True), ("vic", False)])
def test_the_home_page_links_to_admin_for_organisation_admins_only(
    driver: Any, world: World, name: str, admin: bool
) -> None:
    sign_in(driver, world.team, name)
    driver.get(f"{world.team.url}/")
    wait_for(lambda: world.name in page_text(driver), "the pipeline list", timeout=60)
    links = count(driver, 'a[href="/admin"]')
    assert links == (1 if admin else 0)
