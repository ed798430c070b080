"""Organisation administration on a team server: projects, members, users and their API tokens.

One class (``Administration``) holds every operation the admin page (``admin_page``) and the admin API
(``admin_api``) offer, so both check the same rule on the server and log every change the same way:

- **Organisation admins** (``user_login.org_admin``) list, create, rename and archive projects, manage the
  members of every project, list users, disable and enable them, reset a password (a one-time password,
  shown once and never stored in clear; the user's sessions end) and see and revoke a user's API tokens.
- **A project's admin** (the store's ``owner``) manages the members of that project only: list, add,
  change a role, remove (the store's rule that a project keeps an owner holds for everybody).

Roles are named as the issue names them (viewer, editor, reviewer, admin); the store's names (maintainer,
owner) are accepted too. Every change is logged on ``dagsmith.team.audit`` with who did it; every refusal
is logged as a warning. An archived project stays readable to its members and takes no changes.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from ..store import Conflict, Member, NotFound, PermissionDenied, Project, Role, StoreError
from ..store.base import StoreBase
from ..store.models import MemberRow, ProjectRow, utcnow
from .accounts import Account, Accounts, ApiToken, Identity

audit = logging.getLogger("dagsmith.team.audit")
ROLE_NAMES: dict[Role, str] = {
    Role.VIEWER: "viewer",
    Role.EDITOR: "editor",
    Role.MAINTAINER: "reviewer",
    Role.OWNER: "admin",
}
"""The store's roles by the names the team server shows (reviewer: approves and commits; admin: members)."""


def parse_role(name: str) -> Role:
    """A role from its shown name (viewer, editor, reviewer, admin) or the store's (maintainer, owner)."""
    wanted = name.strip().lower()
    for role, shown in ROLE_NAMES.items():
        if wanted in (shown, role.value):
            return role
    raise StoreError(f"there is no role {name!r}; use one of {', '.join(ROLE_NAMES.values())}")


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    """A project as the admin page lists it."""

    id: int
    name: str
    description: str
    members: int
    archived_at: dt.datetime | None


def enable_audit_log() -> None:
    """Write the audit trail (INFO) to stderr, unless logging is configured already (then it goes there)."""
    if logging.getLogger().handlers or audit.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s audit: %(message)s"))
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)


def archived(engine: Engine, project_id: int) -> dt.datetime | None:
    """When the project was archived (None: it is active, or there is no such project)."""
    with Session(engine) as session:
        return session.exec(select(ProjectRow.archived_at).where(ProjectRow.id == project_id)).first()


def archived_ids(engine: Engine) -> set[int]:
    """The ids of every archived project."""
    with Session(engine) as session:
        return set(session.exec(select(ProjectRow.id).where(col(ProjectRow.archived_at).is_not(None))).all())  # type: ignore[arg-type]


