"""The store's users, roles and four-eyes reviews: who may do what, and what the refusals say."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dagsmith.editor.store import (
    LOCAL_USER,
    Conflict,
    NotFound,
    PermissionDenied,
    Project,
    ReviewStatus,
    Role,
    Store,
    StoreError,
    VersionStatus,
    open_store,
)
from dagsmith.nodes import Pipeline, PipelineSettings


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'dagsmith.db'}") as opened:
        for name in ("alice", "bob", "carol", "dave"):
            opened.create_user(name)
        yield opened


@pytest.fixture
def team(store: Store) -> Project:
    """Alice owns it; bob and carol maintain it; dave views it."""
    project = store.create_project("team", by="alice")
    store.add_member(project.id, "bob", Role.MAINTAINER, by="alice")
    store.add_member(project.id, "carol", Role.MAINTAINER, by="alice")
    store.add_member(project.id, "dave", Role.VIEWER, by="alice")
    return project


def doc(description: str = "") -> Pipeline:
    return Pipeline(settings=PipelineSettings(name="churn", description=description))


def test_the_local_user_exists_and_owns_what_it_creates(store: Store) -> None:
    assert store.get_user(LOCAL_USER).name == LOCAL_USER
    project = store.create_project("solo")
    assert store.role_of(LOCAL_USER, project.id) is Role.OWNER
    assert [(m.user, m.role) for m in store.list_members(project.id)] == [(LOCAL_USER, Role.OWNER)]


def test_members_are_listed_by_role_then_name(store: Store, team: Project) -> None:
    assert [(m.user, m.role) for m in store.list_members(team.id)] == [
        ("alice", Role.OWNER),
        ("bob", Role.MAINTAINER),
        ("carol", Role.MAINTAINER),
        ("dave", Role.VIEWER),
    ]
    assert [p.name for p in store.list_projects(user="dave")] == ["team"]
    assert store.list_projects(user=LOCAL_USER) == []


@pytest.mark.parametrize(
    ("user", "role", "allowed"),
    [
        ("dave", Role.VIEWER, True),
        ("dave", Role.EDITOR, False),
        ("bob", Role.EDITOR, True),
        ("bob", Role.MAINTAINER, True),
        ("bob", Role.OWNER, False),
        ("alice", Role.OWNER, True),
        (LOCAL_USER, Role.VIEWER, False),
    ],
)
def test_require_role_orders_the_roles(store: Store, team: Project, user: str, role: Role, allowed: bool) -> None:
    if allowed:
        assert store.require_role(user, team.id, role).rank >= role.rank
    else:
        with pytest.raises(PermissionDenied, match=f"user '{user}' .* project 'team'"):
            store.require_role(user, team.id, role)


def test_refusals_say_who_to_ask(store: Store, team: Project) -> None:
    with pytest.raises(
        PermissionDenied,
        match=r"'dave' is a viewer of project 'team' and cannot edit pipelines: that needs the editor role or "
        r"higher; ask an owner of the project \(alice\) to change the role",
    ):
        store.require_role("dave", team.id, Role.EDITOR, doing="edit pipelines")
    with pytest.raises(PermissionDenied, match=r"'local' is not a member of project 'team'.*\(alice\) to add them"):
        store.require_role(LOCAL_USER, team.id, Role.VIEWER)


def test_a_viewer_cannot_change_anything(store: Store, team: Project) -> None:
    pipeline = store.create_pipeline(team.id, doc(), by="bob")
    with pytest.raises(PermissionDenied, match="cannot save versions"):
        store.create_version(pipeline.id, by="dave")
    with pytest.raises(PermissionDenied, match="cannot create pipelines"):
        store.create_pipeline(team.id, doc("other"), by="dave")
    with pytest.raises(PermissionDenied, match="cannot change the git settings"):
        store.set_project_git(team.id, repo="/srv/dags", by="dave")
    assert store.list_versions(pipeline.id) == []


def test_only_owners_manage_members_and_the_last_owner_stays(store: Store, team: Project) -> None:
    with pytest.raises(PermissionDenied, match="cannot manage members: that needs the owner role"):
        store.add_member(team.id, "dave", Role.OWNER, by="bob")
    with pytest.raises(Conflict, match=r"'alice' is the last owner .*; make another member an owner first"):
        store.add_member(team.id, "alice", Role.EDITOR, by="alice")
    with pytest.raises(Conflict, match="last owner"):
        store.remove_member(team.id, "alice", by="alice")
    store.add_member(team.id, "bob", Role.OWNER, by="alice")
    store.add_member(team.id, "alice", Role.EDITOR, by="bob")
    assert store.role_of("alice", team.id) is Role.EDITOR
    store.remove_member(team.id, "dave", by="bob")
    assert store.role_of("dave", team.id) is None


def test_users_are_unique_and_unknown_ones_get_a_suggestion(store: Store) -> None:
    with pytest.raises(Conflict, match="a user named 'bob' exists already"):
        store.create_user("bob")
    with pytest.raises(StoreError, match="cannot be a user name"):
        store.create_user("bob smith")
    with pytest.raises(NotFound, match=r"there is no user 'alcie'; did you mean 'alice'\?"):
        store.get_user("alcie")
    assert store.ensure_user("bob").name == "bob"


def test_projects_carry_their_git_repository_and_branch(store: Store, team: Project) -> None:
    assert (team.git_repo, team.git_branch) == (None, "main")
    updated = store.set_project_git(team.id, repo=" git@example.com:ml/dags.git ", branch="release/dags", by="bob")
    assert (updated.git_repo, updated.git_branch) == ("git@example.com:ml/dags.git", "release/dags")
    assert store.get_project(team.id) == updated
    with pytest.raises(StoreError, match="is not a git branch name"):
        store.set_project_git(team.id, repo="/srv/dags", branch="a branch", by="bob")
    with pytest.raises(Conflict, match="a project named 'team' exists already"):
        store.create_project("team", by="bob")


# Four-eyes review


@pytest.fixture
def reviewed(store: Store, team: Project) -> int:
    """A pipeline in a project that requires reviews, with version 1 saved by bob."""
    store.set_review_required(team.id, True, by="alice")
    pipeline = store.create_pipeline(team.id, doc(), by="bob")
    store.create_version(pipeline.id, by="bob", message="first")
    return pipeline.id


def test_a_production_export_needs_an_approval_by_someone_else(store: Store, reviewed: int) -> None:
    assert store.version_status(reviewed, 1) is VersionStatus.DRAFT
    with pytest.raises(PermissionDenied, match=r"version 1 .* is draft; .* exports to production only approved"):
        store.check_export(reviewed, 1, by="bob", production=True)
    review = store.request_review(reviewed, 1, by="bob")
    assert (review.status, review.requested_by) == (ReviewStatus.IN_REVIEW, "bob")
    assert store.version_status(reviewed, 1) is VersionStatus.IN_REVIEW
    with pytest.raises(PermissionDenied, match=r"four-eyes rule: 'bob' created version 1 .*; ask alice, carol"):
        store.approve_review(review.id, by="bob")
    with pytest.raises(PermissionDenied, match=r"'dave' is a viewer .* cannot review versions"):
        store.approve_review(review.id, by="dave")
    approved = store.approve_review(review.id, by="carol", comment="looks right")
    assert (approved.status, approved.decided_by, approved.comment) == (ReviewStatus.APPROVED, "carol", "looks right")
    assert approved.decided_at is not None
    assert store.version_status(reviewed, 1) is VersionStatus.APPROVED
    export = store.record_export(
        reviewed,
        1,
        by="bob",
        target="airflow3",
        production=True,
        location="/srv/dags",
        dag_path="dags/churn.py",
        branch="main",
        git_commit="0123abcd",
    )
    assert (export.exported_by, export.git_commit, export.production) == ("bob", "0123abcd", True)
    assert store.list_exports(reviewed, 1) == [export]


def test_the_requester_cannot_approve_a_colleagues_version_either(store: Store, reviewed: int) -> None:
    review = store.request_review(reviewed, 1, by="carol")
    with pytest.raises(PermissionDenied, match=r"'carol' requested the review of version 1 .*; ask alice"):
        store.approve_review(review.id, by="carol")
    assert store.approve_review(review.id, by="alice").status is ReviewStatus.APPROVED


def test_a_review_is_decided_once(store: Store, reviewed: int) -> None:
    review = store.request_review(reviewed, 1, by="bob")
    with pytest.raises(Conflict, match=r"version 1 is in review already .*requested by 'bob'"):
        store.request_review(reviewed, 1, by="bob")
    store.reject_review(review.id, by="carol", comment="wrong schedule")
    with pytest.raises(Conflict, match=f"review {review.id} was rejected already by 'carol'"):
        store.approve_review(review.id, by="alice")
    with pytest.raises(Conflict, match="rejected by 'carol': wrong schedule; change the pipeline and save a new"):
        store.request_review(reviewed, 1, by="bob")
    assert store.version_status(reviewed, 1) is VersionStatus.REJECTED
    assert [r.status for r in store.list_reviews(reviewed, 1)] == [ReviewStatus.REJECTED]


def test_the_requester_may_withdraw_a_review(store: Store, team: Project) -> None:
    store.add_member(team.id, "dave", Role.EDITOR, by="alice")
    pipeline = store.create_pipeline(team.id, doc(), by="dave")
    store.create_version(pipeline.id, by="dave")
    review = store.request_review(pipeline.id, 1, by="dave")
    assert store.reject_review(review.id, by="dave", comment="withdrawn").decided_by == "dave"


def test_exports_need_editors_and_production_needs_maintainers(store: Store, team: Project) -> None:
    pipeline = store.create_pipeline(team.id, doc(), by="bob")
    store.create_version(pipeline.id, by="bob")
    store.add_member(team.id, "dave", Role.EDITOR, by="alice")
    store.check_export(pipeline.id, 1, by="dave", production=False)
    with pytest.raises(PermissionDenied, match="'dave' is an editor of project 'team' and cannot export to production"):
        store.check_export(pipeline.id, 1, by="dave", production=True)
    store.check_export(pipeline.id, 1, by="bob", production=True)  # no review required in this project


def test_without_the_review_rule_the_local_user_exports_alone(store: Store) -> None:
    project = store.create_project("solo")
    pipeline = store.create_pipeline(project.id, doc())
    store.create_version(pipeline.id)
    export = store.record_export(
        pipeline.id,
        1,
        by=LOCAL_USER,
        target="airflow3",
        production=True,
        location="/tmp/dags",
        dag_path="dags/churn.py",
    )
    assert (export.exported_by, export.branch, export.git_commit) == (LOCAL_USER, None, None)
