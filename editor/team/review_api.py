"""The REST API's review routes (``/api/v1``): protected targets, reviews, comments, notifications, exports.

Same door and checks as the rest of the v1 API (``api.py``): ``TeamGuard`` admits only a signed-in user or
an API token, and every route goes through ``ReviewService``, which checks the user's project role first.
A review or pipeline of a project the user does not belong to answers 404; a role too low answers 403;
an export to a protected target without an approval of exactly its content answers 409, and so does an
approval by a reviewer who has not opened the review showing exactly that content (``GET /reviews/{id}``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel, Field

from ..errors import UserError
from ..store import Review
from .review import STATE_LABELS, ApprovalRequired, OpenFirst, ReviewService, ReviewView
from .review_content import ReviewContent
from .services import NoAccessError, RoleError, TeamServices

PREFIX = "/api/v1"


class TargetBody(BaseModel):
    """A branch or deployment to protect."""

    kind: str = Field(description="branch or deployment", examples=["branch"])
    name: str = Field(min_length=1, examples=["main"])


class RequestBody(BaseModel):
    """Which version to review (default: the newest)."""

    version: int | None = Field(None, ge=1)


class ApproveBody(BaseModel):
    """The hash of the content the reviewer opened (``GET /reviews/{id}``'s ``content.content_hash``)."""

    content_hash: str = Field(min_length=64, max_length=64)
    comment: str = ""


class ChangesBody(BaseModel):
    """What to change."""

    comment: str = Field(min_length=1)


class CommentBody(BaseModel):
    """A comment on the review, on a node (``node_id``), or on a line of a file (``file`` and ``line``)."""

    body: str = Field(min_length=1)
    node_id: str | None = None
    file: str | None = None
    line: int | None = Field(None, ge=1)


class ReadBody(BaseModel):
    """Which notifications to mark read (all when omitted)."""

    ids: list[int] | None = None


class CommitBody(BaseModel):
    """Commit the working copy's DAG to the project's branch."""

    message: str = ""
    target: str = "airflow3"


def _status(exc: UserError) -> HTTPException:
    if isinstance(exc, NoAccessError):
        return HTTPException(status_code=404, detail=str(exc))
    if isinstance(exc, RoleError):
        return HTTPException(status_code=403, detail=str(exc))
    return HTTPException(status_code=409 if isinstance(exc, ApprovalRequired | OpenFirst) else 400, detail=str(exc))


def review_json(review: Review, *, version: int | None = None, opened: bool = False) -> dict[str, Any]:
    """A review's fields as the API shows them; the content hash only with the opened review (``opened``).

    An approval names the hash of the content approved, and only ``GET /reviews/{id}``, which sends the DAG
    diff, the change list and every file's diff, tells a reviewer that hash: a listing, a request or a
    decision does not. The opening is recorded, and the approval needs the approver's own opening of
    exactly that content.
    """
    shown = {
        "id": review.id,
        "version": version,
        "state": STATE_LABELS[review.status],
        "requested_by": review.requested_by,
        "requested_at": review.requested_at.isoformat(),
        "decided_by": review.decided_by,
        "decided_at": review.decided_at.isoformat() if review.decided_at else None,
        "comment": review.comment,
    }
    return {**shown, "content_hash": review.content_hash} if opened else shown


def _content_json(content: ReviewContent) -> dict[str, Any]:
    return {
        "version": content.version,
        "base_version": content.base_version,
        "content_hash": content.content_hash,
        "dag_diff": content.dag_diff,
        "changes": content.changes,
        "files": [diff.as_json() for diff in content.files],
    }


def _view_json(view: ReviewView) -> dict[str, Any]:
    return {
        **review_json(view.review, version=view.content.version, opened=True),
        "pipeline_id": view.pipeline_id,
        "current": view.current,
        "content": _content_json(view.content),
        "comments": [
            {
                "id": c.id,
                "author": c.author,
                "node_id": c.node_id,
                "file": c.file,
                "line": c.line,
                "body": c.body,
                "created_at": c.created_at.isoformat(),
            }
            for c in view.comments
        ],
    }


def build_review_router(reviews: ReviewService) -> APIRouter:
    """The review routes over ``reviews`` (checks included)."""
    router = APIRouter(prefix=PREFIX, tags=["reviews"])
    _target_routes(router, reviews)
    _review_routes(router, reviews)
    _log_routes(router, reviews)
    return router


def _target_routes(router: APIRouter, reviews: ReviewService) -> None:
    @router.get("/projects/{project_id}/protected")
    def protected(project_id: int) -> list[dict[str, Any]]:
        """The project's protected branches and deployments (members)."""
        try:
            return [{"kind": t.kind, "name": t.name, "by": t.created_by} for t in reviews.protected(project_id)]
        except UserError as exc:
            raise _status(exc) from None

    @router.post("/projects/{project_id}/protected", status_code=201)
    def protect(project_id: int, body: TargetBody) -> dict[str, Any]:
        """Protect a branch or deployment (project owners)."""
        try:
            made = reviews.protect(project_id, body.kind, body.name)
        except UserError as exc:
            raise _status(exc) from None
        return {"kind": made.kind, "name": made.name, "by": made.created_by}

    @router.delete("/projects/{project_id}/protected/{kind}/{name}", status_code=204)
    def unprotect(project_id: int, kind: str, name: str) -> None:
        """Take the protection off (project owners)."""
        try:
            reviews.unprotect(project_id, kind, name)
        except UserError as exc:
            raise _status(exc) from None


def _review_routes(router: APIRouter, reviews: ReviewService) -> None:
    @router.get("/pipelines/{pipeline_id}/reviews")
    def pipeline_reviews(pipeline_id: int) -> list[dict[str, Any]]:
        """The pipeline's reviews, newest first (members)."""
        try:
            return [review_json(review, version=number) for number, review in reviews.reviews(pipeline_id)]
        except UserError as exc:
            raise _status(exc) from None

    @router.post("/pipelines/{pipeline_id}/reviews", status_code=201)
    def request_review(pipeline_id: int, body: RequestBody) -> dict[str, Any]:
        """Ask the project's reviewers to approve a version with its files as they are now (editors)."""
        try:
            review = reviews.request(pipeline_id, body.version)
        except UserError as exc:
            raise _status(exc) from None
        return review_json(review)

    @router.get("/reviews/{review_id}")
    def open_review(review_id: int) -> dict[str, Any]:
        """The review: state, DAG diff, change list, the diff of every file it runs, comments (members)."""
        try:
            return _view_json(reviews.open(review_id))
        except UserError as exc:
            raise _status(exc) from None

    @router.post("/reviews/{review_id}/approve")
    def approve(review_id: int, body: ApproveBody) -> dict[str, Any]:
        """Approve the content opened (reviewers other than the author; 409 unless they opened it themselves)."""
        try:
            return review_json(reviews.approve(review_id, content_hash=body.content_hash, comment=body.comment))
        except UserError as exc:
            raise _status(exc) from None

    @router.post("/reviews/{review_id}/request-changes")
    def request_changes(review_id: int, body: ChangesBody) -> dict[str, Any]:
        """Ask for changes (reviewers; the requester withdraws)."""
        try:
            return review_json(reviews.request_changes(review_id, comment=body.comment))
        except UserError as exc:
            raise _status(exc) from None

    @router.post("/reviews/{review_id}/comments", status_code=201)
    def comment(review_id: int, body: CommentBody) -> dict[str, Any]:
        """Comment on the review, a node or a line (editors and reviewers)."""
        try:
            made = reviews.comment(review_id, body.body, node_id=body.node_id, file=body.file, line=body.line)
        except UserError as exc:
            raise _status(exc) from None
        return {"id": made.id, "author": made.author, "node_id": made.node_id, "file": made.file, "line": made.line}


def _log_routes(router: APIRouter, reviews: ReviewService) -> None:
    services = reviews.services

    @router.get("/notifications")
    def notifications(unread: bool = False) -> list[dict[str, Any]]:
        """The signed-in user's notifications, newest first."""
        return [
            {"id": n.id, "review_id": n.review_id, "message": n.message, "at": n.created_at.isoformat(), "read": n.read}
            for n in reviews.notifications(unread_only=unread)
        ]

    @router.post("/notifications/read")
    def read(body: ReadBody) -> dict[str, int]:
        """Mark notifications read."""
        return {"marked": reviews.mark_read(body.ids)}

    @router.get("/pipelines/{pipeline_id}/exports")
    def exports(pipeline_id: int) -> list[dict[str, Any]]:
        """The export log: who exported which version, which review approved it, which commit it made."""
        try:
            log = reviews.export_log(pipeline_id)
        except UserError as exc:
            raise _status(exc) from None
        return [
            {
                "version": row.version,
                "exported_by": row.export.exported_by,
                "exported_at": row.export.exported_at.isoformat(),
                "target": row.export.target,
                "branch": row.export.branch,
                "commit": row.export.git_commit,
                "review_id": row.export.review_id,
                "dag_path": row.export.dag_path,
            }
            for row in log
        ]

    @router.post("/pipelines/{pipeline_id}/commit", status_code=201)
    def commit(pipeline_id: int, body: CommitBody) -> dict[str, Any]:
        """Save a version of the working copy and commit its DAG to the project's branch (reviewers).

        A protected branch takes it only with an approval of exactly this content (409 otherwise).
        """
        try:
            _, pipeline, _ = services.open_draft(pipeline_id)
            number, result = services.export_to_project_git(
                pipeline_id, pipeline, message=body.message, target=body.target
            )
        except UserError as exc:
            raise _status(exc) from None
        return {"version": number, "commit": result.commit, "paths": list(result.paths)}


def register_reviews(app: FastAPI, services: TeamServices) -> ReviewService:
    """Mount the review routes and install the export gate on ``services`` (protected targets need approval)."""
    reviews = ReviewService(services)
    services.export_gate = reviews.gate
    app.include_router(build_review_router(reviews))
    return reviews
