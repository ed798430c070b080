"""Protected targets, reviews bound to what was reviewed, review comments, in-app notifications, the export log.

A project's owner marks a git branch or a deployment as protected. An export to it needs a review of the
version whose ``content_hash`` (the document and every file it runs, computed by the caller) is the
content being exported, approved by a maintainer who neither wrote the version nor asked for the
review (``ReviewMixin._decide`` keeps that rule). A change after the approval gives another hash, so the
approval no longer matches it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from .base import StoreBase
from .errors import Conflict, NotFound
from .models import (
    ExportRow,
    MemberRow,
    NotificationRow,
    ProjectRow,
    ProtectedTargetRow,
    ReviewCommentRow,
    ReviewRow,
    ReviewStatus,
    Role,
    UserRow,
    VersionRow,
    utcnow,
)
from .records import Export, Review
from .reviews import _review_record

KINDS = ("branch", "deployment")
_REVIEWERS = (Role.MAINTAINER.value, Role.OWNER.value)


@dataclass(frozen=True, slots=True)
class ProtectedTarget:
    """A branch or deployment that takes only approved exports."""

    id: int
    project_id: int
    kind: str
    name: str
    created_by: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ReviewComment:
    """A comment on a review: on the whole change, on a node (``node_id``), or a line of a file."""

    id: int
    review_id: int
    author: str
    node_id: str | None
    file: str | None
    line: int | None
    body: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Notification:
    """Something the app shows a user until they have read it."""

    id: int
    review_id: int | None
    message: str
    created_at: dt.datetime
    read: bool


@dataclass(frozen=True, slots=True)
class LoggedExport:
    """One row of a pipeline's export log: which version, exported by whom, approved by which review."""

    version: int
    export: Export


def _name(session: Session, user_id: int) -> str:
    row = session.get(UserRow, user_id)
    return row.name if row is not None else f"#{user_id}"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"a protected target is a 'branch' or a 'deployment', not {kind!r}")


