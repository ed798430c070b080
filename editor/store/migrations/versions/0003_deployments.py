"""Deployments: the Airflow instances that run a project's exported DAGs.

``deployment`` names an Airflow API (URL, REST API version or ``auto``) and how to sign in to it: the
kind of credential, a user name, and a reference to the secret (``env:NAME`` or ``file:PATH``), never
the secret itself.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the deployment table."""
    op.create_table(
        "deployment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("api_url", sa.String(length=1000), nullable=False),
        sa.Column("api_version", sa.String(length=8), nullable=False),
        sa.Column("auth", sa.String(length=16), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("secret_ref", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("api_version IN ('auto', 'v2', 'v1')", name=op.f("ck_deployment_api_version")),
        sa.CheckConstraint("auth IN ('token', 'password', 'none')", name=op.f("ck_deployment_auth")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_deployment_project_id_project"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_deployment_project_id_name")),
    )
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployment_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    """Drop it (the project's deployment settings go with it)."""
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_project_id"))
    op.drop_table("deployment")
