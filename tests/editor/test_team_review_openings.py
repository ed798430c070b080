"""Issue 13: "the reviewer has opened the change" is a record, and an approval needs the approver's own.

Opening a review (``ReviewService.open``: the page ``/review/{id}`` and ``GET /api/v1/reviews/{id}``) stores
who opened it showing which content (``review_opening``: review, user, content hash, when). Approving needs
the approver's opening of exactly the content approved: a hash the author (or anyone) hands a reviewer who
never looked approves nothing, and neither does a hash of content the reviewer opened under another review.
Migration 0007 adds the table to an existing database (SQLite here; PostgreSQL in
``test_store_migrations_postgres``).

The service and page tests use ``test_team_review``'s team (alice writes, bob reviews); the HTTP test uses
``test_team_review_http``'s real API server (its own instance for this module).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from nicegui import ui
from nicegui.testing.user import User
from test_team_review import NOTEBOOK, Team, approved, build_team, notebook, requested, team  # noqa: F401
from test_team_review_http import Server, server  # noqa: F401 (the fixture)

from dagsmith.editor.store import alembic_config, open_store
from dagsmith.editor.store.engine import VERSION_TABLE, make_engine, upgrade
from dagsmith.editor.team.review import OpenFirst
from dagsmith.editor.team.review_page import review_page

OPEN_FIRST = "open the review first"


# -- the record and the rule (service level) ---------------------------------------------------------------
def test_opening_records_who_opened_which_content_and_when(team: Team) -> None:  # noqa: F811
    review = requested(team)
    assert team.store.openings(review) == []
    with team.as_("bob"):
        seen = team.reviews.open(review).content.content_hash
        team.reviews.open(review)  # opened again: still one record of bob's opening of this content
    with team.as_("ed"):
        team.reviews.open(review)
    (bob, ed) = team.store.openings(review)
    assert (bob.review_id, bob.user, bob.content_hash) == (review, "bob", seen)
    assert (ed.user, ed.content_hash) == ("ed", seen)
    assert bob.opened_at.tzinfo is not None and bob.opened_at <= dt.datetime.now(dt.UTC)


def test_a_hash_handed_over_by_the_author_approves_nothing(team: Team) -> None:  # noqa: F811
    review = requested(team)
    with team.as_("alice"):  # the author opens her own review and passes the hash on
        handed = team.reviews.open(review).content.content_hash
    with team.as_("bob"), pytest.raises(OpenFirst, match=f"'bob' has not opened review {review} .*{OPEN_FIRST}"):
        team.reviews.approve(review, content_hash=handed)
    assert team.store.get_review(review)[2].status.value == "in_review"
    approved(team, review)  # bob opens it, then approves what it shows
    assert team.store.get_review(review)[2].status.value == "approved"


def test_an_opening_of_older_content_does_not_cover_the_new_review(team: Team) -> None:  # noqa: F811
    first = requested(team)
    with team.as_("bob"):
        team.reviews.open(first)
    team.write_notebook("x = 3", "model = fit(x)")  # the author changes a notebook the pipeline runs
    with team.as_("alice"):
        again = team.reviews.request(team.pipeline).id
        new_hash = team.reviews.open(again).content.content_hash
    with team.as_("bob"), pytest.raises(OpenFirst, match=OPEN_FIRST):
        team.reviews.approve(again, content_hash=new_hash)
    approved(team, again)
    assert team.store.get_review(again)[2].status.value == "approved"


# -- over HTTP ---------------------------------------------------------------------------------------------
def test_the_api_refuses_an_approval_without_the_reviewers_opening(server: Server) -> None:  # noqa: F811
    pipeline = server.pipeline
    status, review = server.call("POST", f"/api/v1/pipelines/{pipeline}/reviews", "alice", {})
    assert status == 201, review
    first = review["id"]
    status, hers = server.call("GET", f"/api/v1/reviews/{first}", "alice")
    assert status == 200
    handed = {"content_hash": hers["content"]["content_hash"]}
    status, body = server.call("POST", f"/api/v1/reviews/{first}/approve", "bob", handed)
    assert status == 409 and OPEN_FIRST in body["detail"], body

    assert server.call("GET", f"/api/v1/reviews/{first}", "bob")[0] == 200  # bob opens the first content
    (server.repo / NOTEBOOK).write_text(notebook("x = 3"))  # then the author changes the notebook
    status, review = server.call("POST", f"/api/v1/pipelines/{pipeline}/reviews", "alice", {})
    assert status == 201, review
    again = review["id"]
    status, hers = server.call("GET", f"/api/v1/reviews/{again}", "alice")
    new_hash = {"content_hash": hers["content"]["content_hash"]}
    assert new_hash != handed
    status, body = server.call("POST", f"/api/v1/reviews/{again}/approve", "bob", new_hash)
    assert status == 409 and OPEN_FIRST in body["detail"], body  # bob never opened the new content
    status, body = server.call("POST", f"/api/v1/reviews/{first}/approve", "bob", new_hash)
    assert status == 400 and "no longer shows the current content" in body["detail"], body

    status, opened = server.call("GET", f"/api/v1/reviews/{again}", "bob")
    assert status == 200 and {"content_hash": opened["content"]["content_hash"]} == new_hash
    status, decided = server.call("POST", f"/api/v1/reviews/{again}/approve", "bob", new_hash)
    assert status == 200 and decided["state"] == "approved", decided


# -- the page ----------------------------------------------------------------------------------------------
async def test_the_review_page_records_the_opening_its_approval_needs(user: User, team: Team) -> None:  # noqa: F811
    review = requested(team)

    @ui.page("/r")
    def page() -> None:
        with team.as_("bob"):
            review_page(team.reviews, review)

    await user.open("/r")
    await user.should_see(marker="review-state")
    (opening,) = team.store.openings(review)
    with team.as_("bob"):
        shown = team.reviews.open(review).content.content_hash
    assert (opening.user, opening.content_hash) == ("bob", shown)
    with team.as_("bob"):
        user.find(marker="approve").click()
    assert team.store.get_review(review)[2].status.value == "approved"


async def test_the_page_tells_a_reviewer_without_an_opening_to_open_the_review(user: User, team: Team) -> None:  # noqa: F811
    review = requested(team)

    @ui.page("/r")
    def page() -> None:
        with team.as_("alice"):  # the page as the author opened it ...
            review_page(team.reviews, review)

    await user.open("/r")
    await user.should_see(marker="review-state")
    with team.as_("bob"):  # ... and its Approve pressed as bob, who never opened the review
        user.find(marker="approve").click()
    await user.should_see(OPEN_FIRST)
    assert team.store.get_review(review)[2].status.value == "in_review"


# -- migration 0007 on SQLite ------------------------------------------------------------------------------
def test_migration_0007_upgrades_an_existing_0006_database_and_downgrades(tmp_path: Path) -> None:
    made = build_team(f"sqlite:///{tmp_path / 'team.db'}", tmp_path)
    review = requested(made)
    url = made.store.engine.url.render_as_string(hide_password=False)
    made.store.close()
    engine = make_engine(url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    assert "review_opening" not in sa.inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one() == "0006"
        assert connection.execute(sa.text("SELECT count(*) FROM review")).scalar_one() == 1  # the review stays

    upgrade(engine)  # what opening the store runs
    assert "review_opening" in sa.inspect(engine).get_table_names()
    engine.dispose()
    with open_store(url, local_user=False) as store:
        assert store.openings(review) == []  # nobody has opened it since: bob must open it to approve
        store.record_opening(review, by="bob", content_hash="a" * 64)
        assert [(o.user, o.content_hash) for o in store.openings(review)] == [("bob", "a" * 64)]
