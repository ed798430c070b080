"""The tables. Every change here needs a migration in ``migrations/versions`` (the drift test says so).

Tables: ``user``, ``project`` (with the git repository and branch exports go to), ``project_member``
(a user's role in a project), ``pipeline``, ``draft`` (the working copy, one per pipeline),
``version`` (immutable snapshots), ``review`` (four-eyes approval of a version), ``export``
(where a version was exported to), and the team server's sign-in tables: ``user_login`` (password
hash, disabled), ``auth_session``, ``api_token`` and ``login_failure``, and ``deployment`` (an Airflow that
runs the project's DAGs, with a reference to its credential, never the secret), and for four-eyes review:
``protected_target``, ``review_comment``, ``notification`` and ``review_opening`` (who opened which
content of a review). Rows are internal; the store hands out the records in ``records``.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Dialect, MetaData, String, Text, UniqueConstraint, event
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from .errors import StoreError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING_CONVENTION)
"""The store's own metadata (not SQLModel's global one), so other SQLModel tables never leak in."""


class Role(enum.StrEnum):
    """A user's role in a project; each one can do what the ones before it can."""

    VIEWER = "viewer"
    EDITOR = "editor"
    MAINTAINER = "maintainer"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        """0 for viewer up to 3 for owner."""
        return list(Role).index(self)


class ReviewStatus(enum.StrEnum):
    """Where a review stands; only ``in_review`` can change, and only once."""

    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"


def _values(kind: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{item.value}'" for item in kind)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores UTC; returns timezone-aware UTC datetimes on every database (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass a timezone-aware one (datetime.now(UTC))")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _when() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class _Table(SQLModel, registry=registry(metadata=metadata)):
    """Base of the store's tables, bound to the store's own metadata."""


class UserRow(_Table, table=True):
    """A person (or the local default user ``local``)."""

    __tablename__ = "user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=String(64), unique=True, nullable=False, description="Login name")
    display_name: str = Field(default="", sa_type=String(200), nullable=False)
    created_at: dt.datetime = _when()
    idp_groups: str | None = Field(
        default=None, sa_type=Text, description="JSON list: the groups the identity provider (OIDC, SSO proxy) named"
    )


class ProjectRow(_Table, table=True):
    """A project: pipelines, members, and the git repository its DAGs are exported to."""

    __tablename__ = "project"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=String(200), unique=True, nullable=False)
    description: str = Field(default="", sa_type=Text, nullable=False)
    git_repo: str | None = Field(default=None, sa_type=String(1000), description="Repository path or URL")
    git_branch: str = Field(default="main", sa_type=String(255), nullable=False)
    review_required: bool = Field(default=False, nullable=False, description="Four-eyes before production exports")
    created_at: dt.datetime = _when()
    updated_at: dt.datetime = _when()
    archived_at: dt.datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="Set by an organisation admin: read-only, out of lists"
    )


class MemberRow(_Table, table=True):
    """A user's role in a project."""

    __tablename__ = "project_member"
    __table_args__ = (CheckConstraint(f"role IN ({_values(Role)})", name="role"),)

    project_id: int = Field(foreign_key="project.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", primary_key=True, index=True, ondelete="CASCADE")
    role: str = Field(sa_type=String(16), nullable=False)
    added_at: dt.datetime = _when()


