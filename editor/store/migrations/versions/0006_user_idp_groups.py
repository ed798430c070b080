"""Groups from the identity provider: ``user.idp_groups`` (a JSON list the OIDC claim or SSO proxy header names).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column (existing users have no IdP groups until they next sign in)."""
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idp_groups", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop it again (the IdP groups are forgotten; they come back at the next sign-in).

    Plain ``ALTER TABLE ... DROP COLUMN`` (SQLite 3.35+ and PostgreSQL): a batch operation would copy
    ``user`` on SQLite, and dropping the old table fails while other tables' foreign keys point at it.
    """
    op.execute('ALTER TABLE "user" DROP COLUMN idp_groups')