class ProtectionMixin(StoreBase):
    """Protected targets, content-bound reviews, comments, notifications and the export log."""

    # -- protected targets ---------------------------------------------------------------------------------
    def protect(self, project_id: int, kind: str, name: str, *, by: str) -> ProtectedTarget:
        """Mark a branch or deployment of the project as protected; needs the owner role."""
        _check_kind(kind)
        name = name.strip()
        if not name:
            raise ValueError(f"name the {kind} to protect")
        with self._write() as session:
            project = self._project(session, project_id)
            user = self._user(session, by)
            self._require(session, user, project, Role.OWNER, "protect branches and deployments")
            if self._target(session, project_id, kind, name) is not None:
                raise Conflict(f"{kind} {name!r} of project {project.name!r} is protected already")
            assert user.id is not None
            row = ProtectedTargetRow(project_id=project_id, kind=kind, name=name, created_by=user.id)
            session.add(row)
            session.flush()
            return self._target_record(session, row)

    def unprotect(self, project_id: int, kind: str, name: str, *, by: str) -> None:
        """Take the protection off a branch or deployment; needs the owner role."""
        _check_kind(kind)
        with self._write() as session:
            project = self._project(session, project_id)
            self._require(session, self._user(session, by), project, Role.OWNER, "unprotect branches and deployments")
            row = self._target(session, project_id, kind, name)
            if row is None:
                raise NotFound(f"{kind} {name!r} of project {project.name!r} is not protected")
            session.delete(row)

    def protected_targets(self, project_id: int) -> list[ProtectedTarget]:
        """The project's protected branches and deployments, by kind and name."""
        with self._read() as session:
            self._project(session, project_id)
            rows = session.exec(
                select(ProtectedTargetRow)
                .where(ProtectedTargetRow.project_id == project_id)
                .order_by(col(ProtectedTargetRow.kind), col(ProtectedTargetRow.name))
            )
            return [self._target_record(session, row) for row in rows]

    def is_protected(self, project_id: int, kind: str, name: str) -> bool:
        """Whether an export to this branch or deployment needs an approved review."""
        _check_kind(kind)
        with self._read() as session:
            return self._target(session, project_id, kind, name) is not None

    # -- reviews bound to content --------------------------------------------------------------------------
    def request_content_review(self, pipeline_id: int, number: int, *, content_hash: str, by: str) -> Review:
        """Ask the project's reviewers to approve this version with exactly this content; needs the editor role.

        A version may be reviewed again when its files changed (another hash) or changes were requested.
        """
        with self._write() as session:
            version, project = self._version_and_project_rows(session, pipeline_id, number)
            user = self._user(session, by)
            self._require(session, user, project, Role.EDITOR, "request reviews")
            latest = self._latest_for_hash(session, version, content_hash)
            if latest is not None and latest.status != ReviewStatus.REJECTED.value:
                state = "approved already" if latest.status == ReviewStatus.APPROVED.value else "in review already"
                raise Conflict(f"version {number} with this content is {state} (review {latest.id})")
            assert user.id is not None and version.id is not None
            row = ReviewRow(version_id=version.id, requested_by=user.id, content_hash=content_hash)
            session.add(row)
            session.flush()
            return _review_record(session, row)

    def approved_review(self, pipeline_id: int, number: int, *, content_hash: str) -> Review | None:
        """The approval of this version with exactly this content (the newest review of it), or None."""
        with self._read() as session:
            version = self._version(session, pipeline_id, number)
            latest = self._latest_for_hash(session, version, content_hash)
            if latest is None or latest.status != ReviewStatus.APPROVED.value:
                return None
            return _review_record(session, latest)

    def get_review(self, review_id: int) -> tuple[int, int, Review]:
        """A review with the pipeline id and version number it reviews."""
        with self._read() as session:
            row = self._review_row(session, review_id)
            version = session.get(VersionRow, row.version_id)
            assert version is not None
            return version.pipeline_id, version.number, _review_record(session, row)

    def pipeline_reviews(self, pipeline_id: int) -> list[tuple[int, Review]]:
        """Every review of the pipeline's versions, newest first, with the version number."""
        with self._read() as session:
            self._pipeline(session, pipeline_id)
            rows = session.exec(
                select(ReviewRow, VersionRow.number)
                .join(VersionRow, col(VersionRow.id) == col(ReviewRow.version_id))
                .where(VersionRow.pipeline_id == pipeline_id)
                .order_by(col(ReviewRow.id).desc())
            )
            return [(number, _review_record(session, row)) for row, number in rows]

    def reviewers(self, project_id: int) -> list[str]:
        """The project's members who may approve (maintainers and owners), by name."""
        with self._read() as session:
            rows = session.exec(
                select(UserRow.name)
                .join(MemberRow, col(MemberRow.user_id) == col(UserRow.id))
                .where(MemberRow.project_id == project_id, col(MemberRow.role).in_(_REVIEWERS))
            )
            return sorted(rows)

    # -- comments ------------------------------------------------------------------------------------------
    def add_comment(
        self,
        review_id: int,
        body: str,
        *,
        by: str,
        node_id: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> ReviewComment:
        """Comment on a review (on a node, or a line of a file); needs the editor role in its project."""
        if not body.strip():
            raise ValueError("write the comment's text")
        if line is not None and (file is None or line < 1):
            raise ValueError("a line comment names the file and a line number from 1")
        with self._write() as session:
            row = self._review_row(session, review_id)
            version = session.get(VersionRow, row.version_id)
            assert version is not None
            project = self._project(session, self._pipeline(session, version.pipeline_id).project_id)
            user = self._user(session, by)
            self._require(session, user, project, Role.EDITOR, "comment on reviews")
            assert user.id is not None
            comment = ReviewCommentRow(
                review_id=review_id, author=user.id, node_id=node_id, file=file, line=line, body=body.strip()
            )
            session.add(comment)
            session.flush()
            return self._comment_record(session, comment)

    def comments(self, review_id: int) -> list[ReviewComment]:
        """A review's comments, oldest first."""
        with self._read() as session:
            self._review_row(session, review_id)
            rows = session.exec(
                select(ReviewCommentRow)
                .where(ReviewCommentRow.review_id == review_id)
                .order_by(col(ReviewCommentRow.id))
            )
            return [self._comment_record(session, row) for row in rows]

    # -- notifications -------------------------------------------------------------------------------------
    def notify(self, users: set[str], message: str, *, review_id: int | None = None) -> None:
        """Leave ``message`` for each of ``users`` (unknown names are skipped)."""
        with self._write() as session:
            ids = session.exec(select(UserRow.id).where(col(UserRow.name).in_(sorted(users))))
            for user_id in ids:
                assert user_id is not None
                session.add(NotificationRow(user_id=user_id, review_id=review_id, message=message))

    def notifications(self, user: str, *, unread_only: bool = False) -> list[Notification]:
        """The user's notifications, newest first."""
        with self._read() as session:
            query = select(NotificationRow).where(NotificationRow.user_id == self._user(session, user).id)
            if unread_only:
                query = query.where(col(NotificationRow.read_at).is_(None))
            rows = session.exec(query.order_by(col(NotificationRow.id).desc()))
            return [
                Notification(row.id or 0, row.review_id, row.message, row.created_at, row.read_at is not None)
                for row in rows
            ]

    def mark_read(self, user: str, notification_ids: list[int] | None = None) -> int:
        """Mark the user's notifications read (all of them without ids); how many were unread."""
        with self._write() as session:
            query = select(NotificationRow).where(
                NotificationRow.user_id == self._user(session, user).id, col(NotificationRow.read_at).is_(None)
            )
            if notification_ids is not None:
                query = query.where(col(NotificationRow.id).in_(notification_ids))
            rows = list(session.exec(query))
            for row in rows:
                row.read_at = utcnow()
            return len(rows)

    # -- the export log ------------------------------------------------------------------------------------
    def export_log(self, pipeline_id: int) -> list[LoggedExport]:
        """Every export of the pipeline's versions, newest first: who, what, which review, which commit."""
        with self._read() as session:
            self._pipeline(session, pipeline_id)
            rows = session.exec(
                select(ExportRow, VersionRow.number, UserRow.name)
                .join(VersionRow, col(VersionRow.id) == col(ExportRow.version_id))
                .join(UserRow, col(UserRow.id) == col(ExportRow.exported_by))
                .where(VersionRow.pipeline_id == pipeline_id)
                .order_by(col(ExportRow.id).desc())
            )
            return [LoggedExport(number, Export.from_row(row, name)) for row, number, name in rows]

    # -- rows ----------------------------------------------------------------------------------------------
    @staticmethod
    def _target(session: Session, project_id: int, kind: str, name: str) -> ProtectedTargetRow | None:
        return session.exec(
            select(ProtectedTargetRow).where(
                ProtectedTargetRow.project_id == project_id,
                ProtectedTargetRow.kind == kind,
                ProtectedTargetRow.name == name,
            )
        ).first()

    @staticmethod
    def _target_record(session: Session, row: ProtectedTargetRow) -> ProtectedTarget:
        assert row.id is not None
        return ProtectedTarget(
            row.id, row.project_id, row.kind, row.name, _name(session, row.created_by), row.created_at
        )

    @staticmethod
    def _comment_record(session: Session, row: ReviewCommentRow) -> ReviewComment:
        assert row.id is not None
        return ReviewComment(
            row.id, row.review_id, _name(session, row.author), row.node_id, row.file, row.line, row.body, row.created_at
        )

    @staticmethod
    def _review_row(session: Session, review_id: int) -> ReviewRow:
        row = session.get(ReviewRow, review_id)
        if row is None:
            raise NotFound(f"review {review_id} does not exist; reload the pipeline's reviews")
        return row

    @staticmethod
    def _latest_for_hash(session: Session, version: VersionRow, content_hash: str) -> ReviewRow | None:
        return session.exec(
            select(ReviewRow)
            .where(ReviewRow.version_id == version.id, ReviewRow.content_hash == content_hash)
            .order_by(col(ReviewRow.id).desc())
        ).first()

    def _version_and_project_rows(
        self, session: Session, pipeline_id: int, number: int
    ) -> tuple[VersionRow, ProjectRow]:
        version = self._version(session, pipeline_id, number)
        return version, self._project(session, self._pipeline(session, pipeline_id).project_id)
