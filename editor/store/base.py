"""Sessions and the lookups every part of the store shares (rows by id or name, role checks)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from .engine import IMMEDIATE
from .errors import NotFound, PermissionDenied
from .models import MemberRow, PipelineRow, ProjectRow, Role, UserRow, VersionRow


class StoreBase:
    """Holds the engine; opens read and write sessions; finds rows or raises ``NotFound``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A session for reading; anything it changes is rolled back."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A session whose transaction holds the write lock from the start and commits on success."""
        session = Session(self.engine, expire_on_commit=False, execution_options={IMMEDIATE: True})
        with session, session.begin():
            yield session

    @staticmethod
    def _user(session: Session, name: str) -> UserRow:
        row = session.exec(select(UserRow).where(UserRow.name == name)).first()
        if row is None:
            known = list(session.exec(select(UserRow.name)))
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise NotFound(f"there is no user {name!r}; {hint}create the user first (Store.create_user)")
        return row

    @staticmethod
    def _project(session: Session, project_id: int) -> ProjectRow:
        row = session.get(ProjectRow, project_id)
        if row is None:
            raise NotFound(f"project {project_id} does not exist (it may have been deleted); reload the project list")
        return row

    @staticmethod
    def _pipeline(session: Session, pipeline_id: int, *, lock: bool = False) -> PipelineRow:
        # FOR UPDATE serialises version numbering per pipeline on PostgreSQL; SQLite's write lock already does.
        row = session.get(PipelineRow, pipeline_id, with_for_update=lock)
        if row is None:
            raise NotFound(
                f"pipeline {pipeline_id} does not exist (it may have been deleted); reload the pipeline list"
            )
        return row

    @staticmethod
    def _version(session: Session, pipeline_id: int, number: int) -> VersionRow:
        row = session.exec(
            select(VersionRow).where(VersionRow.pipeline_id == pipeline_id, VersionRow.number == number)
        ).first()
        if row is None:
            numbers = list(session.exec(select(VersionRow.number).where(VersionRow.pipeline_id == pipeline_id)))
            known = f"it has versions 1 to {max(numbers)}" if numbers else "it has no versions yet"
            raise NotFound(f"pipeline {pipeline_id} has no version {number}; {known}")
        return row

    @staticmethod
    def _role(session: Session, user: UserRow, project: ProjectRow) -> Role | None:
        role = session.exec(
            select(MemberRow.role).where(MemberRow.project_id == project.id, MemberRow.user_id == user.id)
        ).first()
        return Role(role) if role is not None else None

    @classmethod
    def _require(cls, session: Session, user: UserRow, project: ProjectRow, role: Role, doing: str) -> Role:
        """The user's role in the project if it is ``role`` or higher; raises ``PermissionDenied`` otherwise."""
        have = cls._role(session, user, project)
        if have is not None and have.rank >= role.rank:
            return have
        owners = sorted(
            session.exec(
                select(UserRow.name)
                .join(MemberRow, col(MemberRow.user_id) == col(UserRow.id))
                .where(MemberRow.project_id == project.id, MemberRow.role == Role.OWNER.value)
            )
        )
        ask = f"ask an owner of the project ({', '.join(owners)})" if owners else "ask an administrator"
        article = "an" if have is not None and have.value[0] in "aeiou" else "a"
        status = f"is {article} {have.value} of" if have is not None else "is not a member of"
        needs = "the owner role" if role is Role.OWNER else f"the {role.value} role or higher"
        raise PermissionDenied(
            f"user {user.name!r} {status} project {project.name!r} and cannot {doing}: that needs {needs}; "
            f"{ask} to {'change the role' if have is not None else 'add them'}"
        )
