"""Four-eyes review before production: protected targets, reviews bound to content, comments, notifications.

``protected_target`` marks a project's git branch or deployment as taking only approved exports;
``review.content_hash`` is what the reviewer saw (the document and every file it runs), so any later
change voids the approval; ``review_comment`` holds comments on nodes and lines; ``notification`` is what
the app shows a user; ``export.review_id`` records which approval an export needed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the three tables and add the two columns."""
    op.create_table(
        "protected_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('branch', 'deployment')", name=op.f("ck_protected_target_kind")),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"], name=op.f("fk_protected_target_created_by_user")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_protected_target_project_id_project"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protected_target")),
        sa.UniqueConstraint("project_id", "kind", "name", name=op.f("uq_protected_target_project_id_kind_name")),
    )
    with op.batch_alter_table("protected_target", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_protected_target_project_id"), ["project_id"], unique=False)
    op.create_table(
        "review_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=100), nullable=True),
        sa.Column("file", sa.String(length=1000), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author"], ["user.id"], name=op.f("fk_review_comment_author_user")),
        sa.ForeignKeyConstraint(
            ["review_id"], ["review.id"], name=op.f("fk_review_comment_review_id_review"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_comment")),
    )
    with op.batch_alter_table("review_comment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_comment_review_id"), ["review_id"], unique=False)
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["review_id"], ["review.id"], name=op.f("fk_notification_review_id_review"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_notification_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("export", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_export_review_id_review"), "review", ["review_id"], ["id"])


def downgrade() -> None:
    """Drop them again (protections, comments, notifications and the export's approval link are lost)."""
    with op.batch_alter_table("export", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_export_review_id_review"), type_="foreignkey")
        batch_op.drop_column("review_id")
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_column("content_hash")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_user_id"))
    op.drop_table("notification")
    with op.batch_alter_table("review_comment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_comment_review_id"))
    op.drop_table("review_comment")
    with op.batch_alter_table("protected_target", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_protected_target_project_id"))
    op.drop_table("protected_target")
