"""The review pages with NiceGUI's simulated user: what the reviewer sees, the buttons, the inbox badge.

The store, repository and users are ``test_team_review``'s (alice writes, bob reviews). Each test declares
the page inside an ``acting_as`` block, as the team server's sign-in guard runs it for the signed-in user.
"""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui
from nicegui.testing.user import User
from test_team_review import Team, requested, team  # noqa: F401  (the fixture)

from dagsmith.editor.team.review_page import inbox_page, review_page


def serve(path: str, made: Team, name: str, build: Callable[[], None]) -> None:
    """Declare ``path`` building the page as ``name``."""

    @ui.page(path)
    def page() -> None:
        with made.as_(name):
            build()


async def test_the_reviewer_sees_the_cells_and_approves(user: User, team: Team) -> None:  # noqa: F811
    review = requested(team)
    serve("/r", team, "bob", lambda: review_page(team.reviews, review))
    await user.open("/r")
    await user.should_see(marker="review-state")
    assert user.find(marker="review-state").elements.pop().text == "requested"
    await user.should_see("modified code cell 1")  # the notebook cell by cell, not its JSON
    await user.should_see("1 unchanged cell")  # the markdown cell, folded
    await user.should_see("outputs changed")
    assert '"cell_type"' not in user.find(marker="file-diff").elements.pop().props.get("label", "")
    with team.as_("bob"):
        user.find(marker="approve").click()
    assert team.store.get_review(review)[2].status.value == "approved"


async def test_the_author_approving_is_told_why_not(user: User, team: Team) -> None:  # noqa: F811
    review = requested(team)
    serve("/r", team, "alice", lambda: review_page(team.reviews, review))
    await user.open("/r")
    with team.as_("alice"):
        user.find(marker="approve").click()
    await user.should_see("four-eyes rule")
    assert team.store.get_review(review)[2].status.value == "in_review"


async def test_the_inbox_counts_unread_notifications(user: User, team: Team) -> None:  # noqa: F811
    review = requested(team)
    serve("/inbox", team, "bob", lambda: inbox_page(team.reviews))
    await user.open("/inbox")
    assert user.find(marker="unread-count").elements.pop().text == "1"
    await user.should_see("alice asks you to review version 1")
    assert f"/review/{review}" in {getattr(e, "props", {}).get("href") for e in user.find(ui.link).elements}
