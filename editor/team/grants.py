"""A user's project roles as of one session lookup: the role checks of a request or socket.io event, without a read.

Every HTTP request and every socket.io event looks its session up in the database (``guard``, ``identity``), in a
worker thread. That same query also returns the user's memberships (``member_columns``): the project, its
name, the role and whether it is archived. ``Grants`` holds them for as long as the request or event runs as
that user (``identity.acting_as``); when it ends they expire, and a check made after that (a task the request
or event left running, a page's later merge) reads the database again. So a role removed since is refused at
the user's next event, as before, and the checks within one request or event (e.g. a page open's "open",
"edit" and read-only checks) cost no query at all.

Only grants are taken from here: whatever ``Grants`` does not allow is asked of the database again, which
then refuses with its message (whom to ask) and logs it, or allows a role given meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col

from ..store import Role
from ..store.models import MemberRow, ProjectRow, UserRow


@dataclass(frozen=True, slots=True)
class Membership:
    """The user's role in one project, and that project's name and whether it is archived."""

    role: Role
    project: str
    archived: bool


@dataclass(slots=True)
class Grants:
    """A user's memberships as of one lookup, and the pipelines' projects learnt while they are live."""

    memberships: dict[int, Membership]
    pipelines: dict[int, int] = field(default_factory=dict)  # pipeline id -> its project id (they never move)
    live: bool = True

    def expire(self) -> None:
        """The request or event this lookup was made for is over: from now on, every check reads the database."""
        self.live = False
        self.pipelines.clear()

    def membership(self, project_id: int) -> Membership | None:
        """The user's membership in the project (None: not a member, as of the lookup)."""
        return self.memberships.get(project_id)


def member_columns() -> tuple[Any, ...]:
    """The columns a session lookup adds for ``Grants`` (outer-joined by ``join_members``), in ``grants``' order."""
    return (col(MemberRow.project_id), col(MemberRow.role), col(ProjectRow.name), col(ProjectRow.archived_at))


def join_members(query: Any) -> Any:
    """``query`` (one over ``UserRow``) with the user's memberships outer-joined: one row per membership, or one."""
    return query.outerjoin(MemberRow, col(MemberRow.user_id) == col(UserRow.id)).outerjoin(
        ProjectRow, col(ProjectRow.id) == col(MemberRow.project_id)
    )


def grants(rows: Iterable[tuple[Any, ...]]) -> Grants:
    """``Grants`` from the trailing ``member_columns`` of a lookup's rows (rows without a membership add none)."""
    memberships: dict[int, Membership] = {}
    for *_, project_id, role, name, archived_at in rows:
        if project_id is not None and role is not None:
            memberships[int(project_id)] = Membership(Role(role), str(name), archived_at is not None)
    return Grants(memberships)
