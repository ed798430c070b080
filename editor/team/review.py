"""Four-eyes review before production, as the signed-in user: request, open, comment, decide, export.

- A project's owner marks a git branch or a deployment as protected (``protect``).
- An export to a protected target needs an approval of exactly the content being exported: the version's
  document and every notebook and script it runs (``review_content.version_hash``). The export gate
  (``gate``, installed as the services' ``export_gate``) refuses anything else, and the export log
  records which review approved the export and the commit it made.
- Approving needs the reviewer role (the store's maintainer); the version's author and the review's
  requester cannot approve it; the approver passes the hash of the content they opened, so a change
  in between is refused instead of approved unseen. Opening a review records who opened it showing which
  content (``review_opening``), and an approval needs the approver's own opening of exactly the content
  approved: a hash handed over by someone else approves nothing.
- States: requested (``in_review``), changes requested (the store's ``rejected``), approved. Requests,
  decisions and comments leave notifications for the people concerned.

Every method checks the user's role in the pipeline's project through ``TeamServices`` first.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from ..store import NotFound, PermissionDenied, Project, Review, ReviewStatus, StoreError, Version
from ..store.protection import LoggedExport, Notification, ProtectedTarget, ReviewComment
from ..store.reviews import NotOpened
from .review_content import ReviewContent, review_content, version_hash
from .services import NoAccessError, RoleError, TeamServices

STATE_LABELS = {
    ReviewStatus.IN_REVIEW: "requested",
    ReviewStatus.REJECTED: "changes requested",
    ReviewStatus.APPROVED: "approved",
}


class ApprovalRequired(UserError):  # noqa: N818 (reads as "review.ApprovalRequired")
    """An export to a protected branch or deployment without an approval of exactly this content."""


class OpenFirst(UserError):  # noqa: N818 (reads as "review.OpenFirst")
    """An approval by a reviewer who has not opened the review showing exactly the content approved."""


@dataclass(frozen=True, slots=True)
class ReviewView:
    """A review as its page and the API show it: state, content, comments, and whether it is still current."""

    review: Review
    pipeline_id: int
    state: str
    content: ReviewContent
    current: bool  # the reviewed content is what the version and its files are now
    comments: list[ReviewComment]


def _user_error(exc: StoreError) -> UserError:
    if isinstance(exc, PermissionDenied):
        return RoleError(str(exc))
    if isinstance(exc, NotFound):
        return NoAccessError(str(exc))
    return UserError(str(exc))


class ReviewService:
    """Reviews, protected targets and the export log over ``TeamServices`` (one for all users)."""

    def __init__(self, services: TeamServices, *, target: str = "airflow3") -> None:
        self.services = services
        self.store = services.store
        self.target = target

    @property
    def user(self) -> str:
        """Who acts (the signed-in user)."""
        return self.services.user

    # -- protected targets ---------------------------------------------------------------------------------
    def protect(self, project_id: int, kind: str, name: str) -> ProtectedTarget:
        """Protect a branch or deployment of the project (its owners)."""
        self._manage(project_id)
        try:
            return self.store.protect(project_id, kind, name, by=self.user)
        except (StoreError, ValueError) as exc:
            raise UserError(str(exc)) from None

    def unprotect(self, project_id: int, kind: str, name: str) -> None:
        """Take the protection off (its owners)."""
        self._manage(project_id)
        try:
            self.store.unprotect(project_id, kind, name, by=self.user)
        except (StoreError, ValueError) as exc:
            raise UserError(str(exc)) from None

    def protected(self, project_id: int) -> list[ProtectedTarget]:
        """The project's protected branches and deployments (its members)."""
        self.services.check_project(project_id, "browse")
        return self.store.protected_targets(project_id)

    # -- reviews -------------------------------------------------------------------------------------------
    def request(self, pipeline_id: int, number: int | None = None) -> Review:
        """Ask for a review of a version (default: the newest) with its files as they are now (editors)."""
        self.services.check(pipeline_id, "edit")
        version = self._version(pipeline_id, number)
        project = self._project(pipeline_id)
        try:
            review = self.store.request_content_review(
                pipeline_id, version.number, content_hash=version_hash(project, version), by=self.user
            )
        except StoreError as exc:
            raise _user_error(exc) from None
        reviewers = set(self.store.reviewers(project.id)) - {self.user, version.created_by}
        self.store.notify(
            reviewers,
            f"{self.user} asks you to review version {version.number} of {version.dag_id!r}",
            review_id=review.id,
        )
        return review

    def open(self, review_id: int) -> ReviewView:
        """The review with the DAG diff, the change list and the diff of every file it runs (members)."""
        pipeline_id, number, review = self._review(review_id, "open")
        version = self.store.get_version(pipeline_id, number)
        content = review_content(
            self._project(pipeline_id), version, self._base(pipeline_id, number), target=self.target
        )
        self.store.record_opening(review_id, by=self.user, content_hash=content.content_hash)
        return ReviewView(
            review,
            pipeline_id,
            STATE_LABELS[review.status],
            content,
            current=content.content_hash == review.content_hash,
            comments=self.store.comments(review_id),
        )

    def approve(self, review_id: int, *, content_hash: str, comment: str = "") -> Review:
        """Approve the content the reviewer opened (``content_hash`` from ``open``); reviewers other than its author.

        Refused when the version or its files changed since the review was requested or since the reviewer
        opened it, or when this reviewer never opened the review showing exactly this content (``OpenFirst``):
        the approval would cover content the approver did not see.
        """
        pipeline_id, number, review = self._review(review_id, "review")
        current = version_hash(self._project(pipeline_id), self.store.get_version(pipeline_id, number))
        if review.content_hash is None or not content_hash == review.content_hash == current:
            raise UserError(
                f"review {review_id} of version {number} no longer shows the current content (a notebook, script "
                "or the pipeline changed since it was requested or opened); reload the review, and if it "
                "changed ask the author to request a new review"
            )
        try:
            decided = self.store.approve_review(review_id, by=self.user, comment=comment, opened=content_hash)
        except NotOpened as exc:
            raise OpenFirst(str(exc)) from None
        except StoreError as exc:
            raise _user_error(exc) from None
        self._tell(review, f"{self.user} approved version {number}", decided)
        return decided

    def request_changes(self, review_id: int, *, comment: str) -> Review:
        """Ask for changes (say which in ``comment``); reviewers, or the requester to withdraw the request."""
        pipeline_id, number, review = self._review(review_id, "open")
        if review.requested_by != self.user:
            self.services.check(pipeline_id, "review")
        if not comment.strip():
            raise UserError("say which changes you ask for in the comment")
        try:
            decided = self.store.reject_review(review_id, by=self.user, comment=comment.strip())
        except StoreError as exc:
            raise _user_error(exc) from None
        self._tell(review, f"{self.user} requested changes to version {number}: {comment.strip()}", decided)
        return decided

    def comment(
        self, review_id: int, body: str, *, node_id: str | None = None, file: str | None = None, line: int | None = None
    ) -> ReviewComment:
        """Comment on the review, a node of the version, or a line of a file it runs (editors and reviewers)."""
        pipeline_id, number, review = self._review(review_id, "edit")
        version = self.store.get_version(pipeline_id, number)
        if node_id is not None and node_id not in version.pipeline().node_map():
            raise UserError(f"version {number} has no node {node_id!r}; comment on one of its nodes")
        try:
            made = self.store.add_comment(review_id, body, by=self.user, node_id=node_id, file=file, line=line)
        except (StoreError, ValueError) as exc:
            raise UserError(str(exc)) from None
        where = f" on node {node_id!r}" if node_id else f" on {file}:{line}" if file and line else ""
        self._tell(review, f"{self.user} commented{where} on the review of version {number}", review)
        return made

    def reviews(self, pipeline_id: int) -> list[tuple[int, Review]]:
        """The pipeline's reviews, newest first, with their version numbers (members)."""
        self.services.check(pipeline_id, "open")
        return self.store.pipeline_reviews(pipeline_id)

    # -- notifications -------------------------------------------------------------------------------------
    def notifications(self, *, unread_only: bool = False) -> list[Notification]:
        """The signed-in user's notifications, newest first."""
        return self.store.notifications(self.user, unread_only=unread_only)

    def mark_read(self, ids: list[int] | None = None) -> int:
        """Mark the user's notifications read (all without ids)."""
        return self.store.mark_read(self.user, ids)

    # -- the export gate and log ---------------------------------------------------------------------------
    def gate(self, pipeline_id: int, number: int, *, branch: str | None, deployment: str | None = None) -> int | None:
        """The approving review's id when the export's target is protected; None when it is not protected.

        Raises ``ApprovalRequired`` when the target is protected and no review approved this version with
        its files exactly as they are now.
        """
        project = self._project(pipeline_id)
        targets = [("branch", branch), ("deployment", deployment)]
        protected = [(k, n) for k, n in targets if n is not None and self.store.is_protected(project.id, k, n)]
        if not protected:
            return None
        version = self.store.get_version(pipeline_id, number)
        approval = self.store.approved_review(pipeline_id, number, content_hash=version_hash(project, version))
        if approval is None:
            kind, name = protected[0]
            raise ApprovalRequired(
                f"{kind} {name!r} of project {project.name!r} is protected: version {number} of {version.dag_id!r} "
                "needs an approval of exactly this content (the pipeline and every notebook and script it runs) "
                "from another member with the reviewer role; request a review, and after any change request it again"
            )
        return approval.id

    def export_log(self, pipeline_id: int) -> list[LoggedExport]:
        """Who exported which version, which review approved it and which commit it made (members)."""
        self.services.check(pipeline_id, "open")
        return self.store.export_log(pipeline_id)

    # -- helpers -------------------------------------------------------------------------------------------
    def _manage(self, project_id: int) -> None:
        """The user may change the project's protected targets: its owners only.

        ``manage`` also lets an organisation admin through (they manage every project's members), but the
        store lets only owners protect; such an admin who is no member learns nothing of the project, as
        anyone outside it, instead of the store's refusal naming the project and its owners.
        """
        self.services.check_project(project_id, "manage")
        if self.store.role_of(self.user, project_id) is None:
            raise NoAccessError(f"project {project_id} does not exist or you have no access to it")

    def _review(self, review_id: int, action: str) -> tuple[int, int, Review]:
        try:
            pipeline_id, number, review = self.store.get_review(review_id)
        except NotFound:
            raise NoAccessError(f"review {review_id} does not exist or you have no access to it") from None
        try:
            self.services.check(pipeline_id, action)
        except NoAccessError:  # a stranger learns nothing about the pipeline behind it
            raise NoAccessError(f"review {review_id} does not exist or you have no access to it") from None
        return pipeline_id, number, review

    def _version(self, pipeline_id: int, number: int | None) -> Version:
        try:
            return self.store.get_version(pipeline_id, number)
        except NotFound as exc:
            raise UserError(f"{exc}; save a version first") from None

    def _project(self, pipeline_id: int) -> Project:
        return self.store.get_project(self.store.get_pipeline(pipeline_id).project_id)

    def _base(self, pipeline_id: int, number: int) -> Version | None:
        """What the review compares against: the newest version exported before, else the version before."""
        exported = [e.version for e in self.store.export_log(pipeline_id) if e.version < number]
        base = max(exported, default=number - 1)
        return self.store.get_version(pipeline_id, base) if base >= 1 else None

    def _tell(self, review: Review, message: str, decided: Review) -> None:
        """Notify everyone concerned with the review except the one acting."""
        pipeline_id, number, _ = self.store.get_review(review.id)
        author = self.store.get_version(pipeline_id, number).created_by
        people = {review.requested_by, author, *(c.author for c in self.store.comments(review.id))}
        if decided.decided_by:
            people.add(decided.decided_by)
        self.store.notify(people - {self.user}, message, review_id=review.id)
