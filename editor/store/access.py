"""Users, project members and role checks."""

from __future__ import annotations

import re

from sqlalchemy import and_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from .base import StoreBase
from .errors import Conflict, StoreError
from .models import MemberRow, PipelineRow, ProjectRow, Role, UserRow
from .records import LOCAL_USER, Member, User

_USER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def _user_record(row: UserRow) -> User:
    assert row.id is not None
    return User(row.id, row.name, row.display_name, row.created_at)


class AccessMixin(StoreBase):
    """Users and their per-project roles (viewer < editor < maintainer < owner)."""

    def create_user(self, name: str, *, display_name: str = "") -> User:
        """Add a user; names are login names (letters, digits, ``._@-``, at most 64)."""
        if not _USER_NAME_RE.match(name):
            raise StoreError(
                f"{name!r} cannot be a user name; use up to 64 letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit"
            )
        row = UserRow(name=name, display_name=display_name)
        try:
            with self._write() as session:
                if session.exec(select(UserRow.id).where(UserRow.name == name)).first() is not None:
                    raise Conflict(f"a user named {name!r} exists already; choose another name")
                session.add(row)
        except IntegrityError:
            raise Conflict(f"a user named {name!r} exists already; choose another name") from None
        return _user_record(row)

    def ensure_user(self, name: str = LOCAL_USER) -> User:
        """The user ``name``, created if missing (safe when several processes do it at once)."""
        try:
            return self.get_user(name)
        except LookupError:
            pass
        try:
            return self.create_user(name)
        except Conflict:
            return self.get_user(name)

    def get_user(self, name: str) -> User:
        """The user called ``name``; raises ``NotFound`` (with a close name) if there is none."""
        with self._read() as session:
            return _user_record(self._user(session, name))

    def list_users(self) -> list[User]:
        """All users, by name."""
        with self._read() as session:
            return [_user_record(row) for row in session.exec(select(UserRow).order_by(UserRow.name))]

    def role_of(self, user: str, project_id: int) -> Role | None:
        """The user's role in the project; None when they are not a member."""
        with self._read() as session:
            return self._role(session, self._user(session, user), self._project(session, project_id))

    def access_to(self, user: str, project_id: int) -> tuple[Role | None, bool]:
        """The user's role in the project (None: not a member, or no such user) and whether the project is
        archived, in one query; raises ``NotFound`` when there is no such project."""
        member = and_(
            col(MemberRow.project_id) == col(ProjectRow.id),
            col(MemberRow.user_id) == select(UserRow.id).where(UserRow.name == user).scalar_subquery(),
        )
        with self._read() as session:
            found = session.exec(
                select(MemberRow.role, ProjectRow.archived_at)
                .select_from(ProjectRow)
                .outerjoin(MemberRow, member)
                .where(ProjectRow.id == project_id)
            ).first()
            if found is None:
                self._project(session, project_id)  # raises NotFound with its message
        role, archived_at = found if found is not None else (None, None)
        return (Role(role) if role is not None else None), archived_at is not None

    def pipeline_access(self, user: str, pipeline_id: int) -> tuple[int, Role | None, bool]:
        """A pipeline's project, the user's role there (None: not a member) and whether it is archived, in one
        query; raises ``NotFound`` when there is no such pipeline."""
        member = and_(
            col(MemberRow.project_id) == col(ProjectRow.id),
            col(MemberRow.user_id) == select(UserRow.id).where(UserRow.name == user).scalar_subquery(),
        )
        with self._read() as session:
            found = session.exec(
                select(ProjectRow.id, MemberRow.role, ProjectRow.archived_at)
                .select_from(PipelineRow)
                .join(ProjectRow, col(ProjectRow.id) == col(PipelineRow.project_id))
                .outerjoin(MemberRow, member)
                .where(PipelineRow.id == pipeline_id)
            ).first()
            if found is None:
                self._pipeline(session, pipeline_id)  # raises NotFound with its message
        project_id, role, archived_at = found if found is not None else (0, None, None)
        return int(project_id or 0), (Role(role) if role is not None else None), archived_at is not None

    def require_role(self, user: str, project_id: int, role: Role, *, doing: str = "do this") -> Role:
        """The user's role if it is ``role`` or higher; raises ``PermissionDenied`` saying whom to ask otherwise.

        ``doing`` completes "cannot ..." in the message, e.g. ``"edit pipelines"``.
        """
        with self._read() as session:
            return self._require(session, self._user(session, user), self._project(session, project_id), role, doing)

    def add_member(self, project_id: int, user: str, role: Role, *, by: str = LOCAL_USER) -> Member:
        """Give ``user`` the ``role`` in the project (adding or changing it); ``by`` must be an owner."""
        role = Role(role)
        with self._write() as session:
            project = self._project(session, project_id)
            self._require(session, self._user(session, by), project, Role.OWNER, "manage members")
            target = self._user(session, user)
            row = session.get(MemberRow, (project_id, target.id))
            if row is None:
                assert target.id is not None
                row = MemberRow(project_id=project_id, user_id=target.id, role=role.value)
                session.add(row)
            else:
                if row.role == Role.OWNER.value and role is not Role.OWNER:
                    self._keep_an_owner(project_id, user, session=session)
                row.role = role.value
            session.flush()
            return Member(project_id, target.name, role, row.added_at)

    def remove_member(self, project_id: int, user: str, *, by: str = LOCAL_USER) -> None:
        """Take ``user`` out of the project; ``by`` must be an owner, and the last owner cannot go."""
        with self._write() as session:
            project = self._project(session, project_id)
            self._require(session, self._user(session, by), project, Role.OWNER, "manage members")
            target = self._user(session, user)
            row = session.get(MemberRow, (project_id, target.id))
            if row is None:
                return
            if row.role == Role.OWNER.value:
                self._keep_an_owner(project_id, user, session=session)
            session.delete(row)

    def list_members(self, project_id: int) -> list[Member]:
        """The project's members, highest role first, then by name."""
        with self._read() as session:
            self._project(session, project_id)
            rows = session.exec(
                select(MemberRow, UserRow.name)
                .join(UserRow, col(UserRow.id) == col(MemberRow.user_id))
                .where(MemberRow.project_id == project_id)
            )
            members = [Member(project_id, name, Role(row.role), row.added_at) for row, name in rows]
        return sorted(members, key=lambda m: (-m.role.rank, m.user))

    @staticmethod
    def _keep_an_owner(project_id: int, leaving: str, *, session: Session) -> None:
        owners = session.exec(
            select(MemberRow.user_id).where(MemberRow.project_id == project_id, MemberRow.role == Role.OWNER.value)
        ).all()
        if len(owners) <= 1:
            raise Conflict(f"{leaving!r} is the last owner of project {project_id}; make another member an owner first")
