"""Initial schema: users, projects and their members, pipelines, drafts, versions, reviews, exports.

Also a trigger on ``version`` that refuses every UPDATE (SQLite and PostgreSQL), so that versions stay
immutable even for SQL written outside dagsmith.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IMMUTABLE_MESSAGE = "dagsmith versions are immutable; create a new version instead"


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create every table, then the version trigger."""
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("name", name=op.f("uq_user_name")),
    )
    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("git_repo", sa.String(length=1000), nullable=True),
        sa.Column("git_branch", sa.String(length=255), nullable=False),
        sa.Column("review_required", sa.Boolean(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
        sa.UniqueConstraint("name", name=op.f("uq_project_name")),
    )
    op.create_table(
        "project_member",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        _when("added_at"),
        sa.CheckConstraint("role IN ('viewer', 'editor', 'maintainer', 'owner')", name=op.f("ck_project_member_role")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_project_member_project_id_project"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_project_member_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id", "user_id", name=op.f("pk_project_member")),
    )
    op.create_index(op.f("ix_project_member_user_id"), "project_member", ["user_id"])
    op.create_table(
        "pipeline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_pipeline_project_id_project"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline")),
        sa.UniqueConstraint("project_id", "dag_id", name=op.f("uq_pipeline_project_id_dag_id")),
    )
    op.create_table(
        "draft",
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipeline.id"], name=op.f("fk_draft_pipeline_id_pipeline"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pipeline_id", name=op.f("pk_draft")),
    )
    op.create_table(
        "version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"], name=op.f("fk_version_created_by_user")),
        sa.ForeignKeyConstraint(["pipeline_id"], ["pipeline.id"], name=op.f("fk_version_pipeline_id_pipeline")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_version")),
        sa.UniqueConstraint("pipeline_id", "number", name=op.f("uq_version_pipeline_id_number")),
    )
    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        _when("requested_at"),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        _when("decided_at", nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.CheckConstraint("status IN ('in_review', 'approved', 'rejected')", name=op.f("ck_review_status")),
        sa.ForeignKeyConstraint(["decided_by"], ["user.id"], name=op.f("fk_review_decided_by_user")),
        sa.ForeignKeyConstraint(["requested_by"], ["user.id"], name=op.f("fk_review_requested_by_user")),
        sa.ForeignKeyConstraint(["version_id"], ["version.id"], name=op.f("fk_review_version_id_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review")),
    )
    op.create_index(op.f("ix_review_version_id"), "review", ["version_id"])
    op.create_table(
        "export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column("production", sa.Boolean(), nullable=False),
        sa.Column("location", sa.String(length=1000), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=True),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column("dag_path", sa.String(length=1000), nullable=False),
        sa.Column("exported_by", sa.Integer(), nullable=False),
        _when("exported_at"),
        sa.ForeignKeyConstraint(["exported_by"], ["user.id"], name=op.f("fk_export_exported_by_user")),
        sa.ForeignKeyConstraint(["version_id"], ["version.id"], name=op.f("fk_export_version_id_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export")),
    )
    op.create_index(op.f("ix_export_version_id"), "export", ["version_id"])
    _create_version_trigger()


def _create_version_trigger() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER version_immutable BEFORE UPDATE ON version "
            f"BEGIN SELECT RAISE(ABORT, '{IMMUTABLE_MESSAGE}'); END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION dagsmith_version_immutable() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{IMMUTABLE_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER version_immutable BEFORE UPDATE ON version "
            "FOR EACH ROW EXECUTE FUNCTION dagsmith_version_immutable()"
        )
    # Other databases rely on the store, which has no way to change a version.


def downgrade() -> None:
    """Drop everything this revision created."""
    dialect = op.get_context().dialect.name
    if dialect in ("sqlite", "postgresql"):
        op.execute("DROP TRIGGER version_immutable" + (" ON version" if dialect == "postgresql" else ""))
    if dialect == "postgresql":
        op.execute("DROP FUNCTION dagsmith_version_immutable()")
    op.drop_index(op.f("ix_export_version_id"), table_name="export")
    op.drop_table("export")
    op.drop_index(op.f("ix_review_version_id"), table_name="review")
    op.drop_table("review")
    op.drop_table("version")
    op.drop_table("draft")
    op.drop_table("pipeline")
    op.drop_index(op.f("ix_project_member_user_id"), table_name="project_member")
    op.drop_table("project_member")
    op.drop_table("project")
    op.drop_table("user")
