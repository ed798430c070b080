"""Organisation administration and the artifact download rule on a real store (SQLite and PostgreSQL).

``admin.Administration`` is what the admin page and the admin API call: every rule is checked there, on the
server, for the acting user, and every change is logged. ``downloads`` is the rule for run artifacts in team
mode (the project's role, then the artifact's access level), and the Runs tab's download links are bound to
the user they were made for.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import HTTPException
from test_store_postgres import postgres_url  # noqa: F401 (the fixture, started only by the PostgreSQL case)

from dagsmith.editor.errors import UserError
from dagsmith.editor.pages import run_artifacts
from dagsmith.editor.runs.artifacts import ArtifactAccessError, RunStore, StoredArtifact
from dagsmith.editor.store import Conflict, NotFound, PermissionDenied, Role, Store, StoreError, open_store
from dagsmith.editor.team.accounts import Accounts, Identity
from dagsmith.editor.team.admin import Administration, parse_role
from dagsmith.editor.team.downloads import NO_ACCESS, TeamDownloads, groups_of, may_download
from dagsmith.editor.team.identity import acting_as
from dagsmith.editor.team.services import TeamServices
from dagsmith.nodes import load_example

PASSWORD = "correct horse battery"
ROOT = Identity("root", True)
ALICE = Identity("alice", False)  # admin of project Team
BOB = Identity("bob", False)  # editor in Team
EVE = Identity("eve", False)  # admin of project Other only


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'team.db'}"
    base = str(request.getfixturevalue("postgres_url"))
    store = open_store(base, local_user=False)  # one module-wide server: start each test on empty tables
    try:
        with store.engine.begin() as connection:
            tables = ", ".join(f'"{name}"' for name in _tables())
            connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        store.close()
    return base


def _tables() -> list[str]:
    from dagsmith.editor.store.models import metadata

    return [table.name for table in metadata.sorted_tables]


@pytest.fixture
def admin(url: str) -> Iterator[Administration]:
    store = open_store(url, local_user=False)
    accounts = Accounts(store)
    for name in ("root", "alice", "bob", "eve", "tia"):
        accounts.add_user(name, PASSWORD, org_admin=name == "root")
    team = store.create_project("Team", by="alice")
    store.add_member(team.id, "bob", Role.EDITOR, by="alice")
    store.create_project("Other", by="eve")
    yield Administration(accounts)
    store.close()


def _project(store: Store, name: str) -> int:
    return next(p.id for p in store.list_projects() if p.name == name)


def test_roles_go_by_the_issues_names_and_the_stores() -> None:
    assert [parse_role(n) for n in ("viewer", "editor", "reviewer", "admin")] == list(Role)
    assert parse_role("Maintainer") is Role.MAINTAINER and parse_role("owner") is Role.OWNER
    with pytest.raises(StoreError, match="use one of viewer, editor, reviewer, admin"):
        parse_role("god")


def test_an_organisation_admin_manages_projects_and_every_change_is_logged(
    admin: Administration, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dagsmith.team.audit")
    made = admin.create_project(ROOT, "Data", description="the data team", admin="alice")
    assert admin.store.role_of("alice", made.id) is Role.OWNER and admin.store.role_of("root", made.id) is None
    admin.rename_project(ROOT, made.id, "Data platform")
    with pytest.raises(Conflict, match="exists already"):
        admin.rename_project(ROOT, made.id, "Team")
    listed = {p.name: p for p in admin.projects(ROOT)}
    assert set(listed) == {"Data platform", "Team", "Other"} and listed["Data platform"].members == 1
    assert admin.set_archived(ROOT, made.id).archived_at is not None
    assert admin.set_archived(ROOT, made.id, False).archived_at is None
    audit = "\n".join(r.getMessage() for r in caplog.records if r.name == "dagsmith.team.audit")
    for said in ("'root' created project", "renamed project", "'root' archived project", "'root' restored project"):
        assert said in audit, audit


@pytest.mark.parametrize(
    "operation",
    [
        lambda a: a.projects(ALICE),
        lambda a: a.create_project(ALICE, "Mine"),
        lambda a: a.rename_project(ALICE, 1, "x"),
        lambda a: a.set_archived(ALICE, 1),
        lambda a: a.users(ALICE),
        lambda a: a.set_disabled(ALICE, "bob"),
        lambda a: a.reset_password(ALICE, "bob"),
        lambda a: a.tokens(ALICE, "bob"),
        lambda a: a.revoke_token(ALICE, "bob", 1),
    ],
)
def test_only_an_organisation_admin_may(admin: Administration, operation, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied, match="needs an organisation admin"):
        operation(admin)  # alice is the admin of a project, not of the organisation
    assert any("refused: 'alice'" in r.getMessage() for r in caplog.records)


def test_a_project_admin_manages_the_members_of_their_own_project_only(admin: Administration) -> None:
    team, other = _project(admin.store, "Team"), _project(admin.store, "Other")
    admin.set_member(ALICE, team, "tia", "reviewer")
    assert admin.store.role_of("tia", team) is Role.MAINTAINER
    listed = [(m.user, m.role) for m in admin.members(ALICE, team)]  # highest role first
    assert listed == [("alice", Role.OWNER), ("tia", Role.MAINTAINER), ("bob", Role.EDITOR)]
    admin.remove_member(ALICE, team, "tia")
    assert admin.store.role_of("tia", team) is None
    with pytest.raises(PermissionDenied, match="project's admin role or an organisation admin"):
        admin.set_member(ALICE, other, "tia", "viewer")  # not her project
    with pytest.raises(PermissionDenied):
        admin.set_member(BOB, team, "tia", "viewer")  # an editor of Team
    with pytest.raises(Conflict, match="last admin"):
        admin.set_member(ALICE, team, "alice", "editor")
    with pytest.raises(Conflict, match="last admin"):
        admin.remove_member(ROOT, team, "alice")
    with pytest.raises(NotFound, match="there is no user 'nobody'"):
        admin.set_member(ROOT, team, "nobody", "viewer")
    admin.set_member(ROOT, other, "tia", "admin")  # an organisation admin manages every project
    assert admin.store.role_of("tia", other) is Role.OWNER


def test_disable_reset_and_revoke_take_effect_at_once(admin: Administration) -> None:
    accounts = admin.accounts
    session = accounts.start_session("bob", hours=1)
    _, token = accounts.create_token("bob", "ci")
    admin.set_disabled(ROOT, "bob")
    assert accounts.session_identity(session) is None and accounts.token_identity(token) is None
    assert accounts.authenticate("bob", PASSWORD, address="t") is None
    admin.set_disabled(ROOT, "bob", False)
    assert accounts.token_identity(token) == Identity("bob", False)
    with pytest.raises(Conflict, match="cannot disable yourself"):
        admin.set_disabled(ROOT, "root")

    session = accounts.start_session("bob", hours=1)
    password = admin.reset_password(ROOT, "bob")
    assert len(password) >= 16 and accounts.session_identity(session) is None
    assert accounts.authenticate("bob", PASSWORD, address="t") is None
    assert accounts.authenticate("bob", password, address="t") == Identity("bob", False)

    [listed] = admin.tokens(ROOT, "bob")
    admin.revoke_token(ROOT, "bob", listed.id)
    assert accounts.token_identity(token) is None and admin.tokens(ROOT, "bob")[0].revoked_at is not None


def test_an_archived_project_is_read_only_and_out_of_its_members_lists(admin: Administration) -> None:
    store = admin.store
    team = _project(store, "Team")
    pipeline = store.create_pipeline(team, load_example("user_targeting"), by="alice")
    services = TeamServices(store)
    admin.set_archived(ROOT, team)
    with acting_as(BOB):
        assert [p.name for p in services.projects()] == []
        _, document, _ = services.open_draft(pipeline.id)  # still readable
        with pytest.raises(UserError, match=r"is archived.*ask an organisation admin to restore it"):
            services.save_draft(pipeline.id, document)
    admin.set_archived(ROOT, team, False)
    with acting_as(BOB):
        assert [p.name for p in services.projects()] == ["Team"]
        services.save_draft(pipeline.id, document)


# ---- downloads ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "access", "allowed"),
    [
        (BOB, {"level": "private"}, True),  # a member: every level includes the project
        (BOB, {"level": "groups", "groups": ["x"]}, True),
        (EVE, {"level": "private"}, False),
        (EVE, {"level": "public"}, True),  # the organisation
        (EVE, {"level": "groups", "groups": ["Other"]}, True),  # she is in the group (project) Other
        (EVE, {"level": "groups", "groups": ["Finance"]}, False),
        (EVE, {"level": "secret"}, False),  # an unknown level is private
        (EVE, {}, False),
    ],
)
def test_who_may_download_a_runs_artifact(admin: Administration, who: Identity, access: dict, allowed: bool) -> None:  # type: ignore[type-arg]
    assert may_download(admin.store, who, _project(admin.store, "Team"), access) is allowed


def test_groups_from_the_identity_provider_admit_to_a_groups_artifact(admin: Administration) -> None:
    store, team, tia = admin.store, _project(admin.store, "Team"), Identity("tia", False)
    shared = {"level": "groups", "groups": ["marketing"]}
    assert not may_download(store, tia, team, shared)
    assert store.set_idp_groups("tia", ["marketing", "staff"])  # what her OIDC claim or SSO proxy named
    assert groups_of(store, "tia") == {"marketing", "staff"}
    assert may_download(store, tia, team, shared)
    assert not may_download(store, EVE, team, shared)  # not in marketing
    store.set_idp_groups("eve", ["finance"])
    assert groups_of(store, "eve") == {"finance", "Other"}  # the union with her project's name
    assert may_download(store, EVE, team, {"level": "groups", "groups": ["Other"]})
    store.set_idp_groups("tia", ["staff"])  # the provider took marketing away
    assert not may_download(store, tia, team, shared)


def stored(root: Path, level: str) -> StoredArtifact:
    """A file artifact in ``root`` with its manifest, as the artifact layer writes them."""
    data = b"model weights"
    uri = root / "train" / "model.bin"
    uri.parent.mkdir(parents=True, exist_ok=True)
    uri.write_bytes(data)
    manifest = uri.with_name("model.bin.manifest.json")
    manifest.write_text(json.dumps({"uri": str(uri), "access": {"level": level}}))
    digest = hashlib.sha256(data).hexdigest()
    access = {"level": level, "groups": []}
    return StoredArtifact("train", "model", str(uri), "file", len(data), 1, digest, access, "", str(manifest))


def test_a_runs_tab_download_link_works_only_for_its_user_and_their_access(
    admin: Administration, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = admin.store
    pipeline = store.create_pipeline(_project(store, "Team"), load_example("user_targeting"), by="alice").id
    monkeypatch.setattr(run_artifacts, "gate", TeamDownloads(store))
    runs, artifact = RunStore(str(tmp_path)), stored(tmp_path, "private")
    with acting_as(BOB):
        run_artifacts.check_gate(pipeline, artifact)
        link = run_artifacts.offer(runs, artifact, pipeline)
        assert run_artifacts._download(link.rsplit("/", 1)[-1]).status_code == 200
    with acting_as(EVE), pytest.raises(HTTPException) as refused:
        run_artifacts._download(link.rsplit("/", 1)[-1])  # bob's link, in eve's hands
    assert refused.value.status_code == 404 and "no access" in str(refused.value.detail)
    with acting_as(EVE), pytest.raises(ArtifactAccessError, match=NO_ACCESS.split(";")[0]):
        run_artifacts.check_gate(pipeline, artifact)  # and she may not make her own
    store.remove_member(_project(store, "Team"), "bob", by="alice")
    with acting_as(BOB), pytest.raises(HTTPException):
        run_artifacts._download(link.rsplit("/", 1)[-1])  # his role is checked again when the link is used
    public = stored(tmp_path / "pub", "public")
    with acting_as(EVE):
        run_artifacts.check_gate(pipeline, public)
    with acting_as(EVE), pytest.raises(ArtifactAccessError):
        run_artifacts.check_gate(pipeline + 1000, public)  # no such pipeline: the same words