class PipelineRow(_Table, table=True):
    """A pipeline of a project. ``name`` and ``dag_id`` follow the document at creation and at each version."""

    __tablename__ = "pipeline"
    __table_args__ = (UniqueConstraint("project_id", "dag_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", nullable=False, ondelete="CASCADE")
    name: str = Field(sa_type=String(200), nullable=False)
    dag_id: str = Field(sa_type=String(250), nullable=False)
    created_at: dt.datetime = _when()
    updated_at: dt.datetime = _when()


class DraftRow(_Table, table=True):
    """The working copy of a pipeline: ``dumps()`` text, rewritten on every edit."""

    __tablename__ = "draft"

    pipeline_id: int = Field(foreign_key="pipeline.id", primary_key=True, ondelete="CASCADE")
    document: str = Field(sa_type=Text, nullable=False)
    revision: int = Field(default=1, nullable=False, description="Counts saves; guards against stale writers")
    updated_at: dt.datetime = _when()


class VersionRow(_Table, table=True):
    """An immutable snapshot of a pipeline; numbers run 1, 2, 3... per pipeline."""

    __tablename__ = "version"
    __table_args__ = (UniqueConstraint("pipeline_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    pipeline_id: int = Field(foreign_key="pipeline.id", nullable=False)
    number: int = Field(nullable=False)
    content_hash: str = Field(sa_type=String(64), nullable=False)
    dag_id: str = Field(sa_type=String(250), nullable=False)
    document: str = Field(sa_type=Text, nullable=False)
    message: str = Field(default="", sa_type=Text, nullable=False)
    created_by: int = Field(foreign_key="user.id", nullable=False)
    created_at: dt.datetime = _when()


class ReviewRow(_Table, table=True):
    """A request to approve a version, decided once by someone other than its author."""

    __tablename__ = "review"
    __table_args__ = (CheckConstraint(f"status IN ({_values(ReviewStatus)})", name="status"),)

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="version.id", nullable=False, index=True)
    status: str = Field(default=ReviewStatus.IN_REVIEW.value, sa_type=String(16), nullable=False)
    requested_by: int = Field(foreign_key="user.id", nullable=False)
    requested_at: dt.datetime = _when()
    decided_by: int | None = Field(default=None, foreign_key="user.id")
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    comment: str = Field(default="", sa_type=Text, nullable=False)
    content_hash: str | None = Field(
        default=None, sa_type=String(64), description="What was reviewed: the document and the files it runs"
    )


class ExportRow(_Table, table=True):
    """One export of a version: the target, where it went and the git commit it made."""

    __tablename__ = "export"

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="version.id", nullable=False, index=True)
    target: str = Field(sa_type=String(32), nullable=False, description="Renderer, e.g. airflow3")
    production: bool = Field(default=False, nullable=False)
    location: str = Field(sa_type=String(1000), nullable=False, description="Repository or directory")
    branch: str | None = Field(default=None, sa_type=String(255))
    git_commit: str | None = Field(default=None, sa_type=String(64))
    dag_path: str = Field(sa_type=String(1000), nullable=False)
    exported_by: int = Field(foreign_key="user.id", nullable=False)
    exported_at: dt.datetime = _when()
    review_id: int | None = Field(default=None, foreign_key="review.id", description="The approval it needed")


class LoginRow(_Table, table=True):
    """How a user signs in to a team server: the argon2 hash of their password, and whether they may."""

    __tablename__ = "user_login"

    user_id: int = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    password_hash: str | None = Field(default=None, sa_type=String(255), description="argon2id; None: no password")
    disabled: bool = Field(default=False, nullable=False)
    org_admin: bool = Field(default=False, nullable=False, description="Manages projects and members")
    changed_at: dt.datetime = _when()


class SessionRow(_Table, table=True):
    """A signed-in browser: the SHA-256 of its cookie's secret (never the secret itself)."""

    __tablename__ = "auth_session"

    id: str = Field(sa_type=String(64), primary_key=True)
    user_id: int = Field(foreign_key="user.id", nullable=False, index=True, ondelete="CASCADE")
    created_at: dt.datetime = _when()
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


class ApiTokenRow(_Table, table=True):
    """A user's API token for the CLI and CI: only its SHA-256 is stored; revoked tokens stay for the record."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", nullable=False, index=True, ondelete="CASCADE")
    name: str = Field(sa_type=String(100), nullable=False)
    token_hash: str = Field(sa_type=String(64), unique=True, nullable=False)
    created_at: dt.datetime = _when()
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginFailureRow(_Table, table=True):
    """A failed sign-in, kept for a while to rate-limit guessing (by name and by address, on every replica)."""

    __tablename__ = "login_failure"

    id: int | None = Field(default=None, primary_key=True)
    user_name: str = Field(sa_type=String(64), nullable=False, index=True)
    address: str = Field(sa_type=String(64), nullable=False, index=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


class DeploymentRow(_Table, table=True):
    """An Airflow that runs a project's exported DAGs: its API and where its credential is (never the secret)."""

    __tablename__ = "deployment"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        CheckConstraint("api_version IN ('auto', 'v2', 'v1')", name="api_version"),
        CheckConstraint("auth IN ('token', 'password', 'none')", name="auth"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", nullable=False, index=True, ondelete="CASCADE")
    name: str = Field(sa_type=String(64), nullable=False)
    api_url: str = Field(sa_type=String(1000), nullable=False, description="e.g. https://airflow.example.com")
    api_version: str = Field(default="auto", sa_type=String(8), nullable=False, description="auto, v2 or v1")
    auth: str = Field(default="token", sa_type=String(16), nullable=False, description="token, password or none")
    user: str = Field(default="", sa_type=String(200), nullable=False, description="User name (password auth)")
    secret_ref: str = Field(default="", sa_type=String(500), nullable=False, description="env:NAME or file:PATH")
    created_at: dt.datetime = _when()


class ProtectedTargetRow(_Table, table=True):
    """A git branch or deployment of a project that takes only exports another reviewer approved."""

    __tablename__ = "protected_target"
    __table_args__ = (
        UniqueConstraint("project_id", "kind", "name"),
        CheckConstraint("kind IN ('branch', 'deployment')", name="kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", nullable=False, index=True, ondelete="CASCADE")
    kind: str = Field(sa_type=String(16), nullable=False, description="branch or deployment")
    name: str = Field(sa_type=String(255), nullable=False)
    created_by: int = Field(foreign_key="user.id", nullable=False)
    created_at: dt.datetime = _when()


class ReviewCommentRow(_Table, table=True):
    """A reviewer's or author's comment on a review: on the whole change, a node, or a line of a file."""

    __tablename__ = "review_comment"

    id: int | None = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="review.id", nullable=False, index=True, ondelete="CASCADE")
    author: int = Field(foreign_key="user.id", nullable=False)
    node_id: str | None = Field(default=None, sa_type=String(100))
    file: str | None = Field(default=None, sa_type=String(1000), description="A notebook, script or the DAG file")
    line: int | None = Field(default=None)
    body: str = Field(sa_type=Text, nullable=False)
    created_at: dt.datetime = _when()


class NotificationRow(_Table, table=True):
    """Something a user should see in the app (a review asked of them, decided or commented on)."""

    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", nullable=False, index=True, ondelete="CASCADE")
    review_id: int | None = Field(default=None, foreign_key="review.id", ondelete="CASCADE")
    message: str = Field(sa_type=Text, nullable=False)
    created_at: dt.datetime = _when()
    read_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReviewOpeningRow(_Table, table=True):
    """A user opened a review showing exactly this content (an approval needs the approver's opening of it)."""

    __tablename__ = "review_opening"

    id: int | None = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="review.id", nullable=False, index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", nullable=False, ondelete="CASCADE")
    content_hash: str = Field(
        sa_type=String(64), nullable=False, description="What the opened review showed: the document and its files"
    )
    opened_at: dt.datetime = _when()


@event.listens_for(VersionRow, "before_update")
def _refuse_version_update(*_: object) -> None:
    raise StoreError("versions are immutable; create a new version instead of changing one")