class Administration(StoreBase):
    """Every admin operation, each checked for the acting ``Identity`` and logged."""

    def __init__(self, accounts: Accounts) -> None:
        super().__init__(accounts.store.engine)
        self.accounts = accounts
        self.store = accounts.store

    # -- who may ---------------------------------------------------------------------------------------
    def require_org_admin(self, identity: Identity, doing: str) -> None:
        """Raise ``PermissionDenied`` (logged) unless ``identity`` is an organisation admin."""
        if not identity.org_admin:
            audit.warning("refused: %r may not %s (not an organisation admin)", identity.name, doing)
            raise PermissionDenied(
                f"{identity.name!r} cannot {doing}: that needs an organisation admin; ask one to do it for you"
            )

    def may_manage_members(self, identity: Identity, project_id: int) -> bool:
        """Whether ``identity`` manages the project's members (an organisation admin, or the project's admin)."""
        return identity.org_admin or self.store.role_of(identity.name, project_id) is Role.OWNER

    def _require_members(self, identity: Identity, project_id: int, doing: str) -> None:
        self.store.get_project(project_id)  # NotFound first
        if not self.may_manage_members(identity, project_id):
            audit.warning("refused: %r may not %s in project %s", identity.name, doing, project_id)
            raise PermissionDenied(
                f"{identity.name!r} cannot {doing} in project {project_id}: that needs the project's admin role "
                "or an organisation admin"
            )

    # -- projects --------------------------------------------------------------------------------------
    def projects(self, identity: Identity) -> list[ProjectSummary]:
        """Every project, archived ones included, by name (organisation admins)."""
        self.require_org_admin(identity, "list every project")
        with self._read() as session:
            counts = dict(
                session.exec(select(MemberRow.project_id, func.count()).group_by(col(MemberRow.project_id))).all()
            )
            rows = session.exec(select(ProjectRow).order_by(col(ProjectRow.name))).all()
            return [
                ProjectSummary(row.id, row.name, row.description, int(counts.get(row.id, 0)), row.archived_at)
                for row in rows
                if row.id is not None
            ]

    def create_project(self, identity: Identity, name: str, *, description: str = "", admin: str = "") -> Project:
        """A new project whose admin is ``admin`` (default: the organisation admin creating it)."""
        self.require_org_admin(identity, "create projects")
        owner = admin.strip() or identity.name
        project = self.store.create_project(name, by=owner, description=description)
        audit.info("%r created project %s %r with admin %r", identity.name, project.id, project.name, owner)
        return project

    def rename_project(self, identity: Identity, project_id: int, name: str) -> Project:
        """Give a project another (unused) name."""
        self.require_org_admin(identity, "rename projects")
        name = name.strip()
        if not name or len(name) > 200:
            raise StoreError(f"a project name needs 1 to 200 characters, not {len(name)}; enter another name")
        with self._write() as session:
            row = self._project(session, project_id)
            taken = session.exec(select(ProjectRow.id).where(ProjectRow.name == name, ProjectRow.id != project_id))
            if taken.first() is not None:
                raise Conflict(f"a project named {name!r} exists already; choose another name")
            old, row.name, row.updated_at = row.name, name, utcnow()
            session.add(row)
            session.flush()
            project = Project.from_row(row)
        audit.info("%r renamed project %s from %r to %r", identity.name, project_id, old, name)
        return project

    def set_archived(self, identity: Identity, project_id: int, archive: bool = True) -> ProjectSummary:
        """Archive a project (read-only, out of its members' lists) or restore it."""
        self.require_org_admin(identity, "archive projects")
        with self._write() as session:
            row = self._project(session, project_id)
            if archive and row.archived_at is None:
                row.archived_at = utcnow()
            elif not archive:
                row.archived_at = None
            session.add(row)
        audit.info("%r %s project %s %r", identity.name, "archived" if archive else "restored", project_id, row.name)
        return next(p for p in self.projects(identity) if p.id == project_id)

    # -- members ---------------------------------------------------------------------------------------
    def members(self, identity: Identity, project_id: int) -> list[Member]:
        """The project's members, highest role first."""
        self._require_members(identity, project_id, "see the members")
        return self.store.list_members(project_id)

    def set_member(self, identity: Identity, project_id: int, user: str, role: Role | str) -> Member:
        """Add ``user`` to the project with ``role``, or change their role (a project keeps an admin)."""
        role = parse_role(role) if isinstance(role, str) else role
        self._require_members(identity, project_id, "manage members")
        with self._write() as session:
            self._project(session, project_id)
            target = self._user(session, user)
            assert target.id is not None
            row = session.get(MemberRow, (project_id, target.id))
            before = row.role if row is not None else None
            if row is None:
                row = MemberRow(project_id=project_id, user_id=target.id, role=role.value)
            elif row.role == Role.OWNER.value and role is not Role.OWNER:
                self._keep_an_admin(session, project_id, user)
            row.role = role.value
            session.add(row)
            session.flush()
            member = Member(project_id, target.name, role, row.added_at)
        audit.info(
            "%r set %r's role in project %s to %s (was %s)",
            identity.name,
            user,
            project_id,
            ROLE_NAMES[role],
            ROLE_NAMES[Role(before)] if before else "no member",
        )
        return member

    def remove_member(self, identity: Identity, project_id: int, user: str) -> None:
        """Take ``user`` out of the project (not its last admin)."""
        self._require_members(identity, project_id, "manage members")
        with self._write() as session:
            target = self._user(session, user)
            row = session.get(MemberRow, (project_id, target.id))
            if row is None:
                raise NotFound(f"{user!r} is not a member of project {project_id}; nothing to remove")
            if row.role == Role.OWNER.value:
                self._keep_an_admin(session, project_id, user)
            session.delete(row)
        audit.info("%r removed %r from project %s", identity.name, user, project_id)

    @staticmethod
    def _keep_an_admin(session: Session, project_id: int, leaving: str) -> None:
        admins = session.exec(
            select(MemberRow.user_id).where(MemberRow.project_id == project_id, MemberRow.role == Role.OWNER.value)
        ).all()
        if len(admins) <= 1:
            raise Conflict(f"{leaving!r} is the last admin of project {project_id}; make another member an admin first")

    # -- users and tokens ------------------------------------------------------------------------------
    def users(self, identity: Identity) -> list[Account]:
        """Every user, by name."""
        self.require_org_admin(identity, "list users")
        return self.accounts.accounts()

    def set_disabled(self, identity: Identity, user: str, disabled: bool = True) -> None:
        """Disable a user (their sessions end, their tokens stop working) or enable them again."""
        self.require_org_admin(identity, "disable or enable users")
        if disabled and user == identity.name:
            raise Conflict("you cannot disable yourself; ask another organisation admin")
        self.store.get_user(user)  # NotFound with a close name
        self.accounts.set_disabled(user, disabled)
        audit.info("%r %s user %r", identity.name, "disabled" if disabled else "enabled", user)

    def reset_password(self, identity: Identity, user: str) -> str:
        """Give ``user`` a new random password, returned once (never stored in clear); their sessions end."""
        self.require_org_admin(identity, "reset passwords")
        self.store.get_user(user)
        password = secrets.token_urlsafe(15)
        self.accounts.set_password(user, password)
        audit.info("%r reset the password of %r (their sessions ended)", identity.name, user)
        return password

    def tokens(self, identity: Identity, user: str) -> list[ApiToken]:
        """A user's API tokens, revoked ones included (never their secrets)."""
        self.require_org_admin(identity, "see other users' API tokens")
        return self.accounts.tokens(user)

    def revoke_token(self, identity: Identity, user: str, token_id: int) -> None:
        """Revoke one of ``user``'s API tokens; it stops working at once, on every replica."""
        self.require_org_admin(identity, "revoke other users' API tokens")
        self.accounts.revoke_token(user, token_id)
        audit.info("%r revoked API token %s of %r", identity.name, token_id, user)
