"""Archived projects: ``project.archived_at`` (set by an organisation admin; an archived project is read-only).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column (every existing project stays active)."""
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop it again (archived projects become active).

    Plain ``ALTER TABLE ... DROP COLUMN`` (SQLite 3.35+ and PostgreSQL): a batch operation would copy
    ``project`` on SQLite, and dropping the old table fails while other tables' foreign keys point at it.
    """
    op.execute("ALTER TABLE project DROP COLUMN archived_at")
