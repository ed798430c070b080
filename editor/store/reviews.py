"""Four-eyes reviews of versions, and the record of exports that production exports depend on.

A version is ``draft`` until an editor requests a review; a maintainer other than the version's
author and the requester approves or rejects it, once. In a project with ``review_required``, a
production export needs an approved version; other exports need the editor role only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from .base import StoreBase
from .errors import Conflict, NotFound, PermissionDenied
from .models import (
    ExportRow,
    MemberRow,
    ProjectRow,
    ReviewOpeningRow,
    ReviewRow,
    ReviewStatus,
    Role,
    UserRow,
    VersionRow,
    utcnow,
)
from .records import LOCAL_USER, Export, Review, VersionStatus


class NotOpened(Conflict):
    """An approval of content the approver never opened (the review showing exactly that content)."""


@dataclass(frozen=True, slots=True)
class Opening:
    """``user`` opened review ``review_id`` showing the content ``content_hash`` (first at ``opened_at``)."""

    review_id: int
    user: str
    content_hash: str
    opened_at: dt.datetime


def _name(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    row = session.get(UserRow, user_id)
    return row.name if row is not None else f"#{user_id}"


def _review_record(session: Session, row: ReviewRow) -> Review:
    assert row.id is not None
    requested_by = _name(session, row.requested_by)
    assert requested_by is not None
    return Review(
        row.id,
        row.version_id,
        ReviewStatus(row.status),
        requested_by,
        row.requested_at,
        _name(session, row.decided_by),
        row.decided_at,
        row.comment,
        row.content_hash,
    )


def _latest_review(session: Session, version: VersionRow) -> ReviewRow | None:
    return session.exec(
        select(ReviewRow).where(ReviewRow.version_id == version.id).order_by(col(ReviewRow.id).desc())
    ).first()


class ReviewMixin(StoreBase):
    """Reviews and exports of versions."""

    def request_review(self, pipeline_id: int, number: int, *, by: str = LOCAL_USER) -> Review:
        """Ask for a version to be approved; ``by`` needs the editor role."""
        with self._write() as session:
            version, project = self._version_and_project(session, pipeline_id, number)
            user = self._user(session, by)
            self._require(session, user, project, Role.EDITOR, "request reviews")
            latest = _latest_review(session, version)
            if latest is not None:
                raise Conflict(self._already(session, latest, number))
            assert user.id is not None and version.id is not None
            row = ReviewRow(version_id=version.id, requested_by=user.id)
            session.add(row)
            session.flush()
            return _review_record(session, row)

    def approve_review(self, review_id: int, *, by: str, comment: str = "", opened: str | None = None) -> Review:
        """Approve: ``by`` must be a maintainer who neither created the version nor requested the review.

        ``opened``: the hash of the content approved; ``by`` must have opened the review showing exactly it
        (``record_opening``), else ``NotOpened``.
        """
        return self._decide(review_id, ReviewStatus.APPROVED, by=by, comment=comment, opened=opened)

    def record_opening(self, review_id: int, *, by: str, content_hash: str) -> Opening:
        """Record that ``by`` opened the review showing the content ``content_hash`` (once per user and content)."""
        with self._write() as session:
            if session.get(ReviewRow, review_id) is None:
                raise NotFound(f"review {review_id} does not exist; reload the version's reviews")
            user = self._user(session, by)
            row = session.exec(
                select(ReviewOpeningRow).where(
                    ReviewOpeningRow.review_id == review_id,
                    ReviewOpeningRow.user_id == user.id,
                    ReviewOpeningRow.content_hash == content_hash,
                )
            ).first()
            if row is None:
                assert user.id is not None
                row = ReviewOpeningRow(review_id=review_id, user_id=user.id, content_hash=content_hash)
                session.add(row)
                session.flush()
            return Opening(review_id, user.name, row.content_hash, row.opened_at)

    def openings(self, review_id: int) -> list[Opening]:
        """Who opened the review with which content, first openings first."""
        with self._read() as session:
            rows = session.exec(
                select(ReviewOpeningRow, UserRow.name)
                .join(UserRow, col(UserRow.id) == col(ReviewOpeningRow.user_id))
                .where(ReviewOpeningRow.review_id == review_id)
                .order_by(col(ReviewOpeningRow.id))
            )
            return [Opening(review_id, name, row.content_hash, row.opened_at) for row, name in rows]

    def reject_review(self, review_id: int, *, by: str, comment: str = "") -> Review:
        """Reject (say why in ``comment``): by a maintainer, or by the requester to withdraw it."""
        return self._decide(review_id, ReviewStatus.REJECTED, by=by, comment=comment)

    def list_reviews(self, pipeline_id: int, number: int) -> list[Review]:
        """The version's reviews, oldest first."""
        with self._read() as session:
            version = self._version(session, pipeline_id, number)
            rows = session.exec(select(ReviewRow).where(ReviewRow.version_id == version.id).order_by(col(ReviewRow.id)))
            return [_review_record(session, row) for row in rows]

    def version_status(self, pipeline_id: int, number: int) -> VersionStatus:
        """``draft`` without a review, else the latest review's status."""
        with self._read() as session:
            latest = _latest_review(session, self._version(session, pipeline_id, number))
            return VersionStatus.DRAFT if latest is None else VersionStatus(latest.status)

    def check_export(self, pipeline_id: int, number: int, *, by: str, production: bool) -> None:
        """Raise ``PermissionDenied`` unless ``by`` may export this version (call before exporting)."""
        with self._read() as session:
            self._check_export(session, pipeline_id, number, by=by, production=production)

    def record_export(
        self,
        pipeline_id: int,
        number: int,
        *,
        by: str,
        target: str,
        production: bool,
        location: str,
        dag_path: str,
        branch: str | None = None,
        git_commit: str | None = None,
        review_id: int | None = None,
    ) -> Export:
        """Note that the version was exported (after the export succeeded); checks as ``check_export`` does.

        ``review_id``: the approval the export needed (a protected branch or deployment).
        """
        with self._write() as session:
            version, user = self._check_export(session, pipeline_id, number, by=by, production=production)
            assert version.id is not None and user.id is not None
            row = ExportRow(
                version_id=version.id,
                target=target,
                production=production,
                location=location,
                branch=branch,
                git_commit=git_commit,
                dag_path=dag_path,
                exported_by=user.id,
                review_id=review_id,
            )
            session.add(row)
            session.flush()
            return Export.from_row(row, user.name)

    def list_exports(self, pipeline_id: int, number: int) -> list[Export]:
        """Where the version was exported to, oldest first."""
        with self._read() as session:
            version = self._version(session, pipeline_id, number)
            rows = session.exec(
                select(ExportRow, UserRow.name)
                .join(UserRow, col(UserRow.id) == col(ExportRow.exported_by))
                .where(ExportRow.version_id == version.id)
                .order_by(col(ExportRow.id))
            )
            return [Export.from_row(row, name) for row, name in rows]

    def _version_and_project(self, session: Session, pipeline_id: int, number: int) -> tuple[VersionRow, ProjectRow]:
        version = self._version(session, pipeline_id, number)
        return version, self._project(session, self._pipeline(session, pipeline_id).project_id)

    def _check_export(
        self, session: Session, pipeline_id: int, number: int, *, by: str, production: bool
    ) -> tuple[VersionRow, UserRow]:
        version, project = self._version_and_project(session, pipeline_id, number)
        user = self._user(session, by)
        if not production:
            self._require(session, user, project, Role.EDITOR, "export pipelines")
            return version, user
        self._require(session, user, project, Role.MAINTAINER, "export to production")
        if project.review_required:
            latest = _latest_review(session, version)
            status = VersionStatus.DRAFT if latest is None else VersionStatus(latest.status)
            if status is not VersionStatus.APPROVED:
                raise PermissionDenied(
                    f"version {number} of pipeline {pipeline_id} is {status.value.replace('_', ' ')}; project "
                    f"{project.name!r} exports to production only approved versions: request a review and "
                    "have another maintainer approve it"
                )
        return version, user

    def _decide(
        self, review_id: int, status: ReviewStatus, *, by: str, comment: str, opened: str | None = None
    ) -> Review:
        with self._write() as session:
            row = session.get(ReviewRow, review_id)
            if row is None:
                raise NotFound(f"review {review_id} does not exist; reload the version's reviews")
            version = session.get(VersionRow, row.version_id)
            assert version is not None
            project = self._project(session, self._pipeline(session, version.pipeline_id).project_id)
            user = self._user(session, by)
            if row.status != ReviewStatus.IN_REVIEW.value:
                raise Conflict(f"review {review_id} was {row.status} already by {_name(session, row.decided_by)!r}")
            withdrawing = status is ReviewStatus.REJECTED and user.id == row.requested_by
            if not withdrawing:
                self._require(session, user, project, Role.MAINTAINER, "review versions")
            if status is ReviewStatus.APPROVED and user.id in (version.created_by, row.requested_by):
                did = "created" if user.id == version.created_by else "requested the review of"
                others = self._other_reviewers(session, project, exclude={version.created_by, row.requested_by})
                ask = f"ask {', '.join(others)} to approve it" if others else "add another maintainer to approve it"
                raise PermissionDenied(
                    f"four-eyes rule: {user.name!r} {did} version {version.number} and cannot approve it; {ask}"
                )
            if opened is not None and not self._has_opened(session, review_id, user, opened):
                raise NotOpened(
                    f"{user.name!r} has not opened review {review_id} of version {version.number} with this content: "
                    "open the review first (its DAG diff, change list and the diff of every notebook and script), "
                    "then approve what it shows"
                )
            row.status = status.value
            row.decided_by = user.id
            row.decided_at = utcnow()
            row.comment = comment
            session.flush()
            return _review_record(session, row)

    @staticmethod
    def _has_opened(session: Session, review_id: int, user: UserRow, content_hash: str) -> bool:
        found = session.exec(
            select(ReviewOpeningRow.id).where(
                ReviewOpeningRow.review_id == review_id,
                ReviewOpeningRow.user_id == user.id,
                ReviewOpeningRow.content_hash == content_hash,
            )
        ).first()
        return found is not None

    @staticmethod
    def _other_reviewers(session: Session, project: ProjectRow, *, exclude: set[int]) -> list[str]:
        reviewers = (Role.MAINTAINER.value, Role.OWNER.value)
        rows = session.exec(
            select(UserRow.id, UserRow.name)
            .join(MemberRow, col(MemberRow.user_id) == col(UserRow.id))
            .where(MemberRow.project_id == project.id, col(MemberRow.role).in_(reviewers))
        )
        return sorted(name for user_id, name in rows if user_id not in exclude)

    @staticmethod
    def _already(session: Session, latest: ReviewRow, number: int) -> str:
        who = _name(session, latest.decided_by or latest.requested_by)
        if latest.status == ReviewStatus.IN_REVIEW.value:
            return (
                f"version {number} is in review already (review {latest.id}, requested by {who!r}); await the decision"
            )
        if latest.status == ReviewStatus.APPROVED.value:
            return f"version {number} was approved by {who!r} already; it can be exported"
        reason = f": {latest.comment}" if latest.comment else ""
        return f"version {number} was rejected by {who!r}{reason}; change the pipeline and save a new version"
