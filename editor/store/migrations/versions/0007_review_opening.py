"""Who opened a review with which content: ``review_opening`` (an approval needs the approver's opening).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table (reviews in progress have no openings: their reviewers open them again to approve)."""
    op.create_table(
        "review_opening",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"], ["review.id"], name=op.f("fk_review_opening_review_id_review"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_review_opening_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_opening")),
    )
    with op.batch_alter_table("review_opening", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_opening_review_id"), ["review_id"], unique=False)


def downgrade() -> None:
    """Drop it again (the record of who opened what is lost; approvals already given stay)."""
    with op.batch_alter_table("review_opening", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_opening_review_id"))
    op.drop_table("review_opening")
